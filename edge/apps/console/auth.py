"""The console's login: a salted scrypt password hash (Python's hashlib, OpenSSL), server-side
sessions behind an HttpOnly SameSite=Strict cookie, a CSRF token per session for every form, and
a limit on failed logins per client address."""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

from edge.errors import UsageError

MIN_PASSWORD_CHARS = 10
_N, _R, _P = 2**15, 8, 1  # scrypt cost: about 32 MB and 0.1 s on a Pi 4 per try


def hash_password(password: str) -> str:
    """``scrypt$N$r$p$salt$hash`` (hex) of ``password``; refuses a short one."""
    if len(password) < MIN_PASSWORD_CHARS:
        raise UsageError(f"the console password must have at least {MIN_PASSWORD_CHARS} characters, found {len(password)}; "
                         "choose a longer one (a few words)")
    salt = secrets.token_bytes(16)
    digest = hashlib.scrypt(password.encode(), salt=salt, n=_N, r=_R, p=_P, maxmem=64 * 1024 * 1024, dklen=32)
    return f"scrypt${_N}${_R}${_P}${salt.hex()}${digest.hex()}"


def check_password(password: str, stored: str | None) -> bool:
    """Whether ``password`` matches ``stored`` (a :func:`hash_password` result); False for no or a malformed hash."""
    try:
        kind, n, r, p, salt, digest = (stored or "").split("$")
        if kind != "scrypt":
            return False
        got = hashlib.scrypt(password.encode(), salt=bytes.fromhex(salt), n=int(n), r=int(r), p=int(p),
                             maxmem=64 * 1024 * 1024, dklen=len(digest) // 2)
    except ValueError:
        return False
    return hmac.compare_digest(got.hex(), digest)


@dataclass(frozen=True)
class Session:
    token: str
    csrf: str
    expires: float


class Sessions:
    """Logged-in sessions, in memory only (a restart logs everyone out)."""

    def __init__(self, lifetime_s: float = 12 * 3600.0, clock: Callable[[], float] = time.monotonic):
        self.lifetime_s = lifetime_s
        self.clock = clock
        self._by_token: dict[str, Session] = {}

    def start(self) -> Session:
        now = self.clock()
        self._by_token = {t: s for t, s in self._by_token.items() if s.expires > now}
        s = Session(secrets.token_urlsafe(32), secrets.token_urlsafe(32), now + self.lifetime_s)
        self._by_token[s.token] = s
        return s

    def get(self, token: str | None) -> Session | None:
        s = self._by_token.get(token or "")
        if s is None or s.expires <= self.clock():
            return None
        return s

    def end(self, token: str | None) -> None:
        self._by_token.pop(token or "", None)


class LoginLimiter:
    """At most ``max_failures`` failed logins per client address in ``window_s`` (and ``max_total``
    from all addresses together, against a spread attack); then logins wait."""

    def __init__(self, max_failures: int = 5, window_s: float = 900.0, max_total: int = 30,
                 clock: Callable[[], float] = time.monotonic):
        self.max_failures, self.window_s, self.max_total, self.clock = max_failures, window_s, max_total, clock
        self._failures: dict[str, deque[float]] = {}
        self._all: deque[float] = deque()

    def _trim(self, q: deque[float]) -> None:
        while q and q[0] <= self.clock() - self.window_s:
            q.popleft()

    def wait_s(self, client: str) -> float:
        """Seconds until ``client`` may try again (0: now)."""
        q = self._failures.get(client, deque())
        self._trim(q)
        self._trim(self._all)
        waits = [q[0] + self.window_s - self.clock()] if len(q) >= self.max_failures else []
        if len(self._all) >= self.max_total:
            waits.append(self._all[0] + self.window_s - self.clock())
        return max(waits, default=0.0)

    def failed(self, client: str) -> None:
        now = self.clock()
        self._failures.setdefault(client, deque()).append(now)
        self._all.append(now)

    def succeeded(self, client: str) -> None:
        self._failures.pop(client, None)


def same(a: str | None, b: str | None) -> bool:
    """Constant-time comparison of two tokens (False when either is missing)."""
    return bool(a) and bool(b) and hmac.compare_digest(str(a), str(b))
