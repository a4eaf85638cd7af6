"""Slugs: the URL segment a category node or tag is given the first time its name is seen.

Pinyin for CJK, an ASCII transliteration for the rest, a short hash when nothing is left. Its
own module, importing nothing of feedsvc: the scan looks pinyin up in a helper process (see
``scan.Slugs``), which then loads this and pypinyin alone.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable


def auto_slug(name: str) -> str:
    """Pinyin for CJK, ASCII transliteration for the rest; a hash when nothing is left."""
    from slugify import slugify

    words = name
    if not name.isascii():  # pypinyin (most of a second to load, 55 MB of dictionaries) has nothing to do in ASCII
        from pypinyin import lazy_pinyin

        words = " ".join(lazy_pinyin(name))
    slug = slugify(words, max_length=80, word_boundary=True)
    return slug or "c-" + hashlib.sha1(name.encode("utf-8")).hexdigest()[:8]


def new_slug(name: str, fixed: dict[str, str], taken: set[str],
             automatic: Callable[[str], str] = auto_slug) -> str:
    """The slug for a name seen for the first time: ``fixed`` (the config's map) else
    ``automatic``, with ``-2``, ``-3``… when a sibling already has it."""
    base = fixed.get(name) or automatic(name)
    slug, n = base, 2
    while slug in taken:
        slug, n = f"{base}-{n}", n + 1
    return slug
