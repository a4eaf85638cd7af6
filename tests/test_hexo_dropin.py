"""A drop-in for hexo-generator-feed: one test per case a real blog broke, each with a small
hand-made blog (a ``_config.yml`` and a post or two), built and read back as a reader would."""

from __future__ import annotations

import json
import os
import re
import subprocess
from pathlib import Path
from urllib.parse import unquote

import feedparser
import pytest
from click.testing import CliRunner

from feedsvc.cli import main
from feedsvc.config import parse_config

from .conftest import require

BLOG = """title: 冬夏的博客
subtitle: 记录
author: 冬夏
language: zh_CN
url: https://blog.example
root: /
permalink: :year/:month/:day/:title/
timezone:
post_asset_folder: true
"""


def blog(tmp: Path, posts: dict[str, str], config: str = BLOG, package: str | None = None) -> dict:
    """A blog folder with ``_config.yml`` and these posts (name -> text; a name ending in / is
    a folder, an asset folder for instance)."""
    (tmp / "source" / "_posts").mkdir(parents=True)
    (tmp / "_config.yml").write_text(config, encoding="utf-8")
    if package:
        (tmp / "package.json").write_text(package, encoding="utf-8")
    for name, text in posts.items():
        path = tmp / "source" / "_posts" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    return {"path": str(tmp / "source" / "_posts"), "hexo": str(tmp / "_config.yml")}


def build(tmp: Path, source: dict, **config: object) -> Path:
    from .conftest import build_once

    data = {"sources": [source], "state_dir": str(tmp / "state"), "site": {"url": "https://feeds.example.com"}, **config}
    build_once(parse_config(data), tmp / "out")
    return tmp / "out"


def entries(out: Path, fmt: str = "atom") -> list:
    parsed = feedparser.parse((out / f"feeds/all.{fmt}").read_bytes())
    assert not parsed.bozo, parsed.bozo_exception
    return parsed.entries


def warnings(tmp: Path, source: dict, site: str = "  url: https://feeds.example.com\n  timezone: Asia/Shanghai\n") -> str:
    config = tmp / "feedsvc.yaml"
    config.write_text(f"site:\n{site}sources:\n  - path: {source['path']}\n    hexo: {source['hexo']}\n"
                      f"state_dir: {tmp}/check-state\n", encoding="utf-8")
    result = CliRunner().invoke(main, ["check", "--config", str(config)])
    return result.output


def test_a_post_is_markdown_whatever_it_opens_with(tmp_path: Path) -> None:
    source = blog(tmp_path, {
        "tag.md": "---\ntitle: Tag first\ndate: 2024-01-01 10:00\n---\n"
                  "{% blockquote %}\n引用\n{% endblockquote %}\n\n# 概述 #\n\n*冬夏*\n",
        "comment.md": "---\ntitle: Comment first\ndate: 2024-01-02 10:00\n---\n<!-- DRAFT -->\n## 标题\n\n[链接](https://a.example/)\n",
        "div.md": "---\ntitle: Div first\ndate: 2024-01-03 10:00\n---\n<div class=\"x\">raw</div>\n\n> 版权声明\n\n**粗体**\n",
        "more.md": "---\ntitle: Empty excerpt\ndate: 2024-01-04 10:00\n---\n<!-- more -->\n## Heading\n\n"
                   "[text](https://b.example/) ![](https://c.example/i.png)\n",
    })
    found = {e.title: e for e in entries(build(tmp_path, source))}
    assert "<h1>概述</h1>" in found["Tag first"].content[0].value and "<em>冬夏</em>" in found["Tag first"].content[0].value
    assert "<h2>标题</h2>" in found["Comment first"].content[0].value
    div = found["Div first"].content[0].value
    assert ">raw</div>" in div and "<blockquote>" in div and "<strong>粗体</strong>" in div
    for entry in found.values():  # summaries are text, never Markdown source
        assert not any(mark in entry.summary for mark in ("# ", "*", "](", "&gt; ")), entry.summary
    assert found["Empty excerpt"].summary.startswith("Heading")


