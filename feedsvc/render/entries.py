"""Entries: an article's RSS item, Atom entry and JSON Feed item, as the bytes they are inside
any feed of their format.

A cold export renders every article's entry three times, and feedgen took 0.3–0.5 ms for one
(its setters, then a whole feed built and serialized around the entry). These are written
directly, as the same bytes feedgen and lxml make, element order and escaping included:
``render_feed`` still renders whole feeds with feedgen, and the property test checks that a
feed spliced from these entries is byte for byte the feed feedgen renders.
"""

from __future__ import annotations

import html
from collections.abc import Iterable
from datetime import datetime
from json.encoder import encode_basestring as json_string  # json.dumps's own, ensure_ascii=False
from typing import Any
from urllib.parse import urlsplit

from feedsvc.config import Config
from feedsvc.model import Article
from feedsvc.urls import categories_url, entry_id, item_link, tags_url

_CONTENT_TYPE = "html"


def xml_text(text: str) -> str:
    """Character data as libxml2 writes it (it keeps quotes, escapes a carriage return)."""
    text = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return text.replace("\r", "&#13;") if "\r" in text else text


def xml_attr(value: str) -> str:
    """An attribute value as libxml2 writes it, between double quotes."""
    value = xml_text(value).replace('"', "&quot;")
    return value.replace("\n", "&#10;").replace("\t", "&#9;") if "\n" in value or "\t" in value else value


def rfc822(when: datetime) -> str:
    """feedgen's RSS date (strftime in the C locale, which Python runs in unless told)."""
    return when.strftime("%a, %d %b %Y %H:%M:%S %z")


# by extension, from a table of our own: mimetypes reads the system's mime.types (13 ms on the
# first call, and a feed's bytes should not depend on the machine that wrote it)
IMAGE_TYPES = {"jpg": "image/jpeg", "jpeg": "image/jpeg", "jpe": "image/jpeg", "png": "image/png", "gif": "image/gif",
               "webp": "image/webp", "avif": "image/avif", "svg": "image/svg+xml", "bmp": "image/bmp",
               "ico": "image/vnd.microsoft.icon", "tif": "image/tiff", "tiff": "image/tiff", "heic": "image/heic"}


def image_type(url: str) -> str:
    """An enclosure's type from the image URL's extension; JPEG when it has none we know."""
    name = urlsplit(url).path.rpartition("/")[2]
    return IMAGE_TYPES.get(name.rpartition(".")[2].lower(), "image/jpeg") if "." in name else "image/jpeg"


def _full_content(config: Config, article: Article) -> str:
    return article.content if config.feeds.content == "full" else ""


def _terms(config: Config, article: Article) -> list[tuple[str, str]]:
    """(name, scheme as an attribute value) of each category name, then each tag."""
    categories, tags = xml_attr(categories_url(config.site.url)), xml_attr(tags_url(config.site.url))
    return [(name, categories) for name in article.category_names] + [(tag, tags) for tag in article.tags]


def _thumbnail(pad: str, article: Article) -> list[str]:
    return [pad, f'<media:thumbnail url="{xml_attr(article.image)}"/>'] if article.image else []


def rss_item(config: Config, article: Article, content_xml: str | None = None) -> str:
    """``content_xml``: what stands where the content goes (see ``entry_bytes``)."""
    site_url = config.site.url
    guid = entry_id(site_url, article, "rss")
    pad = "\n      "
    # the summary is plain text; readers take RSS descriptions as HTML, so it goes escaped
    summary = html.escape(article.summary, quote=False) if article.summary else ""
    content = _full_content(config, article)
    content_xml = xml_text(content) if content_xml is None else content_xml
    parts = ["    <item>", pad, "<title>", xml_text(article.title), "</title>",
             pad, "<link>", xml_text(item_link(site_url, article)), "</link>"]
    if summary or content:  # feedgen: the description is the summary, else the content
        parts += [pad, "<description>", xml_text(summary) if summary else content_xml, "</description>"]
    if summary and content:
        parts += [pad, "<content:encoded>", content_xml, "</content:encoded>"]
    parts += [pad, '<guid isPermaLink="true">', xml_text(guid), "</guid>"]
    parts += [f'{pad}<category domain="{scheme}">{xml_text(name)}</category>' for name, scheme in _terms(config, article)]
    if article.image:
        parts += [pad, f'<enclosure url="{xml_attr(article.image)}" length="0" type="{xml_attr(image_type(article.image))}"/>']
    parts += [pad, "<pubDate>", rfc822(article.published), "</pubDate>"]
    if article.author:
        parts += [pad, "<dc:creator>", xml_text(article.author), "</dc:creator>"]
    parts += _thumbnail(pad, article)
    parts.append("\n    </item>\n")
    return "".join(parts)


