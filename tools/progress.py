"""A progress line for long toolchain steps: shown in a terminal, silent in CI and logs."""

from __future__ import annotations

import sys
import time
from collections.abc import Iterable, Iterator
from typing import TypeVar

T = TypeVar("T")


def progress(items: Iterable[T], label: str, total: int | None = None) -> Iterator[T]:
    if not sys.stderr.isatty():
        yield from items
        return
    t0 = time.time()
    n = 0
    for n, item in enumerate(items, 1):
        sys.stderr.write(f"\r{label}: {n}{f'/{total}' if total else ''}  {time.time() - t0:5.1f} s")
        sys.stderr.flush()
        yield item
    sys.stderr.write(f"\r{label}: {n} done in {time.time() - t0:.1f} s\n")
