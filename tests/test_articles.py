"""Articles: real mirror files and hostile ones parse into what a reader should see."""

from __future__ import annotations

from datetime import UTC, datetime
from datetime import time as clock_time
from email.utils import parsedate_to_datetime
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from feedsvc.config import parse_config
from feedsvc.errors import ArticleError
from feedsvc.model import Article
from feedsvc.parse.articles import names, parse_article, parse_date, path_id

from .conftest import HOSTILE, REAL, SEED, real_posts

CONFIG = parse_config({"sources": [{"path": "."}], "site": {"timezone": "Asia/Shanghai"}})
MTIME = datetime(2023, 5, 6, 7, 8, 9, tzinfo=UTC)
SHANGHAI = CONFIG.site.tz


def parse(path: Path, relpath: str | None = None) -> Article:
    return parse_article(path.read_bytes(), relpath or path.name, MTIME, CONFIG)


def parse_text(text: str, relpath: str = "post.md") -> Article:
    return parse_article(text.encode("utf-8"), relpath, MTIME, CONFIG)


@pytest.mark.parametrize("path", real_posts(), ids=lambda p: p.name)
def test_every_real_post_parses_with_its_title_date_and_categories(path: Path) -> None:
    article = parse(path, path.relative_to(REAL).as_posix())
    assert article.title and "&#" not in article.title
    assert article.published.year >= 2018 and article.published.tzinfo is not None
    [path] = article.categories  # one path: site section › source › route, as the mirror writes it
    assert len(path) == 3
    assert article.warnings == ()


def test_seed_article() -> None:
    article = parse(SEED)
    assert article.title == "离开大城市，我去三线城市做直播带货"
    assert article.published == datetime(2021, 9, 13, 20, 43, tzinfo=UTC)
    assert article.categories == (("新媒体", "ZAKER", "channel"),)
    assert article.author == "ZAKER"
    assert article.image == "http://zkres1.myzaker.com/202109/61400d5bb15ec02dd6614cfd_1024.jpg"
    assert article.id == path_id(SEED.name)
    assert 'src="http://zkres1.myzaker.com/202109/61400d5bb15ec02dd6614cfd_1024.jpg"' in article.content
    assert article.summary.startswith("作者 | 李秋涵") and len(article.summary) <= 280


def test_real_oddities_from_the_manifest() -> None:
    by_name = {p.name: parse(p, p.relative_to(REAL).as_posix()) for p in real_posts()}
    assert by_name["BIRDIE WING -Golf Girls' Story-｜.md"].title == "BIRDIE WING -Golf Girls' Story-｜"
    assert by_name["第10话 - 说谎者的宴会.md"].categories[0][2] == "— 番剧"
    animen = next(a for n, a in by_name.items() if n.startswith("《BanG"))
    assert animen.categories == (("二次元", "Animen 动漫平台", "news"),)  # 4-space indent, blank line inside
    assert animen.image.startswith("https://www.animen.com.tw/")  # no headimg: the thumbnail
    assert by_name["123.md"].title == "123"
    assert by_name["2021.md"].title == "2021"
    # naive date in the site's zone (China time)
    assert by_name["CNCF宣布Linkerd正式毕业！.md"].published == datetime(2021, 7, 30, 21, 6, 47, tzinfo=UTC)
    stringify = by_name["如何提升JSONstringify()的性能？.md"]
    assert stringify.title == "如何提升JSON.stringify()的性能？"
    assert "&#123;" not in stringify.content and "{" in stringify.content
    # a title that is a single space falls back to the start of the text
    assert by_name[" .md"].title.startswith("此版本已改为Nacos注册中心")


def test_lenient_fallback_keeps_the_broken_title_and_warns() -> None:
    article = parse(HOSTILE / "broken-yaml.md")
    assert article.title == 'She said "hi" to {everyone}'
    assert article.categories == (("hostile", "quoted"),)
    assert article.image == ""
    assert article.published == datetime(2022, 1, 4, 4, 0, tzinfo=UTC)
    assert any("not valid YAML (line 2)" in w and "read leniently" in w for w in article.warnings)


def test_crlf_bom_leading_blank_lines_and_tabs() -> None:
    article = parse(HOSTILE / "crlf bom  odd name (1) #.md")
    assert article.title == "CRLF, BOM and tabs"
    assert article.categories == (("hostile",),)
    assert article.content == "<p>Windows line ends</p>"


def test_no_front_matter_uses_the_file_name_and_markdown() -> None:
    article = parse(HOSTILE / "no-front-matter.md")
    assert article.title == "no-front-matter"
    assert article.published == MTIME and not article.dated
    assert "<em>Markdown</em>" in article.content and "<pre><code>" in article.content


