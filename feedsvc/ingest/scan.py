"""Scan: bring the index up to date with the article directories.

    list the sources            -> what is on disk now, and what could not be seen    [I/O]
    plan(on disk, in index)     -> read / wait / mark missing / forget                [pure]
    read + parse changed files  -> Article or error, on every core when many          [I/O, CPU]
    apply to the index          -> in batches of transactions; the generation moves when a
                                   feed could change

Unchanged files (same size and mtime) are never read. A file rewritten with the same bytes,
or with bytes that give the same article, changes nothing (not even an undated article's
dates). A file that stops parsing keeps its last good article. A missing file is forgotten
only after it stayed missing for the grace period: mirror jobs delete and rewrite the whole
directory, and a scan in the middle of that must not empty the feeds. A kill in the middle of
a long scan keeps every batch committed before it.
"""

from __future__ import annotations

import concurrent.futures  # the package only: its process pool is loaded when one starts
import errno
import hashlib
import logging
import os
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import ExitStack
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import NamedTuple

from feedsvc.config import Config, blog_of
from feedsvc.errors import ArticleError
from feedsvc.feeds.catalog import apply_configured_slugs, article_terms
from feedsvc.ingest.blogs import asset_folder, date_undated
from feedsvc.ingest.pools import process_pool, reuse_freed_memory
from feedsvc.ingest.sources import FileRow, Listing, OnDisk, list_sources, read_beneath, stat_paths
from feedsvc.model import Article
from feedsvc.slugs import auto_slug
from feedsvc.store import Store

log = logging.getLogger("feedsvc.scan")
PARALLEL_THRESHOLD = 64  # below this many files a process pool costs more than it saves
BATCH = 500  # files applied per transaction


@dataclass
class Plan:
    read: list[str] = field(default_factory=list)  # paths
    waiting: int = 0  # changed too recently: settle first
    settles_in: float = 0.0  # seconds until the last of those has settled: then a scan reads them
    missing: list[str] = field(default_factory=list)  # just gone: start the grace period
    returned: list[str] = field(default_factory=list)  # back before the grace period ended
    forget: list[str] = field(default_factory=list)  # gone for longer than the grace period


@dataclass(frozen=True)
class ScanReport:
    seen: int
    read: int
    changed: int
    errors: int
    waiting: int
    removed: int
    seconds: float
    generation: int
    source_problems: int = 0
    folders: dict[str, int] | None = None  # a walk of every file: the folders' mtimes (see folders_moved)
    settles_in: float = 0.0  # when ``waiting``: seconds until the last waiting file has settled


def plan(on_disk: list[FileRow], known: list[FileRow], missing_since: dict[str, float], now: float,
         settle: float, grace: float, blind: Iterable[str] = ()) -> Plan:
    """Decide what a scan does; touches nothing. Files below a ``blind`` folder (one that could
    not be listed) are neither missing nor forgotten."""
    result = Plan()
    listed, indexed = set(on_disk), set(known)
    if listed != indexed:  # the usual scan ends here: nothing new, nothing gone
        # set differences at C speed: only the rows that differ are looked at one by one
        fresh, stale = listed - indexed, indexed - listed  # new or restated files; gone or restated
        for path, _, mtime_ns in fresh:
            if (age := now - mtime_ns / 1e9) < settle:
                result.waiting += 1
                result.settles_in = max(result.settles_in, settle - age)
            else:
                result.read.append(path)
        unseen = tuple(blind)
        for path in {row[0] for row in stale} - {row[0] for row in fresh}:
            if unseen and path.startswith(unseen):
                continue
            if (since := missing_since.get(path)) is None:
                result.missing.append(path)
            elif now - since >= grace:
                result.forget.append(path)
    # read files are stored as present anyway; these came back unchanged, or wait to be read
    result.returned = sorted({path for path, _, _ in listed} & missing_since.keys()) if missing_since else []
    result.read.sort()
    return result


