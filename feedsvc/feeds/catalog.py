"""Feeds: which feeds exist (all, each channel, each node of the category tree, each tag) and
which articles each shows.

Slugs are given here, by the scanner only (``article_terms``); everything else reads.
"""

from __future__ import annotations

import functools
import hashlib
import logging
import re
from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path

from feedsvc import __version__
from feedsvc.config import Channel, Config
from feedsvc.model import Article, Document, FeedQuery, FeedSpec, Selection, Term
from feedsvc.slugs import auto_slug, new_slug
from feedsvc.store import Store, selection
from feedsvc.urls import feed_base

log = logging.getLogger("feedsvc.feeds")
PATH_SEPARATOR = " › "


def article_terms(index: Store, config: Config, article: Article,
                  automatic: Callable[[str], str] = auto_slug) -> list[int]:
    """The category nodes (every level of every path) and tags an article is filed under,
    made with their slugs when new (``automatic``: see ``new_slug``). Scanner only."""
    found: dict[int, None] = {}
    for path in article.categories:
        parent = 0
        for name in path:
            parent = index.term("category", parent, name,
                                lambda n, taken: new_slug(n, config.category_slugs, taken, automatic))
            found[parent] = None
    for tag in article.tags:
        found[index.term("tag", 0, tag, lambda n, taken: new_slug(n, config.tag_slugs, taken, automatic))] = None
    return list(found)


def apply_configured_slugs(index: Store, config: Config) -> None:
    """Terms named in ``category_slugs``/``tag_slugs`` take that slug unless a sibling holds it."""
    for kind, wanted in (("category", config.category_slugs), ("tag", config.tag_slugs)):
        if wanted:
            for name in index.rename_slugs(kind, wanted):
                log.warning("%s_slugs: %r keeps its slug: a sibling already has %r", kind, name, wanted[name])


_DIGITS = re.compile(r"(\d+)")


def natural(slug: str) -> list[tuple[int, int | str]]:
    """Sort key: ``source-9`` before ``source-10``; slugs are pinyin for CJK, so that order reads well too."""
    return [(0, int(part)) if part.isdigit() else (1, part) for part in _DIGITS.split(slug) if part]


def channel_query(channel: Channel) -> FeedQuery:
    def names(refs: tuple[str | tuple[str, ...], ...]) -> tuple[str, ...]:
        return tuple(r for r in refs if isinstance(r, str))

    def paths(refs: tuple[str | tuple[str, ...], ...]) -> tuple[tuple[str, ...], ...]:
        return tuple(r for r in refs if not isinstance(r, str))

    return FeedQuery(category_names=names(channel.categories), category_paths=paths(channel.categories),
                     exclude_names=names(channel.exclude_categories), exclude_paths=paths(channel.exclude_categories),
                     tags=channel.tags, authors=channel.authors, match=channel.match)


def top_feeds(index: Store, config: Config) -> list[FeedSpec]:
    """All, then the channels: the feeds outside the tree, any article can be in them."""
    site, limit = config.site, config.feeds.limit
    total, newest = index.count(FeedQuery())
    specs = [FeedSpec("all", ("all",), site.title, site.description, limit, total=total, newest=newest)]
    for ch in config.channels:
        query = channel_query(ch)
        total, newest = index.count(query)
        specs.append(FeedSpec("channel", (ch.slug,), ch.title, ch.description or ch.title, ch.limit or limit, query,
                              total=total, newest=newest))
    return specs


def feed_specs(index: Store, config: Config) -> list[FeedSpec]:
    """Every feed, in the order the index page and OPML list them: all, the channels, the
    category tree depth first, the tags."""
    site, limit = config.site, config.feeds.limit
    specs = top_feeds(index, config)
    terms = index.terms() if config.feeds.categories or config.feeds.tags else {}
    if config.feeds.categories:
        specs += _tree(terms["category"], site.title, limit)
    if config.feeds.tags:
        specs += [tag_spec(tag.id, tag.name, tag.slug, tag.count, tag.newest, site.title, limit)
                  for tag in sorted(terms["tag"], key=lambda t: natural(t.slug))]
    return specs


def _tree(nodes: list[Term], site_title: str, limit: int) -> list[FeedSpec]:
    children: dict[int, list[Term]] = {}
    for node in nodes:
        children.setdefault(node.parent, []).append(node)

    def walk(parent: int, names: tuple[str, ...], slugs: tuple[str, ...]) -> Iterator[FeedSpec]:
        for node in sorted(children.get(parent, ()), key=lambda n: natural(n.slug)):
            path, slug_path = (*names, node.name), (*slugs, node.slug)
            yield category_spec(node.id, path, slug_path, node.count, node.newest, site_title, limit)
            yield from walk(node.id, path, slug_path)

    return list(walk(0, (), ()))


def category_spec(term: int, names: tuple[str, ...], slugs: tuple[str, ...], total: int, newest: datetime,
                  site_title: str, limit: int) -> FeedSpec:
    """The feed of a category node: its own articles and those of every node below it."""
    title = f"{site_title}: {PATH_SEPARATOR.join(names)}"
    return FeedSpec("category", slugs, title, title, limit, FeedQuery(category_nodes=(term,)), names, total, newest, term)


def tag_spec(term: int, name: str, slug: str, total: int, newest: datetime, site_title: str, limit: int) -> FeedSpec:
    title = f"{site_title}: #{name}"
    return FeedSpec("tag", (slug,), title, title, limit, FeedQuery(tags=(name,)), (name,), total, newest, term)


