"""Frame sources: picamera2 on a Pi, OpenCV for /dev/videoN, RTSP/HTTP URLs and video files,
and a folder of images.

Live cameras are read by a capture thread that keeps only the newest frame (a slot of size
one): the consumer never falls behind real time and nothing queues without bound. A live camera
that fails is reopened with exponential backoff (1 s doubling up to ``reconnect_max_s``).
Video files and image folders are read in the consumer's thread, every frame in order, with
media timestamps, and end cleanly.
"""

from __future__ import annotations

import logging
import re
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, Protocol

import cv2
import numpy as np

from edge.domain import Frame
from edge.errors import CameraError, ImageError
from edge.image import IMAGE_SUFFIXES, load_image

log = logging.getLogger(__name__)


class FrameSource(Protocol):
    """Yields frames until the source ends or ``stop`` is set; a context manager. Live sources
    also yield ``None`` when no frame came for half a second, so the consumer stays responsive
    (status, watchdog) while a camera is away."""

    description: str

    def frames(self, stop: threading.Event) -> Iterator[Frame | None]: ...

    def close(self) -> None: ...

    def __enter__(self) -> FrameSource: ...

    def __exit__(self, *exc: object) -> None: ...


class _Closable:
    description = "source"

    def __enter__(self) -> Any:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        pass


class VideoFileSource(_Closable):
    """Every frame of a video file, in order; timestamps are ``index / fps`` (media time).
    ``realtime=True`` plays the file at its own frame rate like a camera: frames the consumer
    is too slow for are skipped (counted in ``dropped``)."""

    def __init__(self, path: str | Path, fps: float | None = None, *, realtime: bool = False):
        self.path = Path(path)
        self.realtime = realtime
        self.dropped = 0
        self.description = f"video file {self.path}"
        self._cap = cv2.VideoCapture(str(self.path))
        if not self._cap.isOpened():
            raise CameraError(f"cannot open {self.path} as a video; expected a file OpenCV can decode (mp4/H.264, mjpeg, avi)")
        native = float(self._cap.get(cv2.CAP_PROP_FPS) or 0.0)
        self.fps = native if native > 0 else float(fps or 30.0)

    def frames(self, stop: threading.Event) -> Iterator[Frame]:
        index = 0
        start = time.monotonic()
        while not stop.is_set():
            if self.realtime:
                due = start + index / self.fps
                now = time.monotonic()
                if now < due:
                    stop.wait(due - now)
                elif now - due > 1.0 / self.fps:  # behind: skip a frame without decoding it
                    if not self._cap.grab():
                        return
                    index += 1
                    self.dropped += 1
                    continue
            ok, image = self._cap.read()
            if not ok:
                return
            yield Frame(np.asarray(image, np.uint8), index, index / self.fps)
            index += 1

    def close(self) -> None:
        self._cap.release()


