"""Pages: the HTML index page (every feed, the latest articles, autodiscovery) and article pages."""

from __future__ import annotations

from dataclasses import dataclass

from jinja2 import Environment, PackageLoader, select_autoescape

from .config import Config
from .model import FORMAT_TYPES, Article, FeedSpec
from .urls import INDEX_PATH, OPML_PATH, absolute, all_feed_path, article_url, feed_path, item_link

_ENV = Environment(loader=PackageLoader("feedsvc"), autoescape=select_autoescape(default=True),
                   trim_blocks=True, lstrip_blocks=True, keep_trailing_newline=True)
FORMAT_LABELS = {"rss": "RSS", "atom": "Atom", "json": "JSON Feed"}


@dataclass(frozen=True)
class FeedListing:
    spec: FeedSpec
    count: int  # items the feed holds now


def render_index(config: Config, feeds: list[FeedListing], latest: list[Article]) -> bytes:
    html = _ENV.get_template("index.html").render(
        site=config.site, feeds=feeds, latest=latest, formats=config.feeds.formats,
        labels=FORMAT_LABELS, types=FORMAT_TYPES, link=lambda a: item_link(config.site.url, a),
        page=lambda a: article_url(config.site.url, a.id), opml=absolute(config.site.url, OPML_PATH),
        feed_url=lambda spec, fmt: absolute(config.site.url, feed_path(spec, fmt)),
    )
    return html.encode("utf-8")


def render_article(config: Config, article: Article) -> bytes:
    html = _ENV.get_template("article.html").render(
        site=config.site, article=article, home=absolute(config.site.url, INDEX_PATH),
        all_feed=absolute(config.site.url, all_feed_path("atom")))
    return html.encode("utf-8")
