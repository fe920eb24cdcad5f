"""The collector and comparer behind ``tools/pi-check.sh`` (standard library only, no model code).

``collect`` runs the installed ``edgeface`` command the way a user would (version and runtime,
``models``, ``verify --json`` on bundled photo pairs, ``enroll`` of the demo gallery and the daemon
``edgeface run --print-events`` on a clip, with a local mosquitto when one is installed; then the
web console, ``edgeface console`` on that store: logged in over HTTP, every page and picture
fetched, a photo enrolled through its upload form, and faces grouped with SciPy) and
writes what they printed, their exit codes and wall times as JSON. It runs once on the host (x86)
and once inside the emulated Raspberry Pi OS root file system. ``compare`` checks the two: same
model list, same verify verdicts and exit codes, the same daemon events (type, person, track id)
with similarities within a tolerance, the same console pages and answers; it prints a table and
exits 1 on any mismatch.
``cut`` writes the first N frames of a clip, losslessly (FFV1 in .mkv; OpenCV, the host's .venv).

    .venv/bin/python tools/pi_check.py collect --out x86.json --clip firmware_configs/demo/short_hamilton_clip.mp4
    python3 tools/pi_check.py compare x86.json arm64.json
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "tests" / "data"
DEMO = ROOT / "firmware_configs" / "demo"
# (label, image 1, image 2, expected verdict)
PAIRS = [
    ("obama / obama2 (same)", "face_recognition__obama.jpg", "face_recognition__obama2.jpg", True),
    ("biden / biden2 (same)", "face_recognition__biden.jpg", "face_recognition__knn_biden_biden2.jpg", True),
    ("obama / biden (different)", "face_recognition__obama.jpg", "face_recognition__biden.jpg", False),
]
INFO = """
import json, platform, sys
import cv2, numpy
from edge import __version__
from edge.runtime import _runtime
_, _, name = _runtime()
mod = __import__("ai_edge_litert" if name == "ai-edge-litert" else "tflite_runtime")
print(json.dumps({"edgeface": __version__, "machine": platform.machine(), "python": platform.python_version(),
                  "runtime": name, "runtime_version": getattr(mod, "__version__", "?"),
                  "numpy": numpy.__version__, "cv2": cv2.__version__, "cv2_file": cv2.__file__}))
