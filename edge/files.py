"""Files that hold faces or names (gallery exports, the status file): written atomically (a
temporary file, then a rename, so a reader never sees half a file) and readable by their owner only."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any


@contextmanager
def owner_only_atomic(path: Path, mode: str = "wb") -> Iterator[IO[Any]]:
    """``with owner_only_atomic(p) as f: f.write(...)``: ``p`` appears complete (mode 0600) when the
    block ends, or not at all if it raises (OSError from the file system passes through)."""
    tmp = path.with_name(path.name + ".tmp")
    try:
        with os.fdopen(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), mode) as f:
            yield f
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
