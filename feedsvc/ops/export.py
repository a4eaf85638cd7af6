"""Export: every URL of the service written as a file, for nginx or a CDN.

Each output has a signature (what it was rendered from); an output whose signature matches the
last export and whose file is still there is not rendered again, so a rebuild costs a stat per
file. Writes are atomic (temporary file, then rename) and a file whose bytes would not change
is left untouched, so its mtime, and the ETag nginx derives from it, stay put.
"""

from __future__ import annotations

import json
import os
import zlib
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass
from itertools import chain, islice
from pathlib import Path
from typing import Any, NamedTuple

from feedsvc.config import Config
from feedsvc.feeds.catalog import (
    digest,
    document_signature,
    feed_specs,
    render_fingerprint,
    select_document,
    select_documents,
    top_feeds,
    unchanged_pages,
)
from feedsvc.feeds.tree import FeedTree, StoredTree, Tree, spec_line
from feedsvc.ingest.pools import process_pool, reuse_freed_memory
from feedsvc.model import Document, FeedSpec, Selection
from feedsvc.ops.writer import FAST_GZIP_LEVEL, GZIP_LEVEL, Writer, remove
from feedsvc.store import Changes, Store
from feedsvc.urls import (
    INDEX_PATH,
    OPML_PATH,
    STYLE_PATH,
    XSL_PATH,
    archive_folder,
    article_export_dir,
    article_path,
    document_path,
    export_file,
    feed_base,
    feed_path,
    page_path,
)

ARTICLE_BATCH = 200  # whole articles held in memory at once
PAGE_SHARES = 64  # the article pages of a full export, in shares taken by the two processes writing them
PAGES_APART = 500  # articles past which a second process writes their pages in a full export (it costs 0.5 s of CPU to start)
DOCUMENTS_PER_COMMIT = 100  # the write-ahead log is folded back after each commit: one commit would grow it to gigabytes
MANY_CHANGES = 100  # articles changed since the last export: past this, big buffers are kept (ctypes costs 20 ms)


@dataclass(frozen=True)
class ExportReport:
    written: int
    unchanged: int
    removed: int



PAGE = "html"  # a feed document's page for people, written beside its formats


def _feeds(w: Writer, index: Store, config: Config, specs: Iterable[FeedSpec], base: str, since: str | None,
           tree: Tree, store: bool = True) -> None:
    """Every document of these feeds, rendered where its signature moved. ``since``: the oldest
    date a change since the last export touched (None: unknown); the archive pages older than
    it are kept without a look. ``store``: entries rendered here are stored for the next
    documents and exports (the second process of a full export reads the index only)."""
    from feedsvc.render import site  # rendering (jinja2, lxml) is loaded only when something is written

    # each article is in several documents: its entries are rendered once and spliced in
    entries = site.StoredEntries(index, base, keep=config.feeds.formats if store else (), tree=tree)
    stale = _stale_documents(w, index, config, specs, base, since, tree)
    # taken a batch at a time, so that only one feed's selections are held (all of them at once
    # were tens of megabytes at 100,000 articles: every feed's article paths)
    while batch := list(islice(stale, DOCUMENTS_PER_COMMIT)):
        # the entries rendered for these documents, stored in one transaction
        with index.transaction() if store else nullcontext():
            for relpath, signature, doc, fmt, sel in batch:
                page = site.feed_html(index, config, doc, tree, sel, entries) if fmt == PAGE else \
                    site.feed_page(index, config, doc, fmt, sel, entries)
                w.put(relpath, signature, page.body, FAST_GZIP_LEVEL if doc.is_archive else GZIP_LEVEL)


def _stale_documents(w: Writer, index: Store, config: Config, specs: Iterable[FeedSpec], base: str,
                     since: str | None, tree: Tree) -> Iterator[tuple[str, str, Document, str, Selection]]:
    """(file, signature, document, format, its articles) of each file to render; the others are
    kept, and entered in the writer's manifest as they are met."""
    formats = config.feeds.formats
    for spec in specs:
        keep = unchanged_pages(index, spec, config, since, _pages_written(w, spec, formats[0], config)) if since else 0
        for doc, sel in select_documents(index, spec, config, keep):
            relpaths = [_document_file(doc, fmt, config) for fmt in [*formats, PAGE]]
            if sel is None:
                if w.carry(relpaths):
                    continue
                sel = select_document(index, doc, config)  # a file the manifest lacks: looked at after all
            signature = document_signature(base, doc, sel)
            # the feed's own page also shows its count and its children's; an archive page only
            # whether it is the newest (its "newer" link leads to the feed until a page follows it)
            page_signature = digest(signature, *((spec_line(spec), tree.listed(spec)) if not doc.is_archive
                                                 else (str(doc.page == doc.pages),)))
            for fmt, relpath in zip([*formats, PAGE], relpaths, strict=True):
                if not w.fresh(relpath, page_signature if fmt == PAGE else signature):
                    yield relpath, page_signature if fmt == PAGE else signature, doc, fmt, sel


