"""Files: atomic replacement, so a reader (nginx, another worker) never sees half a file; the
state directory's scan lock."""

from __future__ import annotations

import fcntl
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


def replace_file(target: Path, data: bytes, mode: int = 0o644) -> None:
    """Write ``data`` to a temporary file beside ``target``, then rename it over ``target``."""
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.chmod(tmp, mode)
        os.replace(tmp, target)
    except BaseException:
        os.unlink(tmp)
        raise


@contextmanager
def scan_lock(state_dir: Path, wait: bool = False) -> Iterator[bool]:
    """True when this process holds the state directory's scan lock (``wait``: until it does)."""
    state_dir.mkdir(parents=True, exist_ok=True)
    with open(state_dir / "scan.lock", "w") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | (0 if wait else fcntl.LOCK_NB))
        except BlockingIOError:
            yield False
            return
        try:
            yield True
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
