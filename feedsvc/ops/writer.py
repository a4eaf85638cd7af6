"""The export's writer: each file and its ``.gz`` written atomically, by one thread while the
next page renders, a file whose bytes would not change left untouched (its mtime, and the ETag
nginx derives from it, stay put), and the files no longer published removed."""

from __future__ import annotations

import os
from collections import deque
from collections.abc import Callable, Collection, Iterable
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

from feedsvc.atomic import write_atomic

WRITE_QUEUE = 8  # pages waiting to be written at most (each up to a few MB: the 100k build peaked at 254 MB with 16)
GZIP_LEVEL = 3  # ISA-L's level 3: a third of zlib 6's time, files about 15 % larger
# level 2, four times faster again: archive pages (most of an export's bytes, seldom fetched)
# and article pages (level 3 made them only 2 % smaller, at half the speed)
FAST_GZIP_LEVEL = 2


def gzip_bytes(data: bytes, level: int = GZIP_LEVEL) -> bytes:
    """The ``.gz`` beside each file, for nginx's ``gzip_static``: compressed once, when the file
    changes, instead of on every request (no timestamp inside: the same bytes every build).
    ISA-L's deflate: a cold export compresses gigabytes, and zlib at level 6 took most of it."""
    from isal import igzip

    return igzip.compress(data, level, mtime=0)


class Writer:
    """``old``: the manifest rows this export looks at (all of them, or those a few changes
    touch). ``trusted``: no file of the last export was touched since (its folders' mtimes
    say so), so a file in the manifest is there as written, without a stat."""

    def __init__(self, out: Path, old: dict[str, str], tick: Callable[[int], object], trusted: bool = False,
                 background: bool = True) -> None:
        self.out, self.old, self.tick, self.trusted = out, old, tick, trusted
        self.new: dict[str, str] = {}
        self.folders: set[str] = set()
        self.written = self.unchanged = 0
        # one thread writes every file and its .gz while the next page renders (compressing
        # and writing a large feed let go of the GIL; two writers renaming into one folder spin
        # on its lock in the kernel); at most WRITE_QUEUE pages wait, to bound memory. Without
        # ``background``, each file is written as it is put: for small pages, handing each one
        # to a thread cost more than the writing it overlapped
        self.writer = ThreadPoolExecutor(1, thread_name_prefix="feedsvc-write") if background else None
        self.waiting: deque[Future[bool]] = deque()

    def fresh(self, relpath: str, signature: str, present: set[str] | None = None) -> bool:
        """Already exported from the same inputs: nothing to do. ``present`` spares a stat."""
        if self.old.get(relpath) == signature and (self.trusted or (
                relpath in present if present is not None else os.path.isfile(os.path.join(self.out, relpath)))):
            self.new[relpath] = signature
            self.unchanged += 1
            self.tick(1)
            return True
        return False

    def put(self, relpath: str, signature: str, data: bytes, gzip_level: int = GZIP_LEVEL) -> None:
        # lexical (resolve() would lstat every folder on the way, for every file): the paths
        # are the site's own, made of slugs and ids, and the export folder is feedsvc's
        if os.path.isabs(relpath) or os.path.normpath(relpath).split(os.sep)[0] == "..":
            raise ValueError(f"refusing to write outside the export: {relpath}")
        target = os.path.join(self.out, relpath)
        if self.writer is None:
            self._count(self._write(target, data, gzip_level))
        else:
            while len(self.waiting) >= WRITE_QUEUE:
                self._count(self.waiting.popleft().result())  # raises what the write raised
            self.waiting.append(self.writer.submit(self._write, target, data, gzip_level))
        self.new[relpath] = signature
        self.tick(1)

    def carry(self, relpaths: list[str]) -> bool:
        """Files known not to have changed, carried over without a look (False when one is not
        in the manifest: it has to be looked at)."""
        if not all(relpath in self.old for relpath in relpaths):
            return False
        for relpath in relpaths:
            self.new[relpath] = self.old[relpath]
        self.unchanged += len(relpaths)
        self.tick(len(relpaths))
        return True

    def _write(self, target: str, data: bytes, gzip_level: int) -> bool:
        """In the writer thread: the file, and its .gz when the file changed (or the .gz is gone);
        a target named ``.gz`` is the only copy, compressed."""
        if target.endswith(".gz"):
            return write_atomic(target, gzip_bytes(data, gzip_level), self.folders)
        compressed = target + ".gz"
        written = write_atomic(target, data, self.folders)
        if written or not os.path.exists(compressed):
            write_atomic(compressed, gzip_bytes(data, gzip_level), self.folders)
        return written

    def _count(self, written: bool) -> None:
        self.written += written
        self.unchanged += not written

    def merge(self, written: int, unchanged: int, signatures: Iterable[tuple[str, str]]) -> None:
        """What another process exported, into this manifest and counts."""
        self.written += written
        self.unchanged += unchanged
        before = len(self.new)
        self.new.update(signatures)
        self.tick(len(self.new) - before)

    def finish(self) -> None:
        """Every file written (or the first error raised)."""
        try:
            while self.waiting:
                self._count(self.waiting.popleft().result())
        finally:
            if self.writer is not None:
                self.writer.shutdown(cancel_futures=True)


def remove(out: Path, relpaths: Iterable[str], kept: Collection[str]) -> int:
    """Files no longer published, with their .gz (or, for a ``.gz`` kept alone, the plain file
    an export with ``plain_archives`` wrote), but none that a ``kept`` file is or stands
    beside; returns how many were there."""
    removed = 0
    for relpath in relpaths:
        plain = relpath.removesuffix(".gz")
        for i, name in enumerate(dict.fromkeys((relpath, plain, plain + ".gz"))):
            if name in kept or name.removesuffix(".gz") in kept:
                continue
            try:
                (out / name).unlink()
                removed += i == 0
            except FileNotFoundError:
                pass
    return removed
