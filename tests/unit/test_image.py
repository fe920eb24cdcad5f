import cv2
import numpy as np
import pytest

from edge.errors import ImageError
from edge.image import load_image


def test_path_bytes_and_array_agree(data):
    p = data / "insightface__1423.jpg"
    a = load_image(p)
    b = load_image(str(p))
    c = load_image(p.read_bytes())
    assert a.dtype == np.uint8 and a.ndim == 3 and a.shape[2] == 3
    assert np.array_equal(a, b) and np.array_equal(a, c)
    assert np.array_equal(load_image(a), a)


def test_rgba_png_is_composited(data):
    raw = cv2.imread(str(data / "face_recognition__32bit.png"), cv2.IMREAD_UNCHANGED)
    assert raw.shape[2] == 4  # the file really has an alpha channel
    img = load_image(data / "face_recognition__32bit.png")
    assert img.shape == raw.shape[:2] + (3,)


def test_gray_and_16_bit_arrays():
    gray = np.tile(np.arange(256, dtype=np.uint8), (10, 1))
    out = load_image(gray)
    assert out.shape == (10, 256, 3) and (out[:, :, 0] == gray).all()
    deep = gray.astype(np.uint16) * 257
    assert np.array_equal(load_image(deep), out)


def test_exif_orientation_is_applied(tmp_path, data):
    # A JPEG with EXIF orientation 6 (rotate 90° clockwise) must come out rotated.
    img = cv2.imread(str(data / "insightface__1423.jpg"))
    ok, buf = cv2.imencode(".jpg", img)
    jpg = bytes(buf)
    # Build an APP1 Exif segment with one IFD entry: Orientation (0x0112) = 6.
    ifd = b"MM\x00\x2a\x00\x00\x00\x08" + b"\x00\x01" + b"\x01\x12\x00\x03\x00\x00\x00\x01\x00\x06\x00\x00" + b"\x00\x00\x00\x00"
    app1 = b"Exif\x00\x00" + ifd
    seg = b"\xff\xe1" + (len(app1) + 2).to_bytes(2, "big") + app1
    rotated = load_image(jpg[:2] + seg + jpg[2:])
    h, w = img.shape[:2]
    assert rotated.shape[:2] == (w, h)


@pytest.mark.parametrize(
    "bad, match",
    [
        ("/nonexistent/face.jpg", "no such file"),
        (b"", "empty"),
        (b"not an image at all", "not a decodable image"),
        (np.zeros((0, 0, 3), np.uint8), "empty"),
        (np.zeros((4, 4, 2), np.uint8), "shape"),
        (12345, "expected a file path"),
    ],
)
def test_bad_inputs_raise_clear_errors(bad, match):
    with pytest.raises(ImageError, match=match):
        load_image(bad)


def test_truncated_jpeg(tmp_path, data):
    p = tmp_path / "cut.jpg"
    p.write_bytes((data / "insightface__1423.jpg").read_bytes()[:200])
    with pytest.raises(ImageError, match="cut.jpg"):
        load_image(p)


def _huge_png(path, w, h):
    """A real w x h grey PNG written row by row (a few hundred KB; decoding it would take w*h*3 bytes)."""
    import struct
    import zlib

    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    comp = zlib.compressobj(6)
    row = b"\x00" + b"\x80" * w
    idat = b"".join(comp.compress(row) for _ in range(h)) + comp.flush()
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 0, 0, 0, 0)) + chunk(b"IDAT", idat)
                     + chunk(b"IEND", b""))
    return path


def test_a_huge_image_is_refused_before_it_is_decoded(tmp_path):
    import resource

    from edge.image import MAX_PIXELS

    png = _huge_png(tmp_path / "huge.png", 12000, 12000)
    assert png.stat().st_size < 1_000_000
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB, the peak so far
    for img in (png, str(png), png.read_bytes()):
        with pytest.raises(ImageError) as e:
            load_image(img)
        assert "12000x12000 pixels (144.0 MP) is more than the limit of 40 MP" in str(e.value)
        assert "--max-pixels" in str(e.value) and "Recognizer(max_pixels=N)" in str(e.value)
    grown_mb = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 1024
    assert grown_mb < 100, f"peak memory grew by {grown_mb:.0f} MB: the image was decoded"  # a decode needs 432 MB
    assert MAX_PIXELS == 40_000_000


