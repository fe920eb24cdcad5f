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
