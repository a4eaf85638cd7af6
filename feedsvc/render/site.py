"""Site: the one rendering path behind every URL, used by the web app and the static export.

Each function turns index data into a ``Page``: the bytes, their content type and the time
they last changed (from the articles, never the clock), so a URL served live and its
exported file are the same bytes with the same Last-Modified.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from functools import cache
from pathlib import Path
from typing import Protocol

from lxml import etree
from markupsafe import Markup

from feedsvc.config import Config
from feedsvc.feeds.catalog import is_full, items, listed_items, select, select_document
from feedsvc.feeds.tree import Tree
from feedsvc.model import EPOCH, FORMAT_TYPES, HTML, Article, Document, FeedSpec, Page, Selection
from feedsvc.render.documents import feed_updated, pace_of, render_feed, render_opml, render_spliced, with_stylesheet
from feedsvc.render.entries import entry_bytes, xml_content
from feedsvc.render.pages import render_article, render_feed_html, render_index, render_items
from feedsvc.store import Store
from feedsvc.urls import XSL_PATH, absolute, document_path, root_relative

LATEST_ON_INDEX = 30
ARCHIVE_MAX_AGE = 7 * 86400  # a full archive page changes only when one of its articles is edited
ALL = FeedSpec("all", ("all",), "", "", LATEST_ON_INDEX)


@cache
def stylesheet() -> bytes:
    """The XSLT that shows an RSS or Atom feed opened in a browser as a readable page (read from
    the package's folder, as the templates are: importlib.resources cost 6 ms to load)."""
    return (Path(__file__).parent / "templates" / "feed.xsl").read_bytes()


@cache
def _transform() -> etree.XSLT:
    return etree.XSLT(etree.fromstring(stylesheet()))


def feed_as_html(feed: Page) -> Page:
    """The page a browser shows for a feed: the same XSLT, run here. Chromium no longer runs
    XSLT itself (it renders the raw XML), Firefox and Safari still do."""
    html = _transform()(etree.fromstring(feed.body))
    return Page(b"<!doctype html>\n" + etree.tostring(html, method="html", encoding="utf-8"), HTML, feed.last_modified)


def stylesheet_href(config: Config) -> str:
    """Root-relative, so browsers apply it (XSLT is same-origin only) wherever the site is served."""
    return root_relative(config.site.url, XSL_PATH)


class EntryStore(Protocol):
    """Entries already rendered, by (format, article path): (the article's updated time, bytes)."""

    def get_many(self, fmt: str, paths: Sequence[str]) -> dict[str, tuple[datetime, bytes]]: ...

    # the entries in ``fmt`` of articles whose entries are missing, rendered (and kept, if kept)
    def render_many(self, config: Config, articles: dict[str, Article], fmt: str) -> dict[str, bytes]: ...


SHARED = "xml-content"  # the stored part of what an article's RSS and Atom entries hold alike
SHARED_MARK = "<feedsvc:content/>"  # where it goes back: never in an entry (its text escapes every "<")
_MARK = SHARED_MARK.encode()
SHARED_FORMATS = ("rss", "atom")
SHARED_MIN = 256  # shorter content is left in both entries
ITEM = "item"  # an article's <li> in a feed's page for people (``render_items``), kept beside its entries


class StoredEntries:
    """Entries stored in the index for this render fingerprint. One missing (never rendered, or
    for another config, or its article changed) is rendered by the caller, and kept when
    ``keep`` names formats (the export's; a web worker's index is read-only): an article loaded
    for one of them is rendered in all at once, since the export writes it in every format.

    An article's RSS and Atom entries hold its content alike (most of their bytes): it is kept
    once, beside them, and each entry keeps a mark where it goes (a sixth off a 10k index).

    With a ``tree``, the article's item in a feed's page is kept too (``ITEM``): a page lists
    the same articles as its feed, whose entries were just read, so an edit's pages render no
    item but the edited article's (they were two fifths of an edit's export at 8,000 nodes).
    A row kept before items were counts as missing, and is rendered again once."""

    def __init__(self, index: Store, fingerprint: str, keep: tuple[str, ...] = (), tree: Tree | None = None) -> None:
        self.index, self.fingerprint, self.keep = index, fingerprint, keep
        # what items are rendered with when they are kept (each row kept then holds one); else None
        self.item_tree = tree if keep else None
        # the entries of the document last asked for, every format: a document's formats are
        # made one after the other from the same articles, which are read once for all of them
        self._held: dict[str, tuple[datetime, dict[str, bytes]]] = {}

    def get_many(self, fmt: str, paths: Sequence[str]) -> dict[str, tuple[datetime, bytes]]:
        found = {}
        for path, (when, parts) in self._hold(paths).items():
            if (body := parts.get(fmt)) is not None and fmt in SHARED_FORMATS and _MARK in body:
                body = body.replace(_MARK, parts[SHARED], 1) if SHARED in parts else None
            if body is not None:  # else the entry counts as missing: rendered again
                found[path] = when, body
        return found

    def _hold(self, paths: Sequence[str]) -> dict[str, tuple[datetime, dict[str, bytes]]]:
        """These articles' entries: those held already, and the rest read. Only this
        document's are held from then on."""
        held = self._held
        if missing := [path for path in paths if path not in held]:
            held = {path: held[path] for path in paths if path in held}
            found = self.index.entries(missing, self.fingerprint)
            held.update({path: row for path, row in found.items() if ITEM in row[1]} if self.item_tree is not None else found)
            self._held = held
        return {path: held[path] for path in paths if path in held}

    def render_many(self, config: Config, articles: dict[str, Article], fmt: str) -> dict[str, bytes]:
        """These articles' entries in ``fmt`` (see ``render``); their items too, with a tree."""
        items: dict[str, str] = {}
        if (tree := self.item_tree) is not None:
            tree.prefetch(names for article in articles.values() for names in article.categories)
            items = dict(zip(articles, render_items(config, list(articles.values()), tree), strict=True))
        return {path: self.render(config, path, article, fmt, items.get(path)) for path, article in articles.items()}

    def render(self, config: Config, path: str, article: Article, fmt: str, item: str | None = None) -> bytes:
        """The article's entry in ``fmt``. With ``keep``, it is rendered in every format kept and
        stored (and held), with its ``item`` if given: the export writes it in each. Its content
        is escaped once, and the RSS and Atom entries to store are written with the mark where it
        goes (not searched for after)."""
        formats = self.keep if fmt in self.keep else (fmt,)
        content = xml_content(config, article) if set(formats) & set(SHARED_FORMATS) else ""
        shared = content.encode()
        marked = len(shared) >= SHARED_MIN and all(f in formats for f in SHARED_FORMATS)
        stand_in = SHARED_MARK if marked else content
        rendered = {f: entry_bytes(config, article, f, stand_in) for f in formats}
        if self.keep:
            stored = rendered | {SHARED: shared} if marked else rendered
            stored |= {ITEM: item.encode()} if item is not None else {}
            self.index.store_entries(path, self.fingerprint, article.updated, stored)
            self._held[path] = article.updated, stored
        body = rendered[fmt]
        return body.replace(_MARK, shared, 1) if marked and fmt in SHARED_FORMATS else body


def feed_page(index: Store, config: Config, doc: Document, fmt: str, selection: Selection | None = None,
              entries: EntryStore | None = None) -> Page:
    """A feed or one of its archive pages; ``selection``: other articles than the document's own
    (a ``?limit``), or the document's, already selected. ``entries``: entries are taken from
    there when rendered before (the same bytes; an export writes each article into several
    feeds)."""
    selection = selection or select_document(index, doc, config)
    xsl = stylesheet_href(config) if fmt in ("rss", "atom") else None
    if entries is not None:
        body, dates = _spliced(index, config, doc, fmt, selection, entries, xsl)
    else:
        articles = items(index, selection)
        body, dates = render_feed(config, doc, articles, fmt), [a.updated for a in articles]
        body = with_stylesheet(body, xsl) if xsl else body
    # a full archive page never changes; any other document is polled at its feed's own pace
    max_age = ARCHIVE_MAX_AGE if is_full(doc, config) else pace_of(config, dates).max_age
    return Page(body, FORMAT_TYPES[fmt] + "; charset=utf-8", max(dates, default=EPOCH), max_age,
                _link_header(config, doc, fmt))


def _spliced(index: Store, config: Config, doc: Document, fmt: str, selection: Selection,
             entries: EntryStore, xsl: str | None) -> tuple[bytes, list[datetime]]:
    found: dict[str, tuple[datetime, bytes] | None] = {path: None for path in selection.paths}
    found.update(entries.get_many(fmt, selection.paths))
    missing = [path for path, entry in found.items() if entry is None]
    articles = index.articles_by_path(missing)
    for path, rendered in entries.render_many(config, articles, fmt).items():
        found[path] = articles[path].updated, rendered
    ordered = [entry for path in selection.paths if (entry := found[path])]  # none for an article gone since
    dates = [when for when, _ in ordered]
    return render_spliced(config, doc, dates, [rendered for _, rendered in ordered], fmt, xsl), dates


def _link_header(config: Config, doc: Document, fmt: str) -> str:
    """WebSub discovery (the hubs and the topic, as the feed names itself), when there are hubs."""
    if not config.push.hubs:
        return ""
    topic = absolute(config.site.url, document_path(doc, fmt))
    return ", ".join([*(f'<{hub}>; rel="hub"' for hub in config.push.hubs), f'<{topic}>; rel="self"'])


def latest(index: Store) -> Selection:
    return select(index, ALL)


def index_page(index: Store, config: Config, tree: Tree) -> Page:
    """The feeds with their article counts (the top of the category tree), and the latest articles."""
    newest = listed_items(index, latest(index))
    return Page(render_index(config, tree, newest), HTML, feed_updated(newest))


def opml_page(index: Store, config: Config, specs: list[FeedSpec]) -> Page:
    return Page(render_opml(config, specs), "text/x-opml; charset=utf-8", index.newest_update())


def feed_html(index: Store, config: Config, doc: Document, tree: Tree, selection: Selection | None = None,
              entries: EntryStore | None = None) -> Page:
    """A feed document's page for people: the same items as the document, in a page. Each
    item is rendered once per article and kept with the tree (``Tree.items``): an article is
    listed in a page per category level, tag and archive page. ``entries``: items stored
    beside the articles' entries (``ITEM``) are taken from there. Of an article whose item is
    kept, only its date and image are read."""
    paths = (selection or select_document(index, doc, config)).paths
    stored = entries.get_many(ITEM, paths) if entries is not None else {}
    known = {path: Markup(item.decode()) for path, (_, item) in stored.items()}
    known |= {path: item for path in paths if path not in known and (item := tree.items.get(path)) is not None}
    seen = index.dates_and_images(list(known))
    found = index.articles_by_path([path for path in paths if path not in known], bodies=False)
    tree.prefetch(names for article in found.values() for names in article.categories)
    rendered = dict(zip(found, render_items(config, list(found.values()), tree), strict=True))
    tree.keep_items(rendered)
    seen |= {path: (article.updated, article.image) for path, article in found.items()}
    listed = [path for path in paths if path in seen]  # none for an article gone since
    blocks = [known.get(path) or rendered[path] for path in listed]
    og_image = next((image for path in listed if (image := seen[path][1])), "")
    updated = max((seen[path][0] for path in listed), default=EPOCH)
    return Page(render_feed_html(config, doc, og_image, tree, blocks), HTML, updated)


def article_page(config: Config, article: Article, tree: Tree) -> Page:
    return Page(render_article(config, article, tree), HTML, article.updated)
