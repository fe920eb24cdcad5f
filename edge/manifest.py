"""Model manifests: what a model file is, how to feed it and how to read it.

Each model folder under ``models/`` holds ``manifest.yaml`` written by the
toolchain. Device code takes preprocessing (input size, colour order,
alignment template) and thresholds from here, never from constants of its own.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError

from edge.errors import ModelError
from edge.resources import bundled
from edge.yamlfile import read_yaml

SCHEMA = 1
MODELS_DIR = bundled("models")


# --- the strict schema of a manifest's preprocess and decoding sections: written by tools/build.py,
# read here; a misspelt or unknown key fails with its path on both sides ------------------------------

class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


Colour = Literal["BGR", "RGB", "GRAY"]


class LetterboxPre(_Section):
    """The frame letterboxed into the detector input: ``pad`` grey value, upscaling limits."""

    kind: Literal["letterbox"]
    pad: int = Field(0, ge=0, le=255)
    max_upscale: float | None = Field(None, gt=0)
    retry_upscale: float | None = Field(None, gt=0)


class AlignPre(_Section):
    """A similarity warp of the landmarks ``points`` onto ``template`` in a crop of ``size`` (w, h)."""

    kind: Literal["align"]
    size: tuple[int, int]
    template: list[tuple[float, float]] = Field(min_length=2)
    points: list[int] = Field(default_factory=lambda: [0, 1, 2, 3, 4])
    colour: Colour = "BGR"
    border: Literal["constant", "replicate"] = "replicate"


class ScaledBoxPre(_Section):
    """The box scaled about its centre by ``scale``, resized to ``size`` x ``size``."""

    kind: Literal["scaled_box"]
    scale: float = Field(gt=0)
    size: int = Field(gt=0)
    colour: Colour = "BGR"


class RotatedBoxPre(_Section):
    """The box scaled by ``scale`` and rotated upright by the eyes, resized to ``size``."""

    kind: Literal["rotated_box"]
    scale: float = Field(gt=0)
    size: int = Field(gt=0)


PREPROCESS: TypeAdapter[Any] = TypeAdapter(Annotated[LetterboxPre | AlignPre | ScaledBoxPre | RotatedBoxPre, Field(discriminator="kind")])


class YuNetDec(_Section):
    kind: Literal["yunet"]
    strides: list[int]


class BlazeFaceDec(_Section):
    kind: Literal["blazeface"]
    suppression: Literal["weighted", "nms"] = "nms"
    strides: list[int]
    anchors_per_cell: list[int]
    box_scale: float = Field(gt=0)
    head_ranges: dict[str, list[tuple[float, float, int]]] = Field(default_factory=dict)


class EmbeddingDec(_Section):
    kind: Literal["embedding"]
    output: str | None = None


class AgeDec(_Section):
    kind: Literal["age_expectation"]
    weights: list[float] = Field(min_length=2)


class SoftmaxDec(_Section):
    kind: Literal["softmax"]
    live_class: int | None = Field(None, ge=0)


class FaceMeshDec(_Section):
    kind: Literal["face_mesh"]
    landmarks: str
    presence: str
    points: int = Field(gt=0)


DECODING: TypeAdapter[Any] = TypeAdapter(
    Annotated[YuNetDec | BlazeFaceDec | EmbeddingDec | AgeDec | SoftmaxDec | FaceMeshDec, Field(discriminator="kind")])


def check_sections(preprocess: dict[str, Any], decoding: dict[str, Any], where: str) -> None:
    """Raise :class:`ModelError` naming each key path that the schema refuses (an unknown or
    misspelt key, a missing one, a wrong type). Used by the reader here and the writer in tools/."""
    problems = []
    for name, section, adapter in (("preprocess", preprocess, PREPROCESS), ("decoding", decoding, DECODING)):
        if not section:
            continue
        try:
            adapter.validate_python(section)
        except ValidationError as e:
            for err in e.errors():
                path = ".".join(str(p) for p in (name, *err["loc"][1:]))  # loc[0] is the union member's tag
                problems.append(f"{path}: {'unknown key' if err['type'] == 'extra_forbidden' else err['msg']}")
    if problems:
        raise ModelError(f"{where}: {'; '.join(problems)}")


@dataclass(frozen=True)
class TensorSpec:
    """One input or output tensor: its position, shape, dtype and affine quantisation."""

    name: str
    index: int  # position in the interpreter's input/output details list
    shape: tuple[int, ...]
    dtype: str
    scale: float
    zero_point: int


@dataclass(frozen=True)
class Manifest:
    """A parsed ``manifest.yaml``; ``path`` is the manifest file itself."""

    path: Path
    name: str
    task: str
    file: str
    sha256: str
    input: TensorSpec
    colour_order: str  # "BGR", "RGB" or "GRAY"
    outputs: tuple[TensorSpec, ...]
    preprocess: dict[str, Any] = field(default_factory=dict)
    decoding: dict[str, Any] = field(default_factory=dict)
    thresholds: dict[str, float] = field(default_factory=dict)
    labels: tuple[str, ...] = ()
    raw: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @property
    def model_path(self) -> Path:
        return self.path.parent / self.file

    def output(self, name: str) -> TensorSpec:
        for o in self.outputs:
            if o.name == name:
                return o
        raise ModelError(f"{self.path}: no output named {name!r}; outputs are {[o.name for o in self.outputs]}")

    def verify_file(self) -> None:
        """Raise :class:`ModelError` unless the model file exists and matches its sha256."""
        p = self.model_path
        try:
            digest = hashlib.sha256(p.read_bytes()).hexdigest()
        except OSError as e:
            raise ModelError(f"{p}: cannot read model file named by {self.path} ({e.strerror})") from e
        if digest != self.sha256:
            raise ModelError(
                f"{p}: sha256 is {digest} but {self.path.name} expects {self.sha256}. The file is corrupt or "
                "not the model this manifest describes; restore it (git checkout models/) or rebuild it "
                "(see README, 'Rebuilding the models')."
            )


def _tensor(d: Any, where: str) -> TensorSpec:
    try:
        return TensorSpec(
            name=str(d["name"]),
            index=int(d["index"]),
            shape=tuple(int(v) for v in d["shape"]),
            dtype=str(d["dtype"]),
            scale=float(d["quantization"]["scale"]),
            zero_point=int(d["quantization"]["zero_point"]),
        )
    except (KeyError, TypeError, ValueError) as e:
        raise ModelError(f"{where}: expected name, index, shape, dtype and quantization{{scale, zero_point}}: {e!r}") from e


def _check_preprocess(pre: dict[str, Any], inp: TensorSpec, where: Path) -> None:
    """A scaled_box crop must be the input's size (its fields' types and ranges are the schema's,
    :func:`check_sections`, already checked)."""
    if pre.get("kind") == "scaled_box" and tuple(inp.shape[1:3]) != (pre["size"], pre["size"]):
        raise ModelError(f"{where}: preprocess scaled_box (size {pre['size']}) does not fit input shape {inp.shape}")


def load_manifest(path: str | Path) -> Manifest:
    """Parse a manifest (a ``manifest.yaml`` file or the folder holding one)."""
    p = Path(path)
    if p.is_dir():
        p = p / "manifest.yaml"
    raw = read_yaml(p, ModelError, what="model manifest", missing="expected models/<name>/manifest.yaml")
    if not isinstance(raw, dict) or raw.get("schema") != SCHEMA:
        found = raw.get("schema") if isinstance(raw, dict) else type(raw).__name__
        raise ModelError(f"{p}: expected a manifest with schema: {SCHEMA}, found {found!r}")
    try:
        inp = raw["input"]
        spec = _tensor(inp, f"{p}: input")
        pre = dict(raw.get("preprocess") or {})
        check_sections(pre, dict(raw.get("decoding") or {}), str(p))
        _check_preprocess(pre, spec, p)
        return Manifest(
            path=p,
            name=str(raw["name"]),
            task=str(raw["task"]),
            file=str(raw["file"]),
            sha256=str(raw["sha256"]),
            input=spec,
            colour_order=str(inp["colour_order"]),
            outputs=tuple(_tensor(o, f"{p}: outputs[{i}]") for i, o in enumerate(raw["outputs"])),
            preprocess=pre,
            decoding=dict(raw.get("decoding") or {}),
            thresholds={k: float(v) for k, v in (raw.get("thresholds") or {}).items()},
            labels=tuple(str(v) for v in raw.get("labels") or ()),
            raw=raw,
        )
    except KeyError as e:
        raise ModelError(f"{p}: missing key {e.args[0]!r}; rebuild the model with the toolchain") from e


def find_manifest(name: str, models_dir: Path | None = None) -> Manifest:
    """The manifest of bundled model ``name`` (e.g. ``"yunet"``)."""
    return load_manifest((models_dir or MODELS_DIR) / name)
