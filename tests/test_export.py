"""The static export: valid feeds for every category and channel, clean content, stable bytes."""

from __future__ import annotations

import json
import re
import shutil
from collections.abc import Callable
from email.utils import parsedate_to_datetime
from pathlib import Path

import feedparser
import pytest
from lxml import etree

from feedsvc.slugs import auto_slug, new_slug

from . import exported
from .conftest import HOSTILE

ATOM = "{http://www.w3.org/2005/Atom}"
CHANNELS = [{"slug": "tech", "title": "Tech", "categories": ["编程", "ZAKER"], "exclude_categories": ["图片"]},
            {"slug": "live", "title": "Live commerce", "match": "直播|电商"}]
Build = Callable[..., Path]


@pytest.fixture
def out(built: Build, corpus: Path) -> Path:
    return built(corpus, channels=CHANNELS, category_slugs={"新媒体": "xinmeiti"})


def files(out: Path, *suffixes: str) -> list[Path]:
    """Exported files by their URLs' names (an archive page is written as .gz alone)."""
    return [p for p in exported.files(out, "**/*") if p.suffix in suffixes]


def feeds_only(paths: list[Path]) -> list[Path]:
    """The feeds themselves, not their archive pages."""
    return [p for p in paths if "_archive" not in p.parts]


def test_every_url_of_the_design_is_written(out: Path) -> None:
    for path in ("index.html", "opml.xml", "feeds/all.rss", "feeds/all.atom", "feeds/all.json",
                 "feeds/tech.atom", "feeds/live.json", "categories/xinmeiti.rss", "categories/xinmeiti/zaker.atom",
                 "categories/xinmeiti/zaker/channel.json", "categories/er-ci-yuan.json",
                 "categories/er-ci-yuan/acfun/fan-ju.rss"):
        assert (out / path).is_file(), path
    # the index page, a page per article, and a page for people per feed document (as many as RSS files)
    assert len(files(out, ".html")) == 1 + 25 + len(files(out, ".rss"))
    assert (out / "categories/xinmeiti/zaker.html").is_file() and (out / "feeds/all.html").is_file()


def test_every_xml_feed_parses_without_bozo(out: Path) -> None:
    feeds = files(out, ".rss", ".atom")
    assert len(feeds) > 40
    for path in feeds:
        parsed = feedparser.parse(exported.read(path))
        assert parsed.bozo == 0, (path, parsed.get("bozo_exception"))
        assert parsed.entries, path


def test_atom_follows_rfc_4287(out: Path) -> None:
    for path in files(out, ".atom"):
        feed = etree.fromstring(exported.read(path))
        assert feed.find(f"{ATOM}id") is not None and feed.find(f"{ATOM}updated") is not None
        assert feed.find(f"{ATOM}author/{ATOM}name") is not None
        self_links = feed.findall(f"{ATOM}link[@rel='self']")
        assert [link.get("href") for link in self_links] == ["https://feeds.example.com/" + path.relative_to(out).as_posix()]
        for entry in feed.iter(f"{ATOM}entry"):
            for child in ("id", "title", "updated", "published"):
                assert entry.findtext(f"{ATOM}{child}"), (path, child)
            assert len([a for a in entry.findall(f"{ATOM}link") if a.get("rel", "alternate") == "alternate"]) == 1
            content = entry.find(f"{ATOM}content")
            assert content is None or content.get("type") == "html"


def test_rss_items_have_guid_and_rfc822_dates(out: Path) -> None:
    for path in files(out, ".rss"):
        channel = etree.fromstring(exported.read(path)).find("channel")
        assert channel.find("{http://www.w3.org/2005/Atom}link[@rel='self']") is not None
        assert 5 <= int(channel.findtext("ttl")) <= 60  # minutes: within feeds.cache_seconds and cache_max_seconds
        for item in channel.iter("item"):
            assert item.findtext("guid").startswith("https://feeds.example.com/articles/")
            assert parsedate_to_datetime(item.findtext("pubDate")).tzinfo is not None
            assert item.findtext("title") and item.findtext("{http://purl.org/dc/elements/1.1/}creator")


