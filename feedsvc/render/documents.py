"""Render: a feed's articles as RSS 2.0, Atom 1.0 or JSON Feed 1.1 bytes, and OPML 2.0.

Feeds are served and exported spliced: a document's head written here, the entries rendered
once per article (``entries``). ``render_feed`` renders a whole feed with feedgen, the
reference those bytes are tested against; feedgen (and dateutil with it, 22 ms) is loaded
only then. feedgen is kept behind this module because of its traps: it stamps "now" on feeds
that are not given a date, drops RSS authors without an e-mail (so ``dc:creator`` carries the
name), turns an Atom entry's enclosure into a second alternate link (so the image is a
media:thumbnail there and an enclosure only in RSS), and raises on control characters (the
rewrite stage removes them). Output depends only on the inputs: the same index gives the same
bytes.
"""

from __future__ import annotations

import html
import json
from collections.abc import Callable, Sequence
from datetime import datetime
from functools import cache
from typing import Any

from lxml import etree

from feedsvc import __version__
from feedsvc.config import Config
from feedsvc.feeds.rhythm import Rhythm, rhythm
from feedsvc.model import EPOCH, FORMAT_TYPES, Article, Document, FeedSpec
from feedsvc.render.entries import image_type, json_item, rfc822, xml_attr, xml_text
from feedsvc.urls import (
    absolute,
    categories_url,
    document_path,
    entry_id,
    feed_base,
    feed_path,
    item_link,
    page_path,
    tags_url,
)

GENERATOR = "feedsvc"
ATOM_NS = "http://www.w3.org/2005/Atom"
HISTORY_NS = "http://purl.org/syndication/history/1.0"  # RFC 5005
SYNDICATION_NS = "http://purl.org/rss/1.0/modules/syndication/"
DC_NS = "http://purl.org/dc/elements/1.1/"
MEDIA_NS = "http://search.yahoo.com/mrss/"
CONTENT_NS = "http://purl.org/rss/1.0/modules/content/"
RSS_DOCS = "http://www.rssboard.org/rss-specification"  # feedgen's default <docs>


def history_links(config: Config, doc: Document, fmt: str) -> list[tuple[str, str]]:
    """(rel, absolute URL) of a feed document's WebSub hubs and RFC 5005 neighbours (a filtered
    view has neither: no hub is told of it, and it is no page of the archive chain)."""
    if doc.query:
        return []
    def url(page: int) -> str:
        return absolute(config.site.url, document_path(Document(doc.spec, page, doc.pages), fmt))

    links = [("hub", hub) for hub in config.push.hubs]
    if doc.is_archive:
        links.append(("current", url(0)))
        if doc.page > 1:
            links.append(("prev-archive", url(doc.page - 1)))
        if doc.page < doc.pages:
            links.append(("next-archive", url(doc.page + 1)))
    elif doc.pages:
        links.append(("prev-archive", url(doc.pages)))
    return links


class _History:
    """A feedgen extension (feedgen calls these three methods): atom:link elements feedgen cannot
    write (hub, current, prev-/next-archive: RSS has no links of its own, and RFC 5005 Appendix B
    uses Atom's), and an archive page's fh:archive."""

    def __init__(self, links: list[tuple[str, str]], archive: bool) -> None:
        self.links, self.archive = links, archive

    def extend_ns(self) -> dict[str, str]:
        return {"fh": HISTORY_NS} if self.archive else {}

    def _extend(self, parent: etree._Element, link: str) -> None:
        for rel, href in self.links:
            etree.SubElement(parent, link, rel=rel, href=href)
        if self.archive:
            etree.SubElement(parent, f"{{{HISTORY_NS}}}archive")

    def extend_atom(self, feed: etree._Element) -> etree._Element:
        self._extend(feed, "link")  # feedgen writes Atom's elements in the default namespace
        return feed

    def extend_rss(self, feed: etree._Element) -> etree._Element:
        self._extend(feed[0], f"{{{ATOM_NS}}}link")  # into <channel>, as atom:link
        return feed


class _Syndication:
    """A feedgen extension: RSS's ``sy:updatePeriod`` and ``sy:updateFrequency`` (feedgen's own
    syndication extension writes them capitalised, which no reader knows)."""

    def __init__(self, update: tuple[str, int] | None) -> None:
        self.update = update

    def extend_ns(self) -> dict[str, str]:
        return {"sy": SYNDICATION_NS} if self.update else {}

    def extend_atom(self, feed: etree._Element) -> etree._Element:
        return feed

    def extend_rss(self, feed: etree._Element) -> etree._Element:
        if self.update:
            period, frequency = self.update
            etree.SubElement(feed[0], f"{{{SYNDICATION_NS}}}updatePeriod").text = period
            etree.SubElement(feed[0], f"{{{SYNDICATION_NS}}}updateFrequency").text = str(frequency)
        return feed


