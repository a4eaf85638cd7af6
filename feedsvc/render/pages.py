"""Pages: the HTML index page (a map of every feed, the latest articles, autodiscovery) and
article pages. Dates are shown in ``site.timezone``."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from datetime import datetime
from functools import cache
from pathlib import Path

from jinja2 import BytecodeCache, Environment, FileSystemBytecodeCache, PackageLoader, select_autoescape
from jinja2.bccache import Bucket
from markupsafe import Markup, escape

from feedsvc.config import Config
from feedsvc.feeds.tree import Tree, spec_line
from feedsvc.model import EPOCH, FORMAT_TYPES, Article, Document, FeedSpec
from feedsvc.urls import (
    INDEX_PATH,
    OPML_PATH,
    STYLE_PATH,
    absolute,
    all_feed_path,
    article_url,
    feed_path,
    item_link,
    page_path,
    relative,
    root_relative,
)


class QuietBytecodeCache(FileSystemBytecodeCache):
    """Compiled templates kept between runs in jinja's per-user temporary folder: compiling the
    article and index templates was 40 ms of a one-file build. One that cannot be written is
    no cache, never a failed page."""

    def load_bytecode(self, bucket: Bucket) -> None:
        try:
            super().load_bytecode(bucket)
        except OSError:
            pass

    def dump_bytecode(self, bucket: Bucket) -> None:
        try:
            super().dump_bytecode(bucket)
        except OSError:
            pass


def _bytecode_cache() -> BytecodeCache | None:
    try:
        return QuietBytecodeCache()
    except (OSError, RuntimeError):  # no safe temporary folder of our own
        return None


@cache
def environment() -> Environment:
    """The templates, loaded when the first page is rendered (or when the app is built, which
    asks for them), not when the module is imported: a build that renders no page never
    touches jinja's bytecode folder."""
    # auto_reload off: the templates ship inside the package, and checking each one's mtime on
    # every render cost a tenth of an export's article pages
    return Environment(loader=PackageLoader("feedsvc.render"), autoescape=select_autoescape(default=True),
                       trim_blocks=True, lstrip_blocks=True, keep_trailing_newline=True,
                       bytecode_cache=_bytecode_cache(), auto_reload=False)


FORMAT_LABELS = {"rss": "RSS", "atom": "Atom", "json": "JSON Feed"}


CHILDREN_ON_INDEX = 12  # of each top category: the rest are on its page
TAGS_ON_INDEX = 100  # the largest tags: the index page stays small whatever the tree (each tag's page lists its articles)


@cache
def style() -> bytes:
    """The pages' one stylesheet (read from the package's folder, as the templates are)."""
    return (Path(__file__).parent / "templates" / "style.css").read_bytes()


@cache
def _style_version() -> str:
    return hashlib.sha1(style()).hexdigest()[:10]


def style_href(config: Config) -> str:
    """Root-relative, versioned by its bytes: cached for long, yet a new version is fetched at once."""
    return f"{root_relative(config.site.url, STYLE_PATH)}?v={_style_version()}"


def _local_time(config: Config) -> Callable[[datetime], str]:
    """A date as pages show it, in ``site.timezone``."""
    zone = config.site.tz

    def local(when: datetime) -> str:
        return "" if when == EPOCH else when.astimezone(zone).strftime("%Y-%m-%d %H:%M")

    return local


def _helpers(config: Config) -> dict[str, object]:
    site = config.site
    return {"site": site, "local": _local_time(config), "style_href": style_href(config), "formats": config.feeds.formats,
            "labels": FORMAT_LABELS,
            "types": FORMAT_TYPES, "home": absolute(site.url, INDEX_PATH),
            "feed_url": lambda spec, fmt: absolute(site.url, feed_path(spec, fmt)),
            "relative_url": lambda spec, fmt: relative(feed_path(spec, fmt)),
            "page_link": lambda spec: relative(page_path(Document(spec)))}  # the feed's page, from /


def index_signature(tree: Tree) -> str:
    """Every feed fact the index page shows (its latest articles aside): the top of the tree,
    the first children of each node there, the largest tags. After one edit, it is read from a
    few nodes, whatever the size of the tree."""
    lines = [spec_line(spec) for spec in tree.feeds]
    for spec in tree.top():
        children = tree.below(spec)
        lines += [spec_line(spec), str(len(children)), *(spec_line(c) for c in children[:CHILDREN_ON_INDEX])]
    lines += [str(tree.tag_count()), *(spec_line(tag) for tag in tree.largest_tags(TAGS_ON_INDEX))]
    return "\n".join(lines)


def render_index(config: Config, tree: Tree, latest: list[Article]) -> bytes:
    site_url = config.site.url
    html = environment().get_template("index.html").render(
        **_helpers(config), feeds=tree.feeds, tree=tree,
        top=tree.top(), shown_children=CHILDREN_ON_INDEX, tags=tree.largest_tags(TAGS_ON_INDEX),
        tag_count=tree.tag_count(), latest=latest, opml=absolute(site_url, OPML_PATH),
        link=lambda a: item_link(site_url, a), page=lambda a: article_url(site_url, a.id))
    return html.encode("utf-8")