def test_front_matter_keys_and_permalink_defaults_fill_the_permalink(tmp_path: Path) -> None:
    config = BLOG.replace("permalink: :year/:month/:day/:title/", "permalink: posts/:urlname.html\n"
                          "permalink_defaults:\n  urlname: fallback")
    source = blog(tmp_path, {"a.md": "---\ntitle: JVM\nurlname: jvm_art_book\ndate: 2016-06-05\n---\nbody\n",
                             "b.md": "---\ntitle: Default\ndate: 2016-06-06\n---\nbody\n"}, config)
    links = {e.title: (e.link, e.id) for e in entries(build(tmp_path, source))}
    assert links["JVM"] == ("https://blog.example/posts/jvm_art_book.html",) * 2
    assert links["Default"][0] == "https://blog.example/posts/fallback.html"


def test_a_placeholder_nothing_fills_is_a_warning_not_a_link(tmp_path: Path) -> None:
    source = blog(tmp_path, {"a.md": "---\ntitle: No name\ndate: 2016-06-05\n---\nbody\n"},
                  BLOG.replace(":year/:month/:day/:title/", "posts/:abbrlink.html"))
    entry = entries(build(tmp_path / "b", source))[0]
    assert ":abbrlink" not in entry.link and entry.link.startswith("https://feeds.example.com/articles/")
    assert "a.md: warning: permalink 'posts/:abbrlink.html': nothing in the front matter or permalink_defaults" \
        " fills :abbrlink" in warnings(tmp_path, source)


def test_category_and_tag_are_read_as_categories_and_tags_with_the_blogs_slugs(tmp_path: Path) -> None:
    config = BLOG + "category_map:\n  编程: programming\ntag_map:\n  设计模式: design-patterns\n"
    source = blog(tmp_path, {"a.md": "---\ntitle: One\ndate: 2020-01-01\ncategory: 编程\ntag: 设计模式\n---\nbody\n"}, config)
    out = build(tmp_path, source)
    assert [e.title for e in entries(out)] == ["One"]
    assert (out / "categories/programming.atom").is_file() and (out / "tags/design-patterns.rss").is_file()
    assert [t.term for t in entries(out)[0].tags] == ["编程", "设计模式"]


def test_entry_ids_are_the_permalinks_hexo_generator_feed_wrote(tmp_path: Path) -> None:
    post = {"2021-05-01-设计.md": "---\ntitle: 设计\ndate: 2021-05-01 08:00:00\nlink: https://elsewhere.example/x\n---\nbody\n"}
    encoded = "https://blog.example/2021/05/01/2021-05-01-%E8%AE%BE%E8%AE%A1/"
    out = build(tmp_path / "new", blog(tmp_path / "new", post))
    for fmt in ("atom", "rss"):
        entry = entries(out, fmt)[0]
        assert entry.id == encoded and entry.link == "https://elsewhere.example/x"  # the id is the permalink
    assert json.loads((out / "feeds/all.json").read_text(encoding="utf-8"))["items"][0]["id"] == encoded
    # a blog whose hexo-generator-feed is 1.x: Atom ids as text, RSS guids percent-encoded, as it wrote them
    old = blog(tmp_path / "old", post, package='{"dependencies": {"hexo-generator-feed": "^1.2.2"}}')
    old_out = build(tmp_path / "old", old)
    assert entries(old_out)[0].id == "https://blog.example/2021/05/01/2021-05-01-设计/"
    assert entries(old_out, "rss")[0].id == encoded
    # ids: path keeps this site's article pages
    kept = {**blog(tmp_path / "path", post), "ids": "path"}
    assert entries(build(tmp_path / "path", kept))[0].id.startswith("https://feeds.example.com/articles/")


def test_the_feed_takes_the_blogs_title_language_and_author(tmp_path: Path) -> None:
    source = blog(tmp_path, {"a.md": "---\ntitle: One\ndate: 2020-01-01\n---\nbody\n",
                             "b.md": "---\ntitle: Two\ndate: 2020-01-02\nauthor: 客人\n---\nbody\n"})
    out = build(tmp_path, source)
    feed = feedparser.parse((out / "feeds/all.atom").read_bytes())
    assert feed.feed.title == "冬夏的博客" and feed.feed.subtitle == "记录" and feed.feed.author == "冬夏"
    assert feed.feed.language == "zh-CN"
    assert {e.title: e.author for e in feed.entries} == {"One": "冬夏", "Two": "客人"}
    rss = feedparser.parse((out / "feeds/all.rss").read_bytes())
    assert rss.feed.title == "冬夏的博客" and rss.feed.language == "zh-CN"
    # what the config says wins
    mine = build(tmp_path / "mine", source, site={"url": "https://feeds.example.com", "title": "Mine"})
    assert feedparser.parse((mine / "feeds/all.atom").read_bytes()).feed.title == "Mine"


