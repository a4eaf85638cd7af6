"""Web: the Flask app that serves every URL of the site, as aggregators poll it all day.

``create_app`` puts four blueprints together: feeds, pages (index, articles, OPML, XSL),
images (the proxy, in mode ``proxy`` only) and health. Rendered bytes come from the page
cache (``web.cache``); the app only reads the store: scanning belongs to the scheduler.
"""

from __future__ import annotations

import dataclasses
import json
import os
from collections.abc import Callable
from datetime import UTC, datetime

from flask import Blueprint, Flask, Response, abort, current_app, redirect, request, send_file
from werkzeug.exceptions import HTTPException
from werkzeug.wrappers import Response as WerkzeugResponse

from feedsvc.config import Config, load_config
from feedsvc.errors import StoreUnavailable
from feedsvc.feeds.catalog import document, select
from feedsvc.feeds.filters import FilterError, Filters
from feedsvc.feeds.filters import parse as parse_filters
from feedsvc.images.fetch import FetchError, Limits
from feedsvc.images.proxy import FAILURE_SECONDS, ImageCache
from feedsvc.model import EPOCH, Document, FeedSpec, Page, etag_of
from feedsvc.ops import metrics
from feedsvc.ops.health import corruption_mark, health_report, now_utc
from feedsvc.ops.supervisor import follow_supervisor
from feedsvc.render import pages as templates
from feedsvc.render import site
from feedsvc.render.filtered import filtered_page
from feedsvc.render.pages import style as pages_style
from feedsvc.store import DB_NAME, Store, StoreFault, is_corrupt
from feedsvc.urls import (
    ARTICLE_ROUTE,
    CATEGORY_ROUTE,
    FEED_ARCHIVE_PAGE_ROUTE,
    FEED_ARCHIVE_ROUTE,
    FEED_PAGE_ROUTE,
    FEED_ROUTE,
    HEALTH_PATH,
    IMAGE_ROUTE,
    INDEX_PATH,
    MAX_DIGITS,
    METRICS_PATH,
    OPML_PATH,
    STYLE_PATH,
    TAG_ROUTE,
    XSL_PATH,
    archive_page,
    category_base,
    channel_base,
    document_path,
    feed_base,
    feed_path,
    page_path,
    split_archive,
    tag_base,
    verify,
    whole_number,
)
from feedsvc.web.cache import Cache, FastPath, page_key
from feedsvc.web.http import Cached, respond, wants_html
from feedsvc.web.polls import RecordPolls

IMAGE_MAX_AGE = 30 * 86400  # a signed URL always names the same image


def _cache() -> Cache:
    cache: Cache = current_app.extensions["feedsvc"]
    return cache


def to_response(cached: Cached | None, max_age: int | None = None) -> Response:
    if cached is None:
        abort(404, "not found")
    if max_age is None:
        max_age = _cache().config.feeds.cache_seconds
    status, headers, body = respond(cached, request.environ, max_age)
    return Response(body, status=status, headers=headers)


def _limit(spec: FeedSpec) -> int | None:
    value = request.args.get("limit")
    if value is None:
        return None
    digits = value.lstrip("0") if value.isascii() and value.isdigit() else ""
    if len(digits) > MAX_DIGITS:  # more than any feed holds
        return spec.limit
    if (number := whole_number(digits)) is None:
        abort(400, "limit must be a positive whole number")
    return min(number, spec.limit)


def _filters(config: Config) -> Filters | None:
    try:
        return parse_filters(request.args, config.filters.regex_max)
    except FilterError as e:
        abort(400, str(e))


def _filtered(spec: FeedSpec, fmt: str, wanted: Filters, limit: int, path: str, vary: str) -> Cached | None:
    """A filtered view, cached apart from the plain feeds (``Cache.view``): with ``filter_time``
    it is made again each minute, as the window moves."""
    now = datetime.now(UTC)
    minute = f"&t={int(now.timestamp()) // 60}" if wanted.newer_than is not None else ""
    cache = _cache()
    return cache.view(page_key(path, f"{wanted.query}&limit={limit}{minute}"), lambda index: filtered_page(
        index, cache.config, spec, fmt, wanted, limit, now), vary)