def _document_file(doc: Document, fmt: str, config: Config) -> str:
    """The file of a feed document in a format, or of its page for people (``PAGE``): an
    archive page's is only its ``.gz`` unless ``export.plain_archives`` (they are most of an
    export's bytes, and seldom fetched)."""
    relpath = export_file(page_path(doc) if fmt == PAGE else document_path(doc, fmt))
    return relpath + ".gz" if doc.is_archive and not config.export.plain_archives else relpath


def _pages_written(w: Writer, spec: FeedSpec, fmt: str, config: Config) -> int:
    """How many archive pages of a feed the last export wrote (they are numbered from 1)."""
    pages = 0
    while _document_file(Document(spec, pages + 1), fmt, config) in w.old:
        pages += 1
    return pages


def _index_page(w: Writer, index: Store, config: Config, tree: Tree, base: str) -> None:
    from feedsvc.render import (
        pages,
        site,  # rendering (jinja2, lxml) is loaded only when something is written
    )

    # the OPML lists every feed by name and URL, no count: it changes with the set of terms
    files: tuple[tuple[str, Callable[[], str], Callable[[], bytes]], ...] = (
        (INDEX_PATH, lambda: digest(base, site.latest(index).signature, pages.index_signature(tree)),
         lambda: site.index_page(index, config, tree).body),
        (OPML_PATH, lambda: digest(base, index.live_terms_digest()),
         lambda: site.opml_page(index, config, feed_specs(index, config)).body),
        (XSL_PATH, lambda: digest(base, site.stylesheet().decode()), site.stylesheet),
        (STYLE_PATH, lambda: digest(base, pages.style().decode()), pages.style))
    for path, sign, render in files:
        if not w.fresh(export_file(path), signature := sign()):
            w.put(export_file(path), signature, render())


Stale = list[tuple[str, str, str]]  # (article file path, exported page, signature)


def _page_row(base: str, article_id: str, content: str) -> tuple[str, str]:
    """An article page's manifest row: (exported page, signature)."""
    return export_file(article_path(article_id)), digest(base, content)


def _stale_article_pages(w: Writer, index: Store, base: str, changed_ids: set[str] | None) -> Stale:
    """The article pages to render. ``changed_ids``: the articles changed since the last
    export (None: look at every one); the other pages are kept as they are."""
    return _stale_of(w, index.live_signatures(changed_ids), base, _present_pages(w))


def _present_pages(w: Writer) -> set[str] | None:
    """A trusted export knows which pages are there (None); else one listing, not a stat each."""
    if w.trusted:
        return None
    try:
        return {f"{article_export_dir()}/{name}" for name in os.listdir(w.out / article_export_dir())}
    except FileNotFoundError:
        return set()


def _stale_of(w: Writer, rows: Iterable[tuple[str, str, str]], base: str, present: set[str] | None) -> Stale:
    stale: Stale = []
    for path, article_id, content in rows:
        relpath, signature = _page_row(base, article_id, content)
        if not w.fresh(relpath, signature, present):
            stale.append((path, relpath, signature))
    return stale


def _article_pages(w: Writer, index: Store, config: Config, stale: Stale, tree: Tree) -> None:
    from feedsvc.render import site  # rendering (jinja2, lxml) is loaded only when something is written

    for start in range(0, len(stale), ARTICLE_BATCH):
        batch = {path: (relpath, signature) for path, relpath, signature in stale[start : start + ARTICLE_BATCH]}
        for path, article in index.articles_by_path(list(batch)).items():
            w.put(*batch[path], site.article_page(config, article, tree).body, FAST_GZIP_LEVEL)


class _Shares:
    """Work of a full export in numbered shares, each taken once by whichever of its two
    processes is free. The article pages come in ``PAGE_SHARES`` shares (by path): the second
    process starts on them at once, the first when no feed is left to take. The feeds are a
    share each, in the first process's order: it starts on them at once (``all`` first, whose
    archive pages render and store every article's entries), the second when no page share is
    left. With feeds of summaries and no archive pages, the feeds took a fifth of the pages'
    time and the first process then sat idle; with the defaults, the second one did."""

    def __init__(self, taken: Any, limit: int = PAGE_SHARES) -> None:
        self.taken = taken  # a multiprocessing Value: how many shares were taken
        self.limit = limit

    def take(self) -> int | None:
        with self.taken.get_lock():
            share: int = self.taken.value
            if share >= self.limit:
                return None
            self.taken.value = share + 1
        return share

    def taken_from(self, items: list[FeedSpec]) -> Iterator[FeedSpec]:
        """The items of each share taken, as they are taken (one share per item)."""
        while (share := self.take()) is not None:
            yield items[share]