def test_empty_body_and_draft() -> None:
    assert parse(HOSTILE / "empty-body.md").content == ""
    assert parse(HOSTILE / "draft.md").draft
    assert parse_text("---\ntitle: x\npublished: false\n---\n").draft


def test_front_matter_without_title_is_an_error_naming_the_file() -> None:
    with pytest.raises(ArticleError) as caught:
        parse(HOSTILE / "no-title.md")
    assert str(caught.value) == "no-title.md: front matter has no title"


def test_yaml_cannot_run_code_or_explode() -> None:
    article = parse(HOSTILE / "python-tag.md")
    assert article.title.startswith("!!python/object/apply")
    assert not Path("/tmp/feedsvc-pwned").exists()
    with pytest.raises(ArticleError, match="aliases expand it past"):  # a billion laughs is refused, not expanded
        parse(HOSTILE / "alias-bomb.md")


def test_not_utf8_is_read_as_gb18030_with_a_warning() -> None:
    article = parse(HOSTILE / "gbk-encoded.md")
    assert article.title == "编码错误的文章"
    assert any("GB18030" in w for w in article.warnings)
    latin = parse_article(b"---\ntitle: caf\xe9\xff\xfe\n---\nx", "l.md", MTIME, CONFIG)
    assert latin.title and any("not valid UTF-8" in w for w in latin.warnings)


def test_a_file_that_declares_its_encoding_is_read_in_it() -> None:
    raw = '---\ntitle: 日本語のタイトル\n---\n<meta charset="shift_jis"><p>こんにちは</p>\n'.encode("shift_jis")
    article = parse_article(raw, "sjis.html", MTIME, CONFIG)
    assert (article.title, article.summary) == ("日本語のタイトル", "こんにちは")
    assert any("read as SHIFT_JIS" in w for w in article.warnings)


def test_control_characters_never_reach_the_article() -> None:
    article = parse(HOSTILE / "control-chars.md")
    assert article.title == "Bell and escape feed"
    assert article.author == "Null Author"
    for text in (article.title, article.content, article.summary, article.author):
        assert not any(ord(c) < 32 and c not in "\t\n\r" for c in text)
        assert "\ufffe" not in text


@pytest.mark.parametrize(("value", "expected"), [
    ("Mon, 13 Sep 2021 20:43:00 GMT", datetime(2021, 9, 13, 20, 43, tzinfo=UTC)),
    ("2021-10-28 14:08:07", datetime(2021, 10, 28, 14, 8, 7, tzinfo=SHANGHAI)),
    ("2021-10-28 14:08", datetime(2021, 10, 28, 14, 8, tzinfo=SHANGHAI)),
    ("2021-10-28T14:08:07+02:00", datetime(2021, 10, 28, 12, 8, 7, tzinfo=UTC)),
    ("2021-10-28T14:08:07Z", datetime(2021, 10, 28, 14, 8, 7, tzinfo=UTC)),
    ("2021-10-28", datetime(2021, 10, 28, tzinfo=SHANGHAI)),
    ("2020/1/8 21:32:00", datetime(2020, 1, 8, 21, 32, tzinfo=SHANGHAI)),  # as a real Hexo blog writes them
    ("2019/12/24 12:33", datetime(2019, 12, 24, 12, 33, tzinfo=SHANGHAI)),
    ("2020-1-8 9:05", datetime(2020, 1, 8, 9, 5, tzinfo=SHANGHAI)),
    ("2020/13/8", None),
    ("yesterday", None),
])
def test_date_forms(value: str, expected: datetime | None) -> None:
    assert parse_date(value, SHANGHAI) == expected


@given(day=st.integers(1, 32), month=st.sampled_from("Jan Feb Mar Apr May Jun Jul Aug Sep Oct Nov Dec".split()),
       year=st.integers(1000, 9999), clock=st.times(), weekday=st.sampled_from(["", "Sun, ", "Fri, "]))
def test_the_mirrors_dates_read_as_email_utils_reads_them(day: int, month: str, year: int, clock: clock_time,
                                                          weekday: str) -> None:
    # the mirror's form is read without email.utils; the same instant, or None for 30 Feb
    text = f"{weekday}{day} {month} {year} {clock:%H:%M:%S} GMT"
    try:
        expected: datetime | None = parsedate_to_datetime(text)
    except ValueError:
        expected = None
    parsed = parse_date(text, SHANGHAI)
    assert parsed == expected
    assert parsed is None or parsed.utcoffset() == expected.utcoffset()  # type: ignore[union-attr]


