"""Every feed has a page for people at its path without a format, and everything meant for people
links there: found by walking the OPML's htmlUrl of every feed, as a reader's import would."""

from __future__ import annotations

from pathlib import Path

import feedparser
import lxml.html
import pytest
from lxml import etree

from feedsvc.web.app import create_app

from .conftest import build_once, make_config
from .live import StaticSite
from .test_browser import link_share, require, share

SITE = "https://feeds.example.com"


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory, ) -> tuple:  # noqa: ANN001
    import shutil

    from .conftest import REAL, SEED

    root = tmp_path_factory.mktemp("pages")
    corpus = root / "corpus"
    shutil.copytree(REAL, corpus)
    shutil.copy(SEED, corpus / SEED.name)
    (corpus / "tagged.md").write_text("---\ntitle: Tagged\ndate: 2020-01-01 08:00\ncategories: [博客]\n"
                                      "tags: [demo, 测试]\n---\n<p>with tags</p>\n", encoding="utf-8")  # the mirror has none
    config = make_config(corpus, root / "state")
    build_once(config, root / "out")
    return create_app(config).test_client(), root / "out"


def outlines(client) -> list[etree._Element]:  # noqa: ANN001
    opml = etree.fromstring(client.get("/opml.xml").data)
    return [o for o in opml.iter("outline") if o.get("xmlUrl")]


def test_every_opml_outline_leads_to_its_feeds_page_with_its_newest_items(site) -> None:  # noqa: ANN001
    client, out = site
    found = outlines(client)
    assert len(found) > 30
    for outline in found:
        page_url, feed_url = outline.get("htmlUrl"), outline.get("xmlUrl")
        assert page_url == feed_url.removesuffix(".rss"), page_url
        page = client.get(page_url.removeprefix(SITE))
        assert page.status_code == 200 and page.content_type == "text/html; charset=utf-8", page_url
        text = page.text
        for fmt, kind in (("rss", "application/rss+xml"), ("atom", "application/atom+xml"), ("json", "application/feed+json")):
            assert f'<link rel="alternate" type="{kind}"' in text and f'href="{page_url}.{fmt}"' in text, page_url
        items = client.get(page_url.removeprefix(SITE) + ".json").json["items"]
        shown = [(a.text_content(), a.get("href")) for a in lxml.html.fromstring(text).xpath('//a[@class="title"]')]
        assert shown == [(item["title"], item["url"]) for item in items] and shown, page_url  # the feed's, in order
        # the feed documents link back to the page
        assert feedparser.parse(client.get(feed_url.removeprefix(SITE)).data).feed.link == page_url
        atom = feedparser.parse(client.get(page_url.removeprefix(SITE) + ".atom").data)
        assert [link.href for link in atom.feed.links if link.rel == "alternate"] == [page_url]
        assert client.get(page_url.removeprefix(SITE) + ".json").json["home_page_url"] == page_url
        # the export writes the same bytes, where nginx's try_files $uri.html finds them
        assert (out / (page_url.removeprefix(SITE + "/") + ".html")).read_bytes() == page.data, page_url


def test_a_category_page_shows_its_place_in_the_tree_and_archives_are_pages_too(site) -> None:  # noqa: ANN001
    client, _ = site
    top = client.get("/categories/xin-mei-ti").text
    assert 'href="https://feeds.example.com/categories/xin-mei-ti/zaker"' in top  # a child, with its count
    child = client.get("/categories/xin-mei-ti/zaker/channel").text
    assert 'href="https://feeds.example.com/categories/xin-mei-ti"' in child  # the breadcrumb
    assert 'href="https://feeds.example.com/categories/xin-mei-ti/zaker"' in child
    everything = client.get("/feeds/all").text  # 26 articles, 20 a feed: one archive page
    assert 'href="https://feeds.example.com/feeds/all/_archive/1" rel="prev"' in everything
    archive = client.get("/feeds/all/_archive/1")
    assert archive.status_code == 200 and 'href="https://feeds.example.com/feeds/all" rel="next"' in archive.text
    assert archive.text.count('class="title"') == 6
    assert client.get("/feeds/all/_archive/2").status_code == 404
    assert 'property="og:title"' in top and '<meta name="description"' in top


