"""The door policy, signed commands and the audit log: who opens, when, and what is written."""

from datetime import UTC, datetime, time
from zoneinfo import ZoneInfo

import pytest

from edge.store import AuditEntry, Store
from edge.unit.commands import CommandVerifier, sign
from edge.unit.config import ConfigError, parse_config
from edge.unit.doorpolicy import DoorPolicy, Rule, parse_hours

BERLIN = ZoneInfo("Europe/Berlin")
# Monday 2026-11-30, 08:00 in Berlin (07:00 UTC)
MON_8 = datetime(2026, 11, 30, 7, 0, tzinfo=UTC)


def policy(**kw):
    weekday_days = Rule(frozenset({"Cleaner"}), frozenset(range(5)), time(9), time(17))
    return DoorPolicy((Rule(frozenset({"Alice"})), weekday_days), BERLIN, **kw)


def judge(p, person, *, reached=True, liveness="live", enabled=True, when=MON_8):
    return p.judge(person, door_threshold_reached=reached, liveness=liveness, enabled=enabled, when=when)


def test_the_door_opens_only_when_every_check_passes():
    p = policy()
    assert judge(p, "Alice").opened and judge(p, "Alice").reason == "opened"
    assert judge(p, "Bob").reason == "not_allowed"
    assert judge(p, "Alice", reached=False).reason == "below_threshold"
    assert judge(p, "Alice", liveness="undecided").reason == "liveness_undecided"
    assert judge(p, "Alice", liveness=None).reason == "liveness_undecided"  # required, but no liveness ran
    assert judge(p, "Alice", enabled=False).reason == "door_disabled"
    # a spoof is reported as such even when other checks also refuse
    assert judge(p, "Bob", liveness="spoof").reason == "spoof"
    assert judge(p, "Alice", liveness="spoof", enabled=False).reason == "spoof"
    assert not any(judge(p, "Alice", **kw).opened for kw in ({"reached": False}, {"liveness": "spoof"}, {"enabled": False}))


def test_liveness_not_required_opens_without_a_verdict():
    assert judge(policy(liveness_required=False), "Alice", liveness=None).opened


def test_hours_are_judged_in_the_configured_time_zone():
    p = policy()
    # 08:00 in Berlin: before the cleaner's 09:00; 07:00 UTC would be 'inside' if the zone were ignored and the rule were 07-17
    assert judge(p, "Cleaner").reason == "outside_hours"
    assert judge(p, "Cleaner", when=datetime(2026, 11, 30, 8, 30, tzinfo=UTC)).opened  # 09:30 Berlin
    assert judge(p, "Cleaner", when=datetime(2026, 11, 30, 16, 0, tzinfo=UTC)).reason == "outside_hours"  # 17:00 Berlin: end exclusive
    assert judge(p, "Cleaner", when=datetime(2026, 12, 5, 10, 0, tzinfo=UTC)).reason == "outside_hours"  # Saturday


def test_a_window_across_midnight_belongs_to_the_day_it_starts():
    night = Rule(frozenset({"Nurse"}), frozenset({4}), *parse_hours("22:00-06:00"))  # Friday night
    p = DoorPolicy((night,), UTC)
    fri_23 = datetime(2026, 12, 4, 23, 0, tzinfo=UTC)
    sat_05 = datetime(2026, 12, 5, 5, 0, tzinfo=UTC)
    sat_07 = datetime(2026, 12, 5, 7, 0, tzinfo=UTC)
    thu_23 = datetime(2026, 12, 3, 23, 0, tzinfo=UTC)
    assert judge(p, "Nurse", when=fri_23).opened and judge(p, "Nurse", when=sat_05).opened
    assert judge(p, "Nurse", when=sat_07).reason == "outside_hours" and judge(p, "Nurse", when=thu_23).reason == "outside_hours"


@pytest.mark.parametrize("bad", ["7-22", "07:00", "25:00-26:00", "08:00-08:00"])
def test_bad_hours_are_refused_with_the_expected_form(bad):
    with pytest.raises(ValueError, match="HH:MM|same"):
        parse_hours(bad)


def _cfg(door: dict, liveness: dict | None = None):
    data = {"device_id": "front", "camera": {"source": "0"}, "store": {"path": "/tmp/x.db"}, "door": door}
    if liveness is not None:
        data["liveness"] = liveness
    return parse_config(data)


