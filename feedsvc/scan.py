"""Scan: bring the index up to date with the article directories.

    walk the sources            -> what is on disk now (path, size, mtime)     [I/O]
    plan(on disk, in index)     -> read / wait / mark missing / forget         [pure]
    read + parse changed files  -> Article or error, on every core when many   [I/O, CPU]
    apply to the index          -> one transaction; bump the generation if a feed could change

Unchanged files (same size and mtime) are never read. A file rewritten with the same bytes
changes nothing. A file that stops parsing keeps its last good article. A missing file is
forgotten only after it stayed missing for the grace period: mirror jobs delete and rewrite
the whole directory, and a scan in the middle of that must not empty the feeds.
"""

from __future__ import annotations

import hashlib
import multiprocessing
import os
import re
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from .config import Config, Source
from .errors import ArticleError
from .feeds import apply_configured_slugs, article_terms
from .index import Index, KnownFile, generation_file
from .model import Article

PARALLEL_THRESHOLD = 64  # below this many files a process pool costs more than it saves


@dataclass(frozen=True)
class OnDisk:
    path: str
    relpath: str
    size: int
    mtime_ns: int


@dataclass
class Plan:
    read: list[OnDisk] = field(default_factory=list)
    waiting: int = 0  # changed too recently: settle first
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


def glob_regex(pattern: str) -> re.Pattern[str]:
    """A path glob with ``**``, ``*``, ``?`` and ``{a,b}`` alternatives, as one regex."""
    out, i = "", 0
    while i < len(pattern):
        if pattern.startswith("**/", i):
            out, i = out + "(?:.*/)?", i + 3
        elif pattern.startswith("**", i):
            out, i = out + ".*", i + 2
        elif pattern[i] == "*":
            out, i = out + "[^/]*", i + 1
        elif pattern[i] == "?":
            out, i = out + "[^/]", i + 1
        elif pattern[i] == "{" and "}" in pattern[i:]:
            end = pattern.index("}", i)
            out += "(?:" + "|".join(re.escape(a) for a in pattern[i + 1 : end].split(",")) + ")"
            i = end + 1
        else:
            out, i = out + re.escape(pattern[i]), i + 1
    return re.compile(out + r"\Z", re.IGNORECASE)


def walk(source: Source) -> Iterator[OnDisk]:
    """Every matching regular file below a source (no symlinks, no hidden files or folders)."""
    matcher = glob_regex(source.glob)
    stack = [(str(source.path), "")]
    while stack:
        folder, prefix = stack.pop()
        try:
            entries = sorted(os.scandir(folder), key=lambda e: e.name)
        except OSError:
            continue  # removed while we walk: the next scan sees it gone
        for entry in entries:
            if entry.name.startswith("."):
                continue
            relpath = prefix + entry.name
            try:
                if entry.is_dir(follow_symlinks=False):
                    stack.append((entry.path, relpath + "/"))
                elif entry.is_file(follow_symlinks=False) and matcher.match(relpath):
                    st = entry.stat(follow_symlinks=False)
                    yield OnDisk(entry.path, relpath, st.st_size, st.st_mtime_ns)
            except OSError:
                continue


def plan(on_disk: Iterable[OnDisk], known: dict[str, KnownFile], now: float, settle: float, grace: float) -> Plan:
    """Decide what a scan does; touches nothing."""
    result = Plan()
    present = set()
    for f in on_disk:
        present.add(f.path)
        old = known.get(f.path)
        if old and (old.size, old.mtime_ns) == (f.size, f.mtime_ns):
            if old.missing_since is not None:
                result.returned.append(f.path)
        elif now - f.mtime_ns / 1e9 < settle:
            result.waiting += 1
            if old and old.missing_since is not None:
                result.returned.append(f.path)
        else:
            result.read.append(f)
    for path, old in known.items():
        if path in present:
            continue
        if old.missing_since is None:
            result.missing.append(path)
        elif now - old.missing_since >= grace:
            result.forget.append(path)
    return result


@dataclass(frozen=True)
class Parsed:
    file: OnDisk
    digest: str | None
    article: Article | None = None
    error: str | None = None
    unchanged: bool = False  # same bytes as the version in the index


_worker_config: Config | None = None


def _init_worker(config: Config) -> None:
    global _worker_config
    _worker_config = config