def serve_feed(spec: FeedSpec | None, fmt: str, page: int | None = 0) -> Response:
    """A feed (page 0) or one of its archive pages."""
    cache = _cache()
    config = cache.config
    doc = None if spec is None or page is None else document(spec, config, page)
    if doc is None or fmt not in config.feeds.formats:
        abort(404, "no such feed")
    limit = _limit(doc.spec) if not doc.is_archive else None
    path, variant = document_path(doc, fmt), "" if limit is None else f"limit={limit}"
    vary = "Accept-Encoding" if fmt == "json" else "Accept, Accept-Encoding"
    if not doc.is_archive and (wanted := _filters(config)) is not None:
        return to_response(_filtered(doc.spec, fmt, wanted, limit or doc.spec.limit, path, vary))
    if limit is None:
        cached = cache.get(page_key(path), lambda index: site.feed_page(
            index, config, doc, fmt, entries=site.StoredEntries(index, cache.fingerprint)), vary)
    else:  # fewer items than the feed: not a document of the archive chain, so no archive links
        cached = cache.get(page_key(path, variant), lambda index: site.feed_page(
            index, config, Document(doc.spec), fmt, select(index, doc.spec, limit),
            site.StoredEntries(index, cache.fingerprint)), vary)
    if cached is not None and vary != "Accept-Encoding" and wants_html(request.environ):
        feed = cached.page
        cached = cache.get(page_key(path, variant + "&html"), lambda index: site.feed_as_html(feed), vary)
    return to_response(cached)


def serve_page(spec: FeedSpec | None, page: int | None = 0) -> Response:
    """A feed document's page for people (page 0: the feed's own)."""
    cache = _cache()
    doc = None if spec is None or page is None else document(spec, cache.config, page)
    if doc is None:
        abort(404, "no such feed")
    return to_response(cache.get(page_key(page_path(doc)), lambda index: site.feed_html(
        index, cache.config, doc, cache.tree(), entries=site.StoredEntries(index, cache.fingerprint))))


def _redirect_by_name(specs: dict[str, FeedSpec], kind: str, stem: str, fmt: str) -> WerkzeugResponse | None:
    """A category (its path of names) or tag asked for as written, raw or percent-encoded: 301
    to its slug URL (``fmt`` "": its page)."""
    by_name = next((s for s in specs.values() if s.kind == kind and "/".join(s.names) == stem), None)
    if by_name is None or (fmt and fmt not in _cache().config.feeds.formats):
        return None
    query = f"?{request.query_string.decode()}" if request.query_string else ""
    return redirect((feed_path(by_name, fmt) if fmt else feed_base(by_name)) + query, 301)


feeds = Blueprint("feeds", __name__)


@feeds.get(FEED_ROUTE)
def feed(slug: str, fmt: str) -> Response:
    return serve_feed(_cache().specs().get(channel_base(slug)), fmt)


@feeds.get(FEED_ARCHIVE_ROUTE)
def feed_archive(slug: str, page: str, fmt: str) -> Response:
    return serve_feed(_cache().specs().get(channel_base(slug)), fmt, archive_page(page))


@feeds.get(FEED_PAGE_ROUTE)
def feed_page(slug: str) -> Response:
    return serve_page(_cache().specs().get(channel_base(slug)))


@feeds.get(FEED_ARCHIVE_PAGE_ROUTE)
def feed_archive_page(slug: str, page: str) -> Response:
    return serve_page(_cache().specs().get(channel_base(slug)), archive_page(page))


@feeds.get(CATEGORY_ROUTE)
def category(name: str) -> WerkzeugResponse:
    return _term_feed("category", lambda stem: category_base(tuple(stem.split("/"))), name)


@feeds.get(TAG_ROUTE)
def tag(name: str) -> WerkzeugResponse:
    return _term_feed("tag", tag_base, name)


