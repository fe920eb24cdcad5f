"""``edgeface door`` (the kill switch), ``edgeface audit`` (the door audit log) and
``edgeface liveness`` (presentation-attack detection on a video, folder or camera)."""

from __future__ import annotations

import argparse
import json
import re
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from edge.errors import ConfigError, EdgeFaceError


def store_path(args: argparse.Namespace) -> Path:
    """The store of ``--store``, or of ``--config``'s device (see :func:`add_store_options`)."""
    from edge.unit.config import load_config

    return Path(args.store) if args.store else load_config(args.config).store.path


def add_store_options(p: argparse.ArgumentParser, config_help: str, store_help: str) -> None:
    """``--config FILE`` or ``--store PATH``, one of them required."""
    g = p.add_mutually_exclusive_group(required=True)
    g.add_argument("--config", help=config_help)
    g.add_argument("--store", type=Path, help=store_help)


def parse_since(text: str, now: float | None = None) -> float:
    """``7d``, ``12h``, ``30m`` ago, or an ISO date/time (UTC unless it says otherwise) -> unix time."""
    now = time.time() if now is None else now
    m = re.fullmatch(r"(\d+(?:\.\d+)?)([dhm])", text.strip())
    if m:
        return now - float(m.group(1)) * {"d": 86400, "h": 3600, "m": 60}[m.group(2)]
    try:
        t = datetime.fromisoformat(text.strip())
    except ValueError:
        raise EdgeFaceError(f"--since {text!r}: expected a duration such as 7d, 12h, 30m or a date such as 2026-12-01 or "
                            "2026-12-01T08:00") from None
    return (t if t.tzinfo else t.replace(tzinfo=UTC)).timestamp()


def cmd_audit(args: argparse.Namespace) -> int:
    from edge.store import Store

    path = store_path(args)
    with Store(path, create=False) as st:
        rows = st.audit(parse_since(args.since) if args.since else None, args.limit)
    if args.json:
        print(json.dumps([r.to_dict() for r in rows]))
        return 0
    if not rows:
        print("no door decisions or commands recorded" + (f" since {args.since}" if args.since else ""))
    for r in rows:
        ev = r.evidence
        live = ev.get("liveness") or {}
        detail = [f"similarity {ev['similarity']}" if ev.get("similarity") is not None else "",
                  f"door threshold {ev['door_threshold']:.4f}" if ev.get("door_threshold") else "",
                  f"liveness {live.get('verdict')} {live.get('score')}" if live else ""]
        who = f"{r.person} (track {r.track_id})" if r.person else ""
        print(f"{r.at}  {r.kind:8s} {r.outcome:8s} {r.reason:18s} {who}  {'  '.join(d for d in detail if d)}".rstrip())
    return 0


def cmd_door(args: argparse.Namespace) -> int:
    if args.mqtt:
        return _door_over_mqtt(args)
    from edge.store import AuditEntry, Store

    path = store_path(args)
    with Store(path, create=False) as st:
        if args.action == "status":
            print("enabled" if st.door_enabled() else "disabled")
            return 0
        enabled = args.action == "enable"
        st.set_door_enabled(enabled, AuditEntry.now("command", "enabled" if enabled else "disabled", "cli"))
    print(f"door {args.action}d in {path} (a running daemon follows within a second)")
    return 0


def _door_over_mqtt(args: argparse.Namespace) -> int:
    """Publish a signed command to the unit's ``door/set`` topic with the config's broker settings."""
    import paho.mqtt.client as mqtt
    from paho.mqtt.enums import CallbackAPIVersion

    from edge.unit.commands import sign
    from edge.unit.config import load_config
    from edge.unit.mqtt import configure_client

    if not args.config:
        raise EdgeFaceError("--mqtt needs --config (the broker, the device id and the command secret come from it)")
    if args.action == "status":
        raise EdgeFaceError("door status --mqtt: read the retained state topic <prefix>/<device_id>/door/state instead, "
                            "or run door status on the unit")
    cfg = load_config(args.config)
    secret = cfg.door.secret()
    if secret is None:
        raise ConfigError(f"{args.config}: door.command_secret (or command_secret_env) is not set: the unit accepts no commands")
    m = cfg.mqtt
    topic = f"{m.topic_prefix}/{cfg.device_id}/door/set"
    client = mqtt.Client(CallbackAPIVersion.VERSION2)
    configure_client(client, m)
    try:
        client.connect(m.host, m.port, keepalive=m.keepalive_s)
        client.loop_start()
        info = client.publish(topic, sign(secret, cfg.device_id, args.action), qos=1)
        info.wait_for_publish(timeout=10)
        if not info.is_published():
            raise EdgeFaceError(f"the MQTT broker at {m.host}:{m.port} did not acknowledge the command within 10 s; nothing changed")
    except (OSError, ValueError, RuntimeError) as e:
        raise EdgeFaceError(f"cannot publish to the MQTT broker at {m.host}:{m.port}: {e}") from e
    finally:
        client.disconnect()
        client.loop_stop()
    print(f"sent a signed '{args.action}' to {topic}; the unit's retained door/state shows the result")
    return 0


