"""Rewrite: images load in feed readers, nothing executable survives, output is XML-safe."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from feedsvc.config import Images
from feedsvc.parse.rewrite import ImageRewriter, rewrite_html, truncate, unwrap, xml_safe

PROXY = ("https://cors.zfour.workers.dev/?",)


def clean(html: str, **images: object) -> str:
    return rewrite_html(html, ImageRewriter(Images(**images))).html  # type: ignore[arg-type]


@pytest.mark.parametrize("url", [
    "https://cors.zfour.workers.dev/?http://zkres1.myzaker.com/a.jpg",
    "https://cors.zfour.workers.dev/?http%3A%2F%2Fzkres1.myzaker.com%2Fa.jpg",
    "https://cors.zfour.workers.dev/?https://cors.zfour.workers.dev/?http://zkres1.myzaker.com/a.jpg",
])
def test_unwrap_raw_encoded_and_stacked(url: str) -> None:
    assert unwrap(url, PROXY).replace("https://", "http://") == "http://zkres1.myzaker.com/a.jpg"


def test_unwrap_leaves_other_urls_alone() -> None:
    assert unwrap("https://img.example/a%2Fb.jpg", PROXY) == "https://img.example/a%2Fb.jpg"


def test_lazy_image_gets_its_real_src_without_placeholder_classes() -> None:
    html = ('<img class="lazy opacity_0 wide" data-original="http://zkres1.myzaker.com/real.jpg" '
            'src="https://cors.zfour.workers.dev/?http://zkres1.myzaker.com/thumb.jpg" onclick>')
    out = clean(html)
    assert out == '<img src="http://zkres1.myzaker.com/real.jpg" referrerpolicy="no-referrer">'


@pytest.mark.parametrize("attr", ["data-src", "data-lazy-src", "data-actualsrc"])
def test_every_lazy_attribute(attr: str) -> None:
    assert 'src="https://img.example/x.png"' in clean(f'<img {attr}="https://img.example/x.png" src="blank.gif">')


def test_srcset_and_https_upgrade() -> None:
    out = clean('<img srcset="https://cors.zfour.workers.dev/?http://a.example/1.jpg 1x, http://b.example/2.jpg 2x">',
                https_hosts=("a.example",))
    assert 'srcset="https://a.example/1.jpg 1x, http://b.example/2.jpg 2x"' in out


def test_template_mode_fills_every_placeholder() -> None:
    out = clean('<img src="https://cors.zfour.workers.dev/?http://a.example/x.jpg?s=1&t=2">',
                mode="template", template="https://wsrv.nl/?url={url}&raw={raw}&n={url_noscheme}")
    assert ('src="https://wsrv.nl/?url=http%3A%2F%2Fa.example%2Fx.jpg%3Fs%3D1%26t%3D2'
            '&amp;raw=http://a.example/x.jpg?s=1&amp;t=2&amp;n=a.example/x.jpg?s=1&amp;t=2"') in out


def test_keep_mode_leaves_urls_alone() -> None:
    assert "cors.zfour.workers.dev" in clean('<img src="https://cors.zfour.workers.dev/?http://a.example/x.jpg">',
                                             mode="keep")


def test_scripts_handlers_and_javascript_urls_never_survive() -> None:
    out = clean('<div onclick="x()"><script>alert(1)</script><p onmouseover="y()">Hi</p>'
                '<a href="javascript:alert(2)">a</a><a href=" JaVaScRiPt:alert(3)">b</a>'
                '<img src=x onerror="alert(4)"><iframe src="javascript:alert(5)"></iframe>'
                '<svg onload="z()"></svg><style>p{}</style><form action="/"><input></form></div>')
    lowered = out.lower()
    for bad in ("<script", "onclick", "onmouseover", "onerror", "onload", "javascript:", "<style", "<form", "alert"):
        assert bad not in lowered
    assert "<p>Hi</p>" in out


def test_links_through_the_proxy_are_unwrapped_too() -> None:
    assert clean('<a href="https://cors.zfour.workers.dev/?https://origin.example/">x</a>').startswith(
        '<a href="https://origin.example/"')


def test_cdata_terminator_and_control_characters_are_neutralised() -> None:
    out = clean('<p title="a]]>b">x ]]> y\x00\x07\x1b</p>')
    assert "]]>" not in out and "\x00" not in out and "\x07" not in out
    assert xml_safe("ok\ufffe\uffff\x08") == "ok"


def test_text_of_the_body_for_summaries() -> None:
    result = rewrite_html("<p>One</p>\n<p>two <b>three</b></p><script>secret()</script>", ImageRewriter(Images()))
    assert result.text == "One two three"


# text split across elements, with every kind of space a body has between and around words
_markup = ["<p>", "</p>", "<b>", "</b>", "<br>", "<!-- c -->", "<?pi x?>", "<div>\n", "</div>", "<script>s</script>"]
_pieces = st.lists(st.one_of(st.sampled_from(_markup), st.text(st.sampled_from("ab \n\t\u3000\xa0中"), max_size=12)),
                   max_size=40)


@settings(max_examples=200, deadline=None)
@given(_pieces, st.integers(0, 60))
def test_a_summary_from_the_start_of_the_text_is_the_one_the_whole_text_gives(pieces: list[str], limit: int) -> None:
    html = "".join(pieces)
    whole = rewrite_html(html, ImageRewriter(Images())).text
    start = rewrite_html(html, ImageRewriter(Images()), text_limit=limit).text
    assert whole.startswith(start)
    assert truncate(start, limit) == truncate(whole, limit)


def test_embedded_videos_become_links() -> None:
    out = clean('<p>Watch:</p><iframe width="640" src="https://youtube.com/embed/YHXaMVQq4cc"></iframe> after'
                '<iframe src="//player.example/v/1"></iframe><iframe src="javascript:alert(1)"></iframe>')
    assert "<iframe" not in out
    assert ('<p><a href="https://youtube.com/embed/YHXaMVQq4cc" rel="noopener noreferrer">'
            'https://youtube.com/embed/YHXaMVQq4cc</a></p> after') in out
    assert 'href="https://player.example/v/1"' in out and "alert" not in out


def test_srcset_keeps_only_web_urls() -> None:
    tag = '<img srcset="javascript:alert(1) 1x, http://a.example/x.png 2x, data:x 3x">'
    html = rewrite_html(tag, ImageRewriter(Images())).html
    assert "javascript:" not in html and "data:" not in html and "http://a.example/x.png 2x" in html


def test_markup_written_as_text_stays_text_even_at_the_start_of_the_body() -> None:
    """A post about HTML that opens with a code sample shows the sample, not an image."""
    assert clean("&lt;img src=x&gt; is how an image starts<p>&lt;b&gt;</p>") == (
        "&lt;img src=x&gt; is how an image starts<p>&lt;b&gt;</p>")


def test_every_url_a_feed_keeps_is_absolute_and_unwrapped() -> None:
    """Links, videos (and their posters), sources and audio: a reader resolves a relative URL
    against the feed, not the post, so each one is made absolute against the post's page."""
    rewrite = ImageRewriter(Images(), page="https://blog.example/2024/05/post/", root_url="https://blog.example/")
    html = rewrite_html('<p><a href="../other/">o</a></p>'
                        '<video src="clip.mp4" poster="/poster.jpg"><source src="clip.webm" srcset="small.webm 1x"></video>'
                        '<audio src="https://cors.zfour.workers.dev/?http://a.example/s.mp3"></audio>', rewrite).html
    assert 'href="https://blog.example/2024/05/other/"' in html
    assert 'src="https://blog.example/2024/05/post/clip.mp4"' in html
    assert 'poster="https://blog.example/poster.jpg"' in html
    assert 'src="https://blog.example/2024/05/post/clip.webm"' in html
    assert 'srcset="https://blog.example/2024/05/post/small.webm 1x"' in html
    assert 'src="http://a.example/s.mp3"' in html