@dataclass(frozen=True)
class Parsed:
    file: OnDisk
    digest: str | None
    article: Article | None = None
    error: str | None = None
    unchanged: bool = False  # same bytes as the version in the index
    vanished: bool = False  # gone between the listing and the read: the next scan sees it


class _Worker:
    """The config a parse worker reads with: set once per process by the pool's initializer
    (sent once, not with every chunk of jobs)."""
    config: Config | None = None


def _init_worker(config: Config) -> None:
    _Worker.config = config


def _init_pool_worker(config: Config) -> None:
    """A parse worker of a large scan: it allocates and frees every article's text and trees."""
    reuse_freed_memory()
    _init_worker(config)


def read_and_parse(job: tuple[OnDisk, str | None]) -> Parsed:
    """Read one file and parse it unless its bytes are the ones already indexed."""
    file, known_digest = job
    config = _Worker.config
    assert config is not None
    if file.problem:
        return Parsed(file, None, error=file.problem)
    limit = int(config.scan.max_file_mb * 2**20)
    try:
        raw = read_beneath(str(config.sources[file.source].path), file.relpath, limit + 1)
    except FileNotFoundError:
        return Parsed(file, None, vanished=True)
    except OSError as e:
        if e.errno in (errno.ELOOP, errno.ENOTDIR):
            return Parsed(file, None, error="a symlink now stands in its path; symlinks are never followed, so it is not read")
        return Parsed(file, None, error=f"cannot read: {e.strerror or e}")
    if len(raw) > limit:
        return Parsed(file, None, error=f"larger than scan.max_file_mb ({config.scan.max_file_mb:g} MB); skipped")
    digest = hashlib.sha1(raw).hexdigest()
    if digest == known_digest:
        return Parsed(file, digest, unchanged=True)
    from feedsvc.parse.articles import parse_article  # markdown, lxml, nh3: loaded only when a file changed

    mtime = datetime.fromtimestamp(file.mtime_ns / 1e9, UTC)
    source = config.sources[file.source]
    try:
        blog = blog_of(source)
        asset = asset_folder(str(source.path), file.relpath) if blog is not None and blog.post_asset_folder else None
        article = parse_article(raw, file.relpath, mtime, config, blog, asset)
        if blog is not None and not article.dated:
            article = date_undated(raw, file.relpath, mtime, config, source.path, blog, asset)
        return Parsed(file, digest, article)
    except ArticleError as e:
        return Parsed(file, digest, error=e.message)
    except Exception as e:  # noqa: BLE001 - one odd file must not stop a scan; it is reported
        return Parsed(file, digest, error=f"cannot parse: {type(e).__name__}: {e}")


def parse_all(jobs: list[tuple[OnDisk, str | None]], config: Config) -> Iterator[Parsed]:
    """Parse in this process for a few files, on every core for many; results in job order."""
    if len(jobs) < PARALLEL_THRESHOLD or (os.cpu_count() or 1) < 2:
        _init_worker(config)
        yield from map(read_and_parse, jobs)
        return
    who = "a worker process parsing articles"
    with process_pool(os.cpu_count() or 2, who, initializer=_init_pool_worker, initargs=(config,)) as pool:
        yield from pool.map(read_and_parse, jobs, chunksize=16)


SLUGS_KEPT = 10_000  # automatic slugs of CJK names remembered across scans (a few hundred KB at most)
_slugs_made: dict[str, str] = {}  # name -> auto_slug(name), which depends on nothing else


