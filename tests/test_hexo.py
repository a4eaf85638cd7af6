"""Hexo blogs as sources: item links are the blog's permalinks (checked against what Hexo itself
generated), dates come from file names, URLs are absolute, excerpts end at <!-- more -->, and no
tag plugin leaks into a feed."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import quote

import feedparser
import pytest
from click.testing import CliRunner

from feedsvc.cli import main
from feedsvc.config import parse_config
from feedsvc.hexo import Blog, post_path
from feedsvc.model import Article
from feedsvc.parse.articles import parse_article
from feedsvc.parse.tagplugins import render

from .conftest import DATA

HEXO = DATA / "hexo"
Build = Callable[..., Path]
MTIME = datetime(2030, 1, 1, tzinfo=UTC)


def blog_source(name: str) -> dict:
    return {"path": str(HEXO / name / "source" / "_posts"), "hexo": str(HEXO / name / "_config.yml")}


@pytest.fixture(scope="module")
def out(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from feedsvc.ingest.scan import scan
    from feedsvc.ops.export import export
    from feedsvc.store import Store

    tmp = tmp_path_factory.mktemp("hexo")
    config = parse_config({"site": {"url": "https://feeds.example.com", "timezone": "UTC"},
                           "sources": [blog_source("hexo-site"), blog_source("haoaa-blog")],
                           "state_dir": str(tmp / "state"), "feeds": {"limit": 1000, "summary_chars": 100_000}})
    index = Store.open(config.state_dir)
    scan(index, config, settle=0)
    export(index, config, tmp / "out")
    index.close()
    return tmp / "out"


def items(out: Path, feed: str = "feeds/all.json") -> list[dict]:
    return json.loads((out / feed).read_text(encoding="utf-8"))["items"]


def test_haoaa_item_links_are_the_pages_hexo_generated(out: Path) -> None:
    generated = set((HEXO / "haoaa-blog" / "generated-post-paths.txt").read_text(encoding="utf-8").split())
    prefix = "https://haoaa.github.io/hexo/"
    links = [i["url"] for i in items(out) if i["url"].startswith(prefix)]
    assert len(links) == 44
    missing = [link for link in links if link.removeprefix(prefix) not in {quote(p) for p in generated}]
    assert missing == []


def test_hexo_news_links_and_dates_come_from_the_file_names(out: Path) -> None:
    """Hexo's news posts have no date: the name says it, and the permalink is news/:year/:month/:day/:title/."""
    posts = sorted((HEXO / "hexo-site" / "source" / "_posts").glob("*.md"))
    expected = {}
    for post in posts:
        year, month, day, title = re.match(r"(\d{4})-(\d{2})-(\d{2})-(.+)\.md$", post.name).groups()
        header = post.read_text(encoding="utf-8").split("---")[1]
        if match := re.search(r"^date: *(\d{4})-(\d{2})-(\d{2}) (\d{2}):(\d{2})", header, re.MULTILINE):
            year, month, day, hour, minute = match.groups()  # a date of its own wins (the blog is in UTC)
        else:
            hour = minute = "00"
        expected[f"https://hexo.io/news/{year}/{month}/{day}/{quote(title)}/"] = (
            f"{year}-{month}-{day}T{hour}:{minute}:00+00:00")
    found = {i["url"]: i["date_published"] for i in items(out) if i["url"].startswith("https://hexo.io/")}
    assert found == expected
    newest = items(out)[0]
    assert newest["title"] == "hexo 8.1.0 Released" and newest["url"] == "https://hexo.io/news/2025/10/26/hexo-8-1-0-released/"


def test_no_tag_plugin_and_no_relative_url_reaches_a_feed(out: Path) -> None:
    for item in items(out):
        content = item.get("content_html", "")
        outside_code = re.sub(r"<pre\b.*?</pre>|<code\b.*?</code>", "", content, flags=re.DOTALL)
        assert "{%" not in outside_code, item["url"]
        for url in re.findall(r'(?:src|href|poster)="([^"]*)"', outside_code):
            assert re.match(r"^(https?:|mailto:|#)", url), (item["url"], url)
    for path in [*out.rglob("*.rss"), *out.rglob("*.atom")]:
        assert feedparser.parse(path.read_bytes()).bozo == 0, path


def test_asset_images_land_in_the_posts_asset_folder(out: Path) -> None:
    item = next(i for i in items(out) if i["url"] == "https://hexo.io/news/2014/07/13/hexo-2-8-released/")
    assert 'src="https://hexo.io/news/2014/07/13/hexo-2-8-released/generate-console.png"' in item["content_html"]


def test_the_excerpt_ends_at_more_and_the_content_stays_whole(out: Path) -> None:
    item = next(i for i in items(out) if "2019-03-28-vue-reactivity" in i["url"])
    # the post's last line before <!--more--> and its first line of code after it
    assert item["summary"].endswith("childOb.dep.depend();")
    assert "initState(vm);" not in item["summary"] and "initState(vm);" in item["content_html"]
    # in Hexo's own post the marker stands only inside code: no excerpt there
    hexo5 = next(i for i in items(out) if i["url"] == "https://hexo.io/news/2020/07/29/hexo-5-released/")
    assert len(hexo5["summary"]) > 200


def test_healthz_lists_unknown_tags_as_warnings(tmp_path: Path) -> None:
    from feedsvc.ops.scheduler import scan_once
    from feedsvc.web.app import create_app

    config = parse_config({"sources": [blog_source("hexo-site")], "state_dir": str(tmp_path / "state"),
                           "scan": {"settle": 0}})
    scan_once(config)
    warnings = create_app(config).test_client().get("/healthz").json["warnings"]
    assert any(w.endswith("2020-08-22-hexo-5-1_marked-3-1_math-4_util-2-4.md: unknown tag plugin {% katex %}: its"
                          " content is kept, the tag left out") for w in warnings)


