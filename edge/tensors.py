"""A loaded int8 model: feed a uint8/int8 tensor, get dequantised float32 outputs by name."""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import NDArray

from edge.domain import Pixels
from edge.errors import ModelError
from edge.manifest import Manifest, TensorSpec
from edge.runtime import make_interpreter


def quantize(x: NDArray, spec: TensorSpec) -> NDArray:
    """Float -> integer tensor with the spec's scale and zero point (saturating)."""
    info = np.iinfo(np.dtype(spec.dtype))
    q = np.round(np.asarray(x, np.float32) / spec.scale + spec.zero_point)
    return np.clip(q, info.min, info.max).astype(spec.dtype)


def dequantize(q: NDArray, spec: TensorSpec) -> NDArray[np.float32]:
    if spec.scale == 0.0:  # a float tensor
        return np.asarray(q, np.float32)
    return ((q.astype(np.float32) - np.float32(spec.zero_point)) * np.float32(spec.scale)).astype(np.float32)


class Model:
    """An interpreter bound to its manifest. Not thread-safe: one caller at a time."""

    def __init__(self, manifest: Manifest, *, threads: int = 2, edgetpu: str | None = None, cpu_fallback: bool = False, verify: bool = True):
        if verify:
            manifest.verify_file()
        self.manifest = manifest
        self.interpreter: Any = make_interpreter(manifest.model_path, threads=threads, edgetpu=edgetpu, cpu_fallback=cpu_fallback)
        inputs = self.interpreter.get_input_details()
        outputs = self.interpreter.get_output_details()
        self._in = inputs[manifest.input.index]
        want = tuple(manifest.input.shape)
        if tuple(self._in["shape"]) != want or np.dtype(self._in["dtype"]) != np.dtype(manifest.input.dtype):
            raise ModelError(
                f"{manifest.model_path}: input is {tuple(self._in['shape'])} {np.dtype(self._in['dtype'])}, "
                f"but {manifest.path.name} says {want} {manifest.input.dtype}; the file and manifest do not belong together"
            )
        self._outs = [(spec, outputs[spec.index]["index"]) for spec in manifest.outputs]
        self.input_shape = want

    def run(self, x: NDArray) -> dict[str, NDArray[np.float32]]:
        """Run on one input tensor of the manifest's shape and dtype; outputs dequantised."""
        self.interpreter.set_tensor(self._in["index"], x)
        self.interpreter.invoke()
        return {spec.name: dequantize(self.interpreter.get_tensor(idx), spec) for spec, idx in self._outs}


def pixels_to_input(pixels: Pixels, spec: TensorSpec) -> NDArray:
    """Feed uint8 pixels to a model input. Models built by the toolchain take raw pixels
    (uint8, scale 1, zero point 0): then this is a no-op reshape."""
    x = pixels.reshape(spec.shape)
    if spec.dtype == "uint8" and spec.scale == 1.0 and spec.zero_point == 0:
        return x
    if spec.scale == 0.0:
        return x.astype(np.float32)
    return quantize(x.astype(np.float32), spec)