def test_the_feed_has_the_blogs_feed_icon_else_its_favicon(tmp_path: Path) -> None:
    post = {"a.md": "---\ntitle: One\ndate: 2020-01-01\n---\nbody\n"}
    out = build(tmp_path / "icon", blog(tmp_path / "icon", post, BLOG + "feed:\n  icon: /images/icon.png\n"))
    icon = "https://blog.example/images/icon.png"
    assert feedparser.parse((out / "feeds/all.atom").read_bytes()).feed.icon == icon
    assert feedparser.parse((out / "feeds/all.rss").read_bytes()).feed.image.href == icon
    assert json.loads((out / "feeds/all.json").read_text(encoding="utf-8"))["icon"] == icon
    favicon = blog(tmp_path / "fav", post)
    (tmp_path / "fav" / "source" / "favicon.ico").write_bytes(b"ico")
    out = build(tmp_path / "fav", favicon)
    assert feedparser.parse((out / "feeds/all.atom").read_bytes()).feed.icon == "https://blog.example/favicon.ico"
    bare = build(tmp_path / "bare", blog(tmp_path / "bare", post))
    assert "icon" not in feedparser.parse((bare / "feeds/all.atom").read_bytes()).feed


def test_an_empty_blog_timezone_means_site_timezone_and_check_warns_when_both_are_unset(tmp_path: Path) -> None:
    source = blog(tmp_path, {"a.md": "---\ntitle: Eight\ndate: 2020-01-01 08:00:00\n---\nbody\n"})
    shanghai = build(tmp_path / "sh", source, site={"url": "https://feeds.example.com", "timezone": "Asia/Shanghai"})
    assert entries(shanghai)[0].published == "2020-01-01T00:00:00+00:00"
    assert "no timezone here or in site.timezone" not in warnings(tmp_path, source)
    unset = warnings(tmp_path, source, site="  url: https://feeds.example.com\n")
    assert unset.count("no timezone here or in site.timezone") == 1


def git(folder: Path, *args: str, date: str | None = None) -> None:
    env = {**os.environ, "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.com", "GIT_COMMITTER_NAME": "t",
           "GIT_COMMITTER_EMAIL": "t@example.com", **({"GIT_AUTHOR_DATE": date, "GIT_COMMITTER_DATE": date} if date else {})}
    subprocess.run(["git", "-C", str(folder), *args], check=True, capture_output=True, env=env, timeout=60)


def test_an_undated_post_in_git_takes_the_date_of_the_commit_that_added_it(tmp_path: Path) -> None:
    require("git")
    source = blog(tmp_path, {"first.md": "---\ntitle: First\n---\nbody\n"})
    git(tmp_path, "init", "-q")
    git(tmp_path, "add", ".")
    git(tmp_path, "commit", "-qm", "first", date="2019-03-04T05:06:07+08:00")
    (Path(source["path"]) / "second.md").write_text("---\ntitle: Second\ndate:\n---\nbody\n", encoding="utf-8")
    git(tmp_path, "add", ".")
    git(tmp_path, "commit", "-qm", "second", date="2020-07-08T09:10:11+00:00")
    (Path(source["path"]) / "first.md").write_text("---\ntitle: First\n---\nedited\n", encoding="utf-8")  # later edits keep it
    git(tmp_path, "commit", "-qam", "edit", date="2021-01-01T00:00:00+00:00")
    out = build(tmp_path, source, site={"url": "https://feeds.example.com", "timezone": "Asia/Shanghai"})
    found = {e.title: (e.published, e.link) for e in entries(out)}
    assert found["First"] == ("2019-03-03T21:06:07+00:00", "https://blog.example/2019/03/04/first/")
    assert found["Second"][0] == "2020-07-08T09:10:11+00:00"
    said = warnings(tmp_path, source)
    assert "first.md: warning: no date in the front matter or the file name: dated 2019-03-03T21:06:07+00:00 by" \
        " the commit that added it (git)" in said


