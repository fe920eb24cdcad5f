"""Signed door commands: HMAC-SHA256 over the command, a timestamp and a nonce.

A command is JSON ``{"command": "disable", "timestamp": 1764620000.5, "nonce": "9f…", "hmac": "…"}``;
``hmac`` is the hex HMAC-SHA256, keyed with the unit's command secret, of the UTF-8 string
``"<device_id>\\n<command>\\n<timestamp with 3 decimals>\\n<nonce>"``.
Binding the device id stops a command for one unit from working on another with the same
secret; a timestamp outside ``window_s`` of the unit's clock, or a nonce already seen within
the window, is refused (replay). Verification is constant-time. Pure: no MQTT here.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

Command = Literal["enable", "disable"]
COMMANDS: tuple[Command, ...] = ("enable", "disable")


def _message(device_id: str, command: str, timestamp: float, nonce: str) -> bytes:
    return f"{device_id}\n{command}\n{timestamp:.3f}\n{nonce}".encode()


def sign(secret: str, device_id: str, command: Command, *, timestamp: float | None = None, nonce: str | None = None) -> str:
    """The JSON payload of a signed ``command`` for ``device_id``."""
    ts = round(time.time() if timestamp is None else timestamp, 3)
    n = nonce or secrets.token_hex(8)
    mac = hmac.new(secret.encode(), _message(device_id, command, ts, n), hashlib.sha256).hexdigest()
    return json.dumps({"command": command, "timestamp": ts, "nonce": n, "hmac": mac}, separators=(",", ":"))


@dataclass(frozen=True)
class Verified:
    command: Command | None  # None: refused
    reason: str  # "ok", or why it was refused (for the log; never contains the secret)


class CommandVerifier:
    """Checks signed commands for one unit; remembers nonces for ``window_s``."""

    def __init__(self, secret: str, device_id: str, *, window_s: float = 30.0, clock: Callable[[], float] = time.time):
        if not secret:
            raise ValueError("a command secret must not be empty")
        self._key = secret.encode()
        self.device_id = device_id
        self.window_s = window_s
        self._clock = clock
        self._seen: OrderedDict[str, float] = OrderedDict()

    def verify(self, payload: bytes) -> Verified:
        now = float(self._clock())
        try:
            msg = json.loads(payload.decode("utf-8"))
        except (UnicodeDecodeError, ValueError):
            return Verified(None, "not JSON: expected {\"command\", \"timestamp\", \"nonce\", \"hmac\"} (edgeface door --help)")
        if not isinstance(msg, dict) or set(msg) != {"command", "timestamp", "nonce", "hmac"}:
            keys = sorted(msg) if isinstance(msg, dict) else type(msg).__name__
            return Verified(None, f"expected the keys command, timestamp, nonce, hmac; found {keys}")
        command, ts, nonce, mac = msg["command"], msg["timestamp"], msg["nonce"], msg["hmac"]
        if command not in COMMANDS:
            return Verified(None, f"unknown command {str(command)[:20]!r}; expected enable or disable")
        if not isinstance(ts, (int, float)) or isinstance(ts, bool) or not isinstance(nonce, str) or not isinstance(mac, str) \
                or not 8 <= len(nonce) <= 64:
            return Verified(None, "timestamp must be a number, nonce a string of 8-64 characters, hmac a hex string")
        expected = hmac.new(self._key, _message(self.device_id, command, float(ts), nonce), hashlib.sha256).hexdigest()
        if not hmac.compare_digest(expected, mac.lower()):
            return Verified(None, "bad signature (wrong secret, another unit's command, or altered)")
        if abs(now - float(ts)) > self.window_s:
            return Verified(None, f"stale or future timestamp ({now - float(ts):+.0f} s from this unit's clock, window {self.window_s:g} s)")
        self._forget(now)
        if nonce in self._seen:
            return Verified(None, "replayed (this nonce was already used)")
        self._seen[nonce] = now
        return Verified(command, "ok")

    def _forget(self, now: float) -> None:
        while self._seen and next(iter(self._seen.values())) < now - 2 * self.window_s:
            self._seen.popitem(last=False)

