"""URL filters: RSSHub's query parameters on any feed the server answers, so that its users need
nothing new (``?filter=``, ``?filterout_title=``, ``?filter_time=``, ``?brief=``, ``?opencc=``...).

Parsing (``parse``) and applying (``keep``, ``transform``) are pure: query values in, a
``Filters`` value out; articles in, articles out. Regexes run on RE2, whose matching time is
linear in the text whatever the pattern, so ``(a+)+$`` cannot hang a worker; a pattern RE2
cannot compile, or one longer than ``filters.regex_max``, is a ``FilterError`` naming the
parameter (the web layer answers 400).
"""

from __future__ import annotations

import html
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from functools import cache
from typing import Any
from urllib.parse import urlencode

from feedsvc.errors import FeedsvcError
from feedsvc.model import Article
from feedsvc.parse.rewrite import plain_text, truncate
from feedsvc.urls import MAX_DIGITS

FIELDS = ("title", "description", "author", "category")
# "filter" alone looks at the title and the description, as RSSHub's does
REGEX_PARAMS = ("filter", *(f"filter_{f}" for f in FIELDS), "filterout", *(f"filterout_{f}" for f in FIELDS))
OPENCC = ("s2t", "t2s", "s2tw", "tw2s", "s2hk", "hk2s")
MIN_BRIEF = 100
NAMES = (*REGEX_PARAMS, "filter_case_sensitive", "filter_time", "brief", "sorted", "opencc")


class FilterError(FeedsvcError):
    def __init__(self, param: str, message: str) -> None:
        self.param, self.message = param, message
        super().__init__(f"{param}: {message}")


@dataclass(frozen=True)
class Filters:
    """What a query asks of a feed; ``query`` is its canonical form (the cache key, and what
    the filtered feed's self link carries)."""

    keep_if: tuple[tuple[str, Any], ...] = ()  # (parameter, compiled regex): all must match
    drop_if: tuple[tuple[str, Any], ...] = ()  # any that matches drops the item
    newer_than: int | None = None  # seconds (filter_time)
    brief: int | None = None
    opencc: str | None = None
    query: str = ""


def parse(args: Mapping[str, str], regex_max: int) -> Filters | None:
    """The filters a query names, or None when it names none (unknown parameters are ignored,
    as RSSHub does; ``limit`` is the web layer's, as for any feed)."""
    given = {name: args[name] for name in NAMES if name in args}
    if not given:
        return None
    case_sensitive = given.get("filter_case_sensitive", "true").lower() not in ("false", "0", "no")
    regexes = [(name, _regex(name, given[name], regex_max, case_sensitive)) for name in REGEX_PARAMS if name in given]
    opencc = given.get("opencc")
    if opencc is not None and opencc not in OPENCC:
        raise FilterError("opencc", f"expected one of {', '.join(OPENCC)}")
    brief = _number(given, "brief")
    if brief is not None and brief < MIN_BRIEF:
        raise FilterError("brief", f"must be at least {MIN_BRIEF}")
    return Filters(keep_if=tuple((n, r) for n, r in regexes if n.startswith("filter_") or n == "filter"),
                   drop_if=tuple((n, r) for n, r in regexes if n.startswith("filterout")),
                   newer_than=_number(given, "filter_time"), brief=brief, opencc=opencc,
                   query=urlencode(sorted(given.items())))


def _number(given: dict[str, str], name: str) -> int | None:
    value = given.get(name)
    if value is None:
        return None
    if not (value.isascii() and value.isdigit()) or len(value.lstrip("0")) > MAX_DIGITS:
        raise FilterError(name, "expected a whole number")
    return int(value)


def _regex(name: str, pattern: str, regex_max: int, case_sensitive: bool) -> Any:
    import re2  # google-re2: loaded by the first filtered request only

    if len(pattern) > regex_max:
        raise FilterError(name, f"longer than filters.regex_max ({regex_max})")
    options = re2.Options()
    options.case_sensitive = case_sensitive
    options.log_errors = False
    try:
        return re2.compile(pattern, options)
    except re2.error as e:
        raise FilterError(name, "not a regular expression RE2 accepts") from e


def _texts(article: Article, param: str) -> list[str]:
    """What a parameter looks at in an item: its title, its description (the HTML content, as
    RSSHub matches the description it would send), its author, its categories and tags."""
    field = param.partition("_")[2]
    if field == "title":
        return [article.title]
    if field == "description":
        return [article.content]
    if field == "author":
        return [article.author]
    if field == "category":
        return [*article.category_names, *article.tags]
    return [article.title, article.content]  # "filter", "filterout"


def keep(filters: Filters, article: Article, now: datetime) -> bool:
    if filters.newer_than is not None and article.published < now - timedelta(seconds=filters.newer_than):
        return False
    def found(param: str, regex: Any) -> bool:
        return any(regex.search(text) for text in _texts(article, param))

    return all(found(p, r) for p, r in filters.keep_if) and not any(found(p, r) for p, r in filters.drop_if)


def transform(filters: Filters, article: Article) -> Article:
    """The item as the query wants it shown: in brief, and in the Chinese script asked for."""
    if filters.brief is not None:
        text = truncate(plain_text(article.content) or article.summary, filters.brief)
        article = replace(article, summary=text, content=f"<p>{html.escape(text)}</p>")
    if filters.opencc is not None:
        convert = _converter(filters.opencc)
        article = replace(article, title=convert(article.title), summary=convert(article.summary),
                          content=convert(article.content))
    return article


@cache
def _converter(name: str) -> Callable[[str], str]:
    import opencc  # OpenCC's own dictionaries: loaded by the first ?opencc= request only

    return opencc.OpenCC(f"{name}.json").convert