def test_feed_dates_come_from_the_articles_not_the_clock(out: Path) -> None:
    parsed = feedparser.parse((out / "feeds/all.atom").read_bytes())
    newest = max(e.updated_parsed for e in parsed.entries)
    assert parsed.feed.updated_parsed == newest
    dates = [e.published_parsed for e in parsed.entries]
    assert dates == sorted(dates, reverse=True)  # newest first
    rss = feedparser.parse((out / "feeds/all.rss").read_bytes())
    assert rss.feed.updated_parsed == newest  # lastBuildDate


def test_categories_carry_their_names_and_channels_select_by_rule(out: Path) -> None:
    zaker = feedparser.parse((out / "categories/xinmeiti/zaker.atom").read_bytes())
    assert zaker.feed.title == "Test mirror: 新媒体 › ZAKER" and len(zaker.entries) == 5
    assert all({"新媒体", "ZAKER", "channel"} <= {t.term for t in e.tags} for e in zaker.entries)
    tech = feedparser.parse((out / "feeds/tech.rss").read_bytes())
    assert {t.term for e in tech.entries for t in e.tags} & {"编程", "ZAKER"}
    assert all("图片" not in {t.term for t in e.tags} for e in tech.entries)
    assert len(tech.entries) == 9
    live = json.loads((out / "feeds/live.json").read_text(encoding="utf-8"))
    assert [i["title"] for i in live["items"]] == ["离开大城市，我去三线城市做直播带货"]


def test_no_output_carries_proxies_lazy_images_or_scripts(out: Path) -> None:
    for path in files(out, ".rss", ".atom", ".json", ".html"):
        text = exported.read(path).decode("utf-8")
        for bad in ("cors.zfour.workers.dev", "data-original", "<script", "&lt;script", "javascript:"):
            assert bad not in text, (path, bad)
        assert not re.search(r"\son[a-z]+\s*=", text.replace("&quot;", '"')), path


def test_seed_images_point_at_their_original_urls(out: Path) -> None:
    item = next(i for i in json.loads((out / "categories/xinmeiti.json").read_text(encoding="utf-8"))["items"]
                if i["title"] == "离开大城市，我去三线城市做直播带货")
    assert item["image"] == "http://zkres1.myzaker.com/202109/61400d5bb15ec02dd6614cfd_1024.jpg"
    srcs = re.findall(r'<img [^>]*src="([^"]+)"', item["content_html"])
    assert srcs and all(re.match(r"http://zkres\d\.myzaker\.com/", s) for s in srcs)
    assert all('referrerpolicy="no-referrer"' in tag for tag in re.findall(r"<img [^>]*>", item["content_html"]))
    rss = (out / "categories/xinmeiti.rss").read_text(encoding="utf-8")
    enclosure = 'url="http://zkres1.myzaker.com/202109/61400d5bb15ec02dd6614cfd_1024.jpg" length="0" type="image/jpeg"'
    assert f"<enclosure {enclosure}/>" in rss


@pytest.mark.parametrize(("url", "expected"), [
    ("http://img.example/a/photo.PNG", "image/png"), ("http://img.example/pic.webp?w=640", "image/webp"),
    ("http://img.example/logo.svg", "image/svg+xml"), ("http://img.example/v1.2/get", "image/jpeg"),
    ("http://img.example/", "image/jpeg")])
def test_an_enclosure_carries_the_type_of_its_image(url: str, expected: str) -> None:
    """A reader that shows enclosures picks its decoder from this type."""
    from feedsvc.render.entries import image_type

    assert image_type(url) == expected


