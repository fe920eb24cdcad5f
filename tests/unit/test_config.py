"""Device configs: every bundled one validates; mistakes name the key path and the fix."""

import json
from pathlib import Path

import pytest
import yaml

from edge.errors import ConfigError
from edge.unit.config import load_config, parse_config

CONFIGS = sorted((Path(__file__).resolve().parent.parent.parent / "firmware_configs").rglob("*.yaml"))


def _on_this_machine(path, tmp_path):
    """The device's own files (password file, store folder) exist only on the device: point
    them at temporary ones so that every other key and type is validated as written."""
    data = yaml.safe_load(path.read_text())
    data["store"]["path"] = str(tmp_path / Path(data["store"]["path"]).name)
    if data.get("mqtt", {}).get("password_file"):
        secret = tmp_path / "mqtt-password"
        secret.write_text("s3cret\n")
        data["mqtt"]["password_file"] = str(secret)
    if (data.get("mqtt", {}).get("tls") or {}).get("ca_file"):
        ca = tmp_path / "ca.crt"
        ca.write_text("-----BEGIN CERTIFICATE-----\n")
        data["mqtt"]["tls"]["ca_file"] = str(ca)
    return data


def test_the_five_device_kinds_exist():
    assert {p.stem for p in CONFIGS} >= {"rpi4-cpu", "rpi5-cpu", "rpi4-coral-usb", "rpi-zero2w", "dev-x86"}


@pytest.mark.parametrize("path", CONFIGS, ids=lambda p: p.stem)
def test_bundled_config_is_valid(path, tmp_path):
    cfg = parse_config(_on_this_machine(path, tmp_path), str(path))
    assert cfg.device_id and cfg.camera.source and cfg.store.path
    if path.stem == "rpi4-coral-usb":
        assert cfg.models.edgetpu == "usb" and cfg.models.cpu_fallback is False
    if cfg.mqtt.password_file:
        assert cfg.mqtt.password_value() == "s3cret"


@pytest.mark.parametrize("path", [p for p in CONFIGS if p.stem.startswith("rpi")], ids=lambda p: p.stem)
def test_pi_configs_send_the_broker_password_only_over_tls(path, tmp_path):
    cfg = parse_config(_on_this_machine(path, tmp_path), str(path))
    assert cfg.mqtt.username and cfg.mqtt.password_file
    assert cfg.mqtt.tls is not None and cfg.mqtt.port == 8883 and not cfg.mqtt.tls.insecure


def _base(tmp_path):
    return _on_this_machine([p for p in CONFIGS if p.stem == "dev-x86"][0], tmp_path)


def test_misspelt_key_names_its_path(tmp_path):
    data = _base(tmp_path)
    data["mqtt"]["hostname"] = "x"
    data["recognition"]["decision"]["min_hit"] = 2
    with pytest.raises(ConfigError) as e:
        parse_config(data, "door.yaml")
    msg = str(e.value)
    assert "mqtt.hostname: unknown key" in msg and "recognition.decision.min_hit: unknown key" in msg


def test_wrong_types_and_values_name_path_and_value(tmp_path):
    data = _base(tmp_path)
    data["mqtt"]["port"] = "eighteen"
    data["camera"]["fps"] = -3
    data["device_id"] = "Front Door!"
    with pytest.raises(ConfigError) as e:
        parse_config(data)
    msg = str(e.value)
    assert "mqtt.port" in msg and "'eighteen'" in msg
    assert "camera.fps" in msg and "-3" in msg
    assert "device_id" in msg


@pytest.mark.parametrize("key, value, message", [
    ("recognition.announce_far", float("nan"), "recognition.announce_far"),
    ("recognition.announce_far", 0, "greater than 0"),
    ("recognition.announce_far", 1.5, "less than 1"),
    ("recognition.cosine_threshold", -0.2, "greater than 0"),
    ("recognition.cosine_threshold", float("nan"), "recognition.cosine_threshold"),
    ("door.far", -1e-4, "greater than 0"),
    ("door.cosine_threshold", 1.7, "less than or equal to 1"),
    ("models.calibration", "/no/such/calibration.yaml", "write one with edgeface calibrate --out"),
])
def test_rates_and_raw_thresholds_are_validated(tmp_path, key, value, message):
    from edge.unit.config import apply_overrides

    data = apply_overrides(_base(tmp_path), {key: value})
    with pytest.raises(ConfigError) as e:
        parse_config(data)
    assert key in str(e.value) and message in str(e.value)


def test_a_track_must_be_able_to_become_unknown(tmp_path):
    from edge.unit.config import apply_overrides

    data = apply_overrides(_base(tmp_path), {"recognition.decision.max_frames": 10, "recognition.decision.unknown_after_frames": 15})
    with pytest.raises(ConfigError, match=r"unknown_after_frames \(15\) cannot exceed max_frames \(10\)"):
        parse_config(data)


def test_the_door_is_never_looser_than_announcing(tmp_path):
    from edge.unit.config import apply_overrides

    cfg = parse_config(_base(tmp_path))
    assert cfg.recognition.announce_far == 1e-4 and cfg.door.far == 1e-5  # the defaults
    data = apply_overrides(_base(tmp_path), {"recognition.announce_far": 1e-3, "door.far": 1e-2})
    with pytest.raises(ConfigError, match=r"door.far \(0.01\) must be at most recognition.announce_far \(0.001\)"):
        parse_config(data)


