"""RFC 5005 archives: following prev-archive from any feed reaches each of its articles exactly
once, full pages never change, and a new article touches only the feed and its newest page."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

import feedparser
import pytest
from lxml import etree

from feedsvc.config import Config
from feedsvc.ingest.scan import scan
from feedsvc.ops.export import export
from feedsvc.store import Store
from feedsvc.web.app import create_app

from .conftest import make_config
from .exported import files, read

SITE = "https://feeds.example.com"
ATOM = "{http://www.w3.org/2005/Atom}"
HISTORY = "{http://purl.org/syndication/history/1.0}"
TREE = [("科技",), ("科技", "手机"), ("科技", "手机", "评测"), ("游戏",), ("游戏", "主机"), ("影视", "电影")]
TAGS = ["news", "review", "每日"]
START = datetime(2024, 1, 1, 8, 0)
SIZE = 50


@dataclass(frozen=True)
class Post:
    id: str
    title: str
    paths: tuple[tuple[str, ...], ...]
    tags: tuple[str, ...]


def write_post(folder: Path, n: int) -> Post:
    """Post ``n``: one or two category paths, zero to two tags; every two posts share a date,
    so the order between equal dates is exercised too."""
    paths = tuple(dict.fromkeys([TREE[n % len(TREE)], TREE[(n * 7) % len(TREE)]][: 1 + n % 2]))
    tags = tuple(TAGS[i] for i in range(len(TAGS)) if n % (i + 2) == 0)
    title = f"Post {n} {'odd' if n % 2 else 'even'}"
    date = START + timedelta(minutes=n // 2)
    relpath = f"p{n:05d}.md"
    categories = json.dumps([list(p) for p in paths], ensure_ascii=False)
    (folder / relpath).write_text(
        f"---\ntitle: {title}\ndate: {date:%Y-%m-%d %H:%M:%S}\ncategories: {categories}\n"
        f"tags: {json.dumps(list(tags), ensure_ascii=False)}\n---\n<p>Body of post {n}.</p>\n", encoding="utf-8")
    return Post(hashlib.sha1(relpath.encode()).hexdigest()[:16], title, paths, tags)


def in_category(post: Post, names: tuple[str, ...]) -> bool:
    return any(path[: len(names)] == names for path in post.paths)


@dataclass
class Site:
    config: Config
    out: Path
    posts: dict[str, Post]

    def build(self) -> None:
        index = Store.open(self.config.state_dir)
        try:
            scan(index, self.config, settle=0)
            export(index, self.config, self.out)
        finally:
            index.close()

    def file(self, url: str) -> Path:
        return self.out / url.removeprefix(SITE + "/")


CHANNELS = [{"slug": "odd", "title": "Odd posts", "match": "odd"},
            {"slug": "phones", "title": "Phones, no reviews", "categories": ["手机"], "exclude_categories": ["评测"]}]


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Site:
    root = tmp_path_factory.mktemp("archives")
    (root / "articles").mkdir()
    posts = {p.id: p for p in (write_post(root / "articles", n) for n in range(1000))}
    config = make_config(root / "articles", root / "state", channels=CHANNELS,
                         feeds={"archive_size": SIZE})
    built = Site(config, root / "out", posts)
    built.build()
    return built


def expected(site: Site, feed_url: str, title: str, names: tuple[str, ...]) -> set[str]:
    """Which posts a feed must hold, from what the test wrote (never from the index)."""
    posts = site.posts.values()
    if feed_url.endswith("/feeds/all.atom"):
        return set(site.posts)
    if feed_url.endswith("/feeds/odd.atom"):
        return {p.id for p in posts if "odd" in p.title}
    if feed_url.endswith("/feeds/phones.atom"):
        return {p.id for p in posts if in_category(p, ("科技", "手机")) and not in_category(p, ("科技", "手机", "评测"))}
    if "/tags/" in feed_url:
        return {p.id for p in posts if title in p.tags}
    return {p.id for p in posts if in_category(p, names)}


def every_feed(site: Site) -> list[tuple[str, str, tuple[str, ...]]]:
    """(Atom URL, outline text, path of folder names) of every feed the OPML lists."""
    found = []

    def walk(outline: etree._Element, names: tuple[str, ...]) -> None:
        for child in outline.findall("outline"):
            if child.get("xmlUrl"):  # the RSS URL: the Atom one is beside it
                found.append((child.get("xmlUrl").removesuffix(".rss") + ".atom", child.get("text"), names))
            else:
                walk(child, names if child.get("text") == "Tags" else (*names, child.get("text")))

    walk(etree.parse(str(site.out / "opml.xml")).getroot().find("body"), ())
    return found


def links(path: Path) -> dict[str, str]:
    root = etree.fromstring(read(path))
    return {link.get("rel"): link.get("href") for link in root.findall(f"{ATOM}link")}


def walk_atom(site: Site, feed_url: str) -> list[str]:
    """Entry ids (article ids) of the feed and every archive page behind it, in reading order."""
    ids: list[str] = []
    url: str | None = feed_url
    seen_pages = 0
    while url:
        parsed = feedparser.parse(read(site.file(url)))
        assert parsed.bozo == 0, url
        ids += [e.id.rsplit("/", 1)[1] for e in parsed.entries]
        found = links(site.file(url))
        if url != feed_url:
            seen_pages += 1
            assert found["current"] == feed_url
            assert etree.fromstring(read(site.file(url))).find(f"{HISTORY}archive") is not None
            assert parsed.feed.id == feed_url  # one feed, one id
        url = found.get("prev-archive")
    return ids


def test_following_prev_archive_reaches_every_article_of_every_feed_once(site: Site) -> None:
    feeds = every_feed(site)
    assert len(feeds) == 1 + len(CHANNELS) + 7 + len(TAGS)  # all, channels, 7 tree nodes, tags
    for feed_url, text, names in feeds:
        ids = walk_atom(site, feed_url)
        assert len(ids) == len(set(ids)), f"{feed_url}: an article twice"
        assert set(ids) == expected(site, feed_url, text, names), feed_url


def test_archive_pages_are_fixed_blocks_from_the_oldest(site: Site) -> None:
    pages = sorted(files(site.out / "feeds/all/_archive", "*.atom"), key=lambda p: int(p.stem))
    assert [p.stem for p in pages] == [str(n) for n in range(1, len(pages) + 1)]
    assert len(pages) == (1000 - 20) // SIZE + 1
    sizes = [len(feedparser.parse(read(p)).entries) for p in pages]
    assert sizes[:-1] == [SIZE] * (len(pages) - 1) and sizes[-1] == (1000 - 20) % SIZE
    oldest = feedparser.parse(read(pages[0])).entries
    assert {e.title for e in oldest} == {f"Post {n} {'odd' if n % 2 else 'even'}" for n in range(SIZE)}
    first, last = links(pages[0]), links(pages[-1])
    assert "prev-archive" not in first and first["next-archive"].endswith("/feeds/all/_archive/2.atom")
    assert "next-archive" not in last and last["prev-archive"].endswith(f"/_archive/{len(pages) - 1}.atom")
    assert links(site.out / "feeds/all.atom")["prev-archive"].endswith(f"/_archive/{len(pages)}.atom")


def test_json_feed_pages_through_next_url(site: Site) -> None:
    ids, url = [], f"{SITE}/categories/ke-ji.json"
    while url:
        page = json.loads(read(site.file(url)))
        assert page["feed_url"] == f"{SITE}/categories/ke-ji.json"
        ids += [item["id"].rsplit("/", 1)[1] for item in page["items"]]
        url = page.get("next_url")
    assert len(ids) == len(set(ids))
    assert set(ids) == {p.id for p in site.posts.values() if in_category(p, ("科技",))}


def test_served_archive_pages_match_the_export_and_full_ones_are_cached_long(site: Site) -> None:
    client = create_app(site.config).test_client()
    full = client.get("/feeds/all/_archive/1.atom")
    assert full.status_code == 200 and full.data == read(site.out / "feeds/all/_archive/1.atom")
    assert full.headers["Cache-Control"] == "public, max-age=604800"
    last = max(int(p.stem) for p in files(site.out / "categories/ke-ji/shou-ji/_archive", "*.json"))
    newest = client.get(f"/categories/ke-ji/shou-ji/_archive/{last}.json")
    assert newest.status_code == 200 and newest.headers["Cache-Control"] == "public, max-age=300"
    assert client.get("/feeds/all/_archive/1.atom", headers={"If-None-Match": full.headers["ETag"]}).status_code == 304
    for missing in ("/feeds/all/_archive/0.atom", "/feeds/all/_archive/01.atom", "/feeds/all/_archive/999.atom",
                    "/feeds/all/_archive/1.xml", "/categories/ke-ji/_archive/x.atom"):
        assert client.get(missing).status_code == 404, missing


def test_every_exported_feed_and_page_is_the_bytes_the_server_renders(site: Site) -> None:
    """The export renders each article's entries once, keeps them in the index and splices them
    into every document it is in (hundreds here); the server does too, or renders whatever is
    not kept: same bytes."""
    written = [p for p in files(site.out, "**/*") if p.suffix in (".rss", ".atom", ".json")]
    assert len(written) > 300
    client = create_app(site.config).test_client()
    for path in written:
        assert client.get("/" + path.relative_to(site.out).as_posix()).data == read(path), path
        if path.suffix == ".rss":
            assert feedparser.parse(read(path)).bozo == 0, path


def test_a_new_article_changes_only_the_feeds_and_their_newest_archive_page(site: Site) -> None:
    before = {p: read(p) for p in files(site.out, "**/_archive/*")}
    newest_page = {p.parent: max(int(q.stem) for q in files(p.parent, "*.atom")) for p in before}
    post = write_post(site.config.sources[0].path, 1000)
    site.posts[post.id] = post
    site.build()
    changed = [p for p, data in before.items() if read(p) != data]
    assert changed, "the newest page of `all` takes the article pushed out of the feed"
    for path in changed:
        assert int(path.stem) == newest_page[path.parent], f"{path}: an older archive page changed"
    assert site.out / "feeds/all/_archive" in {p.parent for p in changed}
    test_following_prev_archive_reaches_every_article_of_every_feed_once(site)


def test_an_empty_page_is_the_same_bytes_spliced(site: Site) -> None:
    from feedsvc.model import Document, FeedSpec
    from feedsvc.render.documents import render_feed, render_spliced

    page = Document(FeedSpec("all", ("all",), "All", "All", 20), 3, 3)  # the empty newest page
    for fmt in ("rss", "atom", "json"):
        assert render_spliced(site.config, page, [], [], fmt) == render_feed(site.config, page, [], fmt)