class Slugs:
    """Automatic slugs for the names a scan meets for the first time. Pinyin is looked up in a
    helper process started at the first CJK name this process has not seen and stopped with
    ``helpers``: pypinyin's dictionaries take 55 MB, which the scheduler of ``feedsvc serve``
    kept for good after one new category (and a 100,000-article build's scan held a third of
    its peak memory in them)."""

    def __init__(self, helpers: ExitStack) -> None:
        self.helpers = helpers
        self.pool: concurrent.futures.ProcessPoolExecutor | None = None

    def __call__(self, name: str) -> str:
        if name.isascii():  # no pinyin to look up: auto_slug does not load it
            return auto_slug(name)
        if name not in _slugs_made:
            if self.pool is None:
                self.pool = self.helpers.enter_context(process_pool(1, "the process making slugs"))
            if len(_slugs_made) >= SLUGS_KEPT:
                _slugs_made.clear()
            _slugs_made[name] = self.pool.submit(auto_slug, name).result()
        return _slugs_made[name]


def config_fingerprint(config: Config) -> str:
    """What parsed articles depend on: when it changes every file is read again."""
    # site.url: proxied image URLs are absolute URLs of this site
    parts = [repr(config.images), config.site.timezone or "UTC", config.site.url, str(config.feeds.summary_chars),
             repr([blog_of(source) for source in config.sources]), "v6"]
    return hashlib.sha1("\n".join(parts).encode()).hexdigest()


def content_digest(article: Article) -> str:
    """What readers see of an article; an undated article's dates come from its file's time,
    so they are left out: the same text rewritten later is the same article."""
    parts = [article.id, article.relpath, article.title, article.author, repr(article.categories),
             repr(article.tags), article.image, article.summary, article.content, article.link, str(article.draft),
             article.guid]
    if article.dated:
        parts += [article.published.isoformat(), article.updated.isoformat()]
    return hashlib.sha1("\x00".join(parts).encode("utf-8", "surrogatepass")).hexdigest()


def _apply(index: Store, config: Config, parsed: Parsed, touched: set[str], slugs: Callable[[str], str]) -> bool:
    """Store one parse result; True when a feed could show something different."""
    f = parsed.file
    if parsed.vanished:
        return False
    if parsed.unchanged:
        index.touch_file(f.path, f.size, f.mtime_ns)
        return False
    if parsed.article is None:
        index.record_error(f.path, f.relpath, f.size, f.mtime_ns, parsed.error or "cannot be read")
        return False
    article, digest = parsed.article, content_digest(parsed.article)
    index.record_file(f.path, f.relpath, f.size, f.mtime_ns, parsed.digest, None, article.warnings)
    before = index.stored(f.path)
    if before is not None and before.digest == digest:
        return False
    if not article.dated and before is not None:  # an undated article keeps the date it was first seen with
        first = datetime.fromisoformat(before.published)
        article = replace(article, published=first, updated=max(article.updated, first))
    index.store_article(f.path, article, f.mtime_ns, digest, article_terms(index, config, article, slugs), before)
    touched.add(article.id)
    if before is not None:
        touched.add(before.id)
    return True


class _Batches:
    """Applies results in transactions of ``BATCH`` files; each commit that changed something
    moves the generation, so readers see a long cold scan's progress."""

    def __init__(self, index: Store) -> None:
        self.index, self.pending, self.changed, self.total_changed = index, 0, False, 0
        self.touched: set[str] = set()
        index.begin()

    def count(self, changed: bool) -> None:
        self.changed |= changed
        self.total_changed += changed
        self.pending += 1
        if self.pending >= BATCH:
            self.commit()
            self.index.begin()

    def commit(self) -> None:
        self.index.elect(self.touched)
        if self.changed:
            self.index.new_generation(self.touched)
        self.touched.clear()
        self.index.commit()
        self.pending, self.changed = 0, False


def _agrees(decided: Plan, missing_since: dict[str, float], vanished: int) -> bool:
    """After this plan is carried out, the files table holds exactly the walk: nothing waits
    to settle, and no file is gone but still kept for its grace period."""
    pending = missing_since.keys() - set(decided.forget) - set(decided.returned)
    return not (decided.waiting or decided.missing or pending or vanished)


class _Decision(NamedTuple):
    walk: str | None  # the digest of a walk of every file, when this scan made one
    agreed: bool  # the index was left agreeing with that very walk: nothing to compare
    plan: Plan
    missing_since: dict[str, float]


