"""A throw-away mosquitto on a free loopback port (Debian's ``mosquitto``), for the demo, the
benchmarks and the tests."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

from edge.errors import BrokerError


def mosquitto_binary() -> str | None:
    return shutil.which("mosquitto") or next((p for p in ("/usr/sbin/mosquitto", "/usr/local/sbin/mosquitto") if Path(p).exists()), None)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_listening(port: int, timeout_s: float, alive: Callable[[], bool] = lambda: True) -> bool:
    """Wait until something accepts connections on 127.0.0.1:``port``; False after ``timeout_s``
    or as soon as ``alive()`` says the server process ended."""
    end = time.monotonic() + timeout_s
    while time.monotonic() < end:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return True
        except OSError:
            if not alive():
                return False
            time.sleep(0.05)
    return False


class LocalBroker:
    """A throw-away mosquitto on 127.0.0.1 (anonymous, no persistence), for the demo and tests."""

    def __init__(self, workdir: Path, port: int | None = None, binary: str | None = None, extra_conf: str = "", persistent: bool = False):
        """``extra_conf``: more mosquitto.conf lines for the listener (TLS files, password_file,
        ``allow_anonymous false``). ``persistent``: keep sessions and queued QoS 1 messages across
        a restart of the broker (in ``workdir``)."""
        found = binary or mosquitto_binary()
        if found is None:
            raise BrokerError("mosquitto is not installed (sudo apt-get install mosquitto)")
        self.binary: str = found
        self.port = port or free_port()
        self.conf = workdir / "mosquitto.conf"
        # Started as root, mosquitto would switch to user 'mosquitto' and lose access to our files.
        user = "user root\n" if os.geteuid() == 0 else ""
        anonymous = "" if "allow_anonymous" in extra_conf else "allow_anonymous true\n"
        store = f"persistence true\npersistence_location {workdir}/\n" if persistent else "persistence false\n"
        self.conf.write_text(f"{user}{store}listener {self.port} 127.0.0.1\n{anonymous}{extra_conf}")
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self, timeout_s: float = 10.0) -> LocalBroker:
        proc = self.proc = subprocess.Popen([self.binary, "-c", str(self.conf)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        if wait_listening(self.port, timeout_s, lambda: proc.poll() is None):
            return self
        self.stop()
        raise BrokerError(f"mosquitto did not start on 127.0.0.1:{self.port}")

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
            self.proc = None