def cmd_liveness(args: argparse.Namespace) -> int:
    """Judge every face track of a video, image folder or camera: live or spoof, with each cue."""
    import threading

    from edge.apps.cli import _recognizer
    from edge.unit.camera import open_source
    from edge.unit.tracker import IoUTracker

    rec = _recognizer(args)
    judge = rec.liveness_judge(frames=args.frames)
    tracker = IoUTracker(max_age_s=1.0)
    stop = threading.Event()
    results: list[dict[str, Any]] = []
    done: set[int] = set()
    first: dict[int, int] = {}

    def report(tid: int, r: Any) -> None:
        row = {"track_id": tid, "first_frame": first.get(tid), **r.to_dict()}
        results.append(row)
        if not args.json:
            c = r.cues
            cues = ", ".join(f"{k} {'-' if v is None else f'{v:.3f}'}" for k, v in
                             (("passive", c.passive), ("planar", c.planar), ("blink", c.blink)))
            score = "-" if r.score is None else f"{r.score:.3f}"
            print(f"track {tid} (from frame {first.get(tid)}, {c.frames} frames): {r.verdict:9s} score {score}  [{cues}]", flush=True)

    with open_source(str(args.source), fps=args.fps) as src:
        for frame in src.frames(stop):
            if frame is None:
                continue
            dets = rec.detector.detect(frame.image)
            ids, ended = tracker.update([d.box for d in dets], frame.timestamp)
            for tid in ended:
                if tid not in done and tid in first:
                    done.add(tid)
                    report(tid, judge.finish(tid))
            for d, tid in zip(dets, ids, strict=True):
                if tid in done:
                    continue
                first.setdefault(tid, frame.index)
                r = judge.observe(tid, frame.image, d, frame.timestamp)
                if r is not None:
                    done.add(tid)
                    report(tid, r)
    for tid in sorted(set(first) - done):
        report(tid, judge.finish(tid))
    if args.json:
        print(json.dumps(results))
    elif not results:
        print(f"no face found in {args.source}")
    return 0


def register(sub: Any) -> None:
    p = sub.add_parser("liveness", help="presentation-attack detection: is each face in a video, image folder or camera live or a spoof?")
    p.add_argument("source", help="a video file, an image folder, a camera (/dev/videoN, an index, picamera2) or a stream URL")
    p.add_argument("--frames", type=int, help="frames per track to judge on (default: the measured setting)")
    p.add_argument("--fps", type=float, default=15.0, help="frame rate of an image folder (for the time limit)")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_liveness)
    p = sub.add_parser("door", help="the door's kill switch: status, enable or disable (in the store, or signed over MQTT)")
    p.add_argument("action", choices=["status", "enable", "disable"])
    add_store_options(p, "the device config (its store; with --mqtt its broker and command secret)", "or the store path (on the unit)")
    p.add_argument("--mqtt", action="store_true", help="send a signed command to the unit over MQTT instead of writing the store")
    p.set_defaults(func=cmd_door)
    p = sub.add_parser("audit", help="the door audit log: every door decision (opened, refused and why) and command")
    add_store_options(p, "the device config (its store)", "or the store path")
    p.add_argument("--since", help="only entries since: 7d, 12h, 30m, or a date/time (2026-12-01T08:00, UTC)")
    p.add_argument("--limit", type=int, help="only the newest N entries")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_audit)