def _term_feed(kind: str, base: Callable[[str], str], name: str) -> WerkzeugResponse:
    """A category's or tag's feed document, or its page for people (a path with no format)."""
    is_page = "." not in name.rpartition("/")[2]
    whole, fmt = (name, "") if is_page else name.rsplit(".", 1)
    stem, page = split_archive(whole)
    specs = _cache().specs()
    spec = specs.get(base(stem))
    if spec is None and page == 0 and stem and (moved := _redirect_by_name(specs, kind, stem, fmt)):
        return moved
    return serve_page(spec, page) if is_page else serve_feed(spec, fmt, page)


pages = Blueprint("pages", __name__)


@pages.get(INDEX_PATH)
def index_page() -> Response:
    cache = _cache()
    return to_response(cache.get(page_key(INDEX_PATH), lambda index: site.index_page(index, cache.config, cache.tree())))


@pages.get(ARTICLE_ROUTE)
def article(article_id: str) -> Response:
    config = _cache().config

    def build(index: Store) -> Page | None:
        found = index.article(article_id)
        return site.article_page(config, found, _cache().tree()) if found else None

    cached = _cache().get(page_key(request.path), build)
    if cached is None:
        abort(404, "no such article")
    return to_response(cached)


@pages.get(OPML_PATH)
def opml() -> Response:
    cache = _cache()
    return to_response(cache.get(page_key(OPML_PATH),
                                 lambda index: site.opml_page(index, cache.config, list(cache.specs().values()))))


@pages.get(STYLE_PATH)
def style_sheet() -> Response:
    page = Page(pages_style(), "text/css; charset=utf-8", EPOCH)
    return to_response(Cached(0, page, etag_of(page.body)), 86400)


@pages.get(XSL_PATH)
def stylesheet() -> Response:
    page = Page(site.stylesheet(), "text/xsl; charset=utf-8", EPOCH)
    return to_response(Cached(0, page, etag_of(page.body)), 86400)


health = Blueprint("health", __name__)


@health.get(HEALTH_PATH)
def healthz() -> Response:
    if "clients" in request.args:
        return _polling_report()
    cache = _cache()
    try:
        body, status = health_report(cache.index(), cache.config, len(cache.specs()), cache.render_failures(),
                                     now_utc())
    except (StoreUnavailable, StoreFault) as e:
        mark_if_corrupt(e)
        starting = not (cache.config.state_dir / DB_NAME).exists()
        body, status = {"status": "starting" if starting else "unavailable", "detail": str(e)}, 503
    return _json(body, status)


def _polling_report() -> Response:
    """How each kind of feed reader polled over the last day (``/healthz?clients``)."""
    recorder = current_app.extensions.get("feedsvc.polls")
    if recorder is None:
        return _plain("404 the polling report is off (clients: false)\n", 404)
    clients = [dataclasses.asdict(client) for client in recorder.report()]
    return _json({"hours": 24, "clients": clients}, 200)


def _metrics() -> Response:
    counter = current_app.extensions.get("feedsvc.requests")
    if counter is not None:  # this worker's latest answers; the others' are at most a second old
        counter.flush()
    cache = _cache()
    try:
        articles, feeds = cache.index().count_live(), len(cache.specs()) * len(cache.config.feeds.formats)
    except (StoreUnavailable, StoreFault):  # the counters still tell what happened
        articles = feeds = 0
    return Response(metrics.exposition(articles, feeds), content_type=metrics.CONTENT_TYPE,
                    headers={"Cache-Control": "no-store"})