def test_missing_files_and_inconsistent_settings(tmp_path):
    data = _base(tmp_path)
    data["mqtt"]["tls"] = {"ca_file": str(tmp_path / "nope.pem")}
    data["recognition"]["decision"]["min_hits"] = 20
    data["models"]["dir"] = str(tmp_path / "no-models")
    with pytest.raises(ConfigError) as e:
        parse_config(data)
    msg = str(e.value)
    assert "mqtt.tls.ca_file" in msg and "does not exist" in msg
    assert "min_hits (20) cannot exceed window_frames (10)" in msg
    assert "models.dir" in msg


def test_secrets_are_never_printed(tmp_path, monkeypatch):
    data = _base(tmp_path)
    data["mqtt"]["password_env"] = "EDGEFACE_TEST_PW"
    with pytest.raises(ConfigError, match="EDGEFACE_TEST_PW is not set"):
        parse_config(data)
    monkeypatch.setenv("EDGEFACE_TEST_PW", "hunter2")
    cfg = parse_config(data)
    assert cfg.mqtt.password_value() == "hunter2" and "hunter2" not in repr(cfg)
    data["mqtt"]["password"] = "hunter2"
    with pytest.raises(ConfigError) as e:
        parse_config(data)
    assert "at most one of password" in str(e.value) and "hunter2" not in str(e.value)


def test_file_errors_and_overrides(tmp_path):
    with pytest.raises(ConfigError, match="no such config file"):
        load_config(tmp_path / "missing.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("device_id: [unclosed\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_config(bad)
    good = tmp_path / "good.yaml"
    good.write_text(yaml.safe_dump(_base(tmp_path)))
    cfg = load_config(good, {"mqtt.port": 18830, "store.path": str(tmp_path / "s.db")})
    assert cfg.mqtt.port == 18830 and cfg.store.path == tmp_path / "s.db"


def test_cli_check(tmp_path, capsys):
    from edge.apps.cli import main

    good = tmp_path / "door.yaml"
    data = _base(tmp_path)
    data["mqtt"]["password"] = "hunter2"
    good.write_text(yaml.safe_dump(data))
    assert main(["check", str(good), "--json"]) == 0
    out = capsys.readouterr().out
    assert json.loads(out)["mqtt"]["password"] == "**********" and "hunter2" not in out
    data["camera"]["sorce"] = "x"
    good.write_text(yaml.safe_dump(data))
    assert main(["check", str(good)]) == 1
    assert "camera.sorce: unknown key" in capsys.readouterr().err


@pytest.mark.parametrize("key", ["topic_prefix", "discovery_prefix"])
@pytest.mark.parametrize("value, message", [
    ("home/#", "'#'"),
    ("door+1", "'+'"),
    ("", "is empty"),
    ("/edgeface", "empty topic level"),
    ("edgeface/", "empty topic level"),
    ("home//door", "empty topic level"),
    ("edge\x00face", "NUL"),
    ("$SYS", "reserve"),
])
def test_mqtt_topic_prefixes_that_could_never_be_published_to_are_refused(tmp_path, key, value, message):
    from edge.unit.config import apply_overrides

    with pytest.raises(ConfigError) as e:
        parse_config(apply_overrides(_base(tmp_path), {f"mqtt.{key}": value}))
    msg = str(e.value)
    assert f"mqtt.{key}" in msg and message in msg and "expected topic levels joined by '/'" in msg
    assert parse_config(apply_overrides(_base(tmp_path), {f"mqtt.{key}": "home/door-1"}))  # levels are fine


def test_mqtt_password_file_must_be_a_readable_non_empty_file(tmp_path):
    from edge.unit.config import apply_overrides

    empty = tmp_path / "empty"
    empty.write_text(" \n")
    unreadable = tmp_path / "unreadable"
    unreadable.write_bytes(b"\xff\xfe\x00")  # not text
    for path, message in ((tmp_path, "is a folder"), (tmp_path / "none", "does not exist"), (empty, "is empty"),
                          (unreadable, "cannot be read")):
        with pytest.raises(ConfigError) as e:
            parse_config(apply_overrides(_base(tmp_path), {"mqtt.password_file": str(path)}))
        assert "mqtt.password_file" in str(e.value) and message in str(e.value), path


def test_store_path_in_a_missing_folder_is_refused(tmp_path):
    from edge.unit.config import apply_overrides

    with pytest.raises(ConfigError, match=r"store.path: .*folder .*mistyped does not exist; check the path for a typo"):
        parse_config(apply_overrides(_base(tmp_path), {"store.path": str(tmp_path / "mistyped" / "s.db")}))
    with pytest.raises(ConfigError, match="is a folder; expected the store's file name in it"):
        parse_config(apply_overrides(_base(tmp_path), {"store.path": str(tmp_path)}))


def test_a_folder_is_not_a_config_file(tmp_path, capsys):
    from edge.apps.cli import main

    with pytest.raises(ConfigError, match="is a folder; expected a config file"):
        load_config(tmp_path)
    assert main(["check", str(tmp_path)]) == 1
    err = capsys.readouterr().err
    assert err.startswith(f"edgeface: error: {tmp_path} is a folder; expected a config file") and "Traceback" not in err
