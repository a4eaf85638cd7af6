"""Articles: one file's bytes in, one validated ``Article`` out (pure: no clock, no disk)."""

from __future__ import annotations

import hashlib
import html
import re
import reprlib
import unicodedata
from collections.abc import Callable
from datetime import UTC, date, datetime, tzinfo
from functools import cache
from pathlib import PurePosixPath
from typing import Any
from urllib.parse import unquote
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from feedsvc import hexo, yamlload
from feedsvc.config import Config
from feedsvc.errors import ArticleError
from feedsvc.hexo import Blog
from feedsvc.model import Article, CategoryPath
from feedsvc.parse import frontmatter, tagplugins
from feedsvc.parse.assets import bracket_spaced_paths, in_asset_folder, missing_images
from feedsvc.parse.rewrite import ImageRewriter, collapse_spaces, plain_text, rewrite_html, truncate, xml_safe
from feedsvc.urls import encode_url, web_url_problem

_HTML_START = re.compile(r"^\s*<(?:!--|[A-Za-z][\w-]*[\s/>])")
_DOCUMENT = re.compile(r"^\s*<(?:!doctype\b|html[\s>])", re.IGNORECASE)  # a whole HTML document
_SAFE_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$")
_LOOSE_DATE = re.compile(r"(\d{4})[/-](\d{1,2})[/-](\d{1,2})(?:[ T](\d{1,2}):(\d{2})(?::(\d{2}))?)?")
_MORE = re.compile(r"<!--\s*more\s*-->", re.IGNORECASE)
# the mirror's dates, "Sun, 25 Apr 2021 08:06:43 GMT"; any other RFC 2822 form goes to email.utils
_MONTHS = {name: number for number, name in enumerate("Jan Feb Mar Apr May Jun Jul Aug Sep Oct Nov Dec".split(), 1)}
_MIRROR_DATE = re.compile(rf"(?:[A-Z][a-z][a-z], )?(\d{{1,2}}) ({'|'.join(_MONTHS)}) (\d{{4}}) (\d\d):(\d\d):(\d\d) GMT",
                          re.ASCII)
_MAX_NAMES = 200  # categories/tags: bounds Hexo's nested lists and YAML alias tricks
_MAX_DEPTH = 10  # names in one category path
TITLE_CHARS = 80  # a title made from the body's text when the article has none


def path_id(relpath: str) -> str:
    """Stable id of a file with no id of its own: SHA-1 of its NFC, POSIX relative path."""
    normal = unicodedata.normalize("NFC", PurePosixPath(relpath).as_posix())
    return hashlib.sha1(normal.encode("utf-8")).hexdigest()[:16]


def decode(raw: bytes) -> tuple[str, list[str]]:
    """Text of a file: UTF-8 (BOM or not), UTF-16 with a BOM; otherwise the encoding the file
    declares, else GB18030 (a superset of GBK, what a Chinese mirror writes when it is not
    UTF-8), else bad bytes are replaced. Each fallback is a warning."""
    warnings = []
    if raw.startswith((b"\xff\xfe", b"\xfe\xff")):
        text = raw.decode("utf-16", errors="replace")
    else:
        try:
            text = raw.decode("utf-8-sig")
        except UnicodeDecodeError as e:
            text, warning = _decode_legacy(raw, f"first bad byte at offset {e.start}")
            warnings.append(warning)
    if "\r" in text:  # one look, not two copies of every file that has none (most)
        text = text.replace("\r\n", "\n").replace("\r", "\n")
    return text, warnings


def _decode_legacy(raw: bytes, where: str) -> tuple[str, str]:
    from bs4.dammit import EncodingDetector, UnicodeDammit  # only files that are not UTF-8 pay for it

    declared = EncodingDetector.find_declared_encoding(raw, is_html=True, search_entire_document=True)
    dammit = UnicodeDammit(raw, known_definite_encodings=[declared] if declared else [], user_encodings=["gb18030"],
                           is_html=True)
    if dammit.unicode_markup is None or dammit.contains_replacement_characters:
        return raw.decode("utf-8-sig", errors="replace"), f"not valid UTF-8 ({where}); undecodable bytes replaced"
    name = (dammit.original_encoding or "gb18030").upper()
    return dammit.unicode_markup, f"not valid UTF-8 ({where}); read as {name}"


