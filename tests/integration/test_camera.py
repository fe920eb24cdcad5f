"""Frame sources on real files; live-camera logic (newest frame only, reconnect with backoff)
through real OpenCV captures of the bundled clip; picamera2 through a thin fake (no libcamera here)."""

import sys
import threading
import time
import types
from pathlib import Path

import numpy as np
import pytest

from edge.errors import CameraError
from edge.unit.camera import ImageFolderSource, LiveSource, VideoFileSource, open_source, opencv_opener

REPO = Path(__file__).resolve().parent.parent.parent
CLIP = REPO / "firmware_configs" / "demo" / "short_hamilton_clip.mp4"
DATA = REPO / "tests" / "data"


def test_video_file_gives_every_frame_with_media_time():
    with open_source(str(CLIP)) as src:
        assert isinstance(src, VideoFileSource)
        frames = list(src.frames(threading.Event()))
    assert len(frames) == 275 and frames[0].image.shape == (360, 640, 3)
    assert [f.index for f in frames] == list(range(275))
    assert frames[-1].timestamp == pytest.approx(274 / 29.97, abs=0.01)
    assert not np.array_equal(frames[0].image, frames[200].image)


def test_realtime_file_is_paced_and_skips_when_the_consumer_is_slow():
    with VideoFileSource(CLIP, realtime=True) as src:
        t0 = time.monotonic()
        seen = []
        for f in src.frames(threading.Event()):
            seen.append(f.index)
            if len(seen) == 10:
                break
        paced = time.monotonic() - t0
    assert paced > 8 / 29.97 * 0.8  # ten frames take about a third of a second, not milliseconds
    with VideoFileSource(CLIP, realtime=True) as src:
        seen = []
        for f in src.frames(threading.Event()):
            seen.append(f.index)
            time.sleep(0.1)  # a consumer at 10 fps
            if len(seen) == 5:
                break
    assert seen[-1] >= 8 and src.dropped >= 4


def test_image_folder_in_name_order_skipping_unreadable(tmp_path, caplog):
    for name in ("b.jpg", "a.png"):
        (tmp_path / name).write_bytes((DATA / ("face_recognition__obama.jpg" if name == "b.jpg" else "insightface__happy.png")).read_bytes())
    (tmp_path / "c.jpg").write_bytes(b"not a jpeg")
    with open_source(str(tmp_path), fps=2) as src:
        assert isinstance(src, ImageFolderSource)
        frames = list(src.frames(threading.Event()))
    assert [f.index for f in frames] == [0, 1] and frames[1].timestamp == 0.5
    assert frames[0].image.shape != frames[1].image.shape
    assert "c.jpg" in caplog.text


def test_unknown_sources_are_refused_with_the_choices(tmp_path):
    with pytest.raises(CameraError, match="picamera2"):
        open_source(str(tmp_path / "nope.mp4"))
    with pytest.raises(CameraError, match="no images"):
        open_source(str(tmp_path))
    (tmp_path / "x.mp4").write_bytes(b"garbage")
    with pytest.raises(CameraError, match="cannot open"):
        open_source(str(tmp_path / "x.mp4"))


def test_live_source_keeps_only_the_newest_frame_and_reconnects():
    """A 'camera' that fails to open once and then drops out at the end of each pass: the
    capture thread reopens it with backoff, and a slow consumer only ever sees fresh frames."""
    opens = {"n": 0}
    real = opencv_opener(str(CLIP), 640, 360, 30)

    def flaky():
        opens["n"] += 1
        if opens["n"] == 1:
            raise CameraError("unplugged")
        read, release = real()
        count = {"n": 0}

        def short_read():
            count["n"] += 1
            return read() if count["n"] <= 20 else None  # the stream dies after 20 frames

        return short_read, release

    src = LiveSource("flaky camera", flaky, reconnect_max_s=0.2)
    stop = threading.Event()
    got = []
    t0 = time.monotonic()
    for f in src.frames(stop):
        if f is None:  # no frame for 0.5 s (camera away): the consumer gets control back
            continue
        got.append(f)
        time.sleep(0.05)  # slower than the camera: older frames must be dropped, not queued
        if opens["n"] >= 3 or time.monotonic() - t0 > 15:
            break
    src.close()
    assert opens["n"] >= 3 and src.reconnects >= 2
    idx = [f.index for f in got]
    assert idx == sorted(idx) and src.dropped > 0
    assert all(b.timestamp >= a.timestamp for a, b in zip(got, got[1:], strict=False))


def test_picamera2_source_through_a_thin_fake(monkeypatch):
    """No libcamera here: a fake module stands in for picamera2's API (configure, start,
    capture_array, stop, close). RGB888 arrives in BGR order and is passed through unchanged."""
    calls = []
    frame = np.zeros((360, 640, 4), np.uint8)
    frame[..., 0] = 200  # blue channel first, as picamera2's RGB888 lays it out

    class Picamera2:
        def create_video_configuration(self, main, controls, buffer_count):
            calls.append(("config", main["size"], main["format"]))
            return {"main": main}

        def configure(self, cfg):
            calls.append("configure")

        def start(self):
            calls.append("start")

        def capture_array(self, name):
            return frame

        def stop(self):
            calls.append("stop")

        def close(self):
            calls.append("close")

    monkeypatch.setitem(sys.modules, "picamera2", types.SimpleNamespace(Picamera2=Picamera2))
    src = open_source("picamera2", width=640, height=360, fps=15)
    stop = threading.Event()
    first = next(f for f in src.frames(stop) if f is not None)
    src.close()
    assert first.image.shape == (360, 640, 3) and first.image[0, 0, 0] == 200
    assert calls[:3] == [("config", (640, 360), "RGB888"), "configure", "start"] and "close" in calls


def test_picamera2_missing_says_what_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "picamera2", None)
    from edge.unit.camera import picamera2_opener

    with pytest.raises(CameraError, match="python3-picamera2"):
        picamera2_opener(640, 480, 15)()


def test_http_stream_through_opencv_with_reconnect(tmp_path):
    """A real network camera stand-in: MJPEG frames of the clip served over HTTP on loopback.
    When the stream ends the capture thread reopens it; while the server is gone it keeps
    retrying with backoff and the consumer keeps getting control back (None ticks)."""
    import functools
    import http.server

    import cv2

    cap = cv2.VideoCapture(str(CLIP))
    writer = cv2.VideoWriter(str(tmp_path / "cam.avi"), cv2.VideoWriter_fourcc(*"MJPG"), 30, (640, 360))
    for _ in range(40):
        ok, img = cap.read()
        writer.write(img)
    writer.release()
    cap.release()
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(tmp_path))
    handler.log_message = lambda *a: None  # type: ignore[attr-defined]
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    src = open_source(f"http://127.0.0.1:{server.server_address[1]}/cam.avi", reconnect_max_s=0.3)
    assert isinstance(src, LiveSource)
    stop = threading.Event()
    frames, ticks = [], 0
    t0 = time.monotonic()
    for f in src.frames(stop):
        if f is None:
            ticks += 1
        else:
            frames.append(f)
        if len(frames) == 60:
            server.shutdown()  # the camera goes away
            server.server_close()
        if len(frames) >= 60 and ticks >= 2 or time.monotonic() - t0 > 30:
            break
    src.close()
    assert len(frames) >= 60 and frames[0].image.shape == (360, 640, 3)
    assert src.reconnects >= 2 and ticks >= 2  # stream end + refused connections, retried
