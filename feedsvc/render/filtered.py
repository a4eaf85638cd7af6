"""A feed under RSSHub's URL filters, as the web app serves it (apart from ``site``: the filters
load RE2 and OpenCC, which a build never needs)."""

from __future__ import annotations

from datetime import datetime, timedelta

from feedsvc.config import Config
from feedsvc.feeds import filters
from feedsvc.model import FORMAT_TYPES, Article, Document, FeedSpec, Page
from feedsvc.render.documents import feed_updated, pace_of, render_feed, with_stylesheet
from feedsvc.render.site import stylesheet_href
from feedsvc.store import Store

FILTER_WINDOW = 1000  # the newest items of a feed a filtered view looks through
FILTER_CHUNK = 100  # loaded at a time: a query that finds its items early loads no more


def filtered_page(index: Store, config: Config, spec: FeedSpec, fmt: str, wanted: filters.Filters, limit: int,
                  now: datetime) -> Page:
    """A feed's view under URL filters: the newest ``limit`` of its ``FILTER_WINDOW`` newest
    items that the filters keep, shown as they ask. Rendered whole (no stored entries: brief
    and opencc change them), with its query in its self link and no archive or hub links."""
    since = now.replace(microsecond=0) - timedelta(seconds=wanted.newer_than or 0)
    cutoff = since.isoformat() if wanted.newer_than is not None else ""  # the index's dates: UTC, ISO 8601
    paths = [path for path, _, published in index.history(spec.query, FILTER_WINDOW) if published >= cutoff]
    chosen: list[Article] = []
    for start in range(0, len(paths), FILTER_CHUNK):
        chunk = paths[start:start + FILTER_CHUNK]
        found = index.articles_by_path(chunk)
        chosen += [filters.transform(wanted, a) for p in chunk if (a := found.get(p)) and filters.keep(wanted, a, now)]
        if len(chosen) >= limit:
            break
    chosen = chosen[:limit]
    doc = Document(spec, query=f"{wanted.query}&limit={limit}" if limit != spec.limit else wanted.query)
    body = render_feed(config, doc, chosen, fmt)
    if fmt in ("rss", "atom"):
        body = with_stylesheet(body, stylesheet_href(config))
    return Page(body, FORMAT_TYPES[fmt] + "; charset=utf-8", feed_updated(chosen),
                pace_of(config, [a.updated for a in chosen]).max_age)
