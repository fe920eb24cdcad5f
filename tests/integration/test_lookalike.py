"""A stranger who resembles someone enrolled, walking up to a door unit: no match, and the door stays shut.

The look-alike is the closest impostor pair among the labelled photos the project may commit
(tools/data): Kate Siegel's photo against Angelina Jolie's, cosine 0.46 (a rate of about 1.5e-5
per comparison in models/CALIBRATION.md). Kate's visit is a clip made from her photo: her face
grows from 80 to 200 px in a 640x480 frame, sways, with sensor noise and JPEG compression. The
household enrolled on the door unit (firmware_configs/rpi4-cpu.yaml, its announce and door rates
as shipped) is six people with 11 templates, Jolie among them. Measured while writing this test:
the clip's 10-frame mean embeddings reach 0.49 against Jolie's template; the unit announces at
0.5187 (1e-4 per visit over 11 templates and the visit factor) and opens the door at 0.5302.
Enrolled, Kate is matched and let in.
"""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from edge.labelled import read_labels
from edge.store import Store
from edge.unit.config import load_config
from edge.unit.daemon import Daemon, status_path

REPO = Path(__file__).resolve().parent.parent.parent
PHOTOS = REPO / "tools" / "data" / "images"
TESTS = REPO / "tests" / "data"
JOLIE, KATE = "Angelina Jolie", "Kate Siegel"
HOUSEHOLD = {
    JOLIE: [PHOTOS / "angelina_jolie__facenet_pytorch__angelina_jolie_1.jpg"],
    "Barack Obama": [TESTS / "face_recognition__obama.jpg", TESTS / "face_recognition__obama2.jpg"],
    "Joe Biden": [TESTS / "face_recognition__biden.jpg", TESTS / "face_recognition__knn_biden_biden2.jpg"],
    "John Lennon": [PHOTOS / "john_lennon__openface__lennon-1.jpg", PHOTOS / "john_lennon__openface__lennon-2.jpg"],
    "Kit Harington": [PHOTOS / "kit_harington__face_recognition__knn_kit_harington_john1.jpg",
                      PHOTOS / "kit_harington__face_recognition__knn_kit_harington_john2.jpg"],
    "Rose Leslie": [PHOTOS / "rose_leslie__face_recognition__knn_rose_leslie_img1.jpg",
                    PHOTOS / "rose_leslie__face_recognition__knn_rose_leslie_img2.jpg"],
}
KATE_PHOTO = PHOTOS / "kate_siegel__facenet_pytorch__kate_siegel_1.jpg"


def test_jolie_and_siegel_are_the_closest_impostor_pair_of_the_committed_photos(recognizer):
    photos = [p for p in read_labels(REPO / "tools" / "data" / "index.csv", PHOTOS) if p.identity]
    faces = [(p, recognizer.extract_faces(p.path, enforce_detection=False)) for p in photos]
    faces = [(p, f[0].embedding.vector) for p, f in faces if f]
    best = max(((float(a @ b), pa.identity, pb.identity) for i, (pa, a) in enumerate(faces) for pb, b in faces[i + 1:]
                if pa.identity != pb.identity), key=lambda t: t[0])
    assert {best[1], best[2]} == {"angelina_jolie", "kate_siegel"} and 0.4 < best[0] < 0.5


def _visit_clip(recognizer, photo: Path, out: Path, frames: int = 60, seed: int = 0) -> Path:
    """The person of ``photo`` walking up to a 640x480 door camera at 15 fps."""
    rng = np.random.default_rng(seed)
    img = cv2.imread(str(photo))
    x1, y1, x2, y2 = recognizer.extract_faces(img)[0].box
    cx, cy, w = (x1 + x2) / 2, (y1 + y2) / 2, x2 - x1
    writer = cv2.VideoWriter(str(out), cv2.VideoWriter_fourcc(*"mp4v"), 15, (640, 480))
    assert writer.isOpened(), "OpenCV cannot write mp4v here"
    for i in range(frames):
        s = (80 + 120 * i / (frames - 1)) / w
        m = np.float32([[s, 0, 320 - s * cx + 6 * np.sin(i / 5)], [0, s, 220 - s * cy + 3 * np.cos(i / 7)]])
        fr = cv2.warpAffine(img, m, (640, 480), borderMode=cv2.BORDER_CONSTANT, borderValue=(60, 60, 60))
        fr = np.clip(fr.astype(np.float32) + rng.normal(0, 3, fr.shape), 0, 255).astype(np.uint8)
        writer.write(fr)
    writer.release()
    return out


@pytest.fixture(scope="module")
def household(recognizer):
    return {name: recognizer.enrollment_embeddings(photos) for name, photos in HOUSEHOLD.items()}


def _run(tmp_path, recognizer, people: dict, allowed: list[str]):
    from gpiozero.pins.mock import MockFactory

    store = tmp_path / "door.db"
    with Store(store) as st:
        for name, embeddings in people.items():
            st.enroll(name, embeddings, recognizer.embedder.fingerprint)
    clip = _visit_clip(recognizer, KATE_PHOTO, tmp_path / "kate_at_the_door.mp4")
    cfg = load_config(REPO / "firmware_configs" / "rpi4-cpu.yaml", {
        "camera.source": str(clip), "store.path": str(store), "models.threads": 2,
        "mqtt.host": "127.0.0.1", "mqtt.port": 1, "mqtt.username": None, "mqtt.password_file": None, "mqtt.tls": None,  # no broker: events stay in the outbox
        "door.enabled": True, "door.allowed": allowed,
        # this visit is a photo moved on a plane: what is tested here is the threshold, not liveness
        # (tests/integration/test_door.py has the liveness cases)
        "door.liveness_required": False, "liveness.enabled": False,
    })
    events: list[dict] = []
    daemon = Daemon(cfg, on_event=events.append, door_pin_factory=MockFactory(), drain_s=0)
    daemon.run()
    assert daemon.door is not None
    points = {p["purpose"]: p for p in json.loads(status_path(store).read_text())["operating_points"]}
    return events, daemon.door.pulses, points


def test_a_look_alike_stranger_is_not_matched_and_the_door_stays_shut(tmp_path, recognizer, household):
    events, pulses, points = _run(tmp_path, recognizer, household, [JOLIE])
    assert [e for e in events if e["type"] == "match"] == []
    assert pulses == 0
    assert [e["type"] for e in events] == ["unknown"]  # she is reported, as a stranger
    # the shipped door unit's points for 11 templates: announce 1e-4 per visit (backed), the door at the
    # strictest calibrated point (1e-5 per visit over 11 templates is below what the calibration backs)
    assert points["announce"]["templates"] == 11 and points["announce"]["target"] == 1e-4 and points["announce"]["backed"]
    assert points["door"]["threshold"] > points["announce"]["threshold"] > 0.49 and not points["door"]["backed"]


def test_the_same_visit_with_her_enrolled_is_a_match_and_opens_the_door(tmp_path, recognizer, household):
    people = {**household, KATE: recognizer.enrollment_embeddings([KATE_PHOTO])}
    events, pulses, _ = _run(tmp_path, recognizer, people, [JOLIE, KATE])
    assert [(e["type"], e["person"]) for e in events] == [("match", KATE)]
    assert pulses == 1