def pace_of(config: Config, dates: Sequence[datetime]) -> Rhythm:
    """The cache hints of a feed document whose items are dated ``dates`` (see ``rhythm``)."""
    return rhythm(dates, config.feeds.cache_seconds, config.feeds.cache_max_seconds)


def feed_updated(articles: list[Article]) -> datetime:
    return max((a.updated for a in articles), default=EPOCH)


@cache
def _extensions() -> tuple[tuple[str, type, type], ...]:
    """feedgen's dc and media extensions, by class: ``load_extension("dc")`` looks for a
    ``dc_entry`` module on every call, a search of the whole path. Imported here, after
    ``feedgen.feed``, which their module needs loaded first."""
    from feedgen.ext.dc import DcEntryExtension, DcExtension
    from feedgen.ext.media import MediaEntryExtension, MediaExtension

    return ("dc", DcExtension, DcEntryExtension), ("media", MediaExtension, MediaEntryExtension)


def _generator(config: Config, doc: Document, articles: list[Article], fmt: str) -> Any:
    """A ``FeedGenerator`` holding the document and its articles."""
    from feedgen.feed import FeedGenerator

    site, spec = config.site, doc.spec
    fg = FeedGenerator()
    for name, feed_extension, entry_extension in _extensions():
        fg.register_extension(name, feed_extension, entry_extension)
    history = _History(history_links(config, doc, fmt), doc.is_archive)
    fg.register_extension("history", lambda: history, None)  # feedgen wants a class: this one instance
    pace = pace_of(config, [a.updated for a in articles])
    syndication = _Syndication(pace.update if fmt == "rss" else None)
    fg.register_extension("syndication", lambda: syndication, None)
    fg.id(absolute(site.url, feed_path(spec, fmt)))  # an archive page is part of the same feed: same id
    fg.title(spec.title)
    fg.description(spec.description or spec.title)
    fg.author({"name": site.author or site.title})
    fg.link(href=absolute(site.url, document_path(doc, fmt)), rel="self", type=FORMAT_TYPES[fmt])
    # the document's page for people; last: feedgen makes the last link RSS's <link>
    fg.link(href=absolute(site.url, page_path(doc)), rel="alternate", type="text/html")
    fg.language(site.language)
    fg.generator(GENERATOR, version=__version__)
    if site.icon:
        fg.icon(site.icon)
        fg.image(site.icon, spec.title, absolute(site.url, page_path(doc)))  # feedgen: also Atom's <logo>
    updated = feed_updated(articles)
    fg.updated(updated)
    fg.lastBuildDate(updated)
    fg.ttl(pace.ttl)
    for article in articles:
        _entry(fg, config, article, fmt)
    return fg


def _entry(fg: Any, config: Config, article: Article, fmt: str) -> Any:
    fe = fg.add_entry(order="append")
    fe.id(entry_id(config.site.url, article, fmt))
    fe.guid(entry_id(config.site.url, article, "rss"), permalink=True)
    fe.title(article.title)
    fe.link(href=item_link(config.site.url, article), rel="alternate")
    fe.published(article.published)
    fe.updated(article.updated)
    if article.author:
        fe.author({"name": article.author}) if fmt == "atom" else fe.dc.dc_creator(article.author)
    for name in article.category_names:
        fe.category(term=name, scheme=categories_url(config.site.url))
    for tag in article.tags:
        fe.category(term=tag, scheme=tags_url(config.site.url))
    if article.summary:
        # the summary is plain text; readers (and validators) take RSS descriptions as HTML, so
        # "<script>" written in a post's prose must arrive as text, escaped, in both formats
        escaped = html.escape(article.summary, quote=False)
        fe.summary(escaped, type="html") if fmt == "atom" else fe.description(escaped)
    if config.feeds.content == "full" and article.content:
        fe.content(article.content, type="html")
    if article.image:
        fe.media.thumbnail(url=article.image, group=None)  # a lone thumbnail needs no media:group
        if fmt == "rss":
            fe.enclosure(article.image, "0", image_type(article.image))
    return fe


def render_xml(config: Config, doc: Document, articles: list[Article], fmt: str) -> bytes:
    fg = _generator(config, doc, articles, fmt)
    xml: bytes = fg.rss_str(pretty=True) if fmt == "rss" else fg.atom_str(pretty=True)
    return xml