def parse_date(value: Any, tz: tzinfo) -> datetime | None:
    """RFC 2822, ISO 8601 or ``YYYY-MM-DD HH:MM[:SS]``; naive times are in ``tz``."""
    parsed: datetime | None
    if isinstance(value, datetime):
        parsed = value
    elif isinstance(value, date):
        parsed = datetime(value.year, value.month, value.day)
    elif isinstance(value, str) and value.strip():
        parsed = _parse_date_text(value.strip())
        if parsed is None:
            return None
    else:
        return None
    return parsed.replace(tzinfo=tz) if parsed.tzinfo is None else parsed


def _parse_date_text(text: str) -> datetime | None:
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00") if text.endswith("Z") else text)
    except ValueError:
        pass
    if match := _LOOSE_DATE.fullmatch(text):  # what moment reads for Hexo: 2020/1/8 21:32:00, 2020-1-8 9:05
        year, month, day, hour, minute, second = match.groups()
        try:
            return datetime(int(year), int(month), int(day), int(hour or 0), int(minute or 0), int(second or 0))
        except ValueError:
            return None
    if match := _MIRROR_DATE.fullmatch(text):
        day, month, year, hour, minute, second = match.groups()
        try:
            return datetime(int(year), _MONTHS[month], int(day), int(hour), int(minute), int(second), tzinfo=UTC)
        except ValueError:  # 30 Feb: email.utils has the last word
            pass
    # email.utils (with socket) took a fifth of this module's import, and 16-25 ms of every
    # build that parses one changed file: loaded only for the forms the mirror does not write
    from email.utils import parsedate_to_datetime

    try:
        parsed = parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        return None
    return parsed


# bidi overrides and isolates, marks and invisible separators: a title or a category name
# with them looks like another (U+202E reverses what follows). ZWJ and ZWNJ stay: emoji and
# scripts such as Persian spell words with them.
_INVISIBLE = re.compile("[\u061c\u200b\u200e\u200f\u202a-\u202e\u2060\u2066-\u2069\ufeff]")


def _text(value: Any) -> str:
    """Plain text of a front matter value, in NFC (two spellings of one name are one name)."""
    if value is None or isinstance(value, (dict, list)):
        return ""
    return _visible(xml_safe(html.unescape(str(value)))).strip()


def _visible(text: str) -> str:
    return unicodedata.normalize("NFC", _INVISIBLE.sub("", text))


def names(value: Any) -> tuple[str, ...]:
    """A list, one string, or Hexo's nested lists of names: each name once, in order."""
    found: list[str] = []
    stack = [value]
    visited = 0
    while stack and visited < _MAX_NAMES * 4:
        item = stack.pop()
        visited += 1
        if isinstance(item, (list, tuple)):
            stack.extend(reversed(item))
        elif (name := collapse_spaces(_text(item))) and name not in found:
            found.append(name)
    return tuple(found[:_MAX_NAMES])


def category_paths(value: Any, warnings: list[str] | None = None) -> tuple[CategoryPath, ...]:
    """Hexo's categories: ``A`` or ``[A]`` is the path A; a flat list ``[A, B, C]`` is ONE path
    A › B › C; a list holding lists (``[[A, B], [C], D]``) is several paths, a plain string
    among them a path of its own. Each path once, at most ``_MAX_DEPTH`` names deep; lists
    nested deeper than that are no Hexo form and are left out, with a warning."""
    problems: set[str] = set()
    if isinstance(value, (list, tuple)) and any(isinstance(item, (list, tuple)) for item in value[:_MAX_NAMES]):
        candidates = [_path(item, problems) for item in value[:_MAX_NAMES]]
    else:
        candidates = [_path(value, problems)]
    if warnings is not None:
        warnings += sorted(problems)
    return tuple(dict.fromkeys(p for p in candidates if p))


def _path(value: Any, problems: set[str]) -> CategoryPath:
    items = value if isinstance(value, (list, tuple)) else [value]
    if any(isinstance(item, (list, tuple, dict)) for item in items):
        problems.add("categories: a list nested inside a category path is not a Hexo form; left out")
        items = [item for item in items if not isinstance(item, (list, tuple, dict))]
    names = [name for item in items if (name := collapse_spaces(_text(item)))]
    if len(names) > _MAX_DEPTH:
        problems.add(f"categories: a path deeper than {_MAX_DEPTH} levels is cut to {_MAX_DEPTH}")
    return tuple(names[:_MAX_DEPTH])


def _first(meta: dict[str, Any], *keys: str) -> str:
    for key in keys:
        if text := _text(meta.get(key)):
            return text
    return ""


