"""The category tree as Hexo means it (a flat list is one path), and tag feeds: every feed holds
exactly the articles filed at it or below it, never another source's."""

from __future__ import annotations

import hashlib
import os
import subprocess
import unicodedata
from collections.abc import Callable, Iterator
from pathlib import Path

import feedparser
import pytest
import yaml
from lxml import etree

from feedsvc.config import parse_config
from feedsvc.errors import ConfigError
from feedsvc.ops.scheduler import scan_once
from feedsvc.web.app import create_app

from .conftest import make_config, require

SITE = "https://feeds.example.com"
Build = Callable[..., Path]


def front_matter(path: Path) -> dict:
    lines = path.read_text(encoding="utf-8-sig").strip().splitlines()
    assert lines[0] == "---"
    return yaml.safe_load("\n".join(lines[1 : lines.index("---", 1)]))


def expected_paths(corpus: Path) -> dict[str, tuple[str, ...]]:
    """Article id (the design's rule: SHA-1 of the NFC relative path) -> its one category path,
    read straight from the files' YAML: the mirror writes a flat list, which Hexo reads as a path."""
    found = {}
    for path in corpus.rglob("*"):
        if path.is_file():
            relpath = unicodedata.normalize("NFC", path.relative_to(corpus).as_posix())
            article_id = hashlib.sha1(relpath.encode("utf-8")).hexdigest()[:16]
            found[article_id] = tuple(str(n).strip() for n in front_matter(path)["categories"])
    return found


def entry_ids(out: Path, xml_url: str) -> set[str]:
    atom = out / xml_url.removeprefix(SITE + "/").removesuffix(".rss")
    parsed = feedparser.parse((atom.parent / (atom.name + ".atom")).read_bytes())
    assert parsed.bozo == 0
    return {e.id.rsplit("/", 1)[1] for e in parsed.entries}


def folders(outline: etree._Element, names: tuple[str, ...] = ()) -> Iterator[tuple[tuple[str, ...], etree._Element]]:
    """(path of names, folder) for every folder outline of the OPML's category tree."""
    for child in outline.findall("outline"):
        if child.get("xmlUrl") is None and child.get("text") != "Tags":
            path = (*names, child.get("text"))
            yield path, child
            yield from folders(child, path)


@pytest.fixture
def out(built: Build, corpus: Path) -> Path:
    return built(corpus, feeds={"limit": 100})


def test_every_category_feed_holds_exactly_its_subtree(out: Path, corpus: Path) -> None:
    filed = expected_paths(corpus)
    opml = etree.parse(str(out / "opml.xml")).getroot()
    seen = {}
    for names, folder in folders(opml.find("body")):
        own = [o for o in folder.findall("outline") if o.get("xmlUrl")]
        assert len(own) == 1 and own[0].get("text") == own[0].get("title") == names[-1]
        seen[names] = entry_ids(out, own[0].get("xmlUrl"))
        assert seen[names] == {i for i, path in filed.items() if path[: len(names)] == names}, names
    assert seen[("图片", "煎蛋", "首页")] and len(seen[("图片", "煎蛋", "首页")]) == 2
    assert len(seen[("音视频", "低端影视", "首页")]) == 1
    assert len(seen[("图片",)]) == 3
    # every node of the tree, and nothing else, has a feed
    nodes = {path[:n] for path in filed.values() for n in range(1, len(path) + 1)}
    assert set(seen) == nodes
    assert len([p for p in (out / "categories").rglob("*.atom") if "_archive" not in p.parts]) == len(nodes)


def test_feed_titles_carry_the_path(out: Path) -> None:
    opml = etree.parse(str(out / "opml.xml")).getroot()
    folder = dict(folders(opml.find("body")))[("图片", "煎蛋", "首页")]
    xml_url = folder.find("outline").get("xmlUrl")
    atom = out / (xml_url.removeprefix(SITE + "/").removesuffix(".rss") + ".atom")
    assert feedparser.parse(atom.read_bytes()).feed.title == "Test mirror: 图片 › 煎蛋 › 首页"


def post(folder: Path, name: str, front: str) -> None:
    (folder / name).write_text(f"---\ntitle: {name}\ndate: 2022-01-0{len(name) % 9 + 1} 10:00\n{front}\n---\nbody\n",
                               encoding="utf-8")