def create_app(config: Config) -> Flask:
    """The app factory: starts nothing, opens nothing until the first request; the templates are
    loaded with the app, so that the first page served does not pay for them."""
    templates.environment()
    app = Flask("feedsvc")
    # werkzeug would answer //feeds with a redirect built from the Host header: an open redirect
    app.url_map.merge_slashes = False
    cache = Cache(config)
    app.extensions["feedsvc"] = cache
    # the fast path in front: the answers it gives are told to the counting and the polling
    # report directly; the middleware sees the app's own
    inner, observers = app.wsgi_app, []
    if config.clients:
        inner = app.extensions["feedsvc.polls"] = RecordPolls(inner, config.state_dir)
        observers.append(inner.seen)
    if config.metrics:
        inner = app.extensions["feedsvc.requests"] = metrics.CountRequests(inner)
        observers.append(inner.seen)
        app.add_url_rule(METRICS_PATH, "metrics", _metrics)
    app.wsgi_app = FastPath(inner, cache, config.feeds.cache_seconds, tuple(observers))  # type: ignore[method-assign]
    for blueprint in (feeds, pages, health):
        app.register_blueprint(blueprint)
    if config.images.mode == "proxy":
        app.register_blueprint(images_blueprint(config))

    @app.errorhandler(HTTPException)
    def plain_error(error: HTTPException) -> Response:
        message = error.description if error.description and len(error.description) < 80 else (error.name or "").lower()
        return _plain(f"{error.code} {message}\n", error.code or 500)

    @app.errorhandler(StoreUnavailable)
    @app.errorhandler(StoreFault)
    def no_index(error: Exception) -> Response:
        mark_if_corrupt(error)
        response = _plain("503 the index is not ready; try again shortly\n", 503)
        response.headers["Retry-After"] = "30"
        return response

    return app


def mark_if_corrupt(error: BaseException) -> None:
    """Tell the scanner (it alone writes the index) that this worker met a corrupt index: its
    next scan checks the index and rebuilds it. Only under `serve`, which names the place."""
    cause = error.__cause__ if isinstance(error, StoreUnavailable) else error
    if isinstance(cause, StoreFault) and is_corrupt(cause) and (mark := corruption_mark()) is not None:
        try:
            mark.touch()
        except OSError:
            pass


def _plain(text: str, status: int) -> Response:
    return Response(text, status=status, content_type="text/plain; charset=utf-8")


def _json(body: dict[str, object], status: int) -> Response:
    return Response(json.dumps(body, ensure_ascii=False, indent=2) + "\n", status=status,
                    content_type="application/json; charset=utf-8", headers={"Cache-Control": "no-store"})


def images_blueprint(config: Config) -> Blueprint:
    """The image proxy: signed URLs only, fetched once, served from disk."""
    settings = config.images
    limits = Limits(int(settings.proxy_max_mb * 2**20), min(5, settings.proxy_timeout), settings.proxy_timeout,
                    settings.proxy_allow_private)
    cache = ImageCache(config.state_dir / "images", settings.referers, limits, int(settings.proxy_cache_mb * 2**20))
    key = settings.proxy_key or ""
    images = Blueprint("images", __name__)

    @images.get(IMAGE_ROUTE)
    def image(signature: str, encoded: str) -> Response:
        url = verify(key, signature, encoded)
        if url is None:
            metrics.image("refused")
            abort(403, "not a signed image URL")
        try:
            found, handle = cache.open(url)
        except FetchError as e:
            metrics.image("refused" if e.status == 403 else "failed")
            response = Response(f"{e.status} {e}\n", status=e.status, content_type="text/plain; charset=utf-8")
            if e.status == 503:  # busy now, not broken
                response.headers.update({"Cache-Control": "no-store", "Retry-After": "1"})
            else:
                response.headers["Cache-Control"] = f"max-age={FAILURE_SECONDS}"
            return response
        metrics.image("fetched" if found.fetched else "hit")
        response = send_file(handle, mimetype=found.content_type, conditional=True, etag=found.etag,
                             last_modified=found.last_modified, max_age=IMAGE_MAX_AGE)
        response.headers["Cache-Control"] = f"public, max-age={IMAGE_MAX_AGE}, immutable"
        response.headers["X-Content-Type-Options"] = "nosniff"
        response.headers["Content-Security-Policy"] = "default-src 'none'; style-src 'unsafe-inline'; sandbox"
        return response

    return images


def app_from_env() -> Flask:
    """Entry point for WSGI servers: the config from ``FEEDSVC_CONFIG`` (or the default path)."""
    follow_supervisor()
    return create_app(load_config(os.environ.get("FEEDSVC_CONFIG")))
