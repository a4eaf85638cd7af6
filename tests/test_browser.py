"""What a person sees: the index page and a feed opened in headless Chromium, as screenshots."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from PIL import Image

from .conftest import require
from .live import LiveServer, StaticSite

CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync",
                  "--hide-scrollbars", "--window-size=1000,900"]
BANNER = (255, 247, 237)  # the feed page's "this is a web feed" banner
LINK = (194, 65, 12)  # link colour of both pages


def screenshot(url: str, out: Path, profile: Path) -> Image.Image:
    chromium = require("chromium")
    subprocess.run([chromium, *CHROMIUM_FLAGS, f"--user-data-dir={profile}", f"--screenshot={out}", url],
                   check=True, capture_output=True, timeout=90)
    return Image.open(out).convert("RGB")


def share(image: Image.Image, colour: tuple[int, int, int], tolerance: int = 0) -> float:
    """Share of pixels within ``tolerance`` (summed over R, G, B) of ``colour``."""
    hits = sum(n for n, pixel in image.getcolors(maxcolors=1 << 24)
               if sum(abs(a - b) for a, b in zip(pixel, colour, strict=True)) <= tolerance)
    return hits / (image.width * image.height)


def link_share(image: Image.Image) -> float:
    """Share of link-coloured pixels, the anti-aliased edges of the link text included: the
    solid core alone depends on the rasteriser (it came out a quarter lower on one CI host)."""
    return share(image, LINK, tolerance=60)


@pytest.fixture
def server(tmp_path: Path, corpus: Path):
    live = LiveServer(tmp_path, corpus).start()
    yield live
    live.stop()


def test_a_feed_opened_in_a_browser_is_a_readable_page(server: LiveServer, tmp_path: Path) -> None:
    for path in ("/feeds/all.atom", "/categories/xin-mei-ti/zaker.rss"):
        image = screenshot(server.url + path, tmp_path / "feed.png", tmp_path / "profile")
        assert image.size == (1000, 900)
        assert share(image, BANNER) > 0.02, path  # styled page, not a wall of XML
        assert link_share(image) > 0.002, path


def test_index_page_lists_the_feeds(server: LiveServer, tmp_path: Path) -> None:
    image = screenshot(server.url + "/", tmp_path / "index.png", tmp_path / "profile")
    assert share(image, (255, 255, 255)) > 0.5
    assert link_share(image) > 0.004  # the subscribe links


def test_index_page_stays_usable_with_600_category_feeds(built, articles: Path, tmp_path: Path) -> None:
    """150 sources under 8 site types, 3 routes each: 608 category feeds on one page."""
    for n in range(450):
        site_type, source, route = f"Type {n % 150 % 8}", f"Source {n % 150}", f"Route {n // 150}"
        (articles / f"{n}.md").write_text(f"---\ntitle: Post {n}\ncategories: [{site_type}, {source}, {route}]\n"
                                          f"date: 2022-01-01 10:{n % 60:02}\n---\nbody\n", encoding="utf-8")
    out = built(articles)
    html = (out / "index.html").read_text(encoding="utf-8")
    # the top of the tree with its formats, twelve sources of each as links to their pages, and
    # the rest a link away: a page that no longer grows with the tree (it was 300 KB here)
    assert len(html.encode()) < 40_000 and html.count('class="leaf"') == 8
    assert html.count(">RSS</a>") == 1 + 8
    assert html.count('href="categories/type-0/source-0"') == 1 and "more</a>" in html
    assert (out / "categories/type-0/source-0/route-2.html").is_file()  # every node has its page
    with StaticSite(out) as static:
        image = screenshot(static.url + "/index.html", tmp_path / "index.png", tmp_path / "profile")
    assert link_share(image) > 0.004  # the first screen shows feeds to subscribe to, not a wall of text