def test_theme_tags_keep_their_text_and_no_option_reaches_a_url(tmp_path: Path) -> None:
    body = ("{% folding green, 什么是 React？ %}\nReact 是库。\n{% endfolding %}\n\n"
            "{% image https://img.example/a.png, width=100px, alt=图注 %}\n\n"
            "{% tabs t %}\n<!-- tab 第一 -->\n一\n<!-- endtab -->\n{% endtabs %}\n\n"
            "{% note warning %}\n**注意**\n{% endnote %}\n\n{% btn https://b.example/, 按钮 %} {% kbd Ctrl %}\n\n"
            "{% mystery 自己的标题 %}\n内容\n{% endmystery %}\n")
    source = blog(tmp_path, {"a.md": f"---\ntitle: Tags\ndate: 2020-01-01\n---\n{body}"})
    html = entries(build(tmp_path, source))[0].content[0].value
    for text in ("什么是 React？", "React 是库。", "图注", "第一", "<strong>注意</strong>", ">按钮</a>", "<kbd>Ctrl</kbd>",
                 "自己的标题", "内容"):
        assert text in html, text
    assert 'src="https://img.example/a.png"' in html and "width=" not in html and "{%" not in html


def test_an_asset_that_does_not_exist_is_a_warning_and_names_with_spaces_work(tmp_path: Path) -> None:
    source = blog(tmp_path, {
        "post.md": "---\ntitle: Assets\ndate: 2020-01-01\n---\n{% asset_img 组合模式 UML.png 图 %}\n\n"
                   "{% asset_img 组合模式UML.jpg %}\n\n![](missing.png)\n",
        "post/组合模式 UML.png": "png"})
    html = entries(build(tmp_path, source))[0].content[0].value
    assert 'src="https://blog.example/2020/01/01/post/%E7%BB%84%E5%90%88%E6%A8%A1%E5%BC%8F%20UML.png"' in html
    assert 'alt="图"' in html
    said = warnings(tmp_path, source)
    assert "post.md: warning: {% asset_img 组合模式UML.jpg %}: no such file in the post's asset folder" in said
    assert "post.md: warning: image 'missing.png': no such file in the post's asset folder" in said
    assert said.count("no such file") == 2



def test_an_image_named_from_the_posts_file_shows_the_asset_folders_file(tmp_path: Path) -> None:
    """Typora and most Markdown editors write an asset's path from the post's file
    (``my-post/diagram.png``, or ``/my-post/...``), spaces and all; hexo-asset-image drops the folder's name, so the
    page shows the file of the asset folder, and so does the feed (Hexo's Markdown renderer
    takes a path with spaces, which CommonMark alone would leave as text). Named so, a file that
    is not there is still a warning."""
    source = blog(tmp_path, {
        "my-post.md": "---\ntitle: Typora\ndate: 2020-01-01\n---\n![图](my-post/图%201.png)\n\n"
                      "![](/my-post/diagram.png)\n\n![](my-post/gone.png)\n\n![cmd](my-post/a b.png \"the cmd\")\n",
        "my-post/图 1.png": "png", "my-post/diagram.png": "png", "my-post/a b.png": "png"})
    html = entries(build(tmp_path, source))[0].content[0].value
    assert 'src="https://blog.example/2020/01/01/my-post/%E5%9B%BE%201.png"' in html
    assert 'src="https://blog.example/2020/01/01/my-post/diagram.png"' in html
    assert 'src="https://blog.example/2020/01/01/my-post/a%20b.png"' in html and "![" not in html
    said = warnings(tmp_path, source)
    assert "my-post.md: warning: image 'my-post/gone.png': no such file in the post's asset folder" in said
    assert said.count("no such file") == 1


# real blogs whose repositories also hold the site Hexo generated (tests/data/hexo/README.md)
ORACLES = ["mysote", "blog-hexo-0374wang", "amao-hexo-site", "adu-hexo-blog", "ailoveu-hexo-builder"]


