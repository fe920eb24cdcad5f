"""Where the bundled data lives: inside the package when installed from a wheel
(``edge/models``, ``edge/firmware_configs``), at the top of the checkout otherwise."""

from __future__ import annotations

from pathlib import Path

_HERE = Path(__file__).resolve().parent


def bundled(name: str) -> Path:
    """``models`` or ``firmware_configs``: the installed copy if there is one, else the checkout's."""
    installed = _HERE / name
    return installed if installed.is_dir() else _HERE.parent / name


def checkout() -> Path:
    """The top of the source checkout this package runs from (where ``tests/`` would be)."""
    return _HERE.parent
