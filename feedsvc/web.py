"""Web: the Flask app that serves every URL of the site, as aggregators poll it all day.

Rendered bytes are cached per URL and checked against the index's generation, so an
unchanged feed is never rendered twice and a request costs one small SQLite read. ETags are
digests of the bytes (the same in every worker and after a restart); gzip is done once per
version. The app only reads the index: scanning belongs to the scheduler.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import os
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from urllib.parse import quote

from flask import Flask, Response, abort, redirect, request
from werkzeug.exceptions import HTTPException
from werkzeug.http import http_date

from . import site
from .config import Config, load_config
from .feeds import FeedSpec, feed_specs, select
from .index import Index

GZIP_MIN_BYTES = 256


@dataclass
class Cached:
    generation: int
    page: site.Page
    etag: str
    gzipped: bytes | None = None


@dataclass
class Cache:
    """Per-process cache of rendered pages, each valid for one index generation."""

    config: Config
    entries: dict[str, Cached] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)
    local: threading.local = field(default_factory=threading.local)
    spec_memo: tuple[int, dict[str, FeedSpec]] | None = None

    def index(self) -> Index:
        """SQLite connections are per thread; each opens once and then stays."""
        if getattr(self.local, "index", None) is None:
            self.local.index = Index.open(self.config.state_dir)
        return self.local.index

    def get(self, key: str, build: Callable[[Index], site.Page | None]) -> Cached | None:
        index = self.index()
        generation = index.generation
        cached = self.entries.get(key)
        if cached and cached.generation == generation:
            return cached
        page = build(index)
        if page is None:
            return None
        etag = hashlib.sha1(page.body).hexdigest()[:20]
        if cached and cached.etag == etag:
            cached.generation = generation  # re-rendered to the same bytes: keep the gzip too
            return cached
        fresh = Cached(generation, page, etag)
        with self.lock:
            self.entries[key] = fresh
        return fresh

    def specs(self) -> dict[str, FeedSpec]:
        """Every feed by URL path without extension, recomputed when the index changes."""
        index = self.index()
        generation = index.generation
        memo = self.spec_memo
        if memo is None or memo[0] != generation:
            memo = self.spec_memo = (generation, {s.base_path: s for s in feed_specs(index, self.config)})
        return memo[1]


def _not_modified(cached: Cached) -> bool:
    """If-None-Match wins over If-Modified-Since when both are sent (RFC 9110 13.2.2)."""
    if request.if_none_match:
        tags = request.if_none_match
        return tags.star_tag or any(tags.contains_weak(t) for t in (cached.etag, cached.etag + "-gzip"))
    since = request.if_modified_since
    return since is not None and int(cached.page.last_modified.timestamp()) <= since.timestamp()


FEED_TYPES = ["application/atom+xml", "application/rss+xml", "application/feed+json", "application/xml", "text/xml"]


def wants_html() -> bool:
    """A browser (text/html first, no feed type preferred), not a feed reader."""
    best = request.accept_mimetypes.best_match([*FEED_TYPES, "text/html"])
    return best == "text/html"


def respond(cached: Cached, max_age: int, vary: str = "Accept-Encoding") -> Response:
    headers = {"Cache-Control": f"public, max-age={max_age}", "Vary": vary,
               "Last-Modified": http_date(cached.page.last_modified)}
    use_gzip = len(cached.page.body) >= GZIP_MIN_BYTES and request.accept_encodings["gzip"] > 0
    headers["ETag"] = f'"{cached.etag}-gzip"' if use_gzip else f'"{cached.etag}"'
    if _not_modified(cached):
        return Response(status=304, headers=headers)
    body = cached.page.body
    if use_gzip:
        if cached.gzipped is None:
            cached.gzipped = gzip.compress(body, compresslevel=6, mtime=0)
        body, headers["Content-Encoding"] = cached.gzipped, "gzip"
    return Response(body, headers=headers, content_type=cached.page.content_type)


def _limit(spec: FeedSpec) -> int | None:
    value = request.args.get("limit")
    if value is None:
        return None
    if not value.isdigit() or int(value) < 1:
        abort(400, "limit must be a positive whole number")
    return min(int(value), spec.limit)


def create_app(config: Config) -> Flask:
    """The app factory: starts nothing, opens nothing until the first request."""
    app = Flask("feedsvc")
    cache = Cache(config)
    app.extensions["feedsvc"] = cache
    max_age = config.feeds.cache_seconds

    def serve_feed(spec: FeedSpec | None, fmt: str) -> Response:
        if spec is None or fmt not in config.feeds.formats:
            abort(404, "no such feed")
        limit = _limit(spec)
        key = f"{spec.path(fmt)}?{limit}"
        cached = cache.get(key, lambda index: site.feed_page(index, config, spec, fmt, select(index, spec, limit)))
        assert cached is not None
        if fmt == "json":
            return respond(cached, max_age)
        if wants_html():
            feed_page = cached.page
            cached = cache.get(key + "#html", lambda index: site.feed_as_html(feed_page))
            assert cached is not None
        return respond(cached, max_age, vary="Accept, Accept-Encoding")

    @app.get("/")
    def index_page() -> Response:
        def build(index: Index) -> site.Page:
            listings, _ = site.listings(index, list(cache.specs().values()))
            return site.index_page(index, config, listings)
        return respond(cache.get("/", build), max_age)  # type: ignore[arg-type]

    @app.get("/feeds/<slug>.<fmt>")
    def feed(slug: str, fmt: str) -> Response:
        spec = cache.specs().get(f"/feeds/{slug}")
        return serve_feed(spec, fmt)

    @app.get("/categories/<path:name>")
    def category(name: str) -> Response:
        stem, _, fmt = name.rpartition(".")
        specs = cache.specs()
        spec = specs.get(f"/categories/{stem}")
        if spec is None and stem:
            by_name = next((s for s in specs.values() if s.category == stem), None)
            if by_name is not None and fmt in config.feeds.formats:
                return redirect(by_name.path(fmt) + (f"?{request.query_string.decode()}" if request.query_string else ""), 301)
        return serve_feed(spec, fmt)

    @app.get("/articles/<article_id>")
    def article(article_id: str) -> Response:
        def build(index: Index) -> site.Page | None:
            found = index.article(article_id)
            return site.article_page(config, found) if found else None
        cached = cache.get(f"/articles/{quote(article_id)}", build)
        if cached is None:
            abort(404, "no such article")
        return respond(cached, max_age)

    @app.get("/opml.xml")
    def opml() -> Response:
        cached = cache.get("/opml.xml", lambda index: site.opml_page(index, config, list(cache.specs().values())))
        return respond(cached, max_age)  # type: ignore[arg-type]

    @app.get(site.XSL_PATH)
    def stylesheet() -> Response:
        page = site.Page(site.stylesheet(), "text/xsl; charset=utf-8", site.EPOCH)
        return respond(Cached(0, page, hashlib.sha1(page.body).hexdigest()[:20]), 86400)

    @app.get("/healthz")
    def healthz() -> Response:
        return health(cache.index(), config)

    @app.errorhandler(HTTPException)
    def plain_error(error: HTTPException) -> Response:
        message = error.description if error.description and len(error.description) < 80 else error.name.lower()
        return Response(f"{error.code} {message}\n", status=error.code, content_type="text/plain; charset=utf-8")

    return app


def health(index: Index, config: Config) -> Response:
    """503 until the first scan; then counts, the last scan and the files in error."""
    last = index.get_meta("last_scan")
    if not last:
        body, status = {"status": "starting", "detail": "no scan has finished yet"}, 503
    else:
        problems = index.problems()
        body, status = {
            "status": "ok",
            "articles": index.count_live(),
            "feeds": len(feed_specs(index, config)) * len(config.feeds.formats),
            "last_scan": json.loads(last),
            "files_in_error": sorted({p.path for p in problems if p.fatal}),
        }, 200
    return Response(json.dumps(body, ensure_ascii=False, indent=2) + "\n", status=status,
                    content_type="application/json; charset=utf-8", headers={"Cache-Control": "no-store"})


def app_from_env() -> Flask:
    """Entry point for WSGI servers: the config from ``FEEDSVC_CONFIG`` (or the default path)."""
    return create_app(load_config(os.environ.get("FEEDSVC_CONFIG")))
