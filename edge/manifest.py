"""Model manifests: what a model file is, how to feed it and how to read it.

Each model folder under ``models/`` holds ``manifest.yaml`` written by the
toolchain. Device code takes preprocessing (input size, colour order,
alignment template) and thresholds from here, never from constants of its own.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from edge.errors import ModelError
from edge.resources import bundled
from edge.yamlfile import read_yaml

SCHEMA = 1
MODELS_DIR = bundled("models")


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
    """Preprocess kinds with fields the device reads; others (letterbox, align) are read by their stages."""
    if pre.get("kind") != "scaled_box":
        return
    try:
        scale, size = float(pre["scale"]), int(pre["size"])
    except (KeyError, TypeError, ValueError) as e:
        raise ModelError(f"{where}: preprocess kind scaled_box needs a numeric scale and size, found {pre!r}") from e
    if scale <= 0 or tuple(inp.shape[1:3]) != (size, size):
        raise ModelError(f"{where}: preprocess scaled_box (scale {scale}, size {size}) does not fit input shape {inp.shape}")


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