def _decide(index: Store, config: Config, listing: Listing, only: set[str] | None, now: float,
            settle: float) -> _Decision:
    """What to read, mark and forget: the listing compared with the files table."""
    # a walk of every file that is the very walk the index was left agreeing with: nothing to
    # compare (at 100,000 files, reading the index's rows and comparing took 0.4 s)
    walk = listing.digest() if only is None and not listing.problems else None
    if walk is not None and walk == index.agreed_walk():
        return _Decision(walk, True, Plan(), {})
    missing_since: dict[str, float] = {}
    rows = listing.rows
    before = index.agreed_folders() if walk is not None else None
    if before is not None:  # the index held that walk's files: only the folders that differ from it are compared
        folders = listing.folder_digests
        moved = {folder for folder in folders.keys() | before.keys() if folders.get(folder) != before.get(folder)}
        known, rows = index.file_rows_in(moved), listing.rows_in(moved)
    else:
        known, missing_since = index.file_rows()
    if only is not None:
        known = [row for row in known if row[0] in only]
    decided = plan(rows, known, missing_since, now, settle, config.scan.delete_grace, listing.blind)
    return _Decision(walk, False, decided, missing_since)


def _carry_out(index: Store, config: Config, listing: Listing, decision: _Decision, now: float,
               progress: Callable[[int], object] | None) -> tuple[int, int, int]:
    """Read, parse and store what the plan says, in batches; (files read, in error, changed)."""
    decided = decision.plan
    digests = index.file_digests(decided.read)
    jobs = [(f, digests.get(f.path)) for f in listing.on_disk(decided.read)]
    batches = _Batches(index)
    try:
        if not decision.agreed:
            index.drop_agreed_walk()  # committed with the first change: a scan cut short agrees with nothing
        errors = vanished = 0
        with ExitStack() as helpers:
            slugs = Slugs(helpers)
            for parsed in parse_all(jobs, config):
                errors += parsed.error is not None
                vanished += parsed.vanished
                batches.count(_apply(index, config, parsed, batches.touched, slugs))
                if progress:
                    progress(1)
        index.mark_missing(decided.missing, now)
        index.mark_missing(decided.returned, None)
        batches.touched |= index.forget(decided.forget)
        batches.changed |= bool(decided.forget)
        apply_configured_slugs(index, config)  # slugs are given here, never in a web worker
        walk = decision.walk
        if walk is not None and not decision.agreed and _agrees(decided, decision.missing_since, vanished):
            index.set_agreed_walk(walk, listing.folder_digests)
        batches.commit()
    except BaseException:
        index.rollback()
        raise
    return len(jobs), errors, batches.total_changed + len(decided.forget)


def scan(index: Store, config: Config, now: float | None = None, settle: float | None = None,
         progress: Callable[[int], object] | None = None, only: set[str] | None = None) -> ScanReport:
    """One incremental scan; ``now`` and ``settle`` are injectable for tests and ``build``.
    ``only``: the paths the watcher saw change (the rest of the sources is not looked at)."""
    started = time.monotonic()
    now = time.time() if now is None else now
    if index.article_config() != (fingerprint := config_fingerprint(config)):
        index.reread_all(fingerprint)  # committed at once: a killed rescan does not start over
        only = None
    if only is None:
        listing = list_sources(config.sources)
        index.set_source_problems(listing.problems)
    else:
        listing = stat_paths(config.sources, only)
    decision = _decide(index, config, listing, only, now, config.scan.settle if settle is None else settle)
    read, errors, changed = _carry_out(index, config, listing, decision, now, progress)
    index.publish_generation()
    decided = decision.plan
    return ScanReport(len(listing.rows), read, changed, errors,
                      decided.waiting, len(decided.forget), time.monotonic() - started, index.generation,
                      len(listing.problems), listing.folders if only is None else None, decided.settles_in)