def select(index: Store, spec: FeedSpec, limit: int | None = None) -> Selection:
    """The newest articles of a feed, as file paths plus a digest of what they hold."""
    return index.select(spec.query, spec.limit if limit is None else min(limit, spec.limit))


# -- RFC 5005 archives ---------------------------------------------------------
#
# A feed shows its newest ``limit`` items; everything older is cut, from the oldest up, into
# pages of ``archive_size`` items. Numbering from the oldest means a new article never moves an
# older one to another page: only the newest page grows. When the newest page fills up, an
# empty page after it starts at once, so a full page's next-archive link already points at a
# page that exists and the full page never changes again.


def archive_pages(spec: FeedSpec, config: Config) -> int:
    """How many archive pages a feed has (0: nothing older than the feed itself, or no archives)."""
    archived = spec.total - spec.limit
    return archived // config.feeds.archive_size + 1 if archived > 0 and config.feeds.archives else 0


def document(spec: FeedSpec, config: Config, page: int = 0) -> Document | None:
    """The feed itself (page 0) or one of its archive pages; None past the last page."""
    pages = archive_pages(spec, config)
    return Document(spec, page, pages) if 0 <= page <= pages else None


def documents(spec: FeedSpec, config: Config) -> list[Document]:
    """The feed, then its archive pages from the oldest."""
    pages = archive_pages(spec, config)
    return [Document(spec, page, pages) for page in range(pages + 1)]


def _window(doc: Document, size: int) -> tuple[int, int]:
    """An archive page's items as (offset from the newest, how many)."""
    archived = doc.spec.total - doc.spec.limit
    oldest, newest = (doc.page - 1) * size, min(doc.page * size, archived)
    return doc.spec.total - newest, newest - oldest


def is_full(doc: Document, config: Config) -> bool:
    """An archive page that holds all it ever will: only an edit of one of its articles changes it."""
    return doc.is_archive and _window(doc, config.feeds.archive_size)[1] == config.feeds.archive_size


def select_document(index: Store, doc: Document, config: Config) -> Selection:
    if not doc.is_archive:
        return select(index, doc.spec)
    offset, count = _window(doc, config.feeds.archive_size)
    return index.select(doc.spec.query, count, offset)


def select_documents(index: Store, spec: FeedSpec, config: Config,
                     keep: int = 0) -> Iterator[tuple[Document, Selection | None]]:
    """Every document of a feed with its articles, the archive pages cut from one pass over the
    feed's history (a range query per page would step over all the newer articles each time).
    ``keep``: how many of the oldest archive pages are known not to have changed (never the
    last: see ``unchanged_pages``); they come without a selection, and only the history newer
    than them is read."""
    docs = documents(spec, config)
    yield docs[0], select(index, spec)
    if len(docs) == 1:
        return
    for doc in docs[1 : 1 + keep]:
        yield doc, None
    size = config.feeds.archive_size
    history = index.history(spec.query, spec.total - keep * size if keep else None)
    for doc in docs[1 + keep :]:
        offset, count = _window(doc, size)
        yield doc, selection(history[offset : offset + count])


def unchanged_pages(index: Store, spec: FeedSpec, config: Config, since: str, pages_before: int) -> int:
    """How many of a feed's oldest archive pages no change dated ``since`` or later can have
    touched, when the feed had ``pages_before`` pages: those full then and now (a page's items
    are cut from the oldest, so the items older than every change sit where they sat) and
    holding only articles older than ``since``."""
    newer = index.count_since(spec.query, since)
    if newer is None:
        return 0
    full_now = archive_pages(spec, config) - 1
    return max(0, min((spec.total - newer) // config.feeds.archive_size, full_now, pages_before - 1))


def items(index: Store, selection: Selection) -> list[Article]:
    return index.articles_at(selection.paths)


def listed_items(index: Store, selection: Selection) -> list[Article]:
    """The articles of a selection as a page lists them: everything but their bodies."""
    return index.articles_at(selection.paths, bodies=False)


# -- what a document's bytes are made of ---------------------------------------


def digest(*parts: str) -> str:
    return hashlib.sha1("\n".join(parts).encode()).hexdigest()


LAYOUT = "layout 2: feed pages"  # changed with what the pages and feeds look like, so every byte is made again


@functools.cache
def templates_digest() -> str:
    """The package's templates, stylesheet and XSL: an edited template (a development tree, a
    patched install) re-renders the pages, where the version alone would not say so."""
    folder = Path(__file__).parent.parent / "render" / "templates"
    return digest(*(f"{p.name}:{hashlib.sha256(p.read_bytes()).hexdigest()}" for p in sorted(folder.iterdir())))


def render_fingerprint(config: Config) -> str:
    """Everything besides the articles that output bytes depend on."""
    return digest(__version__, LAYOUT, templates_digest(), repr(config.site), repr(config.feeds), repr(config.push),
                repr(config.channels), repr(sorted(config.category_slugs.items())), repr(sorted(config.tag_slugs.items())))


def document_signature(fingerprint: str, doc: Document, selection: Selection) -> str:
    """The same signature, the same bytes: what the export skips on and WebSub pings on."""
    spec = doc.spec
    # the feed links to its newest archive page; a page only to its neighbours, so a page does
    # not change when pages are added after its next one
    links = str(doc.pages) if not doc.is_archive else f"{doc.page}:{doc.page < doc.pages}"
    return digest(fingerprint, feed_base(spec), spec.title, spec.description, str(spec.limit), links, selection.signature)