def test_config_builds_the_policy_and_refuses_contradictions(monkeypatch):
    cfg = _cfg({"enabled": True, "allowed": ["Alice"], "timezone": "Europe/Berlin",
                "rules": [{"people": ["Cleaner"], "days": ["mon", "tue", "wed", "thu", "fri"], "hours": "09:00-17:00"}]})
    assert cfg.door.policy() == policy() and cfg.liveness_on
    with pytest.raises(ConfigError, match="door.timezone: .*unknown time zone"):
        _cfg({"timezone": "Mars/Olympus"})
    with pytest.raises(ConfigError, match=r"door.rules.0.hours"):
        _cfg({"rules": [{"people": ["A"], "hours": "9-5"}]})
    with pytest.raises(ConfigError, match="would never open"):
        _cfg({"enabled": True, "allowed": ["A"]}, {"enabled": False})
    with pytest.raises(ConfigError, match="ha_switch needs a command secret"):
        _cfg({"enabled": True, "ha_switch": True})
    with pytest.raises(ConfigError, match="EDGEFACE_T_SECRET"):
        _cfg({"command_secret_env": "EDGEFACE_T_SECRET"})
    monkeypatch.setenv("EDGEFACE_T_SECRET", "s3cret-value")
    cfg = _cfg({"enabled": True, "command_secret_env": "EDGEFACE_T_SECRET"})
    assert cfg.door.secret() == "s3cret-value"
    with pytest.raises(ConfigError) as e:
        _cfg({"command_secret": "hunter2-secret", "command_secret_env": "EDGEFACE_T_SECRET"})
    assert "hunter2" not in str(e.value)


class Clock:
    def __init__(self, t: float):
        self.t = t

    def __call__(self) -> float:
        return self.t


def test_signed_commands_are_accepted_once_and_only_fresh_and_only_for_this_unit():
    clock = Clock(1_800_000_000.0)
    v = CommandVerifier("k" * 32, "front", window_s=30, clock=clock)
    good = sign("k" * 32, "front", "disable", timestamp=clock.t - 5).encode()
    assert v.verify(good).command == "disable"
    assert v.verify(good).reason.startswith("replayed")
    assert "bad signature" in v.verify(sign("wrong-key", "front", "disable", timestamp=clock.t).encode()).reason
    assert "bad signature" in v.verify(sign("k" * 32, "garage", "enable", timestamp=clock.t).encode()).reason
    assert "stale" in v.verify(sign("k" * 32, "front", "enable", timestamp=clock.t - 31).encode()).reason
    assert "stale" in v.verify(sign("k" * 32, "front", "enable", timestamp=clock.t + 31).encode()).reason
    tampered = sign("k" * 32, "front", "enable", timestamp=clock.t).replace('"enable"', '"disable"').encode()
    assert "bad signature" in v.verify(tampered).reason
    assert "not JSON" in v.verify(b"OFF").reason
    assert "expected the keys" in v.verify(b'{"command": "enable"}').reason
    assert v.verify(sign("k" * 32, "front", "enable", timestamp=clock.t).encode()).command == "enable"


def test_audit_entries_go_in_with_their_event_and_are_pruned(tmp_path):
    with Store(tmp_path / "s.db") as st:
        a = AuditEntry.now("decision", "refused", "spoof", person="Alice", track_id=3, event_id="e1", evidence={"similarity": 0.6})
        st.outbox_put("e1", "t", "{}", 100, a)
        old = AuditEntry("2020-01-01T00:00:00.000+00:00", 1577836800.0, "command", "disabled", "cli")
        st.audit_put(old)
        rows = st.audit()
        assert [r.reason for r in rows] == ["spoof", "cli"]  # in the order written
        assert st.audit(since_unix=1_600_000_000)[0].to_dict()["evidence"] == {"similarity": 0.6}
        assert st.prune_audit(1_600_000_000) == 1 and [r.event_id for r in st.audit()] == ["e1"]
        # an audit entry that cannot be written takes its event with it: one transaction
        with pytest.raises(TypeError):
            st.outbox_put("e2", "t", "{}", 100, AuditEntry.now("decision", "opened", "opened", evidence={"x": object()}))
        assert st.outbox_count() == 1
        assert st.door_enabled()
        st.set_door_enabled(False, AuditEntry.now("command", "disabled", "cli"))
    with Store(tmp_path / "s.db") as st:
        assert not st.door_enabled()  # survives a restart


def test_camera_credentials_are_masked_wherever_a_url_appears(tmp_path, capsys):
    from edge.apps.cli import main
    from edge.unit.camera import mask_url

    assert mask_url("rtsp://admin:hunter2@10.0.0.5:554/stream1") == "rtsp://admin:***@10.0.0.5:554/stream1"
    assert mask_url("cannot open http://u:p%40ss@cam/x.mjpg (timeout)") == "cannot open http://u:***@cam/x.mjpg (timeout)"
    assert mask_url("rtsp://10.0.0.5/stream") == "rtsp://10.0.0.5/stream" and mask_url("/dev/video0") == "/dev/video0"
    cfg = tmp_path / "c.yaml"
    cfg.write_text("device_id: front\ncamera: {source: 'rtsp://admin:hunter2@10.0.0.5/s'}\nstore: {path: /tmp/x.db}\n"
                   "door: {command_secret: door-secret-value}\n")
    for extra in ([], ["--json"]):
        assert main(["check", str(cfg), *extra]) == 0
        out = capsys.readouterr().out
        assert "hunter2" not in out and "door-secret-value" not in out and "admin:***@10.0.0.5" in out