def test_tags_have_feeds_and_items_carry_categories_and_tags_apart(built: Build, articles: Path) -> None:
    post(articles, "a.md", "categories: [Java, Spring]\ntags: [orm, jpa]")
    post(articles, "b.md", "categories: [[Java, Spring], [Web]]\ntags: orm")
    post(articles, "c.md", "categories: Java\ntags: [news]")
    out = built(articles)
    orm = feedparser.parse((out / "tags/orm.atom").read_bytes())
    assert {e.title for e in orm.entries} == {"a.md", "b.md"} and orm.bozo == 0
    assert {e.title for e in feedparser.parse((out / "tags/news.rss").read_bytes()).entries} == {"c.md"}
    spring = feedparser.parse((out / "categories/java/spring.atom").read_bytes())
    assert {e.title for e in spring.entries} == {"a.md", "b.md"}
    assert {e.title for e in feedparser.parse((out / "categories/java.atom").read_bytes()).entries} == {
        "a.md", "b.md", "c.md"}
    assert {e.title for e in feedparser.parse((out / "categories/web.atom").read_bytes()).entries} == {"b.md"}
    b = next(e for e in spring.entries if e.title == "b.md")
    assert {(t.term, t.scheme) for t in b.tags} == {("Java", f"{SITE}/categories/"), ("Spring", f"{SITE}/categories/"),
                                                   ("Web", f"{SITE}/categories/"), ("orm", f"{SITE}/tags/")}
    rss = etree.parse(str(out / "tags/orm.rss")).getroot()
    item = next(i for i in rss.iter("item") if i.findtext("title") == "a.md")
    assert {(c.text, c.get("domain")) for c in item.findall("category")} == {
        ("Java", f"{SITE}/categories/"), ("Spring", f"{SITE}/categories/"), ("orm", f"{SITE}/tags/"),
        ("jpa", f"{SITE}/tags/")}
    json_item = next(i for i in __import__("json").loads((out / "feeds/all.json").read_text())["items"]
                     if i["title"] == "a.md")
    assert json_item["tags"] == ["Java", "Spring", "orm", "jpa"]
    opml = etree.parse(str(out / "opml.xml")).getroot()
    tags = next(o for o in opml.find("body") if o.get("text") == "Tags")
    assert sorted(o.get("text") for o in tags) == ["jpa", "news", "orm"]


def test_same_name_under_two_parents_is_two_categories_and_odd_names_stay_one_segment(
        built: Build, articles: Path) -> None:
    post(articles, "a.md", "categories: [Site A, Home]")
    post(articles, "b.md", "categories: [Site B, Home]")
    post(articles, "c.md", "categories: ['a/b', '..']")
    out = built(articles)
    for site, title in (("site-a", "a.md"), ("site-b", "b.md")):
        assert [e.title for e in feedparser.parse((out / f"categories/{site}/home.atom").read_bytes()).entries] == [title]
    odd = [p.relative_to(out).as_posix() for p in (out / "categories").rglob("*.atom") if "site-" not in str(p)]
    assert len(odd) == 2 and all(".." not in p.split("/") for p in odd)
    deep = next(p for p in odd if p.count("/") == 2)
    assert deep.startswith("categories/a-b/")
    assert [e.title for e in feedparser.parse((out / deep).read_bytes()).entries] == ["c.md"]


def test_a_slug_once_given_stays_with_its_category(tmp_path: Path, articles: Path) -> None:
    config = make_config(articles, tmp_path / "state", scan={"settle": 0})
    post(articles, "a.md", "categories: [动画, 番剧]")
    scan_once(config)
    post(articles, "b.md", "categories: [动画, — 番剧]")
    os.utime(articles / "b.md")
    scan_once(config)
    client = create_app(config).test_client()
    assert [e.title for e in feedparser.parse(client.get("/categories/dong-hua/fan-ju.atom").data).entries] == ["a.md"]
    assert [e.title for e in feedparser.parse(client.get("/categories/dong-hua/fan-ju-2.atom").data).entries] == [
        "b.md"]


