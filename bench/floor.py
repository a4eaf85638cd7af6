"""The floor under a cold build: the work any build must do to write what feedsvc's defaults
write, done with the same C and Rust libraries and none of feedsvc's own code but its
compression call (``export.gzip_bytes``, ISA-L at the export's levels).

    python bench/floor.py ARTICLES EXPORT

- parse: read each article, load its front matter with libyaml, sanitize its body with nh3
  (no image rewrite, no text, no dates, no categories);
- output: the bytes of a finished export (EXPORT, from ``feedsvc build``) compressed as the
  export compresses them and written, each file and its ``.gz`` (an archive page: its
  ``.gz`` alone, as the export writes it), into a new folder with
  plain ``open``/``write``/``close`` (no temporary name, no rename, no index).

CPU seconds of this one process, divided by the cores, give a wall time no build of that
output can beat on this machine, however well it spreads the work; ``bench/build.py`` prints
it beside Hugo's cold build of the same corpus.
"""

from __future__ import annotations

import gzip
import os
import sys
import time
from pathlib import Path

HERE = Path(__file__).parent
sys.path[:0] = [str(HERE.parent)]

from feedsvc.ops.writer import FAST_GZIP_LEVEL, GZIP_LEVEL, gzip_bytes  # noqa: E402


def parse(source: Path) -> float:
    """CPU seconds to read, load and sanitize every article."""
    import nh3
    import yaml

    started = time.process_time()
    for path in source.rglob("*.md"):
        _, header, body = path.read_bytes().decode("utf-8").split("---\n", 2)
        yaml.load(header, Loader=yaml.CSafeLoader)  # noqa: S506 - the C safe loader
        nh3.clean(body)
    return time.process_time() - started


def output(export: Path, out: Path) -> dict[str, float]:
    """CPU seconds to compress and to write every file of ``export`` again into ``out``, a file
    at a time (reading it back is not timed: a build has the bytes in hand)."""
    spent = {"compress": 0.0, "write": 0.0, "mb": 0.0}
    made: set[str] = set()
    for folder, _, names in os.walk(export):
        present = set(names)
        for name in names:
            alone = name.endswith(".gz") and name[: -len(".gz")] not in present  # an archive page
            if name.endswith(".gz") and not alone:
                continue
            with open(os.path.join(folder, name), "rb") as f:
                data = gzip.decompress(f.read()) if alone else f.read()
            name = name.removesuffix(".gz") if alone else name
            relpath = os.path.relpath(os.path.join(folder, name), export)
            # the export's faster level: archive and article pages
            level = FAST_GZIP_LEVEL if "/_archive/" in relpath or relpath.startswith("articles") else GZIP_LEVEL
            started = time.process_time()
            packed = gzip_bytes(data, level)
            compressed = time.process_time()
            target = os.path.join(out, relpath)
            if (parent := os.path.dirname(target)) not in made:
                os.makedirs(parent, exist_ok=True)
                made.add(parent)
            for path, content in ((target + ".gz", packed),) if alone else ((target, data), (target + ".gz", packed)):
                fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
                try:
                    os.write(fd, content)
                finally:
                    os.close(fd)
            spent["compress"] += compressed - started
            spent["write"] += time.process_time() - compressed
            spent["mb"] += (len(packed) + (0 if alone else len(data))) / 1e6
    return spent


def floor(source: Path, export: Path, scratch: Path) -> dict[str, float]:
    """CPU seconds of each part, and the wall time they allow on this machine's cores.
    ``scratch``: a new folder for the written copy (left in place: on this VM's ext4,
    deleting thousands of files makes creating the next ones slower for minutes)."""
    parts = {"parse": parse(source), **output(export, scratch)}
    parts["cpu"] = parts["parse"] + parts["compress"] + parts["write"]
    parts["wall"] = parts["cpu"] / (os.cpu_count() or 1)
    return parts


def describe(parts: dict[str, float]) -> str:
    return (f"{parts['cpu']:.2f} s CPU (parse: libyaml + nh3 {parts['parse']:.2f}, compress {parts['compress']:.2f},"
            f" write {parts['write']:.2f}: {parts['mb']:.0f} MB), so at least {parts['wall']:.2f} s wall on"
            f" {os.cpu_count()} cores")


if __name__ == "__main__":
    import tempfile

    with tempfile.TemporaryDirectory(prefix="feedsvc-floor-") as tmp:
        print(describe(floor(Path(sys.argv[1]), Path(sys.argv[2]), Path(tmp) / "out")))