Apart = tuple[int, int, list[tuple[str, str]]]  # what the second process wrote and found, and its feeds' manifest rows


class _Split(NamedTuple):
    pages: _Shares
    feeds: _Shares
    feeds_key: str  # the feeds' list, as the first process has it: the second takes its shares only from the same list


class _InSecond:
    split: _Split | None = None  # the shares, in the second process: set as it starts


class _Second(NamedTuple):  # the second process, as the first sees it
    done: Future[Apart]
    split: _Split


def _keep_split(split: _Split) -> None:
    _InSecond.split = split


def _feeds_key(specs: list[FeedSpec]) -> str:
    return digest(*map(feed_base, specs))


def _shared_pages(w: Writer, index: Store, config: Config, base: str, tree: Tree, shares: _Shares) -> None:
    """The article pages of each share this process takes, until none is left. Only the
    shares not taken yet are read (at 100,000 articles, all of them held 30 MB)."""
    if (first := shares.taken.value) >= PAGE_SHARES:
        return  # the other process took them all: nothing to read
    by_share: list[list[tuple[str, str, str]]] = [[] for _ in range(PAGE_SHARES)]
    for row in index.live_signatures():
        if (number := zlib.crc32(row[0].encode("utf-8", "surrogatepass")) % PAGE_SHARES) >= first:
            by_share[number].append(row)
    present = _present_pages(w)
    while (share := shares.take()) is not None:
        _article_pages(w, index, config, _stale_of(w, by_share[share], base, present), tree)


def _second_process(config: Config, out: Path, key: str, base: str, trusted: bool) -> Apart:
    """In a process of its own, while the first one writes the feeds: the article pages, a
    share at a time (alone, the export kept one core of two busy), then the feeds the first
    has not taken. It writes each file as it renders it: a thread of its own for the writes,
    as the first process has, took a fifth more CPU time here. Its index is read-only: an
    entry not stored yet is rendered here and not kept."""
    split = _InSecond.split
    assert split is not None
    index = Store.open(config.state_dir, readonly=True)
    manifest = index.export_manifest(key)
    pages, feeds = (Writer(out, manifest, lambda n: None, trusted, background=False) for _ in range(2))
    try:
        specs = feed_specs(index, config)
        tree = FeedTree(specs)  # made here: a tree is no light thing to send to a process
        _shared_pages(pages, index, config, base, tree, split.pages)
        if _feeds_key(specs) == split.feeds_key:  # always, as nothing moves the index under an export
            _feeds(feeds, index, config, split.feeds.taken_from(specs), base, None, tree, store=False)
    finally:
        pages.finish()
        feeds.finish()
        index.close()
    return pages.written + feeds.written, pages.unchanged + feeds.unchanged, list(feeds.new.items())


def _article_manifest(index: Store, base: str) -> Iterator[tuple[str, str]]:
    """The manifest rows of every live article's page: those the second process wrote or
    found, signed here as it signed them (handing them back through a pipe held a second
    copy of them all in memory, past the 100k build's budget)."""
    for _, article_id, content in index.live_signatures():
        yield _page_row(base, article_id, content)


@contextmanager
def _apart(config: Config, out: Path, key: str, base: str, trusted: bool,
           specs: list[FeedSpec]) -> Iterator[_Second]:
    """A second process writing article pages and feeds while this block runs, and the
    shares of both (this process takes feeds from the first, pages once no feed is left)."""
    import multiprocessing

    context = multiprocessing.get_context("spawn")
    # sent as the process starts: its counters are shared memory, handed over only then
    split = _Split(_Shares(context.Value("i", 0)), _Shares(context.Value("i", 0), len(specs)), _feeds_key(specs))
    with process_pool(1, "the process writing article pages and feeds", initializer=_keep_split,
                      initargs=(split,)) as pool:
        yield _Second(pool.submit(_second_process, config, out, key, base, trusted), split)


def _with_pages_apart(w: Writer, index: Store, config: Config, base: str, tree: Tree, second: _Second) -> None:
    """The shares of article pages the second process left, then what it wrote, into ``w``."""
    mine = Writer(w.out, w.old, w.tick, w.trusted, background=False)  # written as rendered, as the second process does
    _shared_pages(mine, index, config, base, tree, second.split.pages)
    mine.finish()
    w.merge(mine.written, mine.unchanged, mine.new.items())
    written, unchanged, feed_rows = second.done.result()
    w.merge(written, unchanged, chain(_article_manifest(index, base), feed_rows))


