"""Reading a static export as a server of it sends it: an archive page is written only
as ``.gz`` (``export.plain_archives: false``), which nginx inflates for a client that asks
for the plain bytes (``gunzip on``)."""

from __future__ import annotations

import gzip
from pathlib import Path


def read(path: Path) -> bytes:
    """The bytes of an exported URL's file: the file, or its ``.gz`` inflated."""
    if path.is_file():
        return path.read_bytes()
    return gzip.decompress(path.with_name(path.name + ".gz").read_bytes())


def files(folder: Path, pattern: str = "*") -> list[Path]:
    """The exported files matching ``pattern`` below ``folder``, each by its URL's name (a ``.gz``
    written alone stands for its file); ``pattern`` may hold ``**`` as in ``Path.glob``."""
    found = {p for p in folder.glob(pattern) if p.is_file() and p.suffix != ".gz"}
    found |= {p.with_name(p.name[: -len(".gz")]) for p in folder.glob(pattern + ".gz")
              if not p.with_name(p.name[: -len(".gz")]).is_file()}
    return sorted(found)