@pytest.mark.parametrize("name", ORACLES)
def test_links_ids_and_dates_equal_what_hexo_generator_feed_published(tmp_path: Path, name: str) -> None:
    """Every post with a date of its own has the link, id and published date of the entry in the
    atom.xml Hexo generated from the same commit; the undated ones (Hexo dated them by the files'
    times on the writer's disk, which no clone has) are reported by ``check`` with where their
    date came from. The feed carries the blog's title and author."""
    from .conftest import DATA

    root = DATA / "hexo" / name
    source = {"path": str(root / "source" / "_posts"), "hexo": str(root / "_config.yml")}
    # the writers' zone: none of these blogs set one, and Hexo used the clock of a machine in China
    out = build(tmp_path, source, site={"url": "https://feeds.example.com", "timezone": "Asia/Shanghai"},
                feeds={"limit": 1000})
    ours = feedparser.parse((out / "feeds/all.atom").read_bytes())
    published = feedparser.parse((root / "generated-atom.xml").read_bytes())
    assert ours.feed.title == published.feed.title and ours.feed.author == published.feed.author
    generated = set((root / "generated-post-paths.txt").read_text(encoding="utf-8").split())
    undated = undated_titles(root / "source" / "_posts")
    by_link = {e.link: e for e in ours.entries}
    equal = {"link": 0, "id": 0, "date": 0}
    for theirs in published.entries:
        mine = by_link.get(theirs.link)
        if theirs.title in undated:  # dated here by git or the file's time: its date, and a dated link, differ
            continue
        assert mine is not None, theirs.link
        assert (mine.id, mine.published_parsed) == (theirs.id, theirs.published_parsed), theirs.link
        equal = {"link": equal["link"] + 1, "id": equal["id"] + 1, "date": equal["date"] + 1}
    assert equal["link"] == len(published.entries) - len([e for e in published.entries if e.title in undated])
    said = warnings(tmp_path, source)
    assert said.count("no date in the front matter or the file name") == len(undated - {""}) + ("" in undated)
    # every post is published where Hexo put its page (its atom.xml holds only the newest 20)
    blog_url = published.feed.link.rstrip("/") + "/"
    elsewhere = {unquote(e.link.removeprefix(blog_url)) for e in ours.entries} - generated
    assert len(elsewhere) <= len(undated), elsewhere  # an undated post's dated link is the one that may differ
    assert len(ours.entries) == len(list((root / "source" / "_posts").rglob("*.md")))


def undated_titles(posts: Path) -> set[str]:
    """The titles of the posts with no date of their own ("" for a post without front matter)."""
    import re

    from feedsvc.parse.frontmatter import split  # the lenient reader: real front matter has tabs

    found = set()
    for post in posts.rglob("*.md"):
        meta = split(post.read_text(encoding="utf-8")).meta or {}
        if not meta.get("date") and not re.match(r"\d{4}-\d{2}-\d{2}-", post.name):
            found.add(str(meta.get("title") or ""))
    return found


@pytest.mark.parametrize("fmt", ["rss", "atom"])
def test_newsboat_reads_the_real_blogs_feeds(tmp_path: Path, fmt: str) -> None:
    from .conftest import DATA, build_once

    newsboat = require("newsboat")
    feeds, blogs = [], [*ORACLES, "shangyun-blog", "verification-blog"]
    for name in blogs:  # a feedsvc per blog, as each blogger would run it
        source = {"path": str(DATA / "hexo" / name / "source" / "_posts"), "hexo": str(DATA / "hexo" / name / "_config.yml")}
        build_once(parse_config({"sources": [source], "state_dir": str(tmp_path / name / "state"), "feeds": {"limit": 1000},
                                 "site": {"url": f"https://{name}.example.com", "timezone": "Asia/Shanghai"}}),
                   tmp_path / name / "out")
        feeds.append(f"file://{tmp_path / name / 'out'}/feeds/all.{fmt}")
    urls = tmp_path / "urls"
    urls.write_text("\n".join(feeds) + "\n", encoding="utf-8")
    done = subprocess.run([newsboat, "-u", str(urls), "-c", str(tmp_path / "cache.db"), "-C", str(tmp_path / "conf"),
                           "-x", "reload"], capture_output=True, timeout=60)
    assert done.returncode == 0, done.stderr
    import sqlite3

    with sqlite3.connect(tmp_path / "cache.db") as cache:  # newsboat stored every item of every blog
        posts = sum(1 for name in blogs for post in (DATA / "hexo" / name / "source" / "_posts").rglob("*.*")
                    if post.suffix in (".md", ".html"))
        assert cache.execute("SELECT COUNT(*) FROM rss_item").fetchone()[0] == posts == 282


