"""Model: the plain values every stage passes on (standard library only, no I/O).

Every other module may import this one; it imports none of them, so the stages form a line,
not a circle.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Literal

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)  # an empty feed's "updated": never "now"
FORMAT_TYPES = {
    "rss": "application/rss+xml",
    "atom": "application/atom+xml",
    "json": "application/feed+json",
}
HTML = "text/html; charset=utf-8"

FeedKind = Literal["all", "channel", "category", "tag"]
CategoryPath = tuple[str, ...]  # names from the root down, as written: ("图片", "煎蛋", "首页")


@dataclass(frozen=True)
class Article:
    id: str
    relpath: str
    title: str
    published: datetime
    updated: datetime
    author: str
    categories: tuple[CategoryPath, ...]  # every path the article is filed under
    tags: tuple[str, ...]
    image: str
    summary: str
    content: str
    link: str
    draft: bool
    warnings: tuple[str, ...] = ()
    dated: bool = True  # False: ``published`` is the file's mtime, the front matter has no date
    guid: str = ""  # the entry's id when it is not this site's article page (a blog post's permalink)

    @property
    def category_names(self) -> tuple[str, ...]:
        """Each name on the article's category paths once, in order."""
        return tuple(dict.fromkeys(name for path in self.categories for name in path))


# a term as the index reads it one at a time: id, kind, parent, name, slug, live articles, the
# newest one's date (ISO 8601)
TermRow = tuple[int, str, int, str, str, int, str]


@dataclass(frozen=True)
class Term:
    """A node of the category tree, or a tag, as the index keeps it: the slug it was given
    for good, and what it holds now (live articles at or below it, the newest one's date)."""

    id: int
    parent: int  # 0: a root category, or a tag
    name: str
    slug: str
    count: int
    newest: datetime


@dataclass(frozen=True)
class FeedQuery:
    """Which live articles a feed shows: every condition given must hold.

    A category condition holds for an article filed at a matching node or anywhere below it;
    ``category_names`` match nodes of that name anywhere in the tree, ``category_paths`` the
    node at that path from the root; a condition with several values holds when any does."""

    category_nodes: tuple[int, ...] = ()  # node ids (``Term.id``): a category's own feed
    category_names: tuple[str, ...] = ()
    category_paths: tuple[CategoryPath, ...] = ()
    exclude_names: tuple[str, ...] = ()
    exclude_paths: tuple[CategoryPath, ...] = ()
    tags: tuple[str, ...] = ()
    authors: tuple[str, ...] = ()
    match: str | None = None  # a regular expression searched in the title and summary


@dataclass(frozen=True)
class FeedSpec:
    """One feed: what it is called, where it lives and what it selects."""

    kind: FeedKind
    slugs: tuple[str, ...]  # URL segments below the kind's base: ("all",), ("tu-pian", "jian-dan")
    title: str
    description: str
    limit: int
    query: FeedQuery = FeedQuery()
    names: tuple[str, ...] = ()  # category: its path of names; tag: the tag
    total: int = 0  # live articles it holds, all of them (the feed shows ``limit``)
    newest: datetime = EPOCH  # the newest one's date
    term: int | None = None  # the category node or tag it is the feed of


@dataclass(frozen=True)
class Document:
    """One document of a feed: the feed itself (its newest ``limit`` items) or one of its RFC 5005
    archive pages, fixed-size blocks of everything older, numbered from the oldest (1) up."""

    spec: FeedSpec
    page: int = 0  # 0: the feed itself; n >= 1: archive page n
    pages: int = 0  # the archive pages the feed has now (0: none, or archives are off)
    query: str = ""  # a filtered view of the feed (URL filters): the query it answers, in canonical form

    @property
    def is_archive(self) -> bool:
        return self.page > 0


@dataclass(frozen=True)
class Selection:
    paths: tuple[str, ...]  # file paths of the articles, newest first
    signature: str  # changes exactly when an item is added, removed or edited


@dataclass(frozen=True)
class Page:
    """Bytes as served and exported, with the time they last changed (from the articles)."""

    body: bytes
    content_type: str
    last_modified: datetime
    max_age: int | None = None  # Cache-Control max-age when not the site's (a full archive page: long)
    link: str = ""  # an HTTP Link header (WebSub: the hubs and the feed's self URL)


@dataclass(frozen=True)
class Problem:
    path: str
    message: str
    fatal: bool  # an error (the file is not, or no longer, published as it is) or a warning


def etag_of(body: bytes) -> str:
    """A digest of the bytes: the same in every worker and after a restart."""
    return hashlib.sha1(body).hexdigest()[:20]
