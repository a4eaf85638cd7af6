"""Property: whatever front matter, HTML, character references and URLs a file holds, parsing
raises nothing but the documented ArticleError, and every format renders to a feed that parses.

Bounded so `make test` stays fast; `make fuzz` runs many more examples (FEEDSVC_FUZZ_EXAMPLES)."""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime

import feedparser
import yaml
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from feedsvc.articles import parse_article
from feedsvc.config import parse_config
from feedsvc.entries import entry_bytes
from feedsvc.errors import ArticleError
from feedsvc.model import Document, FeedSpec
from feedsvc.render import render_feed, render_spliced

CONFIG = parse_config({"sources": [{"path": "."}], "site": {"url": "https://feeds.example.com", "timezone": "Asia/Shanghai"},
                       "images": {"https_hosts": ["img.example"]}})
SUMMARIES_ONLY = parse_config({"sources": [{"path": "."}], "site": {"url": "https://feeds.example.com/"},
                               "feeds": {"content": "summary"}})
FEED = Document(FeedSpec("all", ("all",), "All", "Everything", 20))
EXAMPLES = int(os.environ.get("FEEDSVC_FUZZ_EXAMPLES", "60"))

any_text = st.text(st.characters(codec="utf-8"), max_size=40)  # control characters, U+FFFE, emoji: all of it
names = st.one_of(any_text, st.integers(), st.none())
category_values = st.recursive(names, lambda inner: st.lists(inner, max_size=4), max_leaves=12)
dates = st.one_of(st.sampled_from(["0999-06-01", "0001-01-01T00:00:00+08:00", "9999-12-31T23:59:59-14:00",
                                   "2022-13-45", "Mon, 13 Sep 2021 20:43:00 GMT", "2021-09-13 20:43"]),
                  any_text, st.datetimes(), st.integers())
urls = st.one_of(st.sampled_from(["http://[::1", "https://cors.zfour.workers.dev/?http://img.example/a.jpg",
                                  "javascript:alert(1)", "//cdn.example/x.png", "data:image/png;base64,AA==",
                                  "http://x:notaport/", "/relative.png", "x.png", "http://img.example/a b.jpg"]),
                 any_text.map(lambda s: "http://example.com/" + s))
char_refs = st.integers(min_value=0, max_value=0x11FFFF).flatmap(
    lambda n: st.sampled_from([f"&#{n};", f"&#x{n:x};", f"&#X{n:X}", f"&#{n}"]))
fragments = st.one_of(
    any_text.map(lambda s: s.replace("<", "&lt;")), char_refs,
    urls.map(lambda u: f'<img src="{u}" data-original="{u}" srcset="{u} 2x">'),
    urls.map(lambda u: f'<a href="{u}" onclick="x()">link</a>'),
    urls.map(lambda u: f'<iframe src="{u}"></iframe>'),
    st.sampled_from(["<html></html>", "<!doctype html>", "<div>", "</div>", "<script>alert(1)</script>", "]]>",
                     "<p>", "<![CDATA[", "<!-- more -->", "<body>", "<table><tr><td>", "\x00", "\r\n", "<svg onload=x>"]),
    st.integers(min_value=1, max_value=400).map(lambda depth: "<div>" * depth + "deep" + "</div>" * depth),
)
bodies = st.lists(fragments, max_size=12).map("".join)
front_matters = st.fixed_dictionaries({}, optional={
    "title": names, "date": dates, "updated": dates, "categories": category_values, "tags": category_values,
    "description": st.one_of(any_text, char_refs), "headimg": urls, "link": urls, "author": names, "id": names,
    "draft": st.booleans()})


def dump(meta: dict) -> str:
    try:
        return yaml.safe_dump(meta, allow_unicode=True, default_flow_style=None)
    except yaml.YAMLError:
        return "title: fallback\n"


@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(meta=front_matters, body=bodies, raw_header=st.booleans(), extension=st.sampled_from(["md", "html", "txt"]),
       summaries_only=st.booleans())
@example(meta={"title": "an image alone: content, no summary"}, body='<img src="http://img.example/a.jpg">',
         raw_header=False, extension="html", summaries_only=False)
def test_any_file_parses_or_is_an_article_error_and_every_feed_renders(meta: dict, body: str, raw_header: bool,
                                                                       extension: str, summaries_only: bool) -> None:
    header = "".join(f"{k}: {v}\n" for k, v in meta.items()) if raw_header else dump(meta)
    raw = f"---\n{header}---\n{body}".encode("utf-8", "surrogatepass")
    try:
        article = parse_article(raw, f"post.{extension}", datetime(2023, 5, 6, tzinfo=UTC), CONFIG)
    except ArticleError:
        return
    for fmt in ("rss", "atom"):
        parsed = feedparser.parse(render_feed(CONFIG, FEED, [article], fmt))
        assert parsed.bozo == 0, (fmt, parsed.get("bozo_exception"))
        assert len(parsed.entries) == 1
    item = json.loads(render_feed(CONFIG, FEED, [article], "json"))["items"][0]
    assert item["title"] == article.title
    config = SUMMARIES_ONLY if summaries_only else CONFIG
    for fmt in ("rss", "atom", "json"):  # entries written without feedgen: spliced, the bytes feedgen makes
        whole = render_feed(config, FEED, [article, article], fmt)
        entry = entry_bytes(config, article, fmt)
        assert render_spliced(config, FEED, article.updated, [entry, entry], fmt) == whole, fmt
    for text in (article.content, article.summary, article.title):
        assert "<script" not in text.lower() and "javascript:" not in text.lower()


head_texts = st.text(st.sampled_from(list("aZ 中é&<>\"']\t\n\r")), max_size=12)
ARTICLE = parse_article(b"---\ntitle: One & two\ndate: 2024-02-03 04:05:06\ntags: [t]\nheadimg: http://img.example/a.png\n"
                        b"---\n<p>Body <b>bold</b></p>", "post.html", datetime(2024, 1, 1, tzinfo=UTC), CONFIG)


@settings(max_examples=EXAMPLES, deadline=None)
@given(title=head_texts.filter(bool), description=head_texts, site_title=head_texts,
       language=st.sampled_from(["en", "", "zh-CN"]), url=st.sampled_from(["https://feeds.example.com", "http://h/a&b/"]),
       hubs=st.lists(st.sampled_from(["https://hub.example/?a=1&b=2", "https://push.example/"]), max_size=2, unique=True),
       pages=st.integers(min_value=0, max_value=3), data=st.data())
def test_a_spliced_feed_is_what_feedgen_writes_for_any_feed_page(title: str, description: str, site_title: str,
                                                                 language: str, url: str, hubs: list[str], pages: int,
                                                                 data: st.DataObject) -> None:
    # the head of a served or exported feed is written without feedgen: the bytes must not move
    config = parse_config({"sources": [{"path": "."}], "site": {"url": url, "title": site_title, "language": language},
                           "push": {"hubs": hubs}})
    doc = Document(FeedSpec("category", ("a", "b"), title, description, 20), data.draw(st.integers(0, pages)), pages)
    for fmt in ("rss", "atom"):
        spliced = render_spliced(config, doc, ARTICLE.updated, [entry_bytes(config, ARTICLE, fmt)], fmt)
        assert spliced == render_feed(config, doc, [ARTICLE], fmt), fmt
