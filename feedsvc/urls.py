"""URLs: every public path of the site, the absolute URLs built on them, and the signed
image-proxy URLs. The web routes and the export's file names come from here too, so the
service and the static export can never disagree on where a thing lives.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import re
from urllib.parse import quote, urlsplit

from feedsvc.model import Article, Document, FeedSpec

INDEX_PATH = "/"
OPML_PATH = "/opml.xml"
XSL_PATH = "/feed.xsl"
STYLE_PATH = "/style.css"
HEALTH_PATH = "/healthz"
METRICS_PATH = "/metrics"
_FEEDS, _CATEGORIES, _TAGS, _ARTICLES, _IMAGES = "/feeds/", "/categories/", "/tags/", "/articles/", "/img/"
_ARCHIVE = "/_archive/"  # slugs never start with "_": no feed's path can collide
_BASES = {"all": _FEEDS, "channel": _FEEDS, "category": _CATEGORIES, "tag": _TAGS}

# http(s), a host, and no whitespace or control character anywhere (a CR/LF in a hub URL would
# split the ping's request line; a space or a quote in an enclosure URL breaks readers)
_WEB_URL = re.compile(r"https?://(?:[^\x00-\x20\x7f/?#\\@]+@)?[^\x00-\x20\x7f/?#\\@%]+(?:[/?#][^\x00-\x20\x7f]*)?",
                      re.IGNORECASE)


def web_url_problem(url: str) -> str | None:
    """Why ``url`` is not an absolute http(s) URL that may be put in a feed, a header or a
    request, else None: the one allowlist for every URL of the config and the front matter."""
    if not _WEB_URL.fullmatch(url):
        return "expected an absolute http(s) URL with no spaces or control characters"
    try:
        urlsplit(url).port  # noqa: B018 - raises ValueError for a port that is not a number
    except ValueError:
        return "expected an absolute http(s) URL with a valid host and port"
    return None


# Flask routes
FEED_ROUTE = _FEEDS + "<slug>.<fmt>"
FEED_ARCHIVE_ROUTE = _FEEDS + "<slug>" + _ARCHIVE + "<page>.<fmt>"
FEED_PAGE_ROUTE = _FEEDS + "<slug>"
FEED_ARCHIVE_PAGE_ROUTE = _FEEDS + "<slug>" + _ARCHIVE + "<page>"
CATEGORY_ROUTE = _CATEGORIES + "<path:name>"
TAG_ROUTE = _TAGS + "<path:name>"
ARTICLE_ROUTE = _ARTICLES + "<article_id>"
IMAGE_ROUTE = _IMAGES + "<signature>/<encoded>"


def archive_of(path: str) -> tuple[str, int] | None:
    """(the feed and format an archive page belongs to, its number), for a path such as
    ``/feeds/all/_archive/3.atom``; None for any other path."""
    head, found, tail = path.rpartition(_ARCHIVE)
    number, dot, fmt = tail.partition(".")
    if not found or not number.isdigit():
        return None
    return f"{head}.{fmt}" if dot else head, int(number)


def kind_of(path: str) -> str:
    """The kind of a request path, one of a few values whatever the path (a metrics label)."""
    if path.startswith((_FEEDS, _CATEGORIES, _TAGS)):
        return "archive" if _ARCHIVE in path else "feed"
    if path.startswith(_ARTICLES):
        return "article"
    if path.startswith(_IMAGES):
        return "image"
    if path in (INDEX_PATH, OPML_PATH, XSL_PATH, STYLE_PATH):
        return "page"
    return "other"


def feed_base(spec: FeedSpec) -> str:
    """A feed's path without its format: ``/feeds/all``, ``/categories/tu-pian/jian-dan``."""
    return _BASES[spec.kind] + "/".join(spec.slugs)


def feed_path(spec: FeedSpec, fmt: str) -> str:
    return f"{feed_base(spec)}.{fmt}"


def document_path(doc: Document, fmt: str) -> str:
    """The feed's path, or its archive page's: ``/feeds/all/_archive/3.atom``; a filtered view's
    path carries its query."""
    if doc.query:
        return f"{feed_path(doc.spec, fmt)}?{doc.query}"
    if not doc.is_archive:
        return feed_path(doc.spec, fmt)
    return f"{archive_folder(doc.spec)}{doc.page}.{fmt}"


def page_path(doc: Document) -> str:
    """A feed document's HTML page, for people: the feed's path without its format
    (``/categories/tu-pian``), or its archive page's (``/feeds/all/_archive/3``)."""
    return f"{archive_folder(doc.spec)}{doc.page}" if doc.is_archive else feed_base(doc.spec)


