"""Serving the console: uvicorn on the configured address (127.0.0.1 unless configured), HTTPS with
the configured certificate; in the foreground (``edgeface console``) or on a thread beside the
daemon (``console.enabled``)."""

from __future__ import annotations

import logging
import threading
from pathlib import Path
from typing import TYPE_CHECKING

from edge.api import Recognizer
from edge.apps.console.app import ConsoleSettings, make_app
from edge.errors import UsageError
from edge.store import Store
from edge.unit.config import DeviceConfig
from edge.unit.status import status_path

if TYPE_CHECKING:
    import uvicorn

log = logging.getLogger(__name__)


def settings_for(cfg: DeviceConfig, store: Path | None = None) -> ConsoleSettings:
    path = Path(store or cfg.store.path)
    with Store(path) as st:
        if not st.console_password_hash():
            raise UsageError(f"no console password is set for {path}: set one first with "
                             f"edgeface console --config FILE --set-password (it asks for it, or reads it from standard input)")
    m = cfg.models

    def recognizer() -> Recognizer:
        from edge.calibration import load_calibration

        return Recognizer(models_dir=m.dir, detector=m.detector, embedder=m.embedder, threads=m.threads, edgetpu=m.edgetpu,
                          cpu_fallback=m.cpu_fallback, calibration=load_calibration(m.calibration) if m.calibration else None)

    return ConsoleSettings(store=path, status_file=status_path(path), recognizer=recognizer, announce_far=cfg.recognition.announce_far,
                           cosine_threshold=cfg.recognition.cosine_threshold, https=cfg.console.tls_cert is not None,
                           door=cfg.door.enabled)


def server(cfg: DeviceConfig, *, store: Path | None = None, host: str | None = None, port: int | None = None) -> uvicorn.Server:
    """A uvicorn server for the console of ``cfg`` (not started)."""
    import uvicorn

    c = cfg.console
    ucfg = uvicorn.Config(make_app(settings_for(cfg, store)), host=host or c.host, port=port or c.port, log_level="warning",
                          access_log=False, ssl_certfile=str(c.tls_cert) if c.tls_cert else None,
                          ssl_keyfile=str(c.tls_key) if c.tls_key else None, proxy_headers=False, server_header=False)
    srv = uvicorn.Server(ucfg)
    scheme = "https" if c.tls_cert else "http"
    log.info("console on %s://%s:%d/ (%s)", scheme, ucfg.host, ucfg.port,
             "this unit only" if ucfg.host in ("127.0.0.1", "localhost", "::1") else "reachable on the network; login required")
    return srv


def serve(cfg: DeviceConfig, *, store: Path | None = None, host: str | None = None, port: int | None = None) -> None:
    """Run the console in the foreground until Ctrl-C or SIGTERM."""
    server(cfg, store=store, host=host, port=port).run()


class Background:
    """The console on a thread beside the daemon; ``stop()`` ends it."""

    def __init__(self, cfg: DeviceConfig):
        self._server = server(cfg)  # off the main thread uvicorn leaves the signals to the daemon
        self._thread = threading.Thread(target=self._server.run, name="console", daemon=True)

    def start(self) -> Background:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.should_exit = True
        self._thread.join(timeout=5.0)
