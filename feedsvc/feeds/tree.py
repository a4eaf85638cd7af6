"""The tree of feeds as pages look it up: a category by its path of names, its children and
ancestors, a tag by its name, the largest tags.

Two ways to the same answers. ``FeedTree`` is made from every feed at once: the web workers and
a full export render pages for most of them. ``StoredTree`` reads the index a node at a time:
after one edit an export renders a handful of pages, and making all 8,000 feeds of a large tree
to look up a few of them cost more than rendering those pages.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterable
from datetime import datetime

from markupsafe import Markup

from feedsvc.config import Config
from feedsvc.feeds.catalog import category_spec, natural, tag_spec
from feedsvc.model import FeedSpec, TermRow
from feedsvc.store import Store
from feedsvc.urls import feed_base


def spec_line(spec: FeedSpec) -> str:
    """What a list of feeds shows of one (the index page, a feed page's children): what its
    signature is made of."""
    return f"{spec.title}|{feed_base(spec)}|{spec.total}|{spec.newest.isoformat()}"


def _by_name(tags: Iterable[FeedSpec], count: int) -> list[FeedSpec]:
    """The ``count`` tags holding the most articles (ties: by name), in the order of their names."""
    largest = sorted(tags, key=lambda s: (-s.total, s.names[0]))[:count]
    return sorted(largest, key=lambda s: s.names[0])


ITEMS_KEPT = 20_000  # feed page items remembered (about a kilobyte each)


class Tree(ABC):
    """A tree is made for one state of the index (an export, a generation in a web worker), so
    what the renderer works out from it can be kept with it."""

    feeds: list[FeedSpec]  # all and the channels
    page_urls: dict[tuple[str, ...], str]  # the renderer's, for each page it made
    items: dict[str, Markup]  # each article's item in a feed page, by file path (see ``keep_items``)

    def keep_items(self, rendered: dict[str, Markup]) -> None:
        """Remember these items; the oldest go past ``ITEMS_KEPT`` (an article is in a page per
        level of its categories, per tag and per archive page: each is rendered once, most of
        the time). Web workers share a tree between threads: a racing eviction is let go."""
        self.items.update(rendered)
        while len(self.items) > ITEMS_KEPT:
            try:
                del self.items[next(iter(self.items))]
            except (KeyError, RuntimeError, StopIteration):
                break

    @abstractmethod
    def category(self, names: tuple[str, ...]) -> FeedSpec | None:
        """The node at this path of names, if it holds a live article."""

    @abstractmethod
    def tag(self, name: str) -> FeedSpec | None: ...

    @abstractmethod
    def below(self, spec: FeedSpec) -> list[FeedSpec]:
        """A category's children; the top of the tree below ``all``; nothing below a tag or channel."""

    @abstractmethod
    def above(self, spec: FeedSpec) -> list[FeedSpec]:
        """The categories a category sits in, from the root."""

    @abstractmethod
    def largest_tags(self, count: int) -> list[FeedSpec]:
        """The ``count`` tags holding the most articles, by name."""

    @abstractmethod
    def tag_count(self) -> int: ...

    def prefetch(self, paths: Iterable[tuple[str, ...]]) -> None:  # noqa: B027 (most trees have every node at hand)
        """Category paths (each prefix too) about to be looked up, one by one."""

    def top(self) -> list[FeedSpec]:
        return self.below(self.feeds[0])  # the first feed is ``all``

    def listed(self, spec: FeedSpec) -> str:
        """What a feed's page shows besides its items: its children's counts (an export's signature)."""
        return "|".join(f"{c.slugs[-1]}:{c.total}" for c in self.below(spec))


class FeedTree(Tree):
    """Made from every feed (``feed_specs``) at once."""

    def __init__(self, specs: list[FeedSpec]) -> None:
        self.feeds = [s for s in specs if s.kind in ("all", "channel")]
        self.by_names = {s.names: s for s in specs if s.kind == "category"}
        self.by_slugs = {s.slugs: s for s in specs if s.kind == "category"}
        self.tags = {s.names[0]: s for s in specs if s.kind == "tag"}
        self.children: dict[tuple[str, ...], list[FeedSpec]] = {}
        self.page_urls, self.items = {}, {}
        for spec in specs:
            if spec.kind == "category":
                self.children.setdefault(spec.slugs[:-1], []).append(spec)

    def category(self, names: tuple[str, ...]) -> FeedSpec | None:
        return self.by_names.get(names)

    def tag(self, name: str) -> FeedSpec | None:
        return self.tags.get(name)

    def below(self, spec: FeedSpec) -> list[FeedSpec]:
        if spec.kind == "category":
            return self.children.get(spec.slugs, [])
        return self.children.get((), []) if spec.kind == "all" else []

    def above(self, spec: FeedSpec) -> list[FeedSpec]:
        if spec.kind != "category":
            return []
        return [found for n in range(1, len(spec.slugs)) if (found := self.by_slugs.get(spec.slugs[:n]))]

    def largest_tags(self, count: int) -> list[FeedSpec]:
        return _by_name(self.tags.values(), count)

    def tag_count(self) -> int:
        return len(self.tags)


class StoredTree(Tree):
    """Read from the index as pages ask, each node once (a writable index: its counts are
    brought up to date first)."""

    def __init__(self, index: Store, config: Config, feeds: list[FeedSpec]) -> None:
        index.refresh_term_stats()
        self.index, self.feeds, self.page_urls, self.items = index, feeds, {}, {}
        self.site_title, self.limit = config.site.title, config.feeds.limit
        self.kinds = {kind for kind, on in (("category", config.feeds.categories), ("tag", config.feeds.tags)) if on}
        self.specs: dict[int, FeedSpec] = {}  # by term id
        self.parents: dict[int, int] = {}
        self.named: dict[tuple[str, int, str], FeedSpec | None] = {}
        self.children: dict[int, list[FeedSpec]] = {}

    def _spec(self, row: TermRow, parent: FeedSpec | None) -> FeedSpec:
        term, kind, parent_id, name, slug, total, newest = row
        if (known := self.specs.get(term)) is None:
            when = datetime.fromisoformat(newest)
            known = self.specs[term] = tag_spec(term, name, slug, total, when, self.site_title, self.limit) \
                if kind == "tag" else category_spec(term, (*parent.names, name) if parent else (name,),
                                                    (*parent.slugs, slug) if parent else (slug,),
                                                    total, when, self.site_title, self.limit)
            self.parents[term] = parent_id
        return known

    def specs_of(self, terms: Iterable[int]) -> list[FeedSpec]:
        """The feeds of these terms that hold a live article (their ancestors read too)."""
        rows: dict[int, TermRow] = {}
        wanted = {term for term in terms if term not in self.specs}
        while wanted:
            found = [row for row in self.index.live_terms(wanted) if row[1] in self.kinds]
            rows.update((row[0], row) for row in found)
            wanted = {row[2] for row in found if row[2] and row[2] not in rows and row[2] not in self.specs}

        def made(term: int) -> FeedSpec | None:
            if term in self.specs or term not in rows:
                return self.specs.get(term)
            row = rows[term]
            parent = made(row[2]) if row[2] else None
            return None if row[2] and parent is None else self._spec(row, parent)

        return [spec for term in sorted(set(terms) & (rows.keys() | self.specs.keys())) if (spec := made(term))]

    def _named(self, kind: str, parent: FeedSpec | None, name: str) -> FeedSpec | None:
        key = (kind, (parent.term or 0) if parent else 0, name)
        if key not in self.named:
            rows = self.index.live_terms_named(kind, [key[1:]]) if kind in self.kinds else []
            row = rows[0] if rows else None
            self.named[key] = self._spec(row, parent) if row else None
        return self.named[key]

    def prefetch(self, paths: Iterable[tuple[str, ...]]) -> None:
        """Looked up a level at a time, a query per level (a page of 100 items names hundreds)."""
        if "category" not in self.kinds:
            return
        wanted = set(map(tuple, paths))
        for level in range(max(map(len, wanted), default=0)):
            keys: dict[tuple[str, int, str], FeedSpec | None] = {}
            for path in wanted:
                parent = self.category(path[:level]) if level else None  # read at the level before
                if len(path) > level and (parent is not None or not level):
                    keys[("category", (parent.term or 0) if parent else 0, path[level])] = parent
            rows = {(row[2], row[3]): row for row in self.index.live_terms_named(
                "category", [(parent, name) for kind, parent, name in keys if (kind, parent, name) not in self.named])}
            for key, parent in keys.items():
                if key not in self.named:
                    row = rows.get(key[1:])
                    self.named[key] = self._spec(row, parent) if row else None

    def category(self, names: tuple[str, ...]) -> FeedSpec | None:
        found = None
        for name in names:
            if (found := self._named("category", found, name)) is None:
                return None
        return found

    def tag(self, name: str) -> FeedSpec | None:
        return self._named("tag", None, name)

    def below(self, spec: FeedSpec) -> list[FeedSpec]:
        if "category" not in self.kinds or spec.kind not in ("category", "all"):
            return []
        parent = (spec.term or 0) if spec.kind == "category" else 0
        if parent not in self.children:
            under = spec if spec.kind == "category" else None
            made = [self._spec(row, under) for row in self.index.live_children(parent)]
            self.children[parent] = sorted(made, key=lambda s: natural(s.slugs[-1]))
        return self.children[parent]

    def above(self, spec: FeedSpec) -> list[FeedSpec]:
        if spec.kind != "category" or spec.term is None:
            return []
        self.specs_of([spec.term])
        found, node = [], self.parents.get(spec.term, 0)
        while node:
            found.append(self.specs[node])
            node = self.parents[node]
        return found[::-1]

    def largest_tags(self, count: int) -> list[FeedSpec]:
        if "tag" not in self.kinds:
            return []
        return _by_name((self._spec(row, None) for row in self.index.largest_tags(count)), count)

    def tag_count(self) -> int:
        return self.index.count_live_tags() if "tag" in self.kinds else 0