def test_json_feed_1_1(out: Path) -> None:
    feed = json.loads((out / "feeds/all.json").read_text(encoding="utf-8"))
    assert feed["version"] == "https://jsonfeed.org/version/1.1"
    assert feed["feed_url"] == "https://feeds.example.com/feeds/all.json"
    assert len(feed["items"]) == 20
    for item in feed["items"]:
        assert item["id"].startswith("https://feeds.example.com/articles/") and item["url"] and item["title"]
        assert item["date_published"].endswith("+00:00")
        assert "content_html" in item or "content_text" in item


def test_opml_lists_every_feed(out: Path) -> None:
    opml = etree.parse(str(out / "opml.xml")).getroot()
    outlines = [o for o in opml.iter("outline") if o.get("xmlUrl")]
    assert opml.get("version") == "2.0"
    feeds = len(feeds_only(files(out, ".rss")))
    assert len(outlines) == feeds
    by_title = {o.get("text"): o for o in opml.findall("body/outline")}
    assert by_title["新媒体"].find("outline").get("xmlUrl") == "https://feeds.example.com/categories/xinmeiti.rss"
    assert by_title["Test mirror"].get("xmlUrl") == "https://feeds.example.com/feeds/all.rss"
    # each feed's htmlUrl is its page for people: its xmlUrl without the format
    assert all(o.get("type") == "rss" and o.get("htmlUrl") == o.get("xmlUrl").removesuffix(".rss") for o in outlines)


def test_index_page_lists_feeds_with_autodiscovery(out: Path) -> None:
    html = (out / "index.html").read_text(encoding="utf-8")
    assert ('<link rel="alternate" type="application/atom+xml" title="Test mirror (Atom)"'
            ' href="https://feeds.example.com/feeds/all.atom">') in html
    assert 'href="categories/xinmeiti.rss"' in html  # a top category's formats
    assert 'href="categories/xinmeiti/zaker">ZAKER</a>' in html  # its children, to their pages
    assert "离开大城市，我去三线城市做直播带货" in html


def test_two_builds_of_the_same_input_are_byte_identical(built: Build, corpus: Path, out: Path) -> None:
    again = built(corpus, channels=CHANNELS, category_slugs={"新媒体": "xinmeiti"})
    first = {p.relative_to(out): p.read_bytes() for p in out.rglob("*") if p.is_file()}
    second = {p.relative_to(again): p.read_bytes() for p in again.rglob("*") if p.is_file()}
    assert first == second


@pytest.mark.parametrize("feeds_apart", [False, True], ids=["feeds-as-they-come", "every-feed-from-the-second"])
def test_article_pages_written_by_a_second_process_are_the_same_files(
        tmp_path: Path, corpus: Path, out: Path, monkeypatch: pytest.MonkeyPatch, feeds_apart: bool) -> None:
    """A full export of many articles writes their pages from a second process, beside the
    feeds, and that process takes the feeds left once its pages are written; the site and the
    manifest the next export trusts are the same as from one process."""
    from feedsvc.ingest.scan import scan
    from feedsvc.ops import export as export_module
    from feedsvc.store import Store

    from .conftest import make_config

    monkeypatch.setattr(export_module, "PAGES_APART", 1)
    if feeds_apart:  # this process takes no feed: the second (spawned, as it is) writes them all
        monkeypatch.setattr(export_module._Shares, "taken_from", lambda self, items: iter(()))
    config = make_config(corpus, tmp_path / "apart-state", channels=CHANNELS, category_slugs={"新媒体": "xinmeiti"})
    apart = tmp_path / "apart"
    index = Store.open(config.state_dir)
    scan(index, config, settle=0)
    report = export_module.export(index, config, apart)
    assert {p.relative_to(apart): p.read_bytes() for p in apart.rglob("*") if p.is_file()} == \
        {p.relative_to(out): p.read_bytes() for p in out.rglob("*") if p.is_file()}
    assert report.written == len(index.export_manifest(str(apart.resolve()))) == len(files(apart, ".html", ".rss", ".atom",
                                                                                    ".json", ".xml", ".xsl", ".css"))
    (apart / "stray").write_text("moves the folder's mtime: the next export looks at every file", encoding="utf-8")
    again = export_module.export(index, config, apart)
    assert again.written == 0 and again.unchanged == report.written  # each page known, none written twice
    index.close()