def _folder_times(out: Path, folders: Iterable[str]) -> dict[str, int]:
    """mtime of each folder of the export: it moves whenever a file in it is added, removed or
    replaced, so equal times mean every file written is still there as written."""
    times, top = {}, os.path.join(out, "")
    for folder in folders:
        try:
            times[folder] = os.stat(top + folder).st_mtime_ns
        except OSError:
            times[folder] = -1
    return times


def _last_export(index: Store, out: Path, key: str) -> dict[str, Any]:
    """What the last export into ``out`` was made from, if no file of it was touched since
    (every folder's mtime is as it left it); else an empty dict."""
    last = index.export_state(key)
    # (a state saved before the file count was kept is as good as none: the export looks at every file once)
    return last if "files" in last and _folder_times(out, last["folders"]) == last["folders"] else {}


def export(index: Store, config: Config, out: Path, tick: Callable[[int], object] = lambda n: None) -> ExportReport:
    """Write (or refresh) the whole static site in ``out``; removes what is no longer published.

    When the index has not moved since the last export into ``out`` (same generation, same
    render fingerprint) and its files are all there, nothing is selected or rendered. After a
    few changes, only the files they can touch are looked at, and only their manifest rows read."""
    out.mkdir(parents=True, exist_ok=True)
    key = str(out.resolve())
    base = render_fingerprint(config)
    # which files hold the bytes (export.plain_archives) is the export's own business: an export
    # made otherwise is looked at again, but entries and signatures stay those of the bytes
    made_as = digest(base, repr(config.export))
    generation = index.generation
    last = _last_export(index, out, key)
    if last.get("base") == made_as and last.get("generation") == generation:
        return ExportReport(0, last["files"], 0)
    changes = index.changes_since(last["generation"]) if last.get("base") == made_as else None
    changed_ids = changes.ids if changes is not None else None
    if changed_ids is None or len(changed_ids) > MANY_CHANGES:
        reuse_freed_memory()
    tree: Tree
    if changes is None:
        looked_at = feed_specs(index, config)
        tree, w = FeedTree(looked_at), Writer(out, index.export_manifest(key), tick, trusted=bool(last))
    else:  # all and the channels are always looked at: their queries can take in any article
        stored = StoredTree(index, config, top_feeds(index, config))
        tree, looked_at = stored, stored.feeds + stored.specs_of(changes.terms)
        w = Writer(out, _touched_rows(index, config, key, looked_at, changes), tick, trusted=True)
    try:
        apart = changed_ids is None and (os.cpu_count() or 1) > 1 and index.count_live() >= PAGES_APART
        with _apart(config, out, key, base, w.trusted, looked_at) if apart else nullcontext() as second:
            feeds = looked_at if second is None else second.split.feeds.taken_from(looked_at)
            _feeds(w, index, config, feeds, base, changes.oldest if changes is not None else None, tree)
            _index_page(w, index, config, tree, base)
            if second is None:
                _article_pages(w, index, config, _stale_article_pages(w, index, base, changed_ids), tree)
            else:
                _with_pages_apart(w, index, config, base, tree, second)
    finally:
        w.finish()
    removed = remove(out, w.old.keys() - w.new.keys(), w.new.keys())
    untouched = last["files"] - len(w.old) if changes is not None else 0  # rows nobody looked at: as they were
    folders = {relpath.rpartition("/")[0] for relpath in w.new} | {""} | set(last["folders"] if changes is not None else ())
    state = {"generation": generation, "base": made_as, "files": untouched + len(w.new),
             "folders": _folder_times(out, sorted(folders))}
    index.save_export_manifest(key, w.old, w.new, json.dumps(state))
    return ExportReport(w.written, w.unchanged + untouched, removed)


def _touched_rows(index: Store, config: Config, key: str, specs: list[FeedSpec], changes: Changes) -> dict[str, str]:
    """The manifest rows a few changes can touch: every document of the feeds looked at and of
    those that lost their last article, the changed articles' pages, the index page, the OPML
    and the stylesheet."""
    changed_ids, changed_terms = changes.ids, changes.terms
    emptied = changed_terms - {spec.term for spec in specs}
    feeds = specs + [FeedSpec(kind, slugs, "", "", 0, term=term)  # only where its files were
                     for term, (kind, slugs) in index.term_slugs(emptied).items()]
    paths = [export_file(feed_path(spec, fmt)) for spec in feeds for fmt in config.feeds.formats]
    paths += [export_file(feed_base(spec)) for spec in feeds]  # their pages for people
    paths += [export_file(path) for path in (INDEX_PATH, OPML_PATH, XSL_PATH, STYLE_PATH)]
    paths += [export_file(article_path(article_id)) for article_id in changed_ids]
    return index.export_rows(key, paths, [export_file(archive_folder(spec)) for spec in feeds])
