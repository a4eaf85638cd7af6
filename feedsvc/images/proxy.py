"""Image proxy: the disk cache behind the signed image URLs (``urls.proxy_url``).

Feed readers load mirrored images through feedsvc: hosts that refuse hotlinks with a Referer
get none (or the one ``images.referers`` names), and the third-party CORS proxy is out of the
path. Only URLs signed with the proxy key are fetched, so the proxy is not an open relay.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from feedsvc.atomic import replace_file
from feedsvc.images.fetch import FetchError, Limits, fetch
from feedsvc.model import etag_of

CACHE_BYTES = 512 * 1024 * 1024
FAILURE_SECONDS = 60  # how long an upstream failure is remembered
# Threads of a web worker that may wait on upstream images at once (fetching, or waiting for
# another thread's fetch of the same image); the rest keep serving feeds. `feedsvc serve`
# gives each worker more threads than this.
UPSTREAM_THREADS = 8
FETCHES = 2  # of which fetching


@dataclass(frozen=True)
class CachedImage:
    path: Path
    content_type: str
    etag: str
    last_modified: float
    fetched: bool = False  # from upstream for this request, not from the cache


class ImageCache:
    """Images on disk under ``state_dir/images``, least recently used evicted past ``max_bytes``.

    One upstream fetch per image however many requests arrive at once: a lock per image in
    this process, and a lock file per image across worker processes."""

    def __init__(self, root: Path, referers: dict[str, str], limits: Limits, max_bytes: int = CACHE_BYTES) -> None:
        self.root, self.referers, self.limits, self.max_bytes = root, referers, limits, max_bytes
        self.locks: dict[str, threading.Lock] = {}
        self.guard = threading.Lock()
        self.failures: dict[str, tuple[float, FetchError]] = {}
        self.upstream = threading.BoundedSemaphore(UPSTREAM_THREADS)
        self.fetching = threading.BoundedSemaphore(FETCHES)

    def _paths(self, url: str) -> tuple[Path, Path]:
        digest = hashlib.sha256(url.encode()).hexdigest()
        folder = self.root / digest[:2]
        return folder / digest, folder / f"{digest}.json"

    def _load(self, url: str) -> CachedImage | None:
        body, meta = self._paths(url)
        try:
            info = json.loads(meta.read_text(encoding="utf-8"))
            _mark_used(body)
        except (OSError, ValueError):
            return None
        return CachedImage(body, info["content_type"], info["etag"], info["last_modified"])

    def get(self, url: str) -> CachedImage:
        """The cached image, fetching it once if needed; raises ``FetchError``."""
        if found := self._load(url):
            return found
        failed = self.failures.get(url)
        if failed and failed[0] > time.monotonic():
            raise failed[1]
        if not self.upstream.acquire(blocking=False):
            raise FetchError(503, "the image proxy is busy; try again shortly")
        try:
            stored = self._fetch_once(url)
        finally:
            self.upstream.release()
        self.evict()
        return stored

    def _fetch_once(self, url: str) -> CachedImage:
        with self.guard:
            lock = self.locks.setdefault(url, threading.Lock())
        # another thread fetching the same image is waited for, at most the fetch's own time limit
        if not lock.acquire(timeout=self.limits.total_timeout + 1):
            raise FetchError(504, "image fetch took too long")
        try:
            with self._file_lock(url):
                if found := self._load(url):  # fetched meanwhile by another thread or worker
                    return found
                if not self.fetching.acquire(blocking=False):
                    raise FetchError(503, "the image proxy is busy; try again shortly")
                try:
                    image = fetch(url, self.referers, self.limits)
                except FetchError as e:
                    self.failures[url] = (time.monotonic() + FAILURE_SECONDS, e)
                    raise
                finally:
                    self.fetching.release()
                return self._store(url, image.body, image.content_type)
        finally:
            lock.release()

    def _file_lock(self, url: str) -> _Flock:
        body, _ = self._paths(url)
        return _Flock(body.with_suffix(".lock"))

    def _store(self, url: str, body: bytes, content_type: str) -> CachedImage:
        path, meta = self._paths(url)
        path.parent.mkdir(parents=True, exist_ok=True)
        stored = CachedImage(path, content_type, etag_of(body), time.time(), fetched=True)
        info = {"url": url, "content_type": content_type, "etag": stored.etag, "last_modified": stored.last_modified}
        replace_file(path, body)
        try:
            _mark_used(path)
        except FileNotFoundError:  # another worker's eviction got to it at once: open() fetches it again
            pass
        replace_file(meta, json.dumps(info).encode())  # last: an image counts as cached once this exists
        return stored

    def open(self, url: str) -> tuple[CachedImage, BinaryIO]:
        """The cached image and its bytes, open: once open, another worker's eviction cannot
        take them away mid-response (it unlinks the name, not the file)."""
        for _ in range(3):
            found = self.get(url)
            try:
                return found, open(found.path, "rb")
            except FileNotFoundError:  # evicted between the lookup and the open: fetched again
                continue
        raise FetchError(503, "the image cache is too busy to keep this image; try again shortly")

    def evict(self) -> None:
        """Drop the least recently used images until the cache is under its size cap. Other
        workers evict at the same time: a file gone before it is looked at is simply gone."""
        files = []
        for path in self.root.glob("*/*"):
            if path.suffix == "":
                try:
                    st = path.stat()
                except FileNotFoundError:
                    continue
                files.append((st.st_mtime_ns, st.st_size, path))
        total = sum(size for _, size, _ in files)
        for _, size, path in sorted(files):
            if total <= self.max_bytes:
                break
            for stale in (path.with_suffix(".json"), path):  # the entry first: it says the image is there
                stale.unlink(missing_ok=True)
            total -= size


def _mark_used(body: Path) -> None:
    """The image's mtime is when it was last used, from the precise clock: the kernel stamps
    files from a coarse one (a few milliseconds), and two images used within one of its ticks
    would tie, leaving which goes first to the order of their names."""
    now = time.time_ns()
    os.utime(body, ns=(now, now))


class _Flock:
    """A lock file held while one image is fetched, removed by its holder when done. A process
    that locked a file its name no longer points at (removed and made again meanwhile) holds
    nothing, and tries again on the current one."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def __enter__(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        while True:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
            fcntl.flock(fd, fcntl.LOCK_EX)
            try:
                if os.stat(self.path).st_ino == os.fstat(fd).st_ino:
                    self.fd = fd
                    return
            except FileNotFoundError:
                pass
            os.close(fd)

    def __exit__(self, *exc: object) -> None:
        self.path.unlink(missing_ok=True)  # while held: whoever waits on it sees it gone and starts over
        os.close(self.fd)