def test_butterflys_own_docs_link_by_abbrlink_and_keep_the_text_of_their_tags(tmp_path: Path) -> None:
    """The Butterfly theme's documentation blog (permalink posts/:abbrlink/, its tags on every
    page): each post links to url + /posts/<its abbrlink>/, read here from the front matter, and
    no tag plugin is left in the text a reader sees (only in code, where the docs show them)."""
    import re

    from feedsvc.parse.frontmatter import split

    from .conftest import DATA

    root = DATA / "hexo" / "butterfly-docs"
    source = {"path": str(root / "source" / "_posts"), "hexo": str(root / "_config.yml")}
    expected = {}
    for post in (root / "source" / "_posts").glob("*.md"):
        meta = split(post.read_text(encoding="utf-8")).meta or {}
        if meta.get("published") is not False:  # a draft is not published, by Hexo or here
            expected[str(meta["title"]).strip()] = f"https://butterfly.js.org/posts/{meta['abbrlink']}/"
    out = build(tmp_path, source, feeds={"limit": 100})
    found = {e.title: e for e in entries(out)}
    assert {title: e.link for title, e in found.items()} == expected
    assert all(e.id == e.link for e in found.values())
    for entry in found.values():
        text = re.sub(r"<(pre|code)\b.*?</\1>", "", entry.content[0].value, flags=re.S)
        assert "{%" not in text, entry.title
    tags = found["Butterfly 文檔(四) 標簽外挂"].content[0].value
    assert "🚀 快速開始" in tags and "❓ 主題問答" in tags  # post_link titles, and the notes holding them


def test_a_blog_that_files_every_post_with_category_singular_gets_hexos_tree_and_links(tmp_path: Path) -> None:
    """yl2019lw's blog writes ``category:`` (singular) in all 64 posts, with asset folders.
    Hexo generated a page for each post and for each of the 6 nodes of its category tree; the
    fixture lists them (its images are left out: an empty file of each name stands in, since a
    feed links to an image and never reads it). Every post links where Hexo put its page, and
    the category feeds are Hexo's category pages, node for node."""
    import shutil
    from urllib.parse import unquote

    from .conftest import DATA

    root = tmp_path / "blog"
    shutil.copytree(DATA / "hexo" / "yl2019lw-blog", root)
    for asset in (root / "asset-files.txt").read_text(encoding="utf-8").splitlines():
        (root / "source" / "_posts" / asset).parent.mkdir(parents=True, exist_ok=True)
        (root / "source" / "_posts" / asset).touch()
    source = {"path": str(root / "source" / "_posts"), "hexo": str(root / "_config.yml")}
    out = build(tmp_path, source, feeds={"limit": 100})
    found = entries(out)
    pages = set((root / "generated-post-paths.txt").read_text(encoding="utf-8").split())
    links = [unquote(e.link.removeprefix("http://yoursite.com/")).rstrip("/") for e in found]
    assert len(links) == 64 and set(links) <= pages  # the date in each link is Hexo's day too
    nodes = {p.relative_to(out / "categories").with_suffix("").as_posix() for p in (out / "categories").rglob("*.atom")}
    assert nodes == set((root / "generated-category-paths.txt").read_text(encoding="utf-8").split())
    assert all(e.tags and "computer vision" in [t.term for t in e.tags] for e in found)
    said = warnings(tmp_path, source)
    assert "0 errors, 0 warnings" in said, said