class ImageFolderSource(_Closable):
    """The images of a folder in name order, one frame each at ``fps``; unreadable files are
    logged and skipped."""

    def __init__(self, folder: str | Path, fps: float = 1.0):
        self.folder = Path(folder)
        self.description = f"image folder {self.folder}"
        self.files = sorted(p for p in self.folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
        if not self.files:
            raise CameraError(f"{self.folder} holds no images; expected files ending in {', '.join(sorted(IMAGE_SUFFIXES))}")
        self.fps = fps

    def frames(self, stop: threading.Event) -> Iterator[Frame]:
        for index, path in enumerate(self.files):
            if stop.is_set():
                return
            try:
                image = load_image(path)
            except ImageError as e:
                log.warning("skipping %s", e)
                continue
            yield Frame(image, index, index / self.fps)


class _NewestFrame:
    """A slot of size one between the capture thread and the consumer."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._frame: Frame | None = None

    def put(self, frame: Frame) -> None:
        with self._cond:
            self._frame = frame  # an unread older frame is dropped
            self._cond.notify_all()

    def take(self, timeout_s: float) -> Frame | None:
        with self._cond:
            if self._frame is None:
                self._cond.wait(timeout_s)
            frame, self._frame = self._frame, None
            return frame


class LiveSource(_Closable):
    """A capture thread around ``open_camera`` (returns a ``read() -> image | None`` callable and
    a ``release()`` callable). Frames carry ``time.monotonic()`` timestamps."""

    def __init__(self, description: str, open_camera: Callable[[], tuple[Callable[[], Any], Callable[[], None]]],
                 reconnect_max_s: float = 30.0):
        self.description = description
        self._open = open_camera
        self._reconnect_max_s = reconnect_max_s
        self._slot = _NewestFrame()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.reconnects = 0
        self.dropped = 0
        self._captured = 0

    def frames(self, stop: threading.Event) -> Iterator[Frame | None]:
        if self._thread is None:
            self._thread = threading.Thread(target=self._capture, name="edgeface-camera", daemon=True)
            self._thread.start()
        last = -1
        while not stop.is_set() and not self._stop.is_set():
            frame = self._slot.take(timeout_s=0.5)
            if frame is None:
                yield None
                continue
            self.dropped += max(0, frame.index - last - 1)
            last = frame.index
            yield frame

    def _capture(self) -> None:
        first = min(1.0, self._reconnect_max_s)
        delay = first
        while not self._stop.is_set():
            try:
                read, release = self._open()
            except Exception as e:  # an unplugged camera or unreachable stream: retry with backoff
                log.warning("%s: cannot open (%s); retrying in %.0f s", self.description, mask_url(str(e)), delay)
                self._stop.wait(delay)
                delay = min(delay * 2, self._reconnect_max_s)
                self.reconnects += 1
                continue
            try:
                while not self._stop.is_set():
                    image = read()
                    if image is None:
                        break
                    delay = first
                    self._slot.put(Frame(image, self._captured, time.monotonic()))
                    self._captured += 1
            except Exception as e:  # a driver error mid-stream: reopen like a disconnect
                log.warning("%s: read failed (%s)", self.description, mask_url(str(e)))
            finally:
                release()
            if not self._stop.is_set():
                log.warning("%s: stopped delivering frames; reopening in %.0f s", self.description, delay)
                self._stop.wait(delay)
                delay = min(delay * 2, self._reconnect_max_s)
                self.reconnects += 1

    @property
    def healthy(self) -> bool:
        """The capture thread runs (it keeps retrying a missing camera; the watchdog relies on this)."""
        return self._thread is None or self._thread.is_alive()

    def close(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=0.5)


def opencv_opener(spec: str | int, width: int, height: int, fps: float) -> Callable[[], tuple[Callable[[], Any], Callable[[], None]]]:
    """Open an OpenCV capture (device index, /dev/videoN, URL or file) for :class:`LiveSource`."""

    def open_camera() -> tuple[Callable[[], Any], Callable[[], None]]:
        cap = cv2.VideoCapture(spec)
        if not cap.isOpened():
            cap.release()
            raise CameraError(f"OpenCV cannot open {spec!r}; check the device exists (ls /dev/video*), the URL and credentials")
        if isinstance(spec, int) or str(spec).startswith("/dev/"):
            cap.set(cv2.CAP_PROP_FRAME_WIDTH, width)
            cap.set(cv2.CAP_PROP_FRAME_HEIGHT, height)
            cap.set(cv2.CAP_PROP_FPS, fps)
            cap.set(cv2.CAP_PROP_BUFFERSIZE, 1)

        def read() -> Any:
            ok, image = cap.read()
            return image if ok else None

        return read, cap.release

    return open_camera


def picamera2_opener(width: int, height: int, fps: float) -> Callable[[], tuple[Callable[[], Any], Callable[[], None]]]:
    """The Pi camera through picamera2 (imported only here). Its ``RGB888`` format is stored
    B, G, R in memory, which is OpenCV's BGR order: no conversion is needed."""

    def open_camera() -> tuple[Callable[[], Any], Callable[[], None]]:
        try:
            from picamera2 import Picamera2  # type: ignore[import-not-found,unused-ignore]
        except ImportError as e:
            raise CameraError(
                "camera source 'picamera2' needs the picamera2 package: on Raspberry Pi OS run "
                "'sudo apt install python3-picamera2' and create the venv with --system-site-packages"
            ) from e
        cam = Picamera2()
        config = cam.create_video_configuration(main={"size": (width, height), "format": "RGB888"},
                                                controls={"FrameRate": fps}, buffer_count=2)
        cam.configure(config)
        cam.start()

        def read() -> Any:
            image = cam.capture_array("main")
            return np.ascontiguousarray(image[:, :, :3]) if image is not None else None

        def release() -> None:
            cam.stop()
            cam.close()

        return read, release

    return open_camera


_CREDENTIALS = re.compile(r"(?P<scheme>[a-zA-Z][a-zA-Z0-9+.-]*://)(?P<user>[^:/@\s]*)(?::[^@/\s]*)?@")


def mask_url(text: str) -> str:
    """``rtsp://user:secret@cam/stream`` -> ``rtsp://user:***@cam/stream``, anywhere in ``text``
    (a camera URL, or an error message quoting one): credentials never reach a log or output."""
    return _CREDENTIALS.sub(lambda m: f"{m.group('scheme')}{m.group('user')}:***@", text)


def open_source(spec: str, *, width: int = 640, height: int = 480, fps: float = 15.0, reconnect_max_s: float = 30.0,
                realtime: bool = False) -> FrameSource:
    """The frame source a config's ``camera.source`` names: ``picamera2``, ``/dev/videoN`` or a
    camera index, an ``rtsp://``/``http(s)://`` URL, a video file or an image folder.
    ``realtime`` paces a video file at its frame rate (dropping frames when behind)."""
    if spec == "picamera2":
        return LiveSource("Pi camera (picamera2)", picamera2_opener(width, height, fps), reconnect_max_s)
    if spec.isdigit() or spec.startswith("/dev/video"):
        dev: str | int = int(spec) if spec.isdigit() else spec
        return LiveSource(f"camera {spec}", opencv_opener(dev, width, height, fps), reconnect_max_s)
    if "://" in spec:
        return LiveSource(f"stream {mask_url(spec)}", opencv_opener(spec, width, height, fps), reconnect_max_s)
    path = Path(spec)
    if path.is_dir():
        return ImageFolderSource(path, fps)
    if path.is_file():
        return VideoFileSource(path, fps, realtime=realtime)
    raise CameraError(
        f"camera source {spec!r} is neither a camera nor an existing file or folder; expected picamera2, "
        "/dev/videoN, a camera index, an rtsp:// or http:// URL, a video file or an image folder"
    )
