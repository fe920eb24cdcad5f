"""A real Home Assistant Core for the tests: ``.venv-ha`` (made by ``tools/ha-venv.sh``), started on a
free loopback port with a throw-away config folder, onboarded through its API (an owner user and an
access token) and with the MQTT integration set up through the REST config-flow API against the
test's mosquitto.

    with HomeAssistant(workdir, mqtt_port=broker.port) as ha:
        ha.wait_for(lambda: ha.state("sensor.x") == "on", what="x on")
        ha.ws({"type": "config/device_registry/list"})

Only the standard library and ``websocket-client`` (edgeface's dev extras) are used here: the tests
run in edgeface's ``.venv``, Home Assistant in its own.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import subprocess
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent.parent
HA_VERSION = "2024.3.3"  # tools/ha-venv.sh installs this one
HA_VENV = Path(os.environ.get("EDGEFACE_HA_VENV", REPO / ".venv-ha"))
HA_PYTHON = HA_VENV / "bin" / "python"

# Integrations set up from configuration.yaml; Home Assistant adds its default ones (frontend, person,
# automation, ...) whatever the file says. No recorder, history or default_config: nothing the
# tests read needs them, and they cost start time.
CONFIGURATION_YAML = """\
homeassistant:
  name: edgeface test
  latitude: 52.37
  longitude: 4.89
  elevation: 0
  unit_system: metric
  time_zone: UTC
  currency: EUR
  country: NL
http:
  server_host: 127.0.0.1
  server_port: {port}
api:
websocket_api:
logger:
  default: warning
