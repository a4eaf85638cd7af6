"""Property: whatever front matter, HTML, character references and URLs a file holds, parsing
raises nothing but the documented ArticleError, and every format renders to a feed that parses.

Bounded so `make test` stays fast; `make fuzz` runs many more examples (FEEDSVC_FUZZ_EXAMPLES)."""

from __future__ import annotations

import json
import os
import tempfile
import tracemalloc
from datetime import UTC, datetime
from pathlib import Path

import feedparser
import yaml
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from feedsvc.config import parse_config
from feedsvc.errors import ArticleError
from feedsvc.ingest.scan import scan
from feedsvc.model import Document, FeedSpec
from feedsvc.parse.articles import parse_article
from feedsvc.render.documents import render_feed, render_spliced
from feedsvc.render.entries import entry_bytes
from feedsvc.store import Store
from feedsvc.yamlload import MIN_BUDGET, expanded_size

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
        assert render_spliced(config, FEED, [article.updated] * 2, [entry, entry], fmt) == whole, fmt
    for text in (article.content, article.summary, article.title):
        assert "<script" not in text.lower() and "javascript:" not in text.lower()


head_texts = st.text(st.sampled_from(list("aZ 中é&<>\"']\t\n\r")), max_size=12)
ARTICLE = parse_article(b"---\ntitle: One & two\ndate: 2024-02-03 04:05:06\ntags: [t]\nheadimg: http://img.example/a.png\n"
                        b"---\n<p>Body <b>bold</b></p>", "post.html", datetime(2024, 1, 1, tzinfo=UTC), CONFIG)


@settings(max_examples=EXAMPLES, deadline=None)
@given(title=head_texts.filter(bool), description=head_texts, site_title=head_texts,
       language=st.sampled_from(["en", "", "zh-CN"]), url=st.sampled_from(["https://feeds.example.com", "http://h/a&b/"]),
       hubs=st.lists(st.sampled_from(["https://hub.example/?a=1&b=2", "https://push.example/"]), max_size=2, unique=True),
       pages=st.integers(min_value=0, max_value=3), icon=st.sampled_from(["", "https://blog.example/favicon.ico?a=1&b"]),
       data=st.data())
def test_a_spliced_feed_is_what_feedgen_writes_for_any_feed_page(title: str, description: str, site_title: str,
                                                                 language: str, url: str, hubs: list[str], pages: int,
                                                                 icon: str, data: st.DataObject) -> None:
    # the head of a served or exported feed is written without feedgen: the bytes must not move
    config = parse_config({"sources": [{"path": "."}], "push": {"hubs": hubs},
                           "site": {"url": url, "title": site_title, "language": language, "icon": icon}})
    doc = Document(FeedSpec("category", ("a", "b"), title, description, 20), data.draw(st.integers(0, pages)), pages)
    for fmt in ("rss", "atom"):
        spliced = render_spliced(config, doc, [ARTICLE.updated], [entry_bytes(config, ARTICLE, fmt)], fmt)
        assert spliced == render_feed(config, doc, [ARTICLE], fmt), fmt


# -- issue 27: symlinks anywhere in a source tree; YAML whose aliases multiply ----------------

SECRET = "OUTSIDE-SECRET"
tree_entries = st.lists(st.tuples(
    st.sampled_from(["file", "folder", "link-outside-file", "link-outside-folder", "link-inside", "link-etc"]),
    st.lists(st.sampled_from(["a", "b", "c.md", "d.md"]), min_size=1, max_size=3)), max_size=12)


def _make_tree(root: Path, outside: Path, entries: list[tuple[str, list[str]]]) -> None:
    for kind, parts in entries:
        path = root.joinpath(*parts)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            if kind == "file":
                path.write_text(f"---\ntitle: inside {'/'.join(parts)}\n---\n<p>inside</p>\n", encoding="utf-8")
            elif kind == "folder":
                path.mkdir(exist_ok=True)
            else:
                target = {"link-outside-file": outside / "secret.md", "link-outside-folder": outside,
                          "link-inside": root, "link-etc": Path("/etc/passwd")}[kind]
                path.symlink_to(target)
        except OSError:  # a name already taken by another kind of entry: the tree stays as it is
            continue