def archive_folder(spec: FeedSpec) -> str:
    """Where a feed's archive pages live: ``/feeds/all/_archive/``."""
    return feed_base(spec) + _ARCHIVE


MAX_DIGITS = 9  # no page number or limit is longer; int() of thousands of digits is slow, then refused


def whole_number(text: str) -> int | None:
    """A positive whole number in plain ASCII digits, as a URL writes it (``3``, never ``03``,
    ``0`` or ``³``) and at most ``MAX_DIGITS`` long, else None."""
    if not (0 < len(text) <= MAX_DIGITS and text.isascii() and text.isdigit()) or text[0] == "0":
        return None
    return int(text)


def archive_page(text: str) -> int | None:
    """An archive page number as written in its URL, else None."""
    return whole_number(text)


def split_archive(stem: str) -> tuple[str, int | None]:
    """``tu-pian/jian-dan/_archive/3`` -> (``tu-pian/jian-dan``, 3); a feed's own stem -> (stem, 0);
    None for a malformed page number."""
    feed, found, page = stem.rpartition(_ARCHIVE)
    if not found or not feed:
        return stem, 0
    return feed, archive_page(page)


def all_feed_path(fmt: str) -> str:
    return f"{_FEEDS}all.{fmt}"


def channel_base(slug: str) -> str:
    """``/feeds/<slug>``: the feed of everything (``all``) or of a channel."""
    return _FEEDS + slug


def category_base(slugs: tuple[str, ...]) -> str:
    return _CATEGORIES + "/".join(slugs)


def categories_url(site_url: str) -> str:
    """The scheme (Atom) / domain (RSS) of an item's categories."""
    return absolute(site_url, _CATEGORIES)


def tags_url(site_url: str) -> str:
    return absolute(site_url, _TAGS)


def tag_base(slug: str) -> str:
    return _TAGS + slug


def article_path(article_id: str) -> str:
    return _ARTICLES + quote(article_id, safe="")


def root_relative(site_url: str, path: str) -> str:
    """A path as a link that works wherever the site is served, under ``site.url``'s own path."""
    return urlsplit(site_url).path.rstrip("/") + path


def absolute(site_url: str, path: str) -> str:
    """``site.url`` has no trailing slash; every path starts with one."""
    return site_url + path


def relative(path: str) -> str:
    """A path as a link from the index page (``/``): works served, exported, and under a sub-path."""
    return path.removeprefix("/")


def article_url(site_url: str, article_id: str) -> str:
    """The article's page here: also its GUID / Atom id, so editing never changes it."""
    return absolute(site_url, article_path(article_id))


def entry_id(site_url: str, article: Article, fmt: str = "atom") -> str:
    """An entry's Atom id, RSS guid or JSON id: a blog post's permalink, as hexo-generator-feed
    writes it, so subscribers who move over see nothing twice (its 1.x wrote Atom ids as text
    and RSS guids percent-encoded); else the article's page here."""
    if not article.guid:
        return article_url(site_url, article.id)
    return article.guid if fmt == "atom" else encode_url(article.guid)


def encode_url(url: str) -> str:
    """hexo-util's encodeURL: non-ASCII and spaces percent-encoded, the URL's syntax kept."""
    return quote(url, safe=":/?#[]@!$&'()*+,;=%~")


def item_link(site_url: str, article: Article) -> str:
    """Where a reader goes from an item: the original when the article names one."""
    return article.link or article_url(site_url, article.id)


def export_file(path: str) -> str:
    """The file a static export writes for a URL path (nginx: ``try_files $uri $uri.html``)."""
    if path == INDEX_PATH:
        return "index.html"
    # a page for people (an article, a feed's page) has no extension in its URL
    name = path.rpartition("/")[2]
    return path[1:] + ".html" if path.startswith(_ARTICLES) or (name and "." not in name) else path[1:]


def article_export_dir() -> str:
    return _ARTICLES.strip("/")


# -- the image proxy ---------------------------------------------------------

def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def sign(key: str, url: str) -> str:
    """HMAC-SHA256 of the URL with the proxy key, URL-safe base64."""
    return _b64(hmac.new(key.encode(), url.encode(), hashlib.sha256).digest())


def proxy_url(base: str, key: str, url: str) -> str:
    return absolute(base, f"{_IMAGES}{sign(key, url)}/{_b64(url.encode())}")


def verify(key: str, signature: str, encoded: str) -> str | None:
    """The URL a proxy path stands for, or None when it is not signed with ``key``."""
    try:
        url = base64.urlsafe_b64decode(encoded + "=" * (-len(encoded) % 4)).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError, ValueError):
        return None
    if _b64(url.encode()) != encoded:  # one URL, one path: junk the decoder skips would bust caches
        return None
    return url if hmac.compare_digest(sign(key, url), signature) else None
