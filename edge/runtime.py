"""The one place that knows TFLite runtimes: ai-edge-litert, tflite-runtime, libedgetpu.

``make_interpreter`` builds an interpreter for a model file. It prefers
``ai_edge_litert`` and falls back to ``tflite_runtime`` (32-bit Pi OS, numpy<2).
With ``edgetpu`` set it loads the Edge TPU delegate; when that fails it raises,
unless ``cpu_fallback=True`` was asked for explicitly.
"""

from __future__ import annotations

import logging
import platform
from pathlib import Path
from typing import Any

from edge.errors import ModelError, RuntimeNotAvailableError

log = logging.getLogger(__name__)

_EDGETPU_LIB = {"Linux": "libedgetpu.so.1", "Darwin": "libedgetpu.1.dylib", "Windows": "edgetpu.dll"}


def _runtime() -> tuple[Any, Any, str]:
    """(Interpreter class, load_delegate function, runtime name)."""
    try:
        from ai_edge_litert.interpreter import Interpreter, load_delegate

        return Interpreter, load_delegate, "ai-edge-litert"
    except ImportError:
        pass
    try:
        from tflite_runtime.interpreter import Interpreter, load_delegate

        return Interpreter, load_delegate, "tflite-runtime"
    except ImportError:
        raise RuntimeNotAvailableError(
            "no TFLite runtime found: expected the Python package ai-edge-litert (or tflite-runtime on "
            "32-bit Pi OS). Install it with: pip install ai-edge-litert"
        ) from None


def runtime_name() -> str:
    return _runtime()[2]


def make_interpreter(
    model_path: str | Path,
    *,
    threads: int = 2,
    edgetpu: str | None = None,
    cpu_fallback: bool = False,
) -> Any:
    """Build and allocate an interpreter for ``model_path``.

    ``edgetpu``: ``None`` for the CPU (XNNPACK), or ``"usb"``, ``"pci"``, ``"usb:0"``…
    to run ``*_edgetpu.tflite`` on a Coral. ``cpu_fallback`` allows running on the
    CPU when the Edge TPU delegate cannot be loaded (logged as a warning).
    """
    Interpreter, load_delegate, name = _runtime()
    path = Path(model_path)
    if not path.is_file():
        raise ModelError(f"{path}: model file not found")
    delegates = []
    if edgetpu:
        lib = _EDGETPU_LIB.get(platform.system(), "libedgetpu.so.1")
        try:
            delegates.append(load_delegate(lib, {"device": edgetpu}))
        except (ValueError, OSError) as e:
            msg = (
                f"cannot load the Edge TPU delegate {lib} for device {edgetpu!r} ({e}). Install the Edge TPU "
                "runtime (Debian package libedgetpu1-std) and plug in the Coral, or set cpu_fallback to run on the CPU."
            )
            if not cpu_fallback:
                raise RuntimeNotAvailableError(msg) from e
            log.warning("%s Falling back to the CPU as configured.", msg)
    try:
        interp = Interpreter(model_path=str(path), num_threads=max(1, int(threads)), experimental_delegates=delegates or None)
        interp.allocate_tensors()
    except (ValueError, RuntimeError) as e:
        raise ModelError(
            f"{path}: {name} cannot load this file as a TFLite model ({e}); expected a .tflite flatbuffer "
            "built by the edgeface toolchain"
        ) from e
    return interp