def test_check_lists_unknown_tags_as_warnings(tmp_path: Path) -> None:
    config = tmp_path / "feedsvc.yaml"
    source = blog_source("hexo-site")
    config.write_text(f"sources:\n  - path: {source['path']}\n    hexo: {source['hexo']}\nstate_dir: {tmp_path}/s\n",
                      encoding="utf-8")
    result = CliRunner().invoke(main, ["check", "--config", str(config)])
    assert result.exit_code == 0
    assert "2020-08-22-hexo-5-1_marked-3-1_math-4_util-2-4.md: warning: unknown tag plugin {% katex %}" in result.output


@pytest.mark.parametrize(("permalink", "path"), [
    (":year/:month/:day/:title/", "2021/03/04/2021-03-04-hello-world/"),
    (":year/:i_month/:i_day/:name.html", "2021/3/4/2021-03-04-hello-world.html"),
    (":hour-:minute-:second/:post_title/", "05-06-07/hello-world-again/"),
    (":category/:id/", "Java/Spring/abc/"),  # Hexo keeps the case (filename_case: 0)
    ("posts/:hash/", "posts/{hash}/"),
])
def test_each_permalink_placeholder(permalink: str, path: str) -> None:
    import hashlib

    blog = Blog(url="https://blog.example", permalink=permalink, new_post_name=":title.md")
    date = datetime(2021, 3, 4, 5, 6, 7, tzinfo=UTC)
    digest = hashlib.sha1(("2021-03-04-hello-world" + str(int(date.timestamp()))).encode()).hexdigest()[:12]
    assert post_path(blog, "2021-03-04-hello-world.md", date, "Hello World, again!", (("Java", "Spring"),), "abc") == (
        path.format(hash=digest), [])


def test_new_post_name_dates_and_the_slug_hexo_takes_from_a_path() -> None:
    blog = Blog(url="https://blog.example", new_post_name=":year-:month-:day-:title.md")
    date = datetime(2017, 1, 1, tzinfo=UTC)
    assert post_path(blog, "2017-01-01-angular-day7.md", date, "", (), "x")[0] == "2017/01/01/angular-day7/"
    assert post_path(blog, "201701/2017-01-01-angular-day7.md", date, "", (), "x")[0] == (
        "2017/01/01/201701-2017-01-01-angular-day7/")  # a folder: Hexo slugizes the whole path


def parse(text: str, relpath: str = "2021-03-04-post.md") -> Article:
    config = parse_config({"sources": [{"path": "."}], "site": {"url": "https://feeds.example.com"}})
    blog = Blog(url="https://blog.example/sub", root="/sub/", new_post_name=":year-:month-:day-:title.md")
    return parse_article(text.encode(), relpath, MTIME, config, blog)


def test_links_dates_urls_and_images_of_a_hand_made_post() -> None:
    article = parse("---\ntitle: Post\ncover: cover.jpg\n---\n![a](a.png) ![b](/img/b.png) <img src=\"//cdn.example/c.png\">"
                    "\n[d](../other/) {% asset_path x.pdf %}\n")
    assert article.link == "https://blog.example/sub/2021/03/04/post/"
    assert article.published == datetime(2021, 3, 4, tzinfo=UTC)
    assert 'src="https://blog.example/sub/2021/03/04/post/a.png"' in article.content
    assert 'src="https://blog.example/sub/img/b.png"' in article.content
    assert 'src="https://cdn.example/c.png"' in article.content
    assert 'href="https://blog.example/sub/2021/03/04/other/"' in article.content
    assert "https://blog.example/sub/2021/03/04/post/x.pdf" in article.content
    assert article.image == "https://blog.example/sub/2021/03/04/post/cover.jpg"
    assert parse("---\ntitle: P\npermalink: /custom/path/\n---\nx").link == "https://blog.example/sub/custom/path/"
    assert parse("---\ntitle: P\nlink: https://orig.example/a\npermalink: x/\n---\nx").link == "https://orig.example/a"


def test_built_in_tag_plugins_render_and_unknown_ones_warn() -> None:
    source = """{% codeblock Title lang:js %}
let a = "<b>";
{% endcodeblock %}
{% blockquote David Levithan, Wide Awake %}
Do not just seek happiness.
{% endblockquote %}
{% pullquote %}pulled{% endpullquote %}
{% img left /img/x.png 200 100 "A title" "An alt" %}
{% asset_link doc.pdf The doc %}
{% link https://example.com Example %}
{% iframe https://player.example/1 %} {% youtube abc %} {% vimeo 42 %}
{% raw %}<span>{{ kept }}</span>{% endraw %}
{% unknown %} {% spoiler info %}inner{% endspoiler %}
`{% kept %}`
"""
    out, warnings = render(source)
    assert '<pre><code class="language-js">let a = &quot;&lt;b&gt;&quot;;</code></pre>' in out
    assert "<figcaption>Title</figcaption>" in out
    assert "<blockquote>" in out and "<footer>David Levithan, Wide Awake</footer>" in out
    assert '<blockquote class="pullquote">' in out
    assert '<img src="/img/x.png" alt="An alt" title="A title">' in out
    assert '<a href="doc.pdf">The doc</a>' in out and '<a href="https://example.com">Example</a>' in out
    for url in ("https://player.example/1", "https://www.youtube.com/watch?v=abc", "https://vimeo.com/42"):
        assert f'<a href="{url}">{url}</a>' in out
    assert "<span>{{ kept }}</span>" in out and "inner" in out and "`{% kept %}`" in out
    assert warnings == ["unknown tag plugin {% unknown %}: left out",
                        "unknown tag plugin {% spoiler %}: its content is kept, the tag left out"]