def test_a_category_or_tag_asked_for_by_name_redirects_to_its_slugs(tmp_path: Path, corpus: Path) -> None:
    post(corpus, "tagged.md", "categories: [图片]\ntags: [每日 精选]")
    config = make_config(corpus, tmp_path / "state", scan={"settle": 0})
    scan_once(config)
    client = create_app(config).test_client()
    for path in ("/categories/图片/煎蛋/首页.atom", "/categories/%E5%9B%BE%E7%89%87/%E7%85%8E%E8%9B%8B/%E9%A6%96%E9%A1%B5.atom"):
        response = client.get(path + "?limit=1")
        assert response.status_code == 301, path
        assert response.headers["Location"].endswith("/categories/tu-pian/jian-dan/shou-ye.atom?limit=1")
    assert client.get("/tags/每日 精选.rss").headers["Location"].endswith("/tags/mei-ri-jing-xuan.rss")
    assert client.get("/tags/mei-ri-jing-xuan.rss").status_code == 200
    assert client.get("/categories/煎蛋/首页.atom").status_code == 404  # not a path from the root


def test_channels_take_categories_by_name_or_by_path(built: Build, corpus: Path) -> None:
    channels = [{"slug": "zaker", "title": "ZAKER", "categories": [["新媒体", "ZAKER"]]},
                {"slug": "homes", "title": "Every 首页", "categories": ["首页"]},
                {"slug": "no-jandan", "title": "Pictures, not 煎蛋", "categories": ["图片"],
                 "exclude_categories": [["图片", "煎蛋"]]}]
    out = built(corpus, channels=channels)

    def paths(name: str) -> list[set[str]]:
        return [{t.term for t in e.tags} for e in feedparser.parse((out / f"feeds/{name}.atom").read_bytes()).entries]

    assert len(paths("zaker")) == 5 and all({"新媒体", "ZAKER"} <= terms for terms in paths("zaker"))
    assert len(paths("homes")) == 3  # 煎蛋's 首页 (2) and 低端影视's (1)
    assert paths("no-jandan") == [{"图片", "1X", "Photos"}]


def test_config_mistakes_in_slugs_stop_start_up_naming_the_keys() -> None:
    base = {"sources": [{"path": "."}]}
    with pytest.raises(ConfigError) as caught:
        parse_config({**base, "category_slugs": {"新媒体": "news", "新闻": "news"}})
    assert caught.value.problems == ["category_slugs: '新媒体' and '新闻' both map to the slug 'news'"]
    with pytest.raises(ConfigError) as caught:
        parse_config({**base, "tag_slugs": {"a": "A/B", "b": ".."}})
    assert [p.split(":")[0] for p in caught.value.problems] == ["tag_slugs.a", "tag_slugs.b"]
    assert all("not a valid URL segment" in p for p in caught.value.problems)


def test_the_index_page_shows_the_tree_with_real_totals_in_the_site_zone(out: Path) -> None:
    html = (out / "index.html").read_text(encoding="utf-8")
    tree = html[html.index('<nav class="tree">'):html.index("</nav>")]
    assert tree.count('class="leaf"') == 9  # the nine site types; their sources as links to their pages
    assert tree.count('<a href="categories/') - tree.count('.rss"') - tree.count('.atom"') - tree.count('.json"') == 9 + 17
    assert '<strong><a href="categories/xin-mei-ti">新媒体</a></strong> <span class="muted">8 articles' in tree  # its page
    # the seed was published 2021-09-13 20:43 UTC: 04:43 the next day in Asia/Shanghai
    assert "2021-09-14 04:43" in html


def test_newsboat_imports_every_feed_of_the_opml(out: Path, tmp_path: Path) -> None:
    newsboat = require("newsboat")
    opml = etree.parse(str(out / "opml.xml")).getroot()
    feeds = {o.get("xmlUrl") for o in opml.iter("outline") if o.get("xmlUrl")}
    urls = tmp_path / "urls"
    urls.write_text("", encoding="utf-8")
    env = {**os.environ, "HOME": str(tmp_path), "TERM": "dumb"}
    (tmp_path / "config").write_text("", encoding="utf-8")
    subprocess.run([newsboat, "-u", str(urls), "-c", str(tmp_path / "cache.db"), "-C", str(tmp_path / "config"),
                    "-i", str(out / "opml.xml")], check=True, env=env, timeout=60, capture_output=True)
    imported = {line.split()[0].strip('"') for line in urls.read_text(encoding="utf-8").splitlines() if line.strip()}
    assert imported == feeds, imported ^ feeds
    assert len(feeds) == 1 + 43  # all, and every node of the tree


def test_rss_feeds_of_every_category_validate(out: Path) -> None:
    for path in (out / "categories").rglob("*.rss"):
        assert feedparser.parse(path.read_bytes()).bozo == 0, path
