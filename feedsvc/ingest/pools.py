"""Worker processes for the scan, the export and the scan's slug helper: spawned (safe beside
the web server's threads), killed with the process that started them, and a worker that dies
is an error that names it, not a wait forever.

Kept apart from the stages that use them: a spawned worker imports the module of the function
it runs and this one, and the slug helper then starts without the config, YAML and the index.
"""

from __future__ import annotations

import concurrent.futures  # the package only: its process pool is loaded when one starts
import os
import signal
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from feedsvc.errors import WorkerDied


@contextmanager
def process_pool(workers: int, who: str, **options: Any) -> Iterator[concurrent.futures.ProcessPoolExecutor]:
    """Worker processes for the scan and the export. Spawned: safe beside the web server's
    threads. A process pool, not multiprocessing's Pool: a worker that dies (killed, out of
    memory) raises ``WorkerDied``, its message naming ``who``, instead of leaving the caller
    waiting forever for its results. Leaving the block cancels what has not started."""
    import multiprocessing
    from concurrent.futures.process import BrokenProcessPool

    initializer, initargs = options.pop("initializer", None), options.pop("initargs", ())
    pool = concurrent.futures.ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn"),
                                                  initializer=_follow_parent,
                                                  initargs=(os.getpid(), initializer, *initargs), **options)
    try:
        yield pool
    except BrokenProcessPool as e:
        raise WorkerDied(f"{who} died (killed, or out of memory?)") from e
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


def _follow_parent(parent: int, initializer: Callable[..., object] | None, *args: object) -> None:
    """In a worker: killed when the process that started it dies, even by SIGKILL (Linux).
    Otherwise a killed build left its workers waiting on their queue for good, each holding
    the pool's semaphores in /dev/shm."""
    killed_with_parent()()  # not Linux: a worker outlives a parent that is killed
    if os.getppid() != parent:  # it died before the signal was asked for
        os._exit(1)
    if initializer is not None:
        initializer(*args)


def killed_with_parent() -> Callable[[], None]:
    """A function that has the kernel SIGKILL the process calling it when that process's parent
    dies, even by SIGKILL (Linux's PR_SET_PDEATHSIG; elsewhere it does nothing). libc is looked
    up here, so the function itself is safe between fork and exec."""
    libc = _libc()
    if libc is None or not hasattr(libc, "prctl"):
        return lambda: None
    prctl = libc.prctl
    return lambda: prctl(1, signal.SIGKILL)


def reuse_freed_memory() -> None:
    """Keep glibc from handing large freed buffers back to the kernel, for a process that is
    about to allocate and free gigabytes (a cold export, a large scan's parse workers): faulting
    fresh pages in costs more system time on this kind of VM than the work itself (malloc's
    defaults: 128 KB, and a threshold that only grows as big blocks are freed). In a parse
    worker it took the page faults of a 10k scan from about 110,000 to 31,000. The peak
    memory stays what the process used at once; only what it gives back changes."""
    libc = _libc()
    if libc is None or not hasattr(libc, "mallopt"):
        return  # not glibc: its defaults stand
    libc.mallopt(-3, 256 << 20)  # M_MMAP_THRESHOLD: blocks below this come from the heap
    libc.mallopt(-1, 512 << 20)  # M_TRIM_THRESHOLD: free heap kept for reuse up to this


def _libc() -> Any:
    """The C library's symbols already loaded (find_library would run ldconfig), or None.
    ctypes is imported only here: every scan imports this module (1.2 ms of a no-change build)."""
    import ctypes

    try:
        return ctypes.CDLL(None)
    except OSError:
        return None
