"""A logged-in visitor of the console over HTTP (standard library only: urllib with a cookie jar),
for the benchmark and the Raspberry Pi check: what a phone's browser asks for, without a browser."""

from __future__ import annotations

import html
import http.cookiejar
import re
import secrets
import urllib.request
from pathlib import Path


class ConsoleClient:
    """Logs in with ``password`` at ``base`` (``http://host:port``); ``csrf`` is the session's form token."""

    def __init__(self, base: str, password: str):
        self.base = base
        self.opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar()))
        token = self._csrf(self.get("/login"))
        self.post("/login", {"csrf": token, "password": password})
        self.csrf = self._csrf(self.get("/people"))

    @staticmethod
    def _csrf(html: str) -> str:
        m = re.search(r'name="csrf" value="([^"]+)"', html)
        if m is None:
            raise RuntimeError("the console page has no CSRF token (not logged in?)")
        return m.group(1)

    def get(self, path: str) -> str:
        with self.opener.open(self.base + path, timeout=30) as r:
            return str(r.read().decode("utf-8", "replace"))

    def post(self, path: str, fields: dict[str, str], files: tuple[tuple[str, str, bytes], ...] = ()) -> str:
        boundary = secrets.token_hex(16)
        parts = [f'--{boundary}\r\nContent-Disposition: form-data; name="{k}"\r\n\r\n{v}\r\n'.encode() for k, v in fields.items()]
        parts += [f'--{boundary}\r\nContent-Disposition: form-data; name="{field}"; filename="{name}"\r\n'
                  f"Content-Type: application/octet-stream\r\n\r\n".encode() + data + b"\r\n" for field, name, data in files]
        body = b"".join(parts) + f"--{boundary}--\r\n".encode()
        req = urllib.request.Request(self.base + path, data=body, headers={"Content-Type": f"multipart/form-data; boundary={boundary}"})
        with self.opener.open(req, timeout=60) as r:
            return str(r.read().decode("utf-8", "replace"))

    def enrol(self, name: str, photo: Path) -> str:
        """Enrol ``photo`` as ``name`` through the people page's upload form; the page's message (or error)."""
        page = self.post("/people/enrol", {"csrf": self.csrf, "name": name}, (("photos", photo.name, photo.read_bytes()),))
        m = re.search(r'id="(?:message|error)">([^<]*)<', page)
        return html.unescape(m.group(1)) if m else re.sub(r"\s+", " ", page)[-300:]

    def browse(self) -> int:
        """Every page and every picture on them; returns how many requests."""
        n = 0
        for page in ("/status", "/people", "/unknown", "/events"):
            html = self.get(page)
            n += 1
            for src in re.findall(r'src="(/img/[^"]+)"', html):
                self.get(src)
                n += 1
        return n