def test_unreadable_date_falls_back_to_mtime_with_a_warning_and_updated_is_used() -> None:
    article = parse_text("---\ntitle: x\ndate: someday\n---\n")
    assert article.published == MTIME and any("someday" in w for w in article.warnings)
    edited = parse_text("---\ntitle: x\ndate: 2021-01-01 00:00\nupdated: 2021-02-01 00:00\n---\n")
    assert edited.updated == datetime(2021, 1, 31, 16, tzinfo=UTC)
    assert edited.published == datetime(2020, 12, 31, 16, tzinfo=UTC)


@pytest.mark.parametrize(("front_matter", "paths"), [
    ("categories: One", [("One",)]),
    ("categories: [One]", [("One",)]),
    ("categories: [图片, 煎蛋, 首页]", [("图片", "煎蛋", "首页")]),  # a flat list is ONE path, as Hexo reads it
    ("categories:\n - Java\n - Spring", [("Java", "Spring")]),
    ("categories: [[Tech, Web], [News]]", [("Tech", "Web"), ("News",)]),
    ("categories: [[Tech, Web], News, [Tech, Web]]", [("Tech", "Web"), ("News",)]),  # a plain string: a path of its own
    ("categories: ['  spaced   name ', '']", [("spaced name",)]),
    ("categories: [a/b, '..']", [("a/b", "..")]),  # names as written; slugs keep URLs safe
    ("categories: []", []),
    ("tags: solo", []),
])
def test_categories_the_way_hexo_reads_them(front_matter: str, paths: list[tuple[str, ...]]) -> None:
    assert parse_text(f"---\ntitle: x\n{front_matter}\n---\n").categories == tuple(paths)


def test_tags_are_flat_names() -> None:
    assert parse_text("---\ntitle: x\ntags: solo\n---\n").tags == ("solo",)
    assert parse_text("---\ntitle: x\ntags: [a, [b, c], a]\n---\n").tags == ("a", "b", "c")
    assert names([["A", "B"], "C"]) == ("A", "B", "C")


def test_ids_from_front_matter_or_the_relative_path() -> None:
    assert parse_text("---\ntitle: x\nabbrlink: 5f3a\n---\n").id == "5f3a"
    assert parse_text("---\ntitle: x\nid: post-1\nabbrlink: 9\n---\n").id == "post-1"
    unsafe = parse_text("---\ntitle: x\nid: ../../etc/passwd\n---\n")
    assert "/" not in unsafe.id and any("not URL-safe" in w for w in unsafe.warnings)
    # NFC: the decomposed and composed spellings of one path are one article
    assert path_id("caf\u0065\u0301/a.md") == path_id("caf\u00e9/a.md") == path_id("café/a.md")
    assert path_id("a/b.md") != path_id("b.md")


def test_titles_are_plain_text_with_entities_decoded() -> None:
    article = parse_text("---\ntitle: 'Tom &amp; Jerry &#123;1&#125; &lt;3'\n---\n")
    assert article.title == "Tom & Jerry {1} <3"


def test_html_files_and_html_bodies_are_not_markdown() -> None:
    body = "<div>\n<p>a</p>\n\n    <p>indented after a blank line</p>\n</div>"
    assert "<code>" not in parse_text(f"---\ntitle: x\n---\n{body}").content
    assert "<code>" not in parse_text(f"---\ntitle: x\n---\n{body}", "x.html").content
    assert "<h1>Hi</h1>" in parse_text("---\ntitle: x\n---\n# Hi\n").content


def test_link_description_and_image_fields() -> None:
    article = parse_text("---\ntitle: x\nlink: https://origin.example/post\ndescription: '<b>Short</b> text'\n"
                         "cover: 'https://cors.zfour.workers.dev/?http%3A%2F%2Fimg.example%2Fa.png'\n---\nlong body")
    assert article.link == "https://origin.example/post"
    assert article.summary == "Short text"
    assert article.image == "http://img.example/a.png"
    assert parse_text("---\ntitle: x\nlink: 'javascript:alert(1)'\n---\n").link == ""


def test_a_yaml_value_that_cannot_be_built_falls_back_to_the_lenient_reader() -> None:
    article = parse_text("---\ntitle: Bad date\ndate: 2022-13-45\n---\nbody")  # YAML's timestamp, month 13
    assert article.title == "Bad date"
    assert any("read leniently" in w for w in article.warnings) and any("2022-13-45" in w for w in article.warnings)