def render_json(config: Config, doc: Document, articles: list[Article]) -> bytes:
    """JSON Feed pages with ``next_url`` alone (it has no archive links): the feed leads to its
    newest archive page, each page to the one before it."""
    site, spec = config.site, doc.spec
    feed: dict[str, object] = {
        "version": "https://jsonfeed.org/version/1.1",
        "title": spec.title,
        "home_page_url": absolute(site.url, page_path(doc)),
        "feed_url": absolute(site.url, document_path(doc, "json") if doc.query else feed_path(spec, "json")),
        "description": spec.description,
        "language": site.language,
        "authors": [{"name": site.author or site.title}],
        **({"icon": site.icon} if site.icon else {}),
    }
    older = dict(history_links(config, doc, "json")).get("prev-archive")
    if older:
        feed["next_url"] = older
    if config.push.hubs:
        feed["hubs"] = [{"type": "WebSub", "url": hub} for hub in config.push.hubs]
    feed["items"] = [json_item(config, a) for a in articles]  # last: render_spliced counts on it
    return json.dumps(feed, ensure_ascii=False, indent=2).encode("utf-8") + b"\n"


def render_feed(config: Config, doc: Document, articles: list[Article], fmt: str) -> bytes:
    if fmt == "json":
        return render_json(config, doc, articles)
    return render_xml(config, doc, articles, fmt)


# -- the same bytes from entries rendered once ---------------------------------
#
# An article's <entry> (<item>, JSON item) is the same bytes in every feed and archive page it
# is in: the same depth, the same namespace prefixes (declared on the root). An export that
# writes an article into five feeds renders it once (entries.entry_bytes) and splices it in,
# for the bytes render_feed makes (a test compares every file of an export with the server's
# rendering, and the property test spliced feeds with feedgen's).

_CLOSE = {"atom": b"</feed>", "rss": b"  </channel>"}
_JSON_ITEMS = b'"items": []\n}\n'


def render_spliced(config: Config, doc: Document, dates: Sequence[datetime], entries: list[bytes], fmt: str,
                   stylesheet: str | None = None) -> bytes:
    """What ``render_feed`` makes of articles whose entries are ``entries`` (from ``entry_bytes``)
    and whose updated dates are ``dates``, with an ``xml-stylesheet`` instruction for
    ``stylesheet`` (XML formats). The document is joined once: at 10,000 articles, each copy of
    every feed and archive page is 2.4 GB."""
    if fmt == "json":
        shell = render_json(config, doc, [])
        if not entries:
            return shell
        parts = [shell.removesuffix(_JSON_ITEMS), b'"items": [\n    ']
        for entry in entries:
            parts += (entry, b",\n    ")
        parts[-1] = b"\n  ]\n}\n"
        return b"".join(parts)
    shell = xml_shell(config, doc, fmt, max(dates, default=EPOCH), pace_of(config, dates))
    if stylesheet:
        shell = with_stylesheet(shell, stylesheet)
    at = shell.rindex(_CLOSE[fmt])
    return b"".join([shell[:at], *entries, shell[at:]])