"""


def unavailable_reason() -> str | None:
    """Why Home Assistant cannot run here, or None when it can."""
    if not HA_PYTHON.exists():
        return f"no Home Assistant venv at {HA_VENV} (make it with tools/ha-venv.sh or ./setup.sh --ha; CI does)"
    try:
        import websocket  # noqa: F401
    except ImportError:
        return "websocket-client missing from this venv (./setup.sh --dev installs it)"
    out = subprocess.run([str(HA_PYTHON), "-c", "from homeassistant.const import __version__; print(__version__)"],
                         capture_output=True, text=True, timeout=60)
    if out.returncode != 0:
        return f"Home Assistant in {HA_VENV} does not import: {out.stderr.strip()[-300:]} (run tools/ha-venv.sh --force)"
    if out.stdout.strip() != HA_VERSION:
        return f"{HA_VENV} has Home Assistant {out.stdout.strip()}, the tests expect {HA_VERSION} (run tools/ha-venv.sh)"
    return None


def wait_for(pred: Callable[[], Any], timeout: float = 30.0, what: str = "condition", interval: float = 0.1,
             show: Callable[[], Any] | None = None) -> Any:
    """Poll ``pred`` until it returns something truthy (returned); fail with ``what`` after ``timeout``,
    and with what ``show()`` returns then (e.g. the states that did not match)."""
    end = time.monotonic() + timeout
    while True:
        got = pred()
        if got:
            return got
        if time.monotonic() > end:
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}" + (f": {show()}" if show else ""))
        time.sleep(interval)


class HAError(RuntimeError):
    pass


class WebSocket:
    """One authenticated connection to Home Assistant's websocket API. A reader thread routes
    results to callers by message id and records subscribed events (``events``)."""

    def __init__(self, url: str, token: str):
        import websocket

        self._ws = websocket.create_connection(url, timeout=15)
        hello = json.loads(self._ws.recv())
        if hello.get("type") != "auth_required":
            raise HAError(f"unexpected websocket greeting {hello}")
        self._ws.send(json.dumps({"type": "auth", "access_token": token}))
        auth = json.loads(self._ws.recv())
        if auth.get("type") != "auth_ok":
            raise HAError(f"websocket auth failed: {auth}")
        self._ws.settimeout(None)
        self._id = 0
        self._lock = threading.Lock()
        self._results: dict[int, dict[str, Any]] = {}
        self._cond = threading.Condition()
        self.events: list[dict[str, Any]] = []  # the 'event' part of every subscribed event message, in order
        self._closed = False
        self._reader = threading.Thread(target=self._read, name="ha-websocket", daemon=True)
        self._reader.start()

    def _read(self) -> None:
        while not self._closed:
            try:
                raw = self._ws.recv()
            except Exception:
                break
            if not raw:
                continue
            msgs = json.loads(raw)
            for msg in msgs if isinstance(msgs, list) else [msgs]:
                with self._cond:
                    if msg.get("type") == "event":
                        self.events.append(msg["event"])
                    elif msg.get("type") == "result":
                        self._results[msg["id"]] = msg
                    self._cond.notify_all()
        with self._cond:
            self._closed = True
            self._cond.notify_all()

    def call(self, command: dict[str, Any], timeout: float = 15.0) -> Any:
        """Send ``command`` (``{"type": ..., ...}``) and return its result; raises HAError on failure."""
        with self._lock:
            self._id += 1
            mid = self._id
            self._ws.send(json.dumps({**command, "id": mid}))
        with self._cond:
            if not self._cond.wait_for(lambda: mid in self._results or self._closed, timeout=timeout):
                raise HAError(f"no answer to {command['type']} within {timeout} s")
            if mid not in self._results:
                raise HAError(f"websocket closed before answering {command['type']}")
            res = self._results.pop(mid)
        if not res.get("success"):
            raise HAError(f"{command['type']} failed: {res.get('error')}")
        return res.get("result")

    def close(self) -> None:
        self._closed = True
        with contextlib.suppress(Exception):
            self._ws.close()


class HomeAssistant:
    """Home Assistant Core in a subprocess (see the module docstring)."""

    USER = {"name": "Test Owner", "username": "owner", "password": "edgeface-test-password", "language": "en"}

    def __init__(self, workdir: Path, mqtt_port: int, *, mqtt_host: str = "127.0.0.1", start_timeout: float = 120.0):
        from edge.apps.broker import free_port

        self.config_dir = Path(workdir) / "ha-config"
        self.config_dir.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.mqtt_host, self.mqtt_port = mqtt_host, mqtt_port
        self.start_timeout = start_timeout
        self.log_path = self.config_dir / "home-assistant.log"
        self.proc: subprocess.Popen[bytes] | None = None
        self.token: str | None = None
        self.websocket: WebSocket | None = None
        self.mqtt_entry: dict[str, Any] | None = None

    # --- lifecycle -----------------------------------------------------------------------------

    def __enter__(self) -> HomeAssistant:
        try:
            self.start()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self) -> HomeAssistant:
        (self.config_dir / "configuration.yaml").write_text(CONFIGURATION_YAML.format(port=self.port))
        out = open(self.config_dir / "hass.stdout", "wb")  # noqa: SIM115 (closed with the process)
        self.proc = subprocess.Popen([str(HA_PYTHON), "-m", "homeassistant", "--config", str(self.config_dir), "--skip-pip",
                                      "--log-no-color", "--log-file", str(self.log_path)],
                                     stdout=out, stderr=subprocess.STDOUT, cwd=self.config_dir, start_new_session=True)
        out.close()
        # /api/onboarding needs no auth (no 'invalid authentication' warnings in the log while waiting)
        wait_for(lambda: self._alive() and self._answers("/api/onboarding"), self.start_timeout, "Home Assistant's HTTP API", 0.2)
        self.onboard()
        wait_for(lambda: self.get("/api/config").get("state") == "RUNNING", self.start_timeout, "Home Assistant to be RUNNING", 0.2)
        self.websocket = WebSocket(f"ws://127.0.0.1:{self.port}/api/websocket", self.token or "")
        self.websocket.call({"type": "subscribe_events", "event_type": "state_changed"})
        self.setup_mqtt()
        return self

    def _alive(self) -> bool:
        if self.proc is not None and self.proc.poll() is not None:
            raise HAError(f"Home Assistant exited with {self.proc.returncode}; its output:\n{self.output()[-4000:]}")
        return True

    def _answers(self, path: str) -> bool:
        try:
            with urllib.request.urlopen(self.base + path, timeout=2):
                return True
        except urllib.error.HTTPError:
            return True
        except OSError:
            return False

    def stop(self, timeout: float = 30.0) -> None:
        """SIGTERM, then SIGKILL if Home Assistant has not exited after ``timeout``."""
        if self.websocket is not None:
            self.websocket.close()
            self.websocket = None
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=10)
        self.proc = None

    def output(self) -> str:
        p = self.config_dir / "hass.stdout"
        return p.read_text(errors="replace") if p.exists() else ""

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def log_entries(self, levels: tuple[str, ...] = ("WARNING", "ERROR", "CRITICAL")) -> list[str]:
        """Log records at ``levels``, each with its continuation lines (tracebacks)."""
        entries: list[str] = []
        keep = False
        for line in self.log().splitlines():
            m = re.match(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d+ (\w+) ", line)
            if m:
                keep = m.group(1) in levels
                if keep:
                    entries.append(line)
            elif keep and entries:
                entries[-1] += "\n" + line
        return entries

    # --- HTTP ----------------------------------------------------------------------------------

    def request(self, method: str, path: str, body: Any = None, *, form: dict[str, str] | None = None, auth: bool = True) -> Any:
        headers = {}
        data = None
        if form is not None:
            data = urllib.parse.urlencode(form).encode()
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        elif body is not None:
            data = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        if auth and self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        req = urllib.request.Request(self.base + path, data=data, headers=headers, method=method)
        try:
            with urllib.request.urlopen(req, timeout=15) as r:
                raw = r.read()
        except urllib.error.HTTPError as e:
            raise HAError(f"{method} {path}: HTTP {e.code}: {e.read().decode(errors='replace')[:500]}") from None
        return json.loads(raw) if raw else None

    def get(self, path: str) -> Any:
        return self.request("GET", path)

    def post(self, path: str, body: Any = None) -> Any:
        return self.request("POST", path, body)

    # --- onboarding and MQTT ---------------------------------------------------------------------

    def onboard(self) -> None:
        """Create the owner through the onboarding API and exchange its auth code for a token."""
        client_id = self.base + "/"
        res = self.request("POST", "/api/onboarding/users", {"client_id": client_id, **self.USER}, auth=False)
        tok = self.request("POST", "/auth/token", form={"grant_type": "authorization_code", "code": res["auth_code"],
                                                        "client_id": client_id}, auth=False)
        self.token = tok["access_token"]
        assert self.get("/api/") == {"message": "API running."}

    def setup_mqtt(self) -> None:
        """The MQTT integration via the config flow (user step -> broker step), then wait until it is loaded."""
        flow = self.post("/api/config/config_entries/flow", {"handler": "mqtt", "show_advanced_options": False})
        if flow.get("type") == "form" and flow.get("step_id") == "broker":
            flow = self.post(f"/api/config/config_entries/flow/{flow['flow_id']}", {"broker": self.mqtt_host, "port": self.mqtt_port})
        if flow.get("type") != "create_entry":
            raise HAError(f"MQTT config flow did not create an entry: {flow}")
        entry_id = flow["result"]["entry_id"]

        def loaded() -> dict[str, Any] | None:
            for e in self.get("/api/config/config_entries/entry"):
                if e["entry_id"] == entry_id and e["state"] == "loaded":
                    return e
            return None

        self.mqtt_entry = wait_for(loaded, 30, "the MQTT config entry to load")

    # --- reading Home Assistant ------------------------------------------------------------------

    def states(self) -> dict[str, dict[str, Any]]:
        """Every entity's state object (REST /api/states), by entity_id."""
        return {s["entity_id"]: s for s in self.get("/api/states")}

    def state(self, entity_id: str) -> str | None:
        """The entity's state string, None if Home Assistant has no such entity."""
        try:
            return str(self.get(f"/api/states/{entity_id}")["state"])
        except HAError as e:
            if "HTTP 404" in str(e):
                return None
            raise

    def ws(self, command: dict[str, Any] | str) -> Any:
        """One websocket command (``"config/device_registry/list"`` or a dict with its fields)."""
        assert self.websocket is not None, "Home Assistant is not running"
        return self.websocket.call({"type": command} if isinstance(command, str) else command)

    def history(self, entity_id: str, since: int = 0, until: int | None = None) -> list[dict[str, Any]]:
        """The new_state of every state_changed of ``entity_id`` between event indexes ``since`` and
        ``until`` (see ``mark``; the websocket subscription starts before MQTT is set up, so no change
        is missed)."""
        assert self.websocket is not None
        with self.websocket._cond:
            events = list(self.websocket.events[since:until])
        return [e["data"]["new_state"] for e in events
                if e.get("event_type") == "state_changed" and e["data"]["entity_id"] == entity_id and e["data"]["new_state"]]

    def mark(self) -> int:
        """An index into the recorded events, for ``history(since=...)``."""
        assert self.websocket is not None
        with self.websocket._cond:
            return len(self.websocket.events)

    def wait_for(self, pred: Callable[[], Any], timeout: float = 30.0, what: str = "condition",
                 show: Callable[[], Any] | None = None) -> Any:
        """``wait_for`` that also fails at once if Home Assistant exits; ``show`` defaults to the
        states of the entities whose id contains 'edgeface'."""
        return wait_for(lambda: self._alive() and pred(), timeout, what, show=show or self._edgeface_states)

    def _edgeface_states(self) -> dict[str, str]:
        return {k: v["state"] for k, v in self.states().items() if "edgeface" in k}