def test_the_limit_is_configurable(tmp_path, data):
    from edge.api import Recognizer

    small = data / "insightface__1423.jpg"
    h, w = load_image(small).shape[:2]
    with pytest.raises(ImageError, match=f"{w}x{h} pixels"):
        load_image(small, max_pixels=w * h - 1)
    assert load_image(small, max_pixels=w * h).shape[:2] == (h, w)
    assert load_image(np.zeros((3000, 3000, 3), np.uint8), max_pixels=None).shape == (3000, 3000, 3)
    with pytest.raises(ImageError, match="image array: 3000x2000 pixels"):
        load_image(np.zeros((2000, 3000, 3), np.uint8), max_pixels=5_000_000)
    rec = Recognizer(models_dir=tmp_path, max_pixels=1000)  # no models: refused before any model is needed
    with pytest.raises(ImageError, match="more than the limit of 0.001 MP"):
        rec.extract_faces(small)


@pytest.mark.parametrize("ext", [".png", ".jpg", ".webp", ".bmp", ".tiff"])
def test_the_size_is_read_from_the_header(ext):
    from edge.image import image_size

    img = np.zeros((200, 320, 3), np.uint8)
    img[50:150, 100:200] = (0, 128, 255)
    ok, buf = cv2.imencode(ext, img)
    raw = bytes(buf)
    assert ok and image_size(raw) == (320, 200)
    if ext != ".tiff":  # libtiff writes the directory after the pixels
        assert image_size(raw[:64 if ext != ".jpg" else 700]) == (320, 200)
        with pytest.raises(ImageError, match="320x200 pixels"):  # refused from the header: the cut file is never decoded
            load_image(raw[:len(raw) // 2], max_pixels=1000)


def _jpeg(img, exif_orientation=None):
    ok, buf = cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_QUALITY, 92])
    jpg = bytes(buf)
    if exif_orientation is None:
        return jpg
    ifd = b"MM\x00\x2a\x00\x00\x00\x08\x00\x01\x01\x12\x00\x03\x00\x00\x00\x01\x00" + bytes([exif_orientation]) + b"\x00\x00\x00\x00\x00\x00"
    app1 = b"Exif\x00\x00" + ifd
    return jpg[:2] + b"\xff\xe1" + (len(app1) + 2).to_bytes(2, "big") + app1 + jpg[2:]


def test_a_large_jpeg_is_decoded_reduced_for_the_detector_and_full_on_demand(data):
    from edge.image import load_view

    big = cv2.resize(cv2.imread(str(data / "face_recognition__biden.jpg")), (2000, 1500))
    jpg = _jpeg(big)
    view = load_view(jpg, lambda: (640, 480))
    assert view.factor == 2  # 2000x1500 into 640x480 shrinks 3.1x: 1/2 still has every pixel the canvas keeps, 1/4 not
    assert view.pixels.shape == (750, 1000, 3) and view.size == (2000, 1500)
    assert load_view(_jpeg(cv2.resize(big, (2600, 1950))), lambda: (640, 480)).factor == 4
    full = view.full()
    assert full.shape == (1500, 2000, 3) and view.full() is full  # decoded once
    assert np.array_equal(full, load_image(jpg))
    assert load_view(jpg, lambda: (2000, 1500)).factor == 1  # a canvas that keeps more: no reduction
    assert load_view(big, lambda: (640, 480)).factor == 1  # arrays are as they are


def test_the_reduced_view_keeps_exif_orientation_and_the_pixel_limit(data):
    from edge.image import load_view

    img = cv2.resize(cv2.imread(str(data / "face_recognition__biden.jpg")), (2400, 1200))
    view = load_view(_jpeg(img, exif_orientation=6), lambda: (640, 480))
    assert view.factor == 2 and view.pixels.shape[:2] == (1200, 600)  # turned, as the full decode is
    assert view.full().shape[:2] == (2400, 1200)
    asked = []
    with pytest.raises(ImageError, match="2400x1200 pixels"):
        load_view(_jpeg(img), lambda: asked.append(1) or (640, 480), max_pixels=2_000_000)
    assert not asked  # refused before the detector's canvas was needed


def test_a_png_without_exif_is_decoded_once_and_composited_like_before(data):
    raw = cv2.imread(str(data / "face_recognition__32bit.png"), cv2.IMREAD_UNCHANGED)
    a = raw[:, :, 3:4].astype(np.float32) / 255.0
    expected = (raw[:, :, :3] * a + 255.0 * (1.0 - a)).round()
    got = load_image(data / "face_recognition__32bit.png").astype(np.float32)
    assert np.abs(got - expected).max() <= 1.0
