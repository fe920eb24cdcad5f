"""The console's access rules through its real app (Starlette's test client): nothing without a
login, no form without its CSRF token, a wrong password refused and then rate-limited, the
password only as a salted hash; and its pages on a real store."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from edge.apps.console.app import ConsoleSettings, make_app
from edge.apps.console.auth import check_password, hash_password
from edge.errors import UsageError
from edge.store import Store
from edge.unit.status import status_path

PASSWORD = "correct horse battery staple"
REPO = Path(__file__).resolve().parent.parent.parent


@pytest.fixture
def client(tmp_path, recognizer):
    store = tmp_path / "edgeface.db"
    with Store(store) as st:
        st.set_console_password_hash(hash_password(PASSWORD))
    app = make_app(ConsoleSettings(store, status_path(store), lambda: recognizer, announce_far=1e-4))
    with TestClient(app, base_url="http://127.0.0.1", follow_redirects=False) as c:
        yield c


def _csrf(html: str) -> str:
    m = re.search(r'name="csrf" value="([^"]+)"', html)
    assert m, html[:300]
    return m.group(1)


def login(c: TestClient, password: str = PASSWORD):
    token = _csrf(c.get("/login").text)
    return c.post("/login", data={"csrf": token, "password": password})


def test_every_page_needs_a_login(client):
    for path in ("/", "/status", "/people", "/unknown", "/events"):
        r = client.get(path)
        assert r.status_code == 303 and r.headers["location"] == "/login", path
    assert client.get("/img/template/1").status_code == 401
    for path in ("/people/remove", "/people/enrol", "/unknown/name", "/door", "/logout"):
        assert client.post(path, data={"name": "x"}).status_code == 401, path
    r = client.get("/login")
    assert r.status_code == 200 and 'type="password"' in r.text
    assert r.headers["x-frame-options"] == "DENY" and "frame-ancestors 'none'" in r.headers["content-security-policy"]


def test_a_wrong_password_is_refused_and_repeated_failures_are_rate_limited(client):
    r = login(client, "wrong password!")
    assert r.status_code == 303 and "error=wrong+password" in r.headers["location"]
    assert "edgeface_session" not in r.headers.get("set-cookie", "")
    assert client.get("/people").status_code == 303
    for _ in range(4):
        login(client, "still wrong!!")
    r = login(client)  # the right password, but after 5 failures from this address: wait
    assert r.status_code == 429 and "try again" in r.text and int(r.headers["retry-after"]) > 0


def test_a_good_login_gives_an_httponly_strict_session(client):
    r = login(client)
    assert r.status_code == 303 and r.headers["location"] == "/status"
    cookie = r.headers["set-cookie"]
    assert "edgeface_session=" in cookie and "HttpOnly" in cookie and "SameSite=strict" in cookie
    assert client.get("/people").status_code == 200
    assert client.get("/status").status_code == 200 and "has not run on this store yet" in client.get("/status").text


def test_login_and_forms_refuse_a_missing_or_wrong_csrf_token(client):
    client.get("/login")
    assert client.post("/login", data={"password": PASSWORD}).status_code == 403
    assert client.post("/login", data={"csrf": "forged", "password": PASSWORD}).status_code == 403
    login(client)
    assert client.post("/people/remove", data={"name": "Alice"}).status_code == 403
    assert client.post("/people/remove", data={"name": "Alice", "csrf": "forged"}).status_code == 403
    token = _csrf(client.get("/people").text)
    r = client.post("/people/remove", data={"name": "Alice", "csrf": token})  # the token passes; the mistake is explained
    assert r.status_code == 303 and "no+person+named" in r.headers["location"]
    assert client.post("/logout", data={"csrf": token}).status_code == 303
    assert client.get("/people").status_code == 303  # logged out: the session is gone on the server


def test_password_is_stored_only_as_a_salted_hash(tmp_path):
    h1, h2 = hash_password(PASSWORD), hash_password(PASSWORD)
    assert h1 != h2 and PASSWORD not in h1 and h1.startswith("scrypt$")
    assert check_password(PASSWORD, h1) and not check_password(PASSWORD + "x", h1)
    assert not check_password(PASSWORD, None) and not check_password(PASSWORD, "scrypt$bad")
    with pytest.raises(UsageError, match="at least 10 characters"):
        hash_password("short")
    store = tmp_path / "s.db"
    cfg = tmp_path / "unit.yaml"
    cfg.write_text((REPO / "firmware_configs" / "demo" / "demo.yaml").read_text())
    r = subprocess.run([sys.executable, "-m", "edge.apps.cli", "console", "--config", str(cfg), "--store", str(store), "--set-password"],
                       input=PASSWORD + "\n", capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    assert PASSWORD.encode() not in store.read_bytes() + (Path(f"{store}-wal").read_bytes() if Path(f"{store}-wal").exists() else b"")
    with Store(store) as st:
        assert check_password(PASSWORD, st.console_password_hash())
    r = subprocess.run([sys.executable, "-m", "edge.apps.cli", "console", "--config", str(cfg), "--store", str(tmp_path / "new.db")],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 2 and "no console password is set" in r.stderr and "Traceback" not in r.stderr


def test_the_daemon_serves_the_console_on_its_thread_when_enabled(tmp_path):
    """``edgeface run`` with console.enabled: the console answers while the clip plays (logged in,
    every page and picture, an enrolment from an upload), and the store holds what it did."""
    from edge.apps.bench import _console_once
    from edge.apps.broker import free_port

    res = _console_once(2, tmp_path, free_port(), console=True)
    assert res["console_requests"] > 4
    with Store(tmp_path / "console-2-1.db") as st:
        assert {p.name: p.templates for p in st.persons()} == {"Alex Lacamoire": 2, "Lin-Manuel Miranda": 1}
        assert list(st.template_crops()) == ["Lin-Manuel Miranda"]  # enrolled through the console: with its crop
        assert st.event_log()  # the daemon kept its events for the console


def test_https_with_the_configured_certificate_marks_cookies_secure(tmp_path):
    """console.tls_cert/tls_key: the console speaks only HTTPS (verified against the test CA) and
    its cookies are Secure."""
    import shutil
    import ssl
    import urllib.error
    import urllib.request

    import yaml

    from edge.apps.broker import free_port, wait_listening
    from tests.integration.test_mqtt import _tls_files

    if shutil.which("openssl") is None:
        pytest.skip("needs openssl (.ci/run installs it)")
    ca = _tls_files(tmp_path)
    port = free_port()
    data = yaml.safe_load((REPO / "firmware_configs" / "demo" / "demo.yaml").read_text())
    data["store"]["path"] = str(tmp_path / "s.db")
    data["console"] = {"port": port, "tls_cert": str(tmp_path / "server.crt"), "tls_key": str(tmp_path / "server.key")}
    cfg = tmp_path / "unit.yaml"
    cfg.write_text(yaml.safe_dump(data))
    cli = [sys.executable, "-m", "edge.apps.cli", "console", "--config", str(cfg)]
    subprocess.run([*cli, "--set-password"], input=PASSWORD + "\n", text=True, check=True, capture_output=True, timeout=60)
    proc = subprocess.Popen(cli, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        assert wait_listening(port, 30, lambda: proc.poll() is None)
        ctx = ssl.create_default_context(cafile=str(ca))
        with urllib.request.urlopen(f"https://127.0.0.1:{port}/login", context=ctx, timeout=10) as r:
            assert r.status == 200 and "; Secure" in r.headers["set-cookie"] and "HttpOnly" in r.headers["set-cookie"]
        with pytest.raises((urllib.error.URLError, ConnectionError)):  # no plain HTTP on that port
            urllib.request.urlopen(f"http://127.0.0.1:{port}/login", timeout=10).read()
    finally:
        proc.terminate()
        proc.wait(timeout=10)
