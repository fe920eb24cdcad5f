"""Float graph -> TFLite (float32 reference, or full-integer int8) and the int8 op check."""

from __future__ import annotations

import shutil
import tempfile
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from edge.errors import ConversionError

if TYPE_CHECKING:
    from tools.converters import FloatGraph

_INT_TYPES = {np.dtype(np.int8), np.dtype(np.uint8)}


def to_tflite(fg: FloatGraph, representative: Iterable[np.ndarray] | None) -> bytes:
    """Convert ``fg`` to TFLite: float32 when ``representative`` is None, else full-int8
    (uint8 pixel input with scale 1 / zero point 0, int8 outputs, int8 kernels only)."""
    import tensorflow as tf

    # Through a SavedModel: freezes captured variables (Keras 3 ones too) reliably.
    module = tf.Module()
    module.fn = fg.fn
    module.keep = fg.keep
    tmp = tempfile.mkdtemp(prefix="edgeface-sm-")
    try:
        tf.saved_model.save(module, tmp, signatures={"serving_default": fg.fn.get_concrete_function()})
        conv = tf.lite.TFLiteConverter.from_saved_model(tmp)
        return _convert(conv, fg, representative)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _convert(conv: Any, fg: FloatGraph, representative: Iterable[np.ndarray] | None) -> bytes:
    import tensorflow as tf

    if representative is not None:
        samples = [np.asarray(s, np.float32).reshape(fg.input_shape) for s in representative]
        if not samples:
            raise ConversionError("no calibration samples: expected several hundred face images, found none")
        conv.optimizations = [tf.lite.Optimize.DEFAULT]
        conv.representative_dataset = lambda: ([s] for s in samples)
        conv.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
        conv.inference_input_type = tf.uint8
        conv.inference_output_type = tf.int8
    try:
        return bytes(conv.convert())
    except Exception as e:  # the converter raises many types; name the step
        raise ConversionError(f"TFLite conversion failed ({'int8' if representative is not None else 'float32'}): {e}") from e


@dataclass(frozen=True)
class TensorInfo:
    name: str
    index: int
    shape: tuple[int, ...]
    dtype: str
    scale: float
    zero_point: int


@dataclass(frozen=True)
class GraphInfo:
    """What an interpreter says about a TFLite file: named inputs/outputs and its ops."""

    inputs: list[TensorInfo]
    outputs: list[TensorInfo]
    ops: Counter
    problems: list[str]


def inspect_tflite(path: Path) -> GraphInfo:
    """Read names, quantisation and op list of a TFLite file, and list every way in
    which it is not a pure full-integer graph (float tensors, DEQUANTIZE, dynamic shapes)."""
    from ai_edge_litert.interpreter import Interpreter, OpResolverType

    # Without the default XNNPACK delegate, so the real op list is visible.
    it: Any = Interpreter(model_path=str(path), experimental_op_resolver_type=OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES)
    it.allocate_tensors()
    sig = it._get_full_signature_list()["serving_default"]
    by_index = {d["index"]: d for d in it.get_tensor_details()}

    def infos(details: list[dict], names: dict[str, int]) -> list[TensorInfo]:
        rev = {v: k for k, v in names.items()}
        out = []
        for pos, d in enumerate(details):
            scale, zp = d["quantization"]
            out.append(TensorInfo(rev.get(d["index"], d["name"]), pos, tuple(int(v) for v in d["shape"]), np.dtype(d["dtype"]).name, float(scale), int(zp)))
        return out

    inputs = infos(it.get_input_details(), sig["inputs"])
    outputs = infos(it.get_output_details(), sig["outputs"])
    ops: Counter = Counter()
    problems: list[str] = []
    for op in it._get_ops_details():
        name = op["op_name"]
        ops[name] += 1
        if name == "DEQUANTIZE":
            problems.append("DEQUANTIZE op inside the graph")
        # QUANTIZE is allowed only as an integer re-scale (uint8 input -> int8, int8 -> int8):
        # a float input to it is caught below like any other float tensor.
        for t in list(op["inputs"]) + list(op["outputs"]):
            if t < 0:
                continue
            d = by_index[t]
            dt = np.dtype(d["dtype"])
            if dt in _INT_TYPES:
                continue
            if dt == np.int32 and (t in [i for i in op["inputs"][1:]]):
                continue  # biases and shape operands
            problems.append(f"{name}: tensor {d['name']!r} is {dt.name}")
        for t in op["outputs"]:
            if -1 in list(by_index[t].get("shape_signature", [])):
                problems.append(f"{name}: output {by_index[t]['name']!r} has a dynamic shape")
    return GraphInfo(inputs, outputs, ops, problems)


def require_full_integer(path: Path) -> GraphInfo:
    info = inspect_tflite(path)
    if info.problems:
        shown = "; ".join(sorted(set(info.problems))[:8])
        raise ConversionError(
            f"{path.name}: expected a full-integer int8 graph (what the Edge TPU compiler accepts), found: {shown}"
        )
    return info