def test_article_pages_shared_between_two_writers_are_each_written_once(tmp_path: Path, corpus: Path, out: Path) -> None:
    """The two processes of a full export take the article pages a share at a time: whoever
    takes a share writes its pages, and together they write each page once, as one process would."""
    import multiprocessing

    from feedsvc.feeds.catalog import feed_specs, render_fingerprint
    from feedsvc.feeds.tree import FeedTree
    from feedsvc.ingest.scan import scan
    from feedsvc.ops import export as export_module
    from feedsvc.ops.writer import Writer
    from feedsvc.store import Store
    from feedsvc.urls import article_export_dir

    from .conftest import make_config

    class FirstShares(export_module._Shares):  # the first writer stops after a third of the shares
        def take(self) -> int | None:
            return None if self.taken.value >= export_module.PAGE_SHARES // 3 else super().take()

    config = make_config(corpus, tmp_path / "state", channels=CHANNELS, category_slugs={"新媒体": "xinmeiti"})
    index = Store.open(config.state_dir)
    scan(index, config, settle=0)
    shared, base = tmp_path / "shared", render_fingerprint(config)
    tree, taken = FeedTree(feed_specs(index, config)), multiprocessing.get_context("spawn").Value("i", 0)
    writers = [Writer(shared, {}, lambda n: None), Writer(shared, {}, lambda n: None, background=False)]
    for w, shares in zip(writers, (FirstShares(taken), export_module._Shares(taken)), strict=True):
        export_module._shared_pages(w, index, config, base, tree, shares)
        w.finish()
    assert all(w.written for w in writers)
    assert sum(w.written for w in writers) == index.count_live() == len(files(shared, ".html"))
    pages = {p.relative_to(shared): p.read_bytes() for p in shared.rglob("*") if p.is_file()}
    one_process = out / article_export_dir()
    assert pages == {p.relative_to(out): p.read_bytes() for p in one_process.rglob("*") if p.is_file()}
    index.close()


def test_feeds_shared_between_two_writers_are_each_written_once(tmp_path: Path, corpus: Path, out: Path) -> None:
    """The two processes of a full export take the feeds one at a time, in one list: whoever
    takes a feed writes all its documents. The second reads the index only: the entries it
    renders are not kept, and the documents are the bytes one process writes all the same."""
    import multiprocessing

    from feedsvc.feeds.catalog import feed_specs, render_fingerprint
    from feedsvc.feeds.tree import FeedTree
    from feedsvc.ingest.scan import scan
    from feedsvc.ops import export as export_module
    from feedsvc.ops.writer import Writer
    from feedsvc.store import Store

    from .conftest import make_config

    class FirstShares(export_module._Shares):  # the reading process takes the first third of the feeds, `all` with them
        def take(self) -> int | None:
            return None if self.taken.value >= self.limit // 3 else super().take()

    config = make_config(corpus, tmp_path / "state", channels=CHANNELS, category_slugs={"新媒体": "xinmeiti"})
    index = Store.open(config.state_dir)
    scan(index, config, settle=0)
    reader = Store.open(config.state_dir, readonly=True)
    shared, base, specs = tmp_path / "shared", render_fingerprint(config), feed_specs(index, config)
    taken = multiprocessing.get_context("spawn").Value("i", 0)
    writers = [Writer(shared, {}, lambda n: None, background=False), Writer(shared, {}, lambda n: None)]
    export_module._feeds(writers[0], reader, config, FirstShares(taken, len(specs)).taken_from(specs), base, None,
                         FeedTree(specs), store=False)
    live = [path for path, _, _ in index.live_signatures()]
    assert index.entries(live, base) == {}  # nothing kept by the process that only reads
    export_module._feeds(writers[1], index, config, export_module._Shares(taken, len(specs)).taken_from(specs), base,
                         None, FeedTree(specs))
    for w in writers:
        w.finish()
    assert all(w.written for w in writers) and not writers[0].new.keys() & writers[1].new.keys()
    written = {p.relative_to(shared): p.read_bytes() for p in shared.rglob("*") if p.is_file()}
    one_process = {p.relative_to(out): p.read_bytes() for p in out.rglob("*") if p.is_file()
                   and p.relative_to(out).parts[0] in {"feeds", "categories", "tags"}}
    assert written == one_process
    reader.close()
    index.close()