def render_article(config: Config, article: Article, tree: Tree) -> bytes:
    """An article as a page; its categories and tags lead to their feeds' pages."""
    links = _term_links(config, tree)
    html = environment().get_template("article.html").render(
        **_helpers(config), **links, article=article, all_feed=absolute(config.site.url, all_feed_path("atom")))
    return html.encode("utf-8")


def _term_links(config: Config, tree: Tree) -> dict[str, Callable[..., str]]:
    """``page_url(feed or document)``, and ``category_url(path of names)`` and ``tag_url(tag)``:
    the page of that feed, or "" when there is none."""
    site_url, known = config.site.url, tree.page_urls  # kept with the tree: an export renders thousands of pages

    def page_url(other: FeedSpec | Document) -> str:
        return absolute(site_url, page_path(other if isinstance(other, Document) else Document(other)))

    def url_of(kind: str, key: tuple[str, ...], found: FeedSpec | None) -> str:
        if (url := known.get((site_url, kind, *key))) is None:
            url = known[(site_url, kind, *key)] = page_url(found) if found else ""
        return url

    def category_url(names: tuple[str, ...]) -> str:
        return url_of("category", tuple(names), tree.category(tuple(names)))

    def tag_url(tag: str) -> str:
        return url_of("tag", (tag,), tree.tag(tag))

    return {"page_url": page_url, "category_url": category_url, "tag_url": tag_url}


def render_items(config: Config, articles: list[Article], tree: Tree) -> list[Markup]:
    """Each article as a feed page lists it: its ``<li>``, the same in every page that lists
    it (an article's categories and tags all have pages while it is published). Written here,
    not in a template: a template call per item cost more than the item, and a tree's feed
    pages are most of what an edit renders."""
    site_url, local = config.site.url, _local_time(config)
    links, made = _term_links(config, tree), dict[object, str]()
    return [Markup(_item(article, item_link(site_url, article), local(article.published),
                         _terms_of(article, links, made))) for article in articles]


def _item(article: Article, link: str, when: str, terms: str) -> str:
    lines = ["  <li>"]
    if article.image:
        lines.append(f'    <img class="thumb" src="{escape(article.image)}" alt="" loading="lazy"'
                     ' referrerpolicy="no-referrer" width="96" height="72">')
    lines.append(f'    <a class="title" href="{escape(link)}">{escape(article.title)}</a>')
    author = f" · {escape(article.author)}" if article.author else ""
    lines.append(f'    <p class="muted"><time datetime="{escape(article.published.isoformat())}">{escape(when)}</time>'
                 f"{author}{terms}</p>")
    if article.summary:
        lines.append(f"    <p>{escape(article.summary)}</p>")
    return "\n".join([*lines, "  </li>", ""])


def _terms_of(article: Article, links: dict[str, Callable[..., str]], made: dict[object, str]) -> str:
    """`` · A › B · #tag``: an item's categories, each level linked to its page, and tags.
    ``made``: the links made so far, by path or tag (the items of a page share most of theirs)."""
    parts = []
    for path in article.categories:
        if (part := made.get(path)) is None:
            part = made[path] = _crumbs(path, links["category_url"])
        parts.append(part)
    for tag in article.tags:
        if (part := made.get(tag)) is None:
            url = links["tag_url"](tag)
            part = made[tag] = f'<a href="{escape(url)}">#{escape(tag)}</a>' if url else f"#{escape(tag)}"
        parts.append(part)
    return "".join(f" · {part}" for part in parts)


def _crumbs(path: tuple[str, ...], category_url: Callable[[tuple[str, ...]], str]) -> str:
    crumbs = []
    for depth, name in enumerate(path, 1):
        url = category_url(path[:depth])
        crumbs.append(f'<a href="{escape(url)}">{escape(name)}</a>' if url else escape(name))
    return " › ".join(crumbs)


def render_feed_html(config: Config, doc: Document, og_image: str, tree: Tree, blocks: list[Markup]) -> bytes:
    """A feed document as a page for people: where it sits, how to subscribe, its items
    (``blocks``: each one's ``<li>``, from ``render_items``; ``og_image``: the first of their images)."""
    spec = doc.spec
    page_url = _term_links(config, tree)["page_url"]
    older = Document(spec, doc.pages if not doc.is_archive else doc.page - 1, doc.pages)
    newer = Document(spec, doc.page + 1 if doc.page < doc.pages else 0, doc.pages)
    title = " › ".join(spec.names) if spec.kind == "category" else (f"#{spec.names[0]}" if spec.kind == "tag" else spec.title)
    html = environment().get_template("feed.html").render(
        **_helpers(config), spec=spec, doc=doc, items=blocks, page_title=title, here=page_url(doc),
        description=spec.description or f"Articles of {title}, as RSS, Atom and JSON feeds", crumbs=[
            (above.names[-1], page_url(above)) for above in tree.above(spec)],
        children=[] if doc.is_archive else tree.below(spec),  # an archive page never changes once full
        page_url=page_url, og_image=og_image,
        older=page_url(older) if older.page >= 1 else "", newer=page_url(newer) if doc.is_archive else "")
    return html.encode("utf-8")