"""


def _run(cmd: list[str], env: dict[str, str], timeout: float = 3600, label: str | None = None) -> dict[str, Any]:
    t0 = time.perf_counter()
    p = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=timeout)
    wall = round(time.perf_counter() - t0, 2)
    shown = label or " ".join([Path(cmd[0]).name, *(Path(c).name if c.startswith("/") else c for c in cmd[1:])])
    print(f"  {wall:8.2f} s  rc {p.returncode}  {shown}", flush=True)
    return {"cmd": cmd, "rc": p.returncode, "wall_s": wall, "stdout": p.stdout, "stderr": p.stderr[-4000:]}


def _noise(line: str) -> bool:
    return line.startswith("INFO: Created TensorFlow Lite") or not line.strip()


def collect(args: argparse.Namespace) -> int:
    bindir = Path(sys.executable).parent
    edgeface = str(bindir / "edgeface")
    env = {**os.environ, "PATH": f"{bindir}:{os.environ.get('PATH', '/usr/bin:/bin')}", "PYTHONUNBUFFERED": "1"}
    threads = ["--threads", str(args.threads)]
    out: dict[str, Any] = {"collected_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "threads": args.threads}
    r = _run([sys.executable, "-c", INFO], env, label="python: import edge, the TFLite runtime, numpy, cv2")
    if r["rc"] != 0:
        print(r["stderr"], file=sys.stderr)
        return 1
    out["platform"] = json.loads(r["stdout"])
    out["platform"]["import_s"] = r["wall_s"]
    r = _run([edgeface, "models"], env)
    out["models"] = {"rc": r["rc"], "wall_s": r["wall_s"], "lines": [x for x in r["stdout"].splitlines() if not _noise(x)]}
    out["verify"] = []
    for label, a, b, expected in PAIRS:
        r = _run([edgeface, *threads, "verify", "--json", str(DATA / a), str(DATA / b)], env)
        line = next((x for x in r["stdout"].splitlines() if x.startswith("{")), "{}")
        out["verify"].append({"pair": label, "expected": expected, "rc": r["rc"], "wall_s": r["wall_s"], "result": json.loads(line)})
    with tempfile.TemporaryDirectory(prefix="pi-check-") as tmp:
        store = Path(tmp) / "edgeface.db"
        enroll_s = 0.0
        for person in sorted(p for p in (DEMO / "gallery").iterdir() if p.is_dir()):
            r = _run([edgeface, *threads, "enroll", "--store", str(store), "--name", person.name.replace("_", " "),
                      *map(str, sorted(person.iterdir()))], env)
            enroll_s += r["wall_s"]
            if r["rc"] != 0:
                print(r["stderr"], file=sys.stderr)
                return 1
        broker = None
        port = 1  # nothing listens there: the events stay in the outbox
        if not args.no_broker:
            from edge.apps.broker import LocalBroker, mosquitto_binary

            if mosquitto_binary():
                broker = LocalBroker(Path(tmp)).start()
                port = broker.port
        try:
            r = _run([edgeface, *threads, "run", "--config", str(DEMO / "demo.yaml"), "--source", str(args.clip), "--store", str(store),
                      "--mqtt-host", "127.0.0.1", "--mqtt-port", str(port), "--print-events"], env)
        finally:
            if broker is not None:
                broker.stop()
        events = [json.loads(x) for x in r["stdout"].splitlines() if x.startswith("{")]
        m = re.search(r"stopped after (\d+) frames", r["stdout"])
        st = _run([edgeface, "status", "--store", str(store), "--json"], env)
        status = json.loads(st["stdout"]) if st["stdout"].startswith("{") else {}
        out["daemon"] = {"rc": r["rc"], "wall_s": r["wall_s"], "enroll_s": round(enroll_s, 2), "broker": broker is not None,
                         "clip": Path(args.clip).name, "frames": int(m.group(1)) if m else None, "events": events,
                         "fps": status.get("fps"), "start_to_first_frame_s": status.get("start_to_first_frame_s"),
                         "latency_ms": status.get("latency_ms"), "counts": status.get("events"),
                         "log_tail": [x for x in r["stdout"].splitlines() if not x.startswith("{") and not _noise(x)][-8:]}
        out["console"] = console_check(edgeface, store, env, Path(tmp))
    Path(args.out).write_text(json.dumps(out, indent=1))
    print(f"wrote {args.out}")
    return 0


GROUPING = """
import json, numpy as np
from edge.cluster import group_embeddings
v = np.eye(6, dtype=np.float32)[[0, 0, 1, 2, 2, 2]] + 0.1 * np.eye(6, dtype=np.float32)[[3, 4, 3, 4, 5, 3]]
print(json.dumps([list(g.members) for g in group_embeddings(v, 0.5)]))
"""


def console_check(edgeface: str, store: Path, env: dict[str, str], tmp: Path) -> dict[str, Any]:
    """``edgeface console`` on ``store``: password set, logged in, every page and picture fetched,
    Lin enrolled again from an upload (one more template, with its crop); SciPy's grouping."""
    from edge.apps.broker import free_port, wait_listening
    from edge.apps.console.client import ConsoleClient

    password = "pi check password"
    cfg = tmp / "console.yaml"
    port = free_port()
    cfg.write_text((DEMO / "demo.yaml").read_text() + f"\nconsole: {{port: {port}}}\n")
    t0 = time.perf_counter()
    subprocess.run([edgeface, "console", "--config", str(cfg), "--store", str(store), "--set-password"], input=password + "\n",
                   text=True, env=env, check=True, capture_output=True, timeout=600)
    proc = subprocess.Popen([edgeface, "console", "--config", str(cfg), "--store", str(store)], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    out: dict[str, Any] = {}
    try:
        wait_listening(port, 600, lambda: proc.poll() is None)
        client = ConsoleClient(f"http://127.0.0.1:{port}", password)
        out["enrolled"] = client.enrol("Lin-Manuel Miranda", next((DEMO / "gallery" / "Lin-Manuel_Miranda").iterdir()))
        out["requests"] = client.browse()
        out["people"] = sorted(set(re.findall(r'class="card person" data-name="([^"]+)"', client.get("/people"))))
        out["rc"] = 0
    except Exception as e:  # noqa: BLE001 - reported in the comparison, with the console's own log
        out["rc"] = 1
        out["error"] = f"{type(e).__name__}: {e}"
    finally:
        proc.terminate()
        try:
            out["log_tail"] = [x for x in proc.communicate(timeout=30)[1].splitlines() if not _noise(x)][-8:]
        except subprocess.TimeoutExpired:
            proc.kill()
    out["wall_s"] = round(time.perf_counter() - t0, 2)
    r = _run([sys.executable, "-c", GROUPING], env, label="python: edge.cluster.group_embeddings (SciPy)")
    out["groups"] = json.loads(r["stdout"]) if r["rc"] == 0 else r["stderr"][-300:]
    print(f"  {out['wall_s']:8.2f} s  rc {out['rc']}  edgeface console: {out.get('requests', 0)} requests, {out.get('enrolled', out.get('error'))}",
          flush=True)
    return out


def _event_key(e: dict[str, Any]) -> tuple[Any, ...]:
    return (e.get("type"), e.get("person"), e.get("track_id"))


def compare(args: argparse.Namespace) -> int:
    a, b = (json.loads(Path(p).read_text()) for p in (args.reference, args.other))
    na, nb = a["platform"]["machine"], b["platform"]["machine"]
    rows: list[tuple[str, str, str, str, bool]] = []

    def row(what: str, va: Any, vb: Any, diff: str, ok: bool) -> None:
        rows.append((what, str(va), str(vb), diff, ok))

    for k in ("runtime", "runtime_version", "numpy", "cv2", "python"):
        row(k, a["platform"][k], b["platform"][k], "", True)
    row("edgeface models", f"{len(a['models']['lines'])} models, rc {a['models']['rc']}", f"{len(b['models']['lines'])} models, rc {b['models']['rc']}",
        "same" if a["models"]["lines"] == b["models"]["lines"] else "DIFFERENT", a["models"]["lines"] == b["models"]["lines"] and b["models"]["rc"] == 0)
    for va, vb in zip(a["verify"], b["verify"], strict=True):
        sa, sb = va["result"].get("similarity"), vb["result"].get("similarity")
        d = abs(sa - sb) if sa is not None and sb is not None else float("inf")
        ok = va["rc"] == vb["rc"] and va["result"].get("verified") == vb["result"].get("verified") == va["expected"] and d <= args.tol
        row(f"verify {va['pair']}", f"{sa} (rc {va['rc']})", f"{sb} (rc {vb['rc']})", f"{d:.4f}", ok)
    da, db = a["daemon"], b["daemon"]
    row("daemon frames", da["frames"], db["frames"], "", da["frames"] == db["frames"] and db["rc"] == 0)
    ea, eb = da["events"], db["events"]
    for i in range(max(len(ea), len(eb))):
        xa = ea[i] if i < len(ea) else None
        xb = eb[i] if i < len(eb) else None
        fmt = lambda e: "-" if e is None else f"{e['type']} {e.get('person') or 'unknown'} track {e['track_id']} sim {e['similarity']}"  # noqa: E731
        if xa is None or xb is None or _event_key(xa) != _event_key(xb):
            row(f"daemon event {i + 1}", fmt(xa), fmt(xb), "DIFFERENT", False)
            continue
        sa, sb = xa["similarity"], xb["similarity"]
        d = 0.0 if sa is None and sb is None else abs(sa - sb) if sa is not None and sb is not None else float("inf")
        row(f"daemon event {i + 1}", fmt(xa), fmt(xb), f"{d:.4f}", d <= args.tol)
    ca, cb = a["console"], b["console"]
    for what in ("rc", "enrolled", "people", "requests", "groups"):
        row(f"console {what}", ca.get(what, ca.get("error")), cb.get(what, cb.get("error")), "",
            ca.get(what) == cb.get(what) and cb.get("rc") == 0)
    w = [max(len(r[i]) for r in rows + [("what", na, nb, "|diff|", True)]) for i in range(4)]
    print(f"{'what':{w[0]}s}  {na:{w[1]}s}  {nb:{w[2]}s}  {'|diff|':{w[3]}s}  ok")
    for r in rows:
        print(f"{r[0]:{w[0]}s}  {r[1]:{w[1]}s}  {r[2]:{w[2]}s}  {r[3]:{w[3]}s}  {'yes' if r[4] else 'NO'}")
    bad = [r for r in rows if not r[4]]
    t = lambda d: (f"verify {', '.join(str(v['wall_s']) for v in d['verify'])} s; enroll {d['daemon']['enroll_s']} s; daemon {d['daemon']['wall_s']} s "  # noqa: E731
                   f"for {d['daemon']['frames']} frames ({d['daemon']['fps']} frames/s of processing)")
    print(f"timings {na}: {t(a)}")
    print(f"timings {nb}: {t(b)}")
    print(f"{'MISMATCH: ' + str(len(bad)) + ' row(s)' if bad else 'all match'} (similarity tolerance {args.tol})")
    return 1 if bad else 0


def cut(args: argparse.Namespace) -> int:
    import cv2

    cap = cv2.VideoCapture(str(args.src))
    fps = cap.get(cv2.CAP_PROP_FPS) or 30.0
    writer = None
    n = 0
    while n < args.frames:
        ok, frame = cap.read()
        if not ok:
            break
        if writer is None:
            h, w = frame.shape[:2]
            # FFV1 (lossless): the cut's frames are the original's decoded frames, bit for bit.
            writer = cv2.VideoWriter(str(args.dst), cv2.VideoWriter.fourcc(*"FFV1"), fps, (w, h))
            if not writer.isOpened():
                raise SystemExit(f"cannot write {args.dst} with FFV1 (expected a .mkv path)")
        writer.write(frame)
        n += 1
    cap.release()
    if writer is not None:
        writer.release()
    print(f"wrote the first {n} frames of {args.src} to {args.dst}")
    return 0 if n else 1


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="tools/pi_check.py", description=__doc__.split("\n\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("collect")
    p.add_argument("--out", required=True)
    p.add_argument("--clip", default=str(DEMO / "short_hamilton_clip.mp4"))
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--no-broker", action="store_true")
    p.set_defaults(func=collect)
    p = sub.add_parser("compare")
    p.add_argument("reference")
    p.add_argument("other")
    p.add_argument("--tol", type=float, default=0.01)
    p.set_defaults(func=compare)
    p = sub.add_parser("cut")
    p.add_argument("src")
    p.add_argument("dst")
    p.add_argument("--frames", type=int, default=100)
    p.set_defaults(func=cut)
    args = ap.parse_args(argv)
    return int(args.func(args))


if __name__ == "__main__":
    sys.exit(main())