def test_rebuild_leaves_unchanged_files_untouched_and_removes_what_is_gone(tmp_path: Path, corpus: Path) -> None:
    from feedsvc.ingest.scan import scan
    from feedsvc.ops.export import export
    from feedsvc.store import Store

    from .conftest import make_config

    config = make_config(corpus, tmp_path / "state", scan={"delete_after": 0})
    out = tmp_path / "site"
    index = Store.open(config.state_dir)
    scan(index, config, settle=0)
    first = export(index, config, out)
    stamps = {p: p.stat().st_mtime_ns for p in out.rglob("*") if p.is_file()}
    report = export(index, config, out)
    assert report.written == 0 and {p: p.stat().st_mtime_ns for p in stamps} == stamps
    assert report.unchanged == first.written  # what `build` reports: every file, none looked at
    assert "Vivy" in (out / "categories/yin-shi-pin/di-duan-ying-shi/shou-ye.atom").read_text(encoding="utf-8")
    shutil.rmtree(corpus / "音视频")
    scan(index, config, settle=0)
    scan(index, config, settle=0)  # second scan: the grace period (0 s) is over
    report = export(index, config, out)
    assert not (out / "categories/yin-shi-pin.rss").exists()
    # 音视频 › 低端影视 › 首页 held only this article: three feeds in 3 formats and their pages for
    # people, and the article's page
    assert report.removed == 3 * (3 + 1) + 1
    assert not (out / "categories/yin-shi-pin.html").exists()
    assert not (out / "categories/yin-shi-pin/di-duan-ying-shi/shou-ye.atom").exists()
    zaker = out / "categories/xin-mei-ti/zaker.atom"
    assert zaker.stat().st_mtime_ns == stamps[zaker]
    index.close()


def test_hostile_articles_still_give_valid_feeds(built: Build, articles: Path) -> None:
    shutil.copytree(HOSTILE, articles, dirs_exist_ok=True)
    (articles / "huge.md").write_text("---\ntitle: Huge\n---\n" + "<p>" + "很长的正文 ]]> " * 200_000 + "</p>",
                                      encoding="utf-8")
    out = built(articles)
    for path in files(out, ".rss", ".atom"):
        assert feedparser.parse(exported.read(path)).bozo == 0, path
    for path in files(out, ".rss", ".atom", ".json", ".html"):
        text = exported.read(path).decode("utf-8")
        assert "alert(" not in text
        if path.suffix in (".rss", ".atom"):  # the only ']]>' left ends a CDATA section
            assert text.count("]]>") == text.count("<![CDATA[")
    # nine of the twelve hostile files are published (one has no title, one is a draft, one an
    # alias bomb), and the huge one
    assert len(list((out / "articles").glob("*.html"))) == 10


def test_slugs_from_the_map_pinyin_or_ascii_without_collisions() -> None:
    assert auto_slug("新媒体") == "xin-mei-ti"
    assert auto_slug("Animen 动漫平台") == "animen-dong-man-ping-tai"
    assert auto_slug("Work type") == "work-type"
    assert re.fullmatch(r"c-[0-9a-f]{8}", auto_slug("😢"))
    assert auto_slug("../../etc") == "etc"
    taken: set[str] = set()
    for name in ("Mine", "番剧", "— 番剧", "ZAKER", "zaker"):
        taken.add(new_slug(name, {"Mine": "zaker"}, taken))
    assert sorted(taken) == ["fan-ju", "fan-ju-2", "zaker", "zaker-2", "zaker-3"]


