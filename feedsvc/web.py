"""Web: the Flask app that serves every URL of the site, as aggregators poll it all day.

Rendered bytes are cached per URL and checked against the index's generation, so an
unchanged feed is never rendered twice. The scanner also writes the generation to a file, so
checking it costs a stat, not a query; a cached feed is answered by a small WSGI fast path
before Flask's routing. The app only reads the index: scanning belongs to the scheduler.
"""

from __future__ import annotations

import json
import os
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from urllib.parse import quote

from flask import Flask, Response, abort, redirect, request, send_file
from werkzeug.exceptions import HTTPException

from . import site
from .config import Config, load_config
from .feeds import FeedSpec, feed_specs, select
from .http import Cached, etag_of, respond, status_line, wants_html
from .imagefetch import FetchError, Limits
from .imageproxy import FAILURE_SECONDS, ImageCache, verify
from .index import Index, generation_file

MAX_ENTRIES = 2048
IMAGE_MAX_AGE = 30 * 86400  # a signed URL always names the same image


@dataclass
class Cache:
    """Per-process cache of rendered pages, each valid for one index generation; the least
    recently used go past ``MAX_ENTRIES`` (article pages of a large mirror would not all fit)."""

    config: Config
    entries: OrderedDict[str, Cached] = field(default_factory=OrderedDict)
    lock: threading.Lock = field(default_factory=threading.Lock)
    local: threading.local = field(default_factory=threading.local)
    spec_memo: tuple[int, dict[str, FeedSpec]] | None = None
    token: tuple[int, int] | None = None
    token_generation: int = -1

    def index(self) -> Index:
        """SQLite connections are per thread; each opens once and then stays."""
        if getattr(self.local, "index", None) is None:
            self.local.index = Index.open(self.config.state_dir)
        return self.local.index

    def generation(self) -> int:
        """The index generation; a stat of the generation file tells whether it moved."""
        try:
            st = os.stat(generation_file(self.config.state_dir))
            token = (st.st_ino, st.st_mtime_ns)
        except FileNotFoundError:
            return self.index().generation
        if token != self.token:
            self.token_generation, self.token = self.index().generation, token
        return self.token_generation

    def peek(self, key: str) -> Cached | None:
        """The cached page if it is still current, else None."""
        cached = self.entries.get(key)
        if cached is None or cached.generation != self.generation():
            return None
        with self.lock:
            if key in self.entries:
                self.entries.move_to_end(key)
        return cached

    def get(self, key: str, build: Callable[[Index], site.Page | None], vary: str = "Accept-Encoding") -> Cached | None:
        """The current page for ``key``, rendered by ``build`` only when the index moved."""
        if found := self.peek(key):
            return found
        generation = self.generation()
        cached = self.entries.get(key)
        page = build(self.index())
        if page is None:
            return None
        etag = etag_of(page.body)
        if cached and cached.etag == etag:
            cached.generation = generation  # re-rendered to the same bytes: keep the gzip too
            return cached
        fresh = Cached(generation, page, etag, vary)
        with self.lock:
            self.entries[key] = fresh
            while len(self.entries) > MAX_ENTRIES:
                self.entries.popitem(last=False)
        return fresh

    def specs(self) -> dict[str, FeedSpec]:
        """Every feed by URL path without extension, recomputed when the index changes."""
        generation = self.generation()
        memo = self.spec_memo
        if memo is None or memo[0] != generation:
            memo = self.spec_memo = (generation, {s.base_path: s for s in feed_specs(self.index(), self.config)})
        return memo[1]


def to_response(cached: Cached, max_age: int) -> Response:
    status, headers, body = respond(cached, request.environ, max_age)
    return Response(body, status=status, headers=headers)


