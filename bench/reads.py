"""What reading an article without following symlinks costs: ``sources.read_beneath`` (every
folder from the source down opened with O_NOFOLLOW, the file by its name under it) against a
plain ``open(path).read()`` of the same files, alternating rounds in this one process.

    python bench/reads.py [-n 10000] [--depth 2] [--rounds 5]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).parent
sys.path[:0] = [str(HERE), str(HERE.parent)]

from generate import generate  # noqa: E402

from feedsvc.config import Source  # noqa: E402
from feedsvc.ingest.sources import list_sources, read_beneath  # noqa: E402

LIMIT = 10 * 2**20


def plain(root: str, relpaths: list[str]) -> int:
    total = 0
    for relpath in relpaths:
        with open(os.path.join(root, relpath), "rb") as handle:
            total += len(handle.read(LIMIT))
    return total


def beneath(root: str, relpaths: list[str]) -> int:
    return sum(len(read_beneath(root, relpath, LIMIT)) for relpath in relpaths)


def nest(root: Path, depth: int) -> None:
    """Move each article ``depth`` folders down (the mirror writes them flat; Hexo blogs nest)."""
    for n, path in enumerate(sorted(root.iterdir())):
        folder = root.joinpath(*[f"d{(n >> (3 * level)) % 8}" for level in range(depth)])
        folder.mkdir(parents=True, exist_ok=True)
        path.rename(folder / path.name)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", "--count", type=int, default=10_000)
    parser.add_argument("--depth", type=int, default=0, help="folders between the source and each file")
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="feedsvc-bench-") as tmp:
        root = Path(tmp) / "articles"
        generate(root, args.count)
        nest(root, args.depth)
        listing = list_sources((Source(root),))
        base = listing.roots[0]
        relpaths = [path[len(base):] for path, _, _ in listing.rows]
        assert plain(base, relpaths) == beneath(base, relpaths)  # the same bytes; and the page cache is warm
        times: dict[str, list[float]] = {"plain": [], "beneath": []}
        for _ in range(args.rounds):
            for name, read in (("plain", plain), ("beneath", beneath)):
                started = time.process_time()
                read(base, relpaths)
                times[name].append(time.process_time() - started)
    old, new = statistics.median(times["plain"]), statistics.median(times["beneath"])
    print(f"{len(relpaths)} articles, {args.depth} folders deep, CPU seconds, median of {args.rounds} alternating rounds:")
    print(f"  open(path).read():  {old:.3f} ({old / len(relpaths) * 1e6:.1f} us each)")
    print(f"  read_beneath():     {new:.3f} ({new / len(relpaths) * 1e6:.1f} us each), {new / old:.2f}x")


if __name__ == "__main__":
    main()