def _article_id(meta: dict[str, Any], relpath: str, warnings: list[str]) -> str:
    given = _first(meta, "id", "guid", "abbrlink")
    if not given:
        return path_id(relpath)
    if _SAFE_ID.match(given):
        return given
    warnings.append(f"id {given!r} is not URL-safe; using a hash of it")
    return hashlib.sha1(given.encode("utf-8")).hexdigest()[:16]


def _utc(meta: dict[str, Any], key: str, tz: tzinfo, warnings: list[str]) -> datetime | None:
    """A front matter date in UTC; None (with a warning) when it cannot be read or lies outside
    the years 1000-9999 that every feed format and reader can carry."""
    value = meta.get(key)
    parsed = parse_date(value, tz)
    try:
        utc = parsed.astimezone(UTC) if parsed else None
    except OverflowError:
        utc = None
    if utc is not None and 1000 <= utc.year <= 9999:
        return utc
    if value not in (None, ""):
        problem = "is out of range" if parsed else "is not a date I can read"
        fallback = "the file's time" if key == "date" else "the date"
        shown = reprlib.repr(value) if isinstance(value, (list, dict)) else repr(str(value))  # bounded, whatever it holds
        warnings.append(f"{key} {shown} {problem}; using {fallback}")
    return None


def _dates(meta: dict[str, Any], mtime: datetime, tz: tzinfo, warnings: list[str], relpath: str = "",
           blog: Blog | None = None) -> tuple[datetime, datetime, bool]:
    """Front matter ``date``, else the file name's date (by the blog's ``new_post_name``, or a
    leading YYYY-MM-DD-), else the file's time (then ``dated`` is False)."""
    published = _utc(meta, "date", tz, warnings)
    if published is None and (named := hexo.filename_date(blog.new_post_name if blog else None, relpath)):
        published = named.replace(tzinfo=tz).astimezone(UTC)
    dated = published is not None
    published = published or mtime.astimezone(UTC)
    return published, _utc(meta, "updated", tz, warnings) or published, dated


def body_html(body: str, relpath: str, markdown: bool = False) -> str:
    """HTML bodies (``.html`` files, or a body that opens with a tag) are kept; others are
    Markdown. ``markdown`` (a Hexo blog's posts): Markdown whatever the body opens with (a tag
    plugin, a comment, a ``<div>``), raw HTML passing through as CommonMark says; only an
    ``.html`` file or a whole HTML document is kept as it is."""
    if relpath.lower().endswith((".html", ".htm")):
        return body
    if (_DOCUMENT.match(body) if markdown else _HTML_START.match(body)):
        return body
    html: str = _markdown().render(body)
    return html


def _image(url: str, rewrite: ImageRewriter, warnings: list[str]) -> str:
    """The item's image, only ever an http(s) URL (it becomes an enclosure and a thumbnail)."""
    try:
        image = encode_url(rewrite(url)) if url else ""  # a space in a path is a %20, not a reason to drop it
    except ValueError:
        image = None
    if image is None or (image and web_url_problem(image)):
        warnings.append(f"image {url[:80]!r} is not an http(s) URL; left out")
        return ""
    return image


def _link(meta: dict[str, Any], config: Config, warnings: list[str], permalink: str) -> str:
    """Where the item leads: the original (``link``/``source``), else the post on its blog,
    else "" (the page here)."""
    link = _first(meta, "link", "source")
    if link and web_url_problem(link):
        warnings.append(f"link {link!r} is not an http(s) URL; ignored")
        link = ""
    return ImageRewriter(config.images).link(link) if link else permalink


def _permalink(meta: dict[str, Any], warnings: list[str], blog: Blog | None, relpath: str,
               local_date: datetime, categories: tuple[tuple[str, ...], ...], article_id: str) -> str:
    """The post's page on its blog: a front matter ``permalink``, else the blog's permalink
    pattern; "" for an article of no blog."""
    permalink = _first(meta, "permalink")
    if permalink and re.match(r"^https?://", permalink):
        if web_url_problem(encoded := encode_url(permalink)):
            warnings.append(f"permalink {permalink[:80]!r} is not an http(s) URL; ignored")
            return ""
        return encoded
    if blog is None:
        return ""
    if permalink:
        return hexo.post_url(blog, hexo.pretty(blog, permalink.lstrip("/")))
    title = _text(meta.get("title"))
    path, missing = hexo.post_path(blog, relpath, local_date, title, categories, article_id, meta)
    if missing:
        warnings.append(f"permalink {blog.permalink!r}: nothing in the front matter or permalink_defaults fills"
                        f" {', '.join(':' + key for key in missing)}; the item links to its page here")
        return ""
    return hexo.post_url(blog, path)