def read_and_parse(job: tuple[OnDisk, str | None]) -> Parsed:
    """Read one file and parse it unless its bytes are the ones already indexed."""
    file, known_digest = job
    assert _worker_config is not None
    try:
        raw = Path(file.path).read_bytes()
    except OSError as e:
        return Parsed(file, None, error=f"cannot read: {e.strerror or e}")
    digest = hashlib.sha1(raw).hexdigest()
    if digest == known_digest:
        return Parsed(file, digest, unchanged=True)
    from .articles import parse_article  # markdown, lxml, nh3: loaded only when a file changed

    mtime = datetime.fromtimestamp(file.mtime_ns / 1e9, UTC)
    try:
        return Parsed(file, digest, parse_article(raw, file.relpath, mtime, _worker_config))
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
    context = multiprocessing.get_context("spawn")  # safe beside the web server's threads
    with context.Pool(os.cpu_count(), initializer=_init_worker, initargs=(config,)) as pool:
        yield from pool.imap(read_and_parse, jobs, chunksize=16)


def config_fingerprint(config: Config) -> str:
    """What parsed articles depend on: when it changes every file is read again."""
    # site.url: proxied image URLs are absolute URLs of this site
    parts = [repr(config.images), config.site.timezone, config.site.url, str(config.feeds.summary_chars), "v2"]
    return hashlib.sha1("\n".join(parts).encode()).hexdigest()


def _keep_first_date(index: Index, parsed: Parsed) -> Article:
    """An article with no date of its own keeps the time it was first seen, not its new mtime."""
    article = parsed.article
    assert article is not None
    if article.dated:
        return article
    first = index.stored_published(parsed.file.path)
    if first is None:
        return article
    return Article(**{**article.__dict__, "published": first, "updated": max(article.updated, first)})


def _apply(index: Index, config: Config, parsed: Parsed, touched: set[str]) -> bool:
    """Store one parse result; True when a feed could show something different."""
    f = parsed.file
    if parsed.unchanged:
        index.touch_file(f.path, f.size, f.mtime_ns)
        return False
    if parsed.article is None:
        index.record_file(f.path, f.relpath, f.size, f.mtime_ns, parsed.digest, parsed.error, [])
        return False
    article = _keep_first_date(index, parsed)
    index.record_file(f.path, f.relpath, f.size, f.mtime_ns, parsed.digest, None, article.warnings)
    before = index.article_digest(f.path)
    content_digest = hashlib.sha1(repr(article.__dict__ | {"warnings": ()}).encode()).hexdigest()
    index.store_article(f.path, article, f.mtime_ns, content_digest, article_terms(index, config, article))
    touched.add(article.id)
    if before:
        touched.add(before[0])
    return before is None or before[1] != content_digest


def scan(index: Index, config: Config, now: float | None = None, settle: float | None = None,
         progress: Callable[[int], None] | None = None) -> ScanReport:
    """One incremental scan; ``now`` and ``settle`` are injectable for tests and ``build``."""
    started = time.monotonic()
    now = time.time() if now is None else now
    on_disk = [f for source in config.sources for f in walk(source)]
    fingerprint = config_fingerprint(config)
    known = index.known_files()
    if index.get_meta("config") != fingerprint:
        known = {p: KnownFile(-1, -1, None, k.missing_since) for p, k in known.items()}
    decided = plan(on_disk, known, now, config.scan.settle if settle is None else settle, config.scan.delete_grace)
    jobs = [(f, known[f.path].digest if f.path in known else None) for f in decided.read]
    index.db.execute("BEGIN IMMEDIATE")
    try:
        changed, errors, touched = 0, 0, set[str]()
        for parsed in parse_all(jobs, config):
            errors += parsed.error is not None
            changed += _apply(index, config, parsed, touched)
            if progress:
                progress(1)
        index.mark_missing(decided.missing, now)
        index.mark_missing(decided.returned, None)
        touched |= index.forget(decided.forget)
        index.elect(touched)
        apply_configured_slugs(index, config)  # slugs are given here, never in a web worker
        changed += len(decided.forget)
        generation = index.generation + (1 if changed else 0)
        index.set_meta("generation", str(generation))
        index.set_meta("config", fingerprint)
        index.db.execute("COMMIT")
    except BaseException:
        index.db.execute("ROLLBACK")
        raise
    if changed or not generation_file(index.state_dir).exists():
        index.publish_generation()
    return ScanReport(len(on_disk), len(jobs), changed, errors, decided.waiting, len(decided.forget),
                      time.monotonic() - started, generation)
