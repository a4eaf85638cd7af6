"""HTTP: conditional GET, gzip and cache headers for a rendered page, on a plain WSGI environ.

Kept free of Flask so the web app's routes and its fast path for cached feeds share it.
"""

from __future__ import annotations

import base64
import gzip
import hashlib
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import lru_cache
from http import HTTPStatus
from typing import Any, TypeVar

from werkzeug.datastructures import MIMEAccept
from werkzeug.http import http_date, parse_accept_header, parse_date, parse_etags

from feedsvc.model import Page

GZIP_MIN_BYTES = 256
FEED_TYPES = ["application/atom+xml", "application/rss+xml", "application/feed+json", "application/xml", "text/xml"]
Headers = list[tuple[str, str]]
Environ = dict[str, Any]  # a WSGI environ
T = TypeVar("T")
HEADER_VALUES_KEPT = 256  # parsed header values remembered, per parse: readers send the same few all day
KEPT_CHARS = 512  # a longer value (the client's to make long) is parsed each time, not kept


@dataclass
class Cached:
    """A rendered page as served: valid while the index is at ``generation``."""

    generation: int
    page: Page
    etag: str  # etag_of(page.body)
    vary: str = "Accept-Encoding"
    gzipped: bytes | None = None
    headers: dict[tuple[bool, int], tuple[Headers, Headers]] = field(default_factory=dict)  # see respond()

    def gzip_body(self) -> bytes:
        if self.gzipped is None:  # once per version, not per request
            self.gzipped = gzip.compress(self.page.body, compresslevel=6, mtime=0)
        return self.gzipped


def _remembered(parse: Callable[[str], T]) -> Callable[[str], T]:
    """``parse`` of a request header's value, remembered for the values clients send again and
    again: werkzeug's parsers took 3 to 13 us a request, and about 130 us for an ``Accept``
    naming ``text/html`` at a low q, against 4 to 6 us for the rest of a fast-path answer."""
    kept = lru_cache(maxsize=HEADER_VALUES_KEPT)(parse)
    return lambda value: kept(value) if len(value) <= KEPT_CHARS else parse(value)


def not_modified(cached: Cached, environ: Environ) -> bool:
    """If-None-Match wins over If-Modified-Since when both are sent (RFC 9110 13.1.3)."""
    if_none_match = environ.get("HTTP_IF_NONE_MATCH")
    if if_none_match:
        if if_none_match.strip('"').removesuffix("-gzip") == cached.etag:  # a poller sends back one tag
            return True
        tags = parse_etags(if_none_match)
        return tags.star_tag or tags.contains_weak(cached.etag) or tags.contains_weak(cached.etag + "-gzip")
    if not (value := environ.get("HTTP_IF_MODIFIED_SINCE")):
        return False
    since = _seconds(value)
    return since is not None and int(cached.page.last_modified.timestamp()) <= since


@_remembered
def _seconds(value: str) -> float | None:
    """An HTTP date as a POSIX time (None: not a date)."""
    when = parse_date(value)
    return when.timestamp() if when is not None else None


def accepts_gzip(environ: Environ) -> bool:
    value = environ.get("HTTP_ACCEPT_ENCODING", "")
    return "gzip" in value and _gzip_accepted(value)


@_remembered
def _gzip_accepted(value: str) -> bool:
    return parse_accept_header(value)["gzip"] > 0


def wants_html(environ: Environ) -> bool:
    """A browser (text/html preferred to every feed type), not a feed reader."""
    value = environ.get("HTTP_ACCEPT", "")
    return "text/html" in value and _html_preferred(value)


@_remembered
def _html_preferred(value: str) -> bool:
    return parse_accept_header(value, MIMEAccept).best_match([*FEED_TYPES, "text/html"]) == "text/html"


def respond(cached: Cached, environ: Environ, max_age: int) -> tuple[int, Headers, bytes]:
    """Status, headers and body for a GET or HEAD of a cached page. The headers are made once
    per page version (feed readers poll the same few pages all day)."""
    page = cached.page
    use_gzip = len(page.body) >= GZIP_MIN_BYTES and accepts_gzip(environ)
    known = cached.headers.get((use_gzip, max_age))
    if known is None:
        known = cached.headers[use_gzip, max_age] = _headers(cached, use_gzip, max_age)
    if not_modified(cached, environ):
        return 304, known[0], b""
    return 200, known[1], cached.gzip_body() if use_gzip else page.body


_STYLE = re.compile(rb"<style>(.*?)</style>", re.DOTALL)


def html_security(body: bytes) -> Headers:
    """What an HTML page may load and who may frame it: images from the web, the site's own
    stylesheet and the page's inline styles by their hashes (the XSLT view of a feed has one;
    article HTML never carries a style, the sanitizer drops them), nothing else, no scripts."""
    styles = " ".join(f"'sha256-{base64.b64encode(hashlib.sha256(block).digest()).decode()}'"
                      for block in dict.fromkeys(_STYLE.findall(body)))
    policy = (f"default-src 'none'; img-src https: http: data:; style-src 'self'{' ' + styles if styles else ''};"
              " base-uri 'none'; form-action 'none'; frame-ancestors 'none'")
    return [("Content-Security-Policy", policy), ("X-Content-Type-Options", "nosniff"),
            ("Referrer-Policy", "no-referrer"), ("X-Frame-Options", "DENY")]


def _headers(cached: Cached, use_gzip: bool, max_age: int) -> tuple[Headers, Headers]:
    """(of a 304, of a 200). A 304 also says when to come back (``Retry-After``): a client that
    polls faster than the page changes is told, never refused."""
    page = cached.page
    max_age = max_age if page.max_age is None else page.max_age
    common = [("Cache-Control", f"public, max-age={max_age}"),
              ("Vary", cached.vary), ("Last-Modified", http_date(page.last_modified)),
              ("ETag", f'"{cached.etag}-gzip"' if use_gzip else f'"{cached.etag}"')]
    if page.link:
        common.append(("Link", page.link))
    if page.content_type.startswith("text/html"):
        common += html_security(page.body)
    body = cached.gzip_body() if use_gzip else page.body
    full = [*common, *([("Content-Encoding", "gzip")] if use_gzip else []),
            ("Content-Type", page.content_type), ("Content-Length", str(len(body)))]
    return [*common, ("Retry-After", str(max_age))], full


def status_line(code: int) -> str:
    return _STATUS_LINES.get(code) or f"{code} {HTTPStatus(code).phrase}"


_STATUS_LINES = {200: "200 OK", 304: "304 Not Modified"}