def _paths_following_links(root: Path, depth: int = 4) -> set[str]:
    found, frontier = set(), [root]
    for _ in range(depth):  # bounded: a link to the root makes the tree endless
        frontier = [child for folder in frontier if folder.is_dir() for child in folder.iterdir()]
        found.update(str(path) for path in frontier)
    return found


@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(entries=tree_entries)
def test_nothing_reached_through_a_symlink_is_ever_published(entries: list[tuple[str, list[str]]]) -> None:
    with tempfile.TemporaryDirectory() as scratch:
        root, outside = Path(scratch) / "src", Path(scratch) / "outside"
        root.mkdir()
        outside.mkdir()
        (outside / "secret.md").write_text(f"---\ntitle: {SECRET}\n---\n<p>{SECRET}</p>\n", encoding="utf-8")
        (outside / "nested.md").write_text(f"---\ntitle: {SECRET} nested\n---\nx\n", encoding="utf-8")
        _make_tree(root, outside, entries)
        config = parse_config({"sources": [{"path": str(root)}], "state_dir": str(Path(scratch) / "state")})
        every_path = _paths_following_links(root)  # what a watcher following links could name
        index = Store.open(config.state_dir)
        try:
            scan(index, config, settle=0)  # the walk
            scan(index, config, settle=0, only=every_path)  # the watcher's paths
            paths = [row[0] for row in index.db.execute("SELECT path FROM articles")]
            published = [(a.relpath, a.title, a.content) for a in index.articles_by_path(paths).values()]
        finally:
            index.close()
        for relpath, title, content in published:
            assert SECRET not in title and SECRET not in content and "root:" not in content, relpath
            here = root
            for part in relpath.split("/"):
                here = here / part
                assert not here.is_symlink(), relpath


alias_documents = st.lists(st.integers(min_value=1, max_value=12), min_size=1, max_size=14).map(
    lambda fans: "a0: &a0 [lol, lol]\n" + "".join(
        f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * fan)}]\n" for i, fan in enumerate(fans, 1)))


yaml_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=30),
    lambda inner: st.lists(inner, max_size=6) | st.dictionaries(st.text(max_size=8), inner, max_size=6), max_leaves=60)


@settings(max_examples=EXAMPLES, deadline=None)
@given(value=yaml_values, flow=st.booleans())
def test_yaml_with_no_alias_always_fits_its_budget(value: object, flow: bool) -> None:
    # the loader counts a document's expanded size only when it has a "*" (an alias can be
    # written no other way): that skips nothing it would have refused
    text = yaml.safe_dump(value, allow_unicode=True, default_flow_style=flow)
    if "*" not in text:
        assert expanded_size(yaml.safe_load(text), max(MIN_BUDGET, 2 * len(text))) <= 2 * len(text) + 1


@settings(max_examples=EXAMPLES, deadline=None)
@given(document=alias_documents, key=st.sampled_from(["date", "title", "categories", "tags", "description", "x"]))
def test_yaml_aliases_never_expand_past_a_bounded_size(document: str, key: str) -> None:
    last = document.count("\n") - 1
    raw = f"---\n{document}{key}: *a{last}\n{'' if key == 'title' else 'title: t'}\n---\nbody".encode()
    tracemalloc.start()
    try:
        try:
            article = parse_article(raw, "post.md", datetime(2023, 5, 6, tzinfo=UTC), CONFIG)
        except ArticleError as e:
            assert "aliases expand" in e.message or "no title" in e.message
        else:
            assert len(article.title) + len(article.summary) + len(repr(article.categories)) < 10**6
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 64 * 2**20  # a bomb that got through takes gigabytes