def xml_shell(config: Config, doc: Document, fmt: str, updated: datetime, pace: Rhythm) -> bytes:
    """An RSS or Atom document without entries, as feedgen writes it (``render_feed`` of no
    articles but dated ``updated``): the same elements, order, namespaces and escaping."""
    site, spec = config.site, doc.spec
    prefixes = [("dc", DC_NS), ("media", MEDIA_NS), *([("fh", HISTORY_NS)] if doc.is_archive else [])]
    self_link = xml_attr(absolute(site.url, document_path(doc, fmt)))
    home = absolute(site.url, page_path(doc))
    title, description = xml_text(spec.title), xml_text(spec.description or spec.title)
    history = [f'<{"atom:" if fmt == "rss" else ""}link rel="{rel}" href="{xml_attr(href)}"/>'
               for rel, href in history_links(config, doc, fmt)] + (["<fh:archive/>"] if doc.is_archive else [])
    if fmt == "rss":
        syndication = [("sy", SYNDICATION_NS)] if pace.update else []
        namespaces = " ".join(f'xmlns:{prefix}="{ns}"' for prefix, ns in [*prefixes, *syndication, ("atom", ATOM_NS),
                                                                          ("content", CONTENT_NS)])
        head = [f"<title>{title}</title>", f"<link>{xml_text(home)}</link>", f"<description>{description}</description>",
                f'<atom:link href="{self_link}" rel="self" type="{FORMAT_TYPES[fmt]}"/>', f"<docs>{RSS_DOCS}</docs>",
                f"<generator>{GENERATOR}</generator>"]
        if site.icon:
            head += ["<image>", f"  <url>{xml_text(site.icon)}</url>", f"  <title>{title}</title>",
                     f"  <link>{xml_text(home)}</link>", "</image>"]
        head += [f"<language>{xml_text(site.language)}</language>"] if site.language else []
        head += [f"<lastBuildDate>{rfc822(updated)}</lastBuildDate>", f"<ttl>{pace.ttl}</ttl>", *history]
        if pace.update:
            head += [f"<sy:updatePeriod>{pace.update[0]}</sy:updatePeriod>",
                     f"<sy:updateFrequency>{pace.update[1]}</sy:updateFrequency>"]
        lines = [f'<rss {namespaces} version="2.0">', "  <channel>", *("    " + line for line in head),
                 "  </channel>", "</rss>"]
    else:
        namespaces = " ".join(f'xmlns:{prefix}="{ns}"' for prefix, ns in prefixes) + f' xmlns="{ATOM_NS}"'
        lang = f' xml:lang="{xml_attr(site.language)}"' if site.language else ""
        head = [f"<id>{xml_text(absolute(site.url, feed_path(spec, fmt)))}</id>", f"<title>{title}</title>",
                f"<updated>{updated.isoformat()}</updated>"]
        author = site.author or site.title
        head += ["<author>", f"  <name>{xml_text(author)}</name>", "</author>"] if author else []
        head += [f'<link href="{self_link}" rel="self" type="{FORMAT_TYPES[fmt]}"/>',
                 f'<link href="{xml_attr(home)}" rel="alternate" type="text/html"/>',
                 f'<generator version="{xml_attr(__version__)}">{GENERATOR}</generator>',
                 *([f"<icon>{xml_text(site.icon)}</icon>", f"<logo>{xml_text(site.icon)}</logo>"] if site.icon else []),
                 f"<subtitle>{description}</subtitle>", *history]
        lines = [f"<feed {namespaces}{lang}>", *("  " + line for line in head), "</feed>"]
    return ("<?xml version='1.0' encoding='UTF-8'?>\n" + "\n".join(lines) + "\n").encode()


def with_stylesheet(xml: bytes, href: str) -> bytes:
    """The feed with an ``xml-stylesheet`` instruction after its XML declaration."""
    declaration_end = xml.index(b"?>") + 2
    pi = f'\n<?xml-stylesheet type="text/xsl" href="{href}"?>'.encode()
    return xml[:declaration_end] + pi + xml[declaration_end:]


def render_opml(config: Config, specs: list[FeedSpec]) -> bytes:
    """OPML 2.0: ``all`` and the channels, the category tree as nested folders (each holding
    its node's own feed and its children's folders), then a ``Tags`` folder."""
    from xml.sax.saxutils import escape, quoteattr  # it imports urllib.request: 50 ms a build seldom needs

    site = config.site
    xml_formats = [f for f in ("rss", "atom") if f in config.feeds.formats]
    lines = ['<?xml version="1.0" encoding="UTF-8"?>', '<opml version="2.0">', "  <head>",
             f"    <title>{escape(site.title)}</title>", "  </head>", "  <body>"]
    if xml_formats:
        def outline(spec: FeedSpec, text: str, depth: int) -> str:
            url = absolute(site.url, feed_path(spec, xml_formats[0]))
            return (f'{"  " * depth}<outline type="rss" text={quoteattr(text)} title={quoteattr(text)}'
                    f" xmlUrl={quoteattr(url)} htmlUrl={quoteattr(absolute(site.url, feed_base(spec)))}/>")

        lines += [outline(s, s.title, 2) for s in specs if s.kind in ("all", "channel")]
        lines += _category_folders(specs, outline)
        tags = [outline(s, s.names[0], 3) for s in specs if s.kind == "tag"]
        if tags:
            lines += ['    <outline text="Tags">', *tags, "    </outline>"]
    lines += ["  </body>", "</opml>", ""]
    return "\n".join(lines).encode("utf-8")


def _category_folders(specs: list[FeedSpec], outline: Callable[[FeedSpec, str, int], str]) -> list[str]:
    """Nested folder outlines; ``specs`` list every node before its children."""
    from xml.sax.saxutils import quoteattr

    children: dict[tuple[str, ...], list[FeedSpec]] = {}
    for spec in specs:
        if spec.kind == "category":
            children.setdefault(spec.slugs[:-1], []).append(spec)

    def folder(spec: FeedSpec, depth: int) -> list[str]:
        pad = "  " * depth
        inner = [outline(spec, spec.names[-1], depth + 1)]
        for child in children.get(spec.slugs, ()):
            inner += folder(child, depth + 1)
        return [f"{pad}<outline text={quoteattr(spec.names[-1])}>", *inner, f"{pad}</outline>"]

    return [line for root in children.get((), ()) for line in folder(root, 2)]