def test_a_category_asked_for_by_its_names_redirects_to_its_page(site) -> None:  # noqa: ANN001
    client, _ = site
    moved = client.get("/categories/新媒体/ZAKER")
    assert moved.status_code == 301 and moved.headers["Location"].endswith("/categories/xin-mei-ti/zaker")
    assert client.get("/categories/nothing-here").status_code == 404


def test_a_feed_page_is_cached_with_an_etag_and_sends_the_pages_security_headers(site) -> None:  # noqa: ANN001
    client, _ = site
    first = client.get(outlines(client)[-1].get("htmlUrl").removeprefix(SITE))
    assert first.status_code == 200 and "script-src" not in first.headers["Content-Security-Policy"]
    again = client.get(first.request.path, headers={"If-None-Match": first.headers["ETag"]})
    assert again.status_code == 304


@pytest.mark.parametrize("width", [390, 1280])
def test_a_feed_page_reads_on_a_phone_and_a_desktop_with_javascript_off(site, tmp_path: Path, width: int) -> None:  # noqa: ANN001
    """Chromium with JavaScript switched off (DevTools' script execution off, not merely a page
    without scripts), in the light and the dark scheme: every item title is laid out, no text
    runs past the viewport, and every run of text meets WCAG AA contrast against what is under it."""
    from PIL import Image

    from .chromium import Browser, contrast, is_large

    client, out = site
    titles = [item["title"] for item in client.get("/feeds/all.json").get_json()["items"]]
    article = next(out.glob("articles/*.html")).relative_to(out)
    with StaticSite(out) as static, Browser(require("chromium"), tmp_path / "profile") as browser:
        for path, dark in (("feeds/all.html", False), ("feeds/all.html", True), ("index.html", True), (article, False)):
            browser.open(f"{static.url}/{path}", width, 1400, dark=dark)
            boxes = browser.text_boxes()
            assert browser.page_width() == width, path  # no sideways scrolling
            assert all(box.right <= width + 0.5 for box in boxes), [b.text for b in boxes if b.right > width + 0.5]
            poor = [(box.text[:30], round(contrast(box.color, box.background), 2)) for box in boxes
                    if contrast(box.color, box.background) < (3.0 if is_large(box) else 4.5)]
            assert not poor, (path, dark, poor)
            if path == "feeds/all.html":
                laid_out = " ".join(box.text for box in boxes)
                assert all(title.strip()[:20] in laid_out for title in titles), path
        browser.open(f"{static.url}/feeds/all.html", width, 1400)
        image = Image.open(browser.screenshot(tmp_path / f"page-{width}.png")).convert("RGB")
    page = (out / "feeds/all.html").read_text(encoding="utf-8")
    assert "<script" not in page and " onclick=" not in page  # nothing in it needs JavaScript
    assert image.size == (width, 1400)
    assert link_share(image) > 0.004  # the items' titles, in the link colour
    assert share(image, (255, 255, 255)) > 0.5  # a page, not a wall of XML
    # nothing runs off the right edge: the last columns are background, wherever text is
    edge = image.crop((width - 3, 0, width, 1400))
    assert share(edge, (255, 255, 255), tolerance=30) > 0.99


def test_an_article_page_leads_to_the_pages_of_its_categories_and_tags(site) -> None:  # noqa: ANN001
    client, out = site
    seen: set[str] = set()
    for item in [*client.get("/feeds/all.json").json["items"], *client.get("/feeds/all/_archive/1.json").json["items"]]:
        path = item["id"].removeprefix(SITE)
        served = client.get(path)
        links = [a.get("href") for a in lxml.html.fromstring(served.text).xpath('//p[@class="tags"]/a')]
        assert links, path  # every article of the mirror is filed under a category
        seen.update(links)
        assert (out / (path.removeprefix("/") + ".html")).read_bytes() == served.data, path
    assert any("/categories/" in link for link in seen) and any("/tags/" in link for link in seen)
    for link in seen:
        assert client.get(link.removeprefix(SITE)).status_code == 200, link
