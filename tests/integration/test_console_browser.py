"""The console in a real browser (Debian's chromium, driven by Playwright) against the real server
(``edgeface console`` in its own process) and the real daemon on the bundled clip:

log in (after a wrong password), enrol Alex from his bundled photos, run the daemon with Lin not
enrolled, see Lin's unknown group, name it, see the next run of the clip match Lin; remove Lin and
find neither his name nor his templates' bytes in the store's files. Screenshots of each page go to
build/console/ (CI's artefacts folder).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml

from edge.apps.broker import free_port, wait_listening
from edge.store import Store
from edge.unit.config import load_config
from edge.unit.daemon import Daemon
from tests.integration.test_console import PASSWORD
from tests.integration.test_daemon import ALEX, CLIP, DEMO, LIN

REPO = Path(__file__).resolve().parent.parent.parent
SHOTS = REPO / "build" / "console"
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
# Chromium as root in a container, on a closed network (see the machine notes)
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync"]


@pytest.fixture
def browser():
    if not Path(CHROMIUM).exists():
        if os.environ.get("EDGEFACE_REQUIRE_BROWSER"):
            pytest.fail(f"no chromium at {CHROMIUM}: .ci/run installs Debian's chromium package")
        pytest.skip("Debian's chromium is not installed (apt-get install chromium); CI installs it")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        yield b
        b.close()


@pytest.fixture
def unit(tmp_path):
    """A unit's config file (the demo's, console on, no broker) and its console server process."""
    port = free_port()
    data = yaml.safe_load((DEMO / "demo.yaml").read_text())
    data["camera"]["source"] = str(CLIP)
    data["store"]["path"] = str(tmp_path / "edgeface.db")
    data["mqtt"].update(host="127.0.0.1", port=1)
    data["console"] = {"enabled": True, "port": port}
    cfg_file = tmp_path / "unit.yaml"
    cfg_file.write_text(yaml.safe_dump(data))
    edgeface = [sys.executable, "-m", "edge.apps.cli"]
    subprocess.run([*edgeface, "console", "--config", str(cfg_file), "--set-password"], input=PASSWORD + "\n", text=True,
                   check=True, capture_output=True, timeout=60)
    log = (tmp_path / "console.log").open("w")
    proc = subprocess.Popen([*edgeface, "console", "--config", str(cfg_file)], stdout=log, stderr=subprocess.STDOUT)
    assert wait_listening(port, 30, lambda: proc.poll() is None), (tmp_path / "console.log").read_text()
    yield cfg_file, f"http://127.0.0.1:{port}"
    proc.terminate()
    proc.wait(timeout=10)


def _run_clip(cfg_file: Path) -> list[dict]:
    events: list[dict] = []
    Daemon(load_config(cfg_file), on_event=events.append, drain_s=0).run()
    return events


def _shot(page, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)


def _file_bytes(store: Path) -> bytes:
    return b"".join(p.read_bytes() for p in (store, Path(f"{store}-wal")) if p.exists())


def test_enrol_review_unknown_name_and_forget_in_a_real_browser(browser, unit, templates, recognizer):
    cfg_file, base = unit
    store = load_config(cfg_file).store.path
    page = browser.new_page(viewport={"width": 1000, "height": 800})

    # an unauthenticated visitor gets the login form; a wrong password is refused
    page.goto(f"{base}/people")
    assert page.url == f"{base}/login"
    _shot(page, "login")
    page.fill("input[name=password]", "not the password")
    page.click("button[type=submit]")
    assert page.locator("#error").inner_text() == "wrong password"
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    assert page.url == f"{base}/status"

    # enrol Alex from his bundled photos, through the upload form
    page.goto(f"{base}/people")
    page.fill("#enrol input[name=name]", ALEX)
    photos = sorted(str(p) for p in (DEMO / "gallery" / "Alex_Lacamoire").iterdir())
    page.set_input_files("#enrol input[name=photos]", photos)
    page.click("#enrol button[type=submit]")
    assert f"enrolled {len(photos)} photo(s) of {ALEX}" in page.locator("#message").inner_text()
    assert page.locator(f'.person[data-name="{ALEX}"] img.face').count() == len(photos)  # the crops of his templates
    _shot(page, "people")

    # the clip with Lin not enrolled: his visits are unknown, and the console shows them as groups
    first = _run_clip(cfg_file)
    assert ("match", ALEX) in [(e["type"], e["person"]) for e in first]
    assert not any(e["person"] == LIN for e in first)
    page.goto(f"{base}/unknown")
    assert page.locator(".group").count() >= 1
    _shot(page, "unknown")
    with Store(store) as st:  # which group is Lin: the one holding the unknown face most like his enrolment photos
        faces = st.unknown_faces(recognizer.embedder.fingerprint)
    lin = np.stack(templates[LIN])
    lin_face = max(faces, key=lambda f: float((lin @ f.embedding).max()))
    assert float((lin @ lin_face.embedding).max()) > 0.4
    group = page.locator(".group").filter(has=page.locator(f'img[src="/img/unknown/{lin_face.id}"]'))
    assert group.count() == 1
    assert group.locator("img.face").count() == sum(e["type"] == "unknown" for e in first) == 2  # both his visits, one group
    group.locator("input[name=name]").fill(LIN)
    group.locator("button.name").click()
    assert f"as {LIN}" in page.locator("#message").inner_text()

    # the next run of the clip matches Lin
    second = _run_clip(cfg_file)
    assert ("match", LIN) in [(e["type"], e["person"]) for e in second]
    page.goto(f"{base}/events")
    assert page.locator("tr.event.match", has_text=LIN).count() >= 1
    assert page.locator("tr.event.match img.face").count() >= 1
    _shot(page, "events")
    page.goto(f"{base}/status")
    assert "stopped" in page.locator("#status").inner_text()
    _shot(page, "status")

    # remove Lin: his name and his templates' bytes leave the store's files
    with Store(store) as st:
        blobs = [bytes(r[0]) for r in st._db.execute(
            "SELECT t.embedding FROM templates t JOIN persons p ON p.id = t.person_id WHERE p.name = ?", (LIN,))]
    assert blobs and LIN.encode() in _file_bytes(store)
    page.goto(f"{base}/people")
    page.locator(f'.person[data-name="{LIN}"] button.remove').click()
    assert f"removed {LIN}" in page.locator("#message").inner_text()
    after = _file_bytes(store)
    assert LIN.encode() not in after and not any(b in after for b in blobs)
    assert page.locator(f'.person[data-name="{LIN}"]').count() == 0

    # refused: a form without its CSRF token (even logged in), and any request without a session
    r = page.request.post(f"{base}/people/remove", form={"name": ALEX})
    assert r.status == 403
    anonymous = browser.new_context()
    r = anonymous.request.get(f"{base}/img/template/1")
    assert r.status == 401
    other = anonymous.new_page()
    other.goto(f"{base}/events")
    assert other.url == f"{base}/login"

