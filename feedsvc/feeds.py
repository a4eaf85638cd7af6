"""Feeds: which feeds exist (all, each channel, each category) and which articles each shows.

Only the scanner writes here (slugs for new categories); everything else reads."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

from .config import Channel, Config
from .index import Index
from .model import Article, FeedQuery, FeedSpec, Selection


def auto_slug(name: str) -> str:
    """Pinyin for CJK, ASCII transliteration for the rest; a hash when nothing is left."""
    from pypinyin import lazy_pinyin  # 150 ms to import: only when a new category appears
    from slugify import slugify

    slug = slugify(" ".join(lazy_pinyin(name)), max_length=80, word_boundary=True)
    return slug or "c-" + hashlib.sha1(name.encode("utf-8")).hexdigest()[:8]


def assign_slugs(names: Sequence[str], fixed: dict[str, str], existing: dict[str, str]) -> dict[str, str]:
    """New slugs for names that have none yet; a slug once given is never given to another name."""
    taken = set(fixed.values()) | set(existing.values())
    assigned = {}
    for name in sorted(set(names) - set(fixed) - set(existing)):
        base = auto_slug(name)
        slug, n = base, 2
        while slug in taken:
            slug, n = f"{base}-{n}", n + 1
        taken.add(slug)
        assigned[name] = slug
    return assigned


def assign_category_slugs(index: Index, config: Config) -> None:
    """Give every new category its slug; the scanner calls this, web workers only read."""
    index.add_slugs(assign_slugs(index.category_names(), config.category_slugs, index.slugs()))


def category_slugs(index: Index, config: Config) -> dict[str, str]:
    """Slug of every category: ``category_slugs`` first, then the ones kept in the index."""
    stored = index.slugs()
    found = ((name, config.category_slugs.get(name) or stored.get(name)) for name in index.category_names())
    return {name: slug for name, slug in found if slug}


def channel_query(channel: Channel) -> FeedQuery:
    return FeedQuery(category_names=channel.categories, exclude_names=channel.exclude_categories,
                     tags=channel.tags, authors=channel.authors, match=channel.match)


def feed_specs(index: Index, config: Config) -> list[FeedSpec]:
    """Every feed, in the order the index page and OPML list them."""
    site, limit = config.site, config.feeds.limit
    specs = [FeedSpec("all", ("all",), site.title, site.description, limit)]
    for ch in config.channels:
        specs.append(FeedSpec("channel", (ch.slug,), ch.title, ch.description or ch.title, ch.limit or limit,
                              channel_query(ch)))
    if config.feeds.categories:
        for name, slug in sorted(category_slugs(index, config).items(), key=lambda kv: kv[1]):
            specs.append(FeedSpec("category", (slug,), name, f"{site.title}: {name}", limit,
                                  FeedQuery(category_names=(name,)), names=(name,)))
    return specs


def select(index: Index, spec: FeedSpec, limit: int | None = None) -> Selection:
    """The newest articles of a feed, as file paths plus a digest of what they hold."""
    return index.select(spec.query, spec.limit if limit is None else min(limit, spec.limit))


def items(index: Index, selection: Selection) -> list[Article]:
    return index.articles_at(selection.paths)
