"""Files: atomic replacement, so a reader (nginx, another worker) never sees half a file, and
writes that leave a file holding the same bytes untouched; the state directory's scan lock."""

from __future__ import annotations

import fcntl
import itertools
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

_TEMPORARY = itertools.count()  # with the pid, a temporary name no other writer uses


def replace_file(target: str | Path, data: bytes, mode: int = 0o644) -> None:
    """Write ``data`` to a temporary file beside ``target``, then rename it over ``target``.
    Plain system calls: an export writes thousands of files, and tempfile and file objects
    cost four times the calls themselves."""
    folder, name = os.path.split(target)
    tmp = os.path.join(folder, f".{name}.{os.getpid()}.{next(_TEMPORARY)}.tmp")
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC
    try:
        fd = os.open(tmp, flags, mode)
    except FileExistsError:  # left by a process that crashed with our pid: it is gone
        os.unlink(tmp)
        fd = os.open(tmp, flags, mode)
    try:
        try:
            os.fchmod(fd, mode)  # exactly ``mode``, whatever the umask
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view):]
        finally:
            os.close(fd)
        os.replace(tmp, target)
    except BaseException:
        os.unlink(tmp)
        raise


def write_atomic(target: str, data: bytes, folders: set[str]) -> bool:
    """Write ``data`` unless the file already holds exactly it; True when written. ``folders``:
    those known to exist (a fresh export would try to make its folder for every file). Paths
    are strings: pathlib's objects cost more than the system calls, thousands of times over."""
    try:
        if os.stat(target).st_size == len(data) and _read(target) == data:
            return False
    except FileNotFoundError:
        folder = os.path.dirname(target)
        if folder not in folders:
            os.makedirs(folder, exist_ok=True)
            folders.add(folder)
    replace_file(target, data)
    return True


def _read(path: str) -> bytes:
    with open(path, "rb") as f:
        return f.read()


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
