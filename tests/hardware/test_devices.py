"""Hardware that does not exist on the development machine: each test skips itself unless the
device is present (a Coral Edge TPU with libedgetpu, a V4L2 camera, a Pi camera). On a door unit
`python -m pytest tests/hardware` is the proof that the parts the fakes stand in for work."""

import ctypes.util
import glob
import importlib.util
import threading
from pathlib import Path

import pytest

DATA = Path(__file__).resolve().parent.parent / "data"


def _edgetpu_present() -> bool:
    """libedgetpu installed and a Coral attached: PCIe (/dev/apex_*) or USB (vendor 1a6e before
    its firmware loads, 18d1:9302 after)."""
    ids = set()
    for dev in glob.glob("/sys/bus/usb/devices/*"):
        try:
            ids.add((Path(dev, "idVendor").read_text().strip(), Path(dev, "idProduct").read_text().strip()))
        except OSError:
            continue
    usb = any(v == "1a6e" or (v, p) == ("18d1", "9302") for v, p in ids)
    return ctypes.util.find_library("edgetpu") is not None and (usb or bool(glob.glob("/dev/apex_*")))


@pytest.mark.skipif(not _edgetpu_present(), reason="no Edge TPU runtime (libedgetpu1-std) or Coral device here")
def test_edgetpu_runs_the_detector_and_embedder():
    import edge

    with edge.Recognizer(edgetpu="usb", cpu_fallback=False) as rec:
        v = rec.verify(DATA / "face_recognition__obama.jpg", DATA / "face_recognition__obama2.jpg")
    assert v.verified


@pytest.mark.skipif(not glob.glob("/dev/video*"), reason="no V4L2 camera (/dev/video*) here")
def test_v4l2_camera_delivers_frames():
    from edge.unit.camera import open_source

    src = open_source(sorted(glob.glob("/dev/video*"))[0], width=640, height=480, fps=15)
    frame = next(f for f in src.frames(threading.Event()) if f is not None)
    src.close()
    assert frame.image.ndim == 3 and frame.image.shape[2] == 3


@pytest.mark.skipif(importlib.util.find_spec("picamera2") is None, reason="picamera2 not installed (not a Raspberry Pi)")
def test_pi_camera_delivers_bgr_frames():
    from edge.unit.camera import open_source

    src = open_source("picamera2", width=640, height=480, fps=15)
    frame = next(f for f in src.frames(threading.Event()) if f is not None)
    src.close()
    assert frame.image.shape == (480, 640, 3)
