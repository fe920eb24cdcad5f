"""Shared fixtures. Tests use the real int8 models in models/ and real photos in tests/data."""

from __future__ import annotations

from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
DATA = REPO / "tests" / "data"


@pytest.fixture(scope="session")
def data() -> Path:
    return DATA


@pytest.fixture(scope="session")
def recognizer():
    from edge.api import Recognizer

    return Recognizer(threads=2)