def test_a_blog_with_category_and_tag_maps_publishes_its_feeds_at_the_blogs_own_slugs(tmp_path: Path) -> None:
    """shangyun-sx's blog maps its Chinese category and tags to slugs (``category_map``,
    ``tag_map``), links posts by ``:abbrlink``, and leaves ``timezone`` empty: GitHub Actions
    built it, in UTC. Each entry has the link, id and published date of its atom.xml, the feed
    its title, author and icon, and each category and tag feed sits at the slug of the page
    Hexo made for it (``categories/essay/``, ``tags/blog/``, ...)."""
    from .conftest import DATA

    root = DATA / "hexo" / "shangyun-blog"
    source = {"path": str(root / "source" / "_posts"), "hexo": str(root / "_config.yml")}
    out = build(tmp_path, source, site={"url": "https://feeds.example.com", "timezone": "UTC"})
    ours, published = entries(out), feedparser.parse((root / "generated-atom.xml").read_bytes())
    assert [(e.link, e.id, e.published_parsed) for e in ours] == \
        [(e.link, e.id, e.published_parsed) for e in published.entries]
    assert {unquote(e.link.removeprefix("https://shangyun-sx.github.io/")).strip("/") for e in ours} == \
        set((root / "generated-post-paths.txt").read_text(encoding="utf-8").split())
    feed = feedparser.parse((out / "feeds/all.atom").read_bytes()).feed
    assert (feed.title, feed.author, feed.icon) == (published.feed.title, published.feed.author, published.feed.icon)
    hexo_pages = set((root / "generated-term-paths.txt").read_text(encoding="utf-8").split())
    assert {str(p.relative_to(out).with_suffix("")) for p in out.glob("*/*.atom") if p.parent.name != "feeds"} == hexo_pages
    assert "0 errors, 0 warnings" in warnings(tmp_path, source, site="  url: https://feeds.example.com\n  timezone: UTC\n")


def test_a_blog_of_typora_posts_shows_each_image_where_hexo_put_it(tmp_path: Path) -> None:
    """A verification engineer's blog of 178 posts written in Typora: images named from the
    post's file (``post/x.png``, ``/post/x.png``, paths with spaces), shown by hexo-asset-image.
    Its repository holds the generated site: each image of a post Hexo generated is at the URL
    of a file Hexo generated, but one, whose file the source no longer has; that one and an
    image of a later post whose file was never committed are the two images ``check`` reports.
    The links, ids and dates of its atom.xml are ours too (its one undated post aside)."""
    import shutil

    from .conftest import DATA

    root = tmp_path / "blog"
    shutil.copytree(DATA / "hexo" / "verification-blog", root)
    for name in (root / "asset-files.txt").read_text(encoding="utf-8").splitlines():  # empty files stand in
        (root / "source" / "_posts" / name).parent.mkdir(parents=True, exist_ok=True)
        (root / "source" / "_posts" / name).touch()
    source = {"path": str(root / "source" / "_posts"), "hexo": str(root / "_config.yml")}
    out = build(tmp_path, source, site={"url": "https://feeds.example.com", "timezone": "Asia/Shanghai"},
                feeds={"limit": 1000})
    blog_url, ours = "http://192.154.218.26/", entries(out)
    generated = set((root / "generated-post-paths.txt").read_text(encoding="utf-8").split("\n"))
    files = set((root / "generated-images.txt").read_text(encoding="utf-8").split("\n"))
    shown = [(post, unquote(src.removeprefix(blog_url))) for e in ours
             if (post := unquote(e.link.removeprefix(blog_url)).strip("/")) in generated
             for src in re.findall(r'<img[^>]*src="([^"]+)"', e.get("content", [{}])[0].get("value", ""))
             if src.startswith(blog_url)]
    elsewhere = [image for _, image in shown if image not in files]
    gone = "通过套接字进行SV和其他语言进行交互"  # its asset folder is in the generated site, not in the source
    assert len(shown) > 80 and elsewhere == [f"2019/05/08/{gone}/{gone}/src.png"]
    # a path with spaces is an image too, as Hexo's Markdown renderer took it (3 in one post)
    texts = [re.sub(r"<(pre|code)\b.*?</\1>", "", e.content[0].value, flags=re.S) for e in ours if "content" in e]
    assert len(texts) > 170 and not [text for text in texts if "![" in text]
    said = [line for line in warnings(tmp_path, source).splitlines() if "no such file" in line]
    assert len(said) == 2 and any("'cocotb杂谈/48.png'" in line for line in said)
    assert any(f"'{gone}/src.png'" in line for line in said)
    published = feedparser.parse((root / "generated-atom.xml").read_bytes()).entries
    by_link = {e.link: e for e in ours}
    equal = [e for e in published
             if (mine := by_link.get(e.link)) and (mine.id, mine.published_parsed) == (e.id, e.published_parsed)]
    assert len(equal) == len(published) - 1 == 19  # the undated one: an .html post dated by the writer's disk