class FastPath:
    """Answers GET/HEAD of an already rendered feed without Flask's routing (feed readers
    poll those all day); everything else goes on to the app."""

    def __init__(self, app: Callable, cache: Cache, max_age: int) -> None:
        self.app, self.cache, self.max_age = app, cache, max_age

    def __call__(self, environ: dict, start_response: Callable) -> Iterable[bytes]:
        method = environ.get("REQUEST_METHOD")
        if method in ("GET", "HEAD") and not environ.get("QUERY_STRING"):
            cached = self.cache.peek(environ.get("PATH_INFO", "") + "?None")
            if cached is not None and (cached.vary == "Accept-Encoding" or not wants_html(environ)):
                status, headers, body = respond(cached, environ, self.max_age)
                start_response(status_line(status), headers)
                return [b"" if method == "HEAD" else body]
        return self.app(environ, start_response)


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
    app.wsgi_app = FastPath(app.wsgi_app, cache, max_age)  # type: ignore[method-assign]

    def serve_feed(spec: FeedSpec | None, fmt: str) -> Response:
        if spec is None or fmt not in config.feeds.formats:
            abort(404, "no such feed")
        limit = _limit(spec)
        key = f"{spec.path(fmt)}?{limit}"
        vary = "Accept-Encoding" if fmt == "json" else "Accept, Accept-Encoding"
        cached = cache.get(key, lambda index: site.feed_page(index, config, spec, fmt, select(index, spec, limit)), vary)
        assert cached is not None
        if vary != "Accept-Encoding" and wants_html(request.environ):
            feed_page = cached.page
            cached = cache.get(key + "#html", lambda index: site.feed_as_html(feed_page), vary)
            assert cached is not None
        return to_response(cached, max_age)

    @app.get("/")
    def index_page() -> Response:
        cached = cache.get("/", lambda index: site.index_page(index, config, list(cache.specs().values())))
        return to_response(cached, max_age)  # type: ignore[arg-type]

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
        return to_response(cached, max_age)

    @app.get("/opml.xml")
    def opml() -> Response:
        cached = cache.get("/opml.xml", lambda index: site.opml_page(index, config, list(cache.specs().values())))
        return to_response(cached, max_age)  # type: ignore[arg-type]

    @app.get(site.XSL_PATH)
    def stylesheet() -> Response:
        page = site.Page(site.stylesheet(), "text/xsl; charset=utf-8", site.EPOCH)
        return to_response(Cached(0, page, etag_of(page.body)), 86400)

    if config.images.mode == "proxy":
        register_image_proxy(app, config)

    @app.get("/healthz")
    def healthz() -> Response:
        return health(cache.index(), config)

    @app.errorhandler(HTTPException)
    def plain_error(error: HTTPException) -> Response:
        message = error.description if error.description and len(error.description) < 80 else error.name.lower()
        return Response(f"{error.code} {message}\n", status=error.code, content_type="text/plain; charset=utf-8")

    return app


def register_image_proxy(app: Flask, config: Config) -> None:
    """``/img/<signature>/<encoded-url>``: signed URLs only, fetched once, served from disk."""
    images = config.images
    limits = Limits(int(images.proxy_max_mb * 2**20), min(5, images.proxy_timeout), images.proxy_timeout,
                    images.proxy_allow_private)
    cache = ImageCache(config.state_dir / "images", images.referers, limits, int(images.proxy_cache_mb * 2**20))
    key = images.proxy_key or ""

    @app.get("/img/<signature>/<encoded>")
    def image(signature: str, encoded: str) -> Response:
        url = verify(key, signature, encoded)
        if url is None:
            abort(403, "not a signed image URL")
        try:
            found = cache.get(url)
        except FetchError as e:
            response = Response(f"{e.status} {e}\n", status=e.status, content_type="text/plain; charset=utf-8")
            response.headers["Cache-Control"] = f"max-age={FAILURE_SECONDS}"
            return response
        response = send_file(found.path, mimetype=found.content_type, conditional=True, etag=found.etag,
                             last_modified=found.last_modified, max_age=IMAGE_MAX_AGE)
        response.headers["Cache-Control"] = f"public, max-age={IMAGE_MAX_AGE}, immutable"
        response.headers["X-Content-Type-Options"] = "nosniff"
        response.headers["Content-Security-Policy"] = "default-src 'none'; style-src 'unsafe-inline'; sandbox"
        return response


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