def _guid(blog: Blog | None, permalink: str) -> str:
    """A blog post's entry id is its permalink, as hexo-generator-feed writes it (1.x: as text)."""
    if blog is None or not blog.permalink_ids or not permalink:
        return ""
    return unquote(permalink) if blog.raw_ids else permalink


def _aliased(meta: dict[str, Any], key: str, alias: str) -> Any:
    """Hexo reads ``category:`` as ``categories:`` and ``tag:`` as ``tags:``."""
    return meta[key] if meta.get(key) is not None else meta.get(alias)


def _title(meta: dict[str, Any] | None, relpath: str, summary: str) -> str:
    if meta is None:
        return _visible(PurePosixPath(relpath).stem).strip() or summary[:80] or "(untitled)"
    if "title" not in meta or meta["title"] is None:
        raise ArticleError(relpath, "front matter has no title")
    title = collapse_spaces(_text(meta["title"]))
    return title or truncate(summary, TITLE_CHARS) or "(untitled)"


def parse_article(raw: bytes, relpath: str, mtime: datetime, config: Config, blog: Blog | None = None,
                  asset: Callable[[str], bool] | None = None) -> Article:
    """Parse one file; raises ``ArticleError`` when it cannot be published at all. ``blog``: the
    Hexo blog the file belongs to (its links, file-name dates and assets follow it). ``asset``:
    whether the post's asset folder holds a file (with ``post_asset_folder``, what a post names
    there and is not there is a warning)."""
    text, warnings = decode(raw)
    try:
        parts = frontmatter.split(text)
    except yamlload.YAMLBudgetError as e:
        raise ArticleError(relpath, f"front matter: {e}") from e
    warnings += parts.warnings
    meta = parts.meta or {}
    tz = _zone(blog, config)
    published, updated, dated = _dates(meta, mtime, tz, warnings, relpath, blog)
    article_id = _article_id(meta, relpath, warnings)
    categories = category_paths(_aliased(meta, "categories", "category"), warnings)
    permalink = _permalink(meta, warnings, blog, relpath, published.astimezone(tz), categories, article_id)
    link = _link(meta, config, warnings, permalink)
    asset = asset if blog is not None and blog.post_asset_folder else None
    rewrite = ImageRewriter(config.images, config.site.url, link, blog.root_url if blog else _origin(link),
                            in_asset_folder(asset, relpath) if asset else None)
    body_source = bracket_spaced_paths(parts.body) if blog is not None else parts.body
    source, tag_warnings = tagplugins.render(body_source, rewrite.resolve, asset)
    warnings += tag_warnings + (missing_images(body_source, asset, relpath) if asset else [])
    rendered = body_html(source, relpath, markdown=blog is not None)
    body = rewrite_html(rendered, rewrite, max(config.feeds.summary_chars, TITLE_CHARS))
    warnings += body.problems
    summary = plain_text(_first(meta, "description", "excerpt")) or _excerpt(rendered) or body.text
    image = _first(meta, "headimg", "thumbnail", "cover", "image", "banner")
    return Article(
        id=article_id,
        relpath=relpath,
        title=_title(parts.meta, relpath, body.text),
        published=published,
        updated=max(updated, published),
        author=collapse_spaces(_text(meta.get("author"))) or (blog.author if blog else ""),
        categories=categories,
        tags=names(_aliased(meta, "tags", "tag")),
        image=_image(image, rewrite, warnings),
        summary=truncate(summary, config.feeds.summary_chars),
        content=body.html,
        link=link,
        draft=meta.get("draft") is True or meta.get("published") is False,
        warnings=tuple(warnings),
        dated=dated,
        guid=_guid(blog, permalink),
    )


def _zone(blog: Blog | None, config: Config) -> tzinfo:
    if blog and blog.timezone:
        try:
            return ZoneInfo(blog.timezone)
        except (ZoneInfoNotFoundError, ValueError):
            pass
    return config.site.tz


def _origin(url: str) -> str:
    return re.sub(r"^(https?://[^/]+).*$", r"\1/", url) if url else ""


def _excerpt(html_text: str) -> str:
    """The text before ``<!-- more -->`` (a marker inside code was escaped by Markdown, so it
    is text there, not a comment)."""
    match = _MORE.search(html_text)
    return plain_text(html_text[: match.start()]) if match else ""


@cache
def _markdown() -> Any:
    """The Markdown renderer, loaded with the first Markdown body (a mirror writes HTML only)."""
    from markdown_it import MarkdownIt

    return MarkdownIt("commonmark", {"html": True})