def atom_entry(config: Config, article: Article, content_xml: str | None = None) -> str:
    site_url = config.site.url
    pad = "\n    "
    content = _full_content(config, article)
    parts = ["  <entry>", pad, "<id>", xml_text(entry_id(site_url, article)), "</id>",
             pad, "<title>", xml_text(article.title), "</title>",
             pad, "<updated>", article.updated.isoformat(), "</updated>"]
    if article.author:
        parts += [pad, "<author>", pad, "  <name>", xml_text(article.author), "</name>", pad, "</author>"]
    if content:
        parts += [pad, f'<content type="{_CONTENT_TYPE}">', xml_text(content) if content_xml is None else content_xml,
                  "</content>"]
    parts += [pad, f'<link href="{xml_attr(item_link(site_url, article))}"/>']  # feedgen writes no rel
    if article.summary:
        summary = html.escape(article.summary, quote=False)
        parts += [pad, f'<summary type="{_CONTENT_TYPE}">', xml_text(summary), "</summary>"]
    parts += [f'{pad}<category term="{xml_attr(name)}" scheme="{scheme}"/>' for name, scheme in _terms(config, article)]
    parts += [pad, "<published>", article.published.isoformat(), "</published>"]
    parts += _thumbnail(pad, article)
    parts.append("\n  </entry>\n")
    return "".join(parts)


def json_item(config: Config, article: Article) -> dict[str, Any]:
    site_url = config.site.url
    item: dict[str, Any] = {"id": entry_id(site_url, article, "json"), "url": item_link(site_url, article),
                            "title": article.title}
    content = _full_content(config, article)
    if content:
        item["content_html"] = content
    else:
        item["content_text"] = article.summary
    if article.summary:
        item["summary"] = article.summary
    if article.image:
        item["image"] = article.image
    item["date_published"] = article.published.isoformat()
    item["date_modified"] = article.updated.isoformat()
    if article.author:
        item["authors"] = [{"name": article.author}]
    if article.categories or article.tags:
        item["tags"] = list(dict.fromkeys(article.category_names + article.tags))
    return item


def json_entry(config: Config, article: Article) -> str:
    """``json.dumps(json_item(...), ensure_ascii=False, indent=2)`` as it sits two levels deep
    in a feed's ``items`` (json.dumps walks an indented value in Python: 3x slower)."""
    fields = []
    for key, value in json_item(config, article).items():
        if isinstance(value, str):
            text = json_string(value)
        elif not value:
            text = "[]"
        elif key == "authors":
            text = _json_list(f'{{\n          "name": {json_string(a["name"])}\n        }}' for a in value)
        else:
            text = _json_list(json_string(tag) for tag in value)
        fields.append(f"{json_string(key)}: {text}")
    return "{\n      " + ",\n      ".join(fields) + "\n    }"


def _json_list(values: Iterable[str]) -> str:
    return "[\n        " + ",\n        ".join(values) + "\n      ]"


def xml_content(config: Config, article: Article) -> str:
    """The article's content as both its RSS item and its Atom entry hold it, character for
    character (an index keeps it once for the two: see ``site.StoredEntries``)."""
    return xml_text(_full_content(config, article))


def entry_bytes(config: Config, article: Article, fmt: str, content_xml: str | None = None) -> bytes:
    """The article's entry as it is inside any feed of format ``fmt``. ``content_xml``: in an
    RSS item or Atom entry, what goes where the content does: ``xml_content``, already made,
    or a mark that stands in for it (a JSON item holds its content otherwise, and as it is)."""
    if fmt == "rss":
        return rss_item(config, article, content_xml).encode()
    if fmt == "atom":
        return atom_entry(config, article, content_xml).encode()
    return json_entry(config, article).encode()
