"""Hexo: a blog's permalinks, file-name dates and tag plugins, as Hexo itself computes them.

Pure functions over a ``Blog`` (the few settings of a blog's ``_config.yml`` that decide its
URLs). Checked against a real blog's generated site: a post's ``:title`` is the new_post_name
title when the file's path matches the pattern, else Hexo's slugize of the whole relative
path, so ``2016/2016-10-29-angular-day1.md`` is published at ``…/2016-2016-10-29-angular-day1/``.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from urllib.parse import urljoin, urlsplit

from feedsvc.urls import encode_url

DEFAULT_PERMALINK = ":year/:month/:day/:title/"
_SLUG_SPECIAL = re.compile(r"""[\s~`!@#$%^&*()\-_+=\[\]{}|\\;:"'<>,.?/]+""")
_SEGMENTS = {"year": r"(?P<year>\d{4})", "month": r"(?P<month>\d{2})", "day": r"(?P<day>\d{2})",
             "i_month": r"(?P<i_month>\d{1,2})", "i_day": r"(?P<i_day>\d{1,2})", "hash": r"(?P<hash>[0-9a-f]{12})",
             "hour": r"(?P<hour>\d{2})", "minute": r"(?P<minute>\d{2})", "second": r"(?P<second>\d{2})"}


@dataclass(frozen=True)
class Blog:
    url: str  # the blog's public URL, no trailing slash (it may have a path: https://host/blog)
    root: str = "/"
    permalink: str = DEFAULT_PERMALINK
    new_post_name: str = ":title.md"
    timezone: str | None = None
    category_map: dict[str, str] = field(default_factory=dict)
    tag_map: dict[str, str] = field(default_factory=dict)
    default_category: str = "uncategorized"
    post_asset_folder: bool = False
    trailing_index: bool = True
    trailing_html: bool = True
    permalink_defaults: dict[str, str] = field(default_factory=dict)
    title: str = ""  # the blog's own title, subtitle or description, language and author
    description: str = ""
    language: str = ""
    author: str = ""
    icon: str = ""  # hexo-generator-feed's feed.icon, else ""
    raw_ids: bool = False  # hexo-generator-feed 1.x wrote entry ids without percent-encoding
    permalink_ids: bool = True  # entry ids are the posts' permalinks (sources[].ids)

    @property
    def root_url(self) -> str:
        """Where root-relative links (``/pic/x.png``) point: the URL's origin and ``root``."""
        parts = urlsplit(self.url)
        return f"{parts.scheme}://{parts.netloc}{self.root}"


def blog_from_config(data: dict[str, Any], **given: str | bool | None) -> Blog:
    """A Blog from a parsed ``_config.yml``; ``given`` (url, permalink, new_post_name) wins."""
    pretty: dict[str, Any] = data["pretty_urls"] if isinstance(data.get("pretty_urls"), dict) else {}
    root = "/" + str(data.get("root") or "/").strip("/") + "/"
    return Blog(
        url=str(given.get("url") or data.get("url") or "").rstrip("/"),
        root=root.replace("//", "/"),
        permalink=str(given.get("permalink") or data.get("permalink") or DEFAULT_PERMALINK),
        new_post_name=str(given.get("new_post_name") or data.get("new_post_name") or ":title.md"),
        timezone=str(data["timezone"]) if data.get("timezone") else None,
        category_map={str(k): str(v) for k, v in (data.get("category_map") or {}).items()},
        tag_map={str(k): str(v) for k, v in (data.get("tag_map") or {}).items()},
        default_category=str(data.get("default_category") or "uncategorized"),
        post_asset_folder=bool(data.get("post_asset_folder")),
        trailing_index=pretty.get("trailing_index", True) is not False,
        trailing_html=pretty.get("trailing_html", True) is not False,
        permalink_defaults={str(k): str(v) for k, v in (data.get("permalink_defaults") or {}).items()
                            if isinstance(v, (str, int, float))},
        title=_setting(data, "title"), description=_setting(data, "subtitle") or _setting(data, "description"),
        language=_setting(data, "language").replace("_", "-"), author=_setting(data, "author"),
        icon=_setting(data["feed"], "icon") if isinstance(data.get("feed"), dict) else "",
        raw_ids=bool(given.get("raw_ids")), permalink_ids=given.get("ids") != "path",
    )


def _setting(data: dict[str, Any], key: str) -> str:
    value = data.get(key)
    return " ".join(str(value).split()) if isinstance(value, (str, int, float)) and not isinstance(value, bool) else ""


def feed_generator_major(package_json: str) -> int | None:
    """The major version of hexo-generator-feed a blog's package.json asks for (``^1.2.2``: 1)."""
    match = re.search(r'"hexo-generator-feed"\s*:\s*"[\^~>=v ]*(\d+)', package_json)
    return int(match.group(1)) if match else None


def slugize(text: str, lower: bool = False) -> str:
    """hexo-util's slugize: special characters (``/`` among them) and spaces become ``-``."""
    text = unicodedata.normalize("NFKD", text)
    text = "".join(c for c in text if not unicodedata.combining(c))
    text = re.sub(r"[\u0000-\u001f]", "", text)
    text = re.sub("-{2,}", "-", _SLUG_SPECIAL.sub("-", text)).strip("-")
    return text.lower() if lower else text


def _pattern(rule: str) -> re.Pattern[str]:
    out, last = "", 0
    for match in re.finditer(r":(\w+)", rule):
        out += re.escape(rule[last : match.start()])
        out += _SEGMENTS.get(match.group(1), rf"(?P<{match.group(1)}>.+?)")
        last = match.end()
    return re.compile("^" + out + re.escape(rule[last:]) + "$")


def parse_filename(new_post_name: str, relpath: str) -> dict[str, str]:
    """What a post's path says, by ``new_post_name`` (Hexo's parseFilename): its title (slug)
    and any date parts."""
    rule = new_post_name.rsplit(".", 1)[0] if "." in new_post_name.rsplit("/", 1)[-1] else new_post_name
    path = relpath.rsplit(".", 1)[0] if "." in relpath.rsplit("/", 1)[-1] else relpath
    match = _pattern(rule).match(path)
    found = {k: v for k, v in match.groupdict().items() if v is not None} if match else {}
    found.setdefault("title", slugize(path))
    return found


def filename_date(new_post_name: str | None, relpath: str) -> datetime | None:
    """The date a post's file name gives (naive), by ``new_post_name``, else a leading
    ``YYYY-MM-DD-`` in the file name."""
    parts = parse_filename(new_post_name, relpath) if new_post_name else {}
    if not ("year" in parts and ("month" in parts or "i_month" in parts)):
        match = re.match(r"^(?P<year>\d{4})-(?P<month>\d{2})-(?P<day>\d{2})-", relpath.rsplit("/", 1)[-1])
        parts = match.groupdict() if match else {}
    try:
        return datetime(int(parts["year"]), int(parts.get("month") or parts["i_month"]),
                        int(parts.get("day") or parts.get("i_day") or 1),
                        int(parts.get("hour", 0)), int(parts.get("minute", 0)), int(parts.get("second", 0)))
    except (KeyError, ValueError):
        return None


def post_path(blog: Blog, relpath: str, date: datetime, title: str, categories: tuple[tuple[str, ...], ...],
              post_id: str, meta: dict[str, Any] | None = None) -> tuple[str, list[str]]:
    """The post's path under the blog's URL, by the ``permalink`` pattern (pretty URLs applied),
    and the placeholders nothing filled. As Hexo does, a placeholder that is not one of its own
    is filled from the post's front matter (``:urlname``, ``:abbrlink``), else from
    ``permalink_defaults``."""
    slug = parse_filename(blog.new_post_name, relpath)["title"]
    first = categories[0] if categories else (blog.default_category,)
    values = {
        "year": f"{date.year:04}", "month": f"{date.month:02}", "i_month": str(date.month),
        "day": f"{date.day:02}", "i_day": str(date.day), "hour": f"{date.hour:02}", "minute": f"{date.minute:02}",
        "second": f"{date.second:02}", "title": slug, "name": slug.rsplit("/", 1)[-1],
        "post_title": slugize(title, lower=True), "id": post_id,
        "category": "/".join(blog.category_map.get(name) or slugize(name) for name in first),
        "hash": hashlib.sha1((slug + str(int(date.timestamp()))).encode()).hexdigest()[:12],
    }
    for key, value in {**blog.permalink_defaults, **(meta or {})}.items():
        if key not in values and isinstance(value, (str, int, float)) and not isinstance(value, bool) and str(value):
            values[key] = str(value)
    missing = [m.group(1) for m in re.finditer(r":(\w+)", blog.permalink) if m.group(1) not in values]
    path = re.sub(r":(\w+)", lambda m: values.get(m.group(1), m.group(0)), blog.permalink)
    return pretty(blog, path.lstrip("/")), missing


def pretty(blog: Blog, path: str) -> str:
    if not blog.trailing_index and path.endswith("index.html"):
        path = path[: -len("index.html")]
    if not blog.trailing_html and path.endswith(".html") and not path.endswith("/index.html"):
        path = path[: -len(".html")]
    return path


def post_url(blog: Blog, path: str) -> str:
    """Hexo's full_url_for: the blog URL, then the path (never the feed host)."""
    if re.match(r"^(//|https?:)", path):
        return path
    return encode_url(blog.url + re.sub("/{2,}", "/", "/" + path))


def absolute(url: str, page: str, root_url: str) -> str:
    """A URL found in a post, absolute: root-relative against the blog's root, the rest against
    the post's page (so a bare asset name lands in the post's asset folder)."""
    url = url.strip()
    if not url or re.match(r"^[A-Za-z][A-Za-z0-9+.-]*:", url):
        return url
    if url.startswith("#"):  # an anchor in the post: on its page, wherever the feed is read
        return page + url if page else url
    try:
        if url.startswith("//"):
            return urlsplit(page).scheme + ":" + url if page else url
        if url.startswith("/"):
            return urljoin(root_url, url.lstrip("/")) if root_url else url
        return urljoin(page, url) if page else url
    except ValueError:  # a page link no URL parser takes ("http://[::1"): the URL stays as written
        return url

