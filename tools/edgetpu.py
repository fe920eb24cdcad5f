"""Edge TPU readiness: compile with ``edgetpu_compiler`` when it is installed, and
audit every model's operators against the Edge TPU's published operator list.

The list below is transcribed (operator names only) from Coral's "TensorFlow
models on the Edge TPU", section *Supported operations*
(https://coral.ai/docs/edgetpu/models-intro/#supported-operations). That page
also gives per-operator limits (e.g. tensor sizes, quantisation schemes) and the
minimum runtime version; only a real compile (``edgetpu_compiler``) is final.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from collections.abc import Mapping
from pathlib import Path

SOURCE = "https://coral.ai/docs/edgetpu/models-intro/#supported-operations"

#: TFLite builtin operator names of the Edge TPU's supported-operations table.
SUPPORTED = frozenset(
    {
        "ADD", "AVERAGE_POOL_2D", "CONCATENATION", "CONV_2D", "DEPTHWISE_CONV_2D", "EXPAND_DIMS",
        "FULLY_CONNECTED", "L2_NORMALIZATION", "LOGISTIC", "LSTM", "MAXIMUM", "MAX_POOL_2D", "MEAN",
        "MINIMUM", "MUL", "PACK", "PAD", "PRELU", "QUANTIZE", "REDUCE_MAX", "REDUCE_MIN", "RELU",
        "RELU6", "RELU_N1_TO_1", "RESHAPE", "RESIZE_BILINEAR", "RESIZE_NEAREST_NEIGHBOR", "RSQRT",
        "SLICE", "SOFTMAX", "SPACE_TO_DEPTH", "SPLIT", "SQUEEZE", "STRIDED_SLICE", "SUB", "SUM",
        "SQUARED_DIFFERENCE", "TANH", "TRANSPOSE", "TRANSPOSE_CONV", "HARD_SWISH",
    }
)


def audit(ops: Mapping[str, int]) -> list[tuple[str, int, bool]]:
    """(operator, count, listed as supported) for each operator of a model."""
    return [(op, n, op in SUPPORTED) for op, n in sorted(ops.items())]


def compiler() -> str | None:
    return shutil.which("edgetpu_compiler")


def compile_model(model: Path, out_dir: Path) -> tuple[Path, dict[str, str]]:
    """Run ``edgetpu_compiler``; return the compiled file and, per operator, its mapping status."""
    exe = compiler()
    if exe is None:
        raise FileNotFoundError("edgetpu_compiler is not on PATH (Debian package edgetpu-compiler, x86-64 only)")
    proc = subprocess.run([exe, "-s", "-o", str(out_dir), str(model)], capture_output=True, text=True, check=True)
    status = {}
    for line in proc.stdout.splitlines():
        m = re.match(r"^([A-Z0-9_]+)\s+(\d+)\s+(.*)$", line.strip())
        if m:
            status[m.group(1)] = m.group(3)
    return out_dir / (model.stem + "_edgetpu.tflite"), status
