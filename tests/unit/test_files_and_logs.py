"""Owner-only atomic writes and rate-limited logging (edge.files, edge.logs)."""

import pytest

from edge.files import owner_only_atomic
from edge.logs import worth_logging


def test_a_file_appears_whole_and_owner_only_or_not_at_all(tmp_path):
    p = tmp_path / "g.npz"
    with owner_only_atomic(p) as f:
        f.write(b"abc")
        assert not p.exists()  # not before the block ends
    assert p.read_bytes() == b"abc" and p.stat().st_mode & 0o777 == 0o600
    with pytest.raises(RuntimeError), owner_only_atomic(p) as f:
        f.write(b"half")
        raise RuntimeError("disk went away")
    assert p.read_bytes() == b"abc" and not (tmp_path / "g.npz.tmp").exists()  # the old file, no leftovers


def test_a_repeated_condition_is_logged_1st_10th_and_every_100th():
    assert [n for n in range(0, 1001) if worth_logging(n)] == [1, 10, 100, 200, 300, 400, 500, 600, 700, 800, 900, 1000]