def test_feeds_carry_a_stylesheet_that_renders_them_for_browsers(out: Path) -> None:
    stylesheet = etree.XSLT(etree.parse(str(out / "feed.xsl")))
    for name in ("feeds/all.atom", "feeds/all.rss"):
        assert b'<?xml-stylesheet type="text/xsl" href="/feed.xsl"?>' in (out / name).read_bytes()[:200]
        page = str(stylesheet(etree.parse(str(out / name))))
        assert "<h1>Test mirror</h1>" in page
        assert 'href="https://feeds.example.com/articles/' in page
        assert "https://feeds.example.com/" + name in page  # the address to subscribe to
        assert page.count("<li>") == 20
    rss = feedparser.parse((out / "feeds/all.rss").read_bytes())
    assert rss.feed.link == "https://feeds.example.com/feeds/all"  # the feed's page for people


def test_the_export_never_writes_outside_its_folder(tmp_path: Path) -> None:
    from feedsvc.ops.writer import Writer

    writer = Writer(tmp_path / "out", {}, lambda n: None)
    try:
        for relpath in ("../escaped.atom", "feeds/../../escaped.atom", "/tmp/escaped.atom"):
            with pytest.raises(ValueError, match="outside the export"):
                writer.put(relpath, "sig", b"<feed/>")
        writer.put("feeds/all.atom", "sig", b"<feed/>")
    finally:
        writer.finish()
    assert not list(tmp_path.glob("escaped*")) and (tmp_path / "out/feeds/all.atom.gz").exists()


def test_exported_files_are_world_readable_whatever_the_umask_and_no_temporary_is_left(
        built: Build, corpus: Path) -> None:
    import os

    old = os.umask(0o077)  # a service user's tight umask: nginx, another user, must still read
    try:
        out = built(corpus)
    finally:
        os.umask(old)
    written = [p for p in out.rglob("*") if p.is_file()]
    assert written and all(p.stat().st_mode & 0o777 == 0o644 for p in written)
    assert not [p for p in written if p.name.startswith(".")]


def test_archive_feeds_are_gz_alone_unless_plain_archives_and_switching_leaves_no_stray_file(
        tmp_path: Path, corpus: Path) -> None:
    """Archive pages are most of an export's bytes and seldom fetched: by default only their .gz
    is written (nginx: gzip_static always + gunzip on); ``plain_archives`` adds the plain file
    for hosts that cannot serve a .gz, and switching back removes it."""
    from .conftest import build_once, make_config

    out = tmp_path / "out"
    state = tmp_path / "state"
    build_once(make_config(corpus, state, feeds={"limit": 5, "archive_size": 3}), out)
    archived = exported.files(out, "**/_archive/*.rss")
    assert len(archived) > 5 and not any(p.is_file() for p in archived)
    gz_only = {p: exported.read(p) for p in archived}
    assert (out / "feeds/all.rss").is_file() and (out / "feeds/all.rss.gz").is_file()  # the feeds themselves: both
    assert (out / "feeds/all.html").is_file() and (out / "index.html").is_file()  # and the pages for people
    pages = exported.files(out, "**/_archive/*.html")  # but archive pages for people are .gz alone too
    assert len(pages) == len(archived) and not any(p.is_file() for p in pages)
    assert b"Archive page" in exported.read(pages[0])

    build_once(make_config(corpus, state, feeds={"limit": 5, "archive_size": 3}, export={"plain_archives": True}), out)
    assert {p: p.read_bytes() for p in archived} == gz_only  # the same bytes, now also plain...
    assert all(p.with_name(p.name + ".gz").is_file() for p in archived)  # ...beside their .gz

    build_once(make_config(corpus, state, feeds={"limit": 5, "archive_size": 3}), out)
    assert not any(p.is_file() for p in archived)
    assert {p: exported.read(p) for p in archived} == gz_only
