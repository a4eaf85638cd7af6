"""Rewrite: unwrap proxied image URLs, undo lazy loading, sanitize, keep only XML-legal text.

Pure functions: HTML in, HTML out. lxml does the structural edits (it is the parser
beautifulsoup4 would drive, at a fifteenth of the cost per article), nh3 (ammonia) does the
sanitizing, so no regex ever decides what is safe. The sanitizer keeps no ``class`` or
``style`` attribute, so placeholder classes (``lazy``, ``opacity_0``) go with them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import quote, unquote, urlsplit

import lxml.html
import nh3
from lxml import etree

from .config import Images
from .urls import proxy_url

LAZY_ATTRS = ("data-original", "data-src", "data-lazy-src", "data-actualsrc")
URL_ATTRS = ("href", "src", "poster")
_ILLEGAL_XML = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")
_SPACES = re.compile(r"\s+")

_TAGS = nh3.ALLOWED_TAGS | {"video", "audio", "source", "picture", "section", "main"}
_ATTRIBUTES = {tag: set(attrs) for tag, attrs in nh3.ALLOWED_ATTRIBUTES.items()}
_ATTRIBUTES["img"] |= {"srcset", "sizes", "title", "referrerpolicy"}
_ATTRIBUTES["a"] |= {"title"}
_ATTRIBUTES["video"] = {"src", "poster", "controls", "width", "height"}
_ATTRIBUTES["audio"] = {"src", "controls"}
_ATTRIBUTES["source"] = {"src", "srcset", "type", "media"}
_CLEANER = nh3.Cleaner(
    tags=_TAGS,
    clean_content_tags={"script", "style", "noscript", "template"},
    attributes=_ATTRIBUTES,
    url_schemes={"http", "https", "mailto"},
    strip_comments=True,
    set_tag_attribute_values={"img": {"referrerpolicy": "no-referrer"}},
)


def xml_safe(text: str) -> str:
    """Drop the characters XML 1.0 cannot carry (control characters, U+FFFE, lone surrogates)."""
    return _ILLEGAL_XML.sub("", text)


def unwrap(url: str, prefixes: tuple[str, ...]) -> str:
    """The original URL behind known CORS/image proxies, raw or percent-encoded."""
    for _ in range(4):  # proxies are sometimes stacked; a few layers at most
        for prefix in prefixes:
            if url.startswith(prefix):
                inner = url[len(prefix):]
                url = unquote(inner) if re.match(r"(?i)https?%3A", inner) else inner
                break
        else:
            return url
    return url


@dataclass(frozen=True)
class ImageRewriter:
    """Turns an image URL found in an article into the one a feed reader should load."""

    images: Images
    base_url: str = ""  # the site's public URL: proxied images are served from it

    def __call__(self, url: str) -> str:
        url = url.strip()
        if self.images.mode == "keep" or not url or url.startswith("data:"):
            return url
        url = unwrap(url, self.images.unwrap)
        parts = urlsplit(url)
        if parts.scheme == "http" and parts.hostname in self.images.https_hosts:
            url = "https" + url[4:]
        if self.images.mode == "template" and parts.scheme in ("http", "https"):
            return _fill_template(self.images.template or "{raw}", url)
        if self.images.mode == "proxy" and parts.scheme in ("http", "https"):
            return proxy_url(self.base_url, self.images.proxy_key or "", url)
        return url

    def link(self, url: str) -> str:
        """Links are only unwrapped: the proxy is dead weight there too, the mode is for images."""
        return url if self.images.mode == "keep" else unwrap(url.strip(), self.images.unwrap)

    def srcset(self, value: str) -> str:
        candidates = []
        for candidate in value.split(","):
            words = candidate.split()
            if words:
                candidates.append(" ".join([self(words[0]), *words[1:]]))
        return ", ".join(candidates)


def _fill_template(template: str, url: str) -> str:
    noscheme = url.split("://", 1)[-1]
    return (
        template.replace("{url}", quote(url, safe=""))
        .replace("{raw}", url)
        .replace("{url_noscheme}", noscheme)
    )


def _fix_img(img: etree._Element, rewrite: ImageRewriter) -> None:
    for attr in LAZY_ATTRS:
        lazy = img.attrib.pop(attr, None)
        if lazy and lazy.strip():
            img.set("src", lazy)
    lazy_srcset = img.attrib.pop("data-srcset", None)
    if lazy_srcset:
        img.set("srcset", lazy_srcset)
    if img.get("src"):
        img.set("src", rewrite(img.get("src", "")))
    if img.get("srcset"):
        img.set("srcset", rewrite.srcset(img.get("srcset", "")))


def _iframe_to_link(iframe: etree._Element) -> None:
    """Feed readers drop iframes (and validators flag them): an embedded video becomes a link."""
    src = iframe.get("src", "").strip()
    if src.startswith("//"):
        src = "https:" + src
    if not src.lower().startswith(("http://", "https://")):
        iframe.drop_tree()
        return
    link = etree.Element("a", href=src)
    link.text = src
    paragraph = etree.Element("p")
    paragraph.append(link)
    paragraph.tail = iframe.tail
    iframe.getparent().replace(iframe, paragraph)


def _rewrite_tree(root: etree._Element, rewrite: ImageRewriter) -> None:
    for bad in list(root.iter("script", "style", "noscript", "template")):
        bad.drop_tree()
    for iframe in list(root.iter("iframe")):
        _iframe_to_link(iframe)
    for element in root.iter(etree.Element):
        if element.tag == "img":
            _fix_img(element, rewrite)
        elif element.tag == "source" and element.get("srcset"):
            element.set("srcset", rewrite.srcset(element.get("srcset", "")))
        for attr in URL_ATTRS:
            value = element.get(attr)
            if value and element.tag != "img":
                element.set(attr, rewrite.link(value))


@dataclass(frozen=True)
class Rewritten:
    html: str
    text: str  # plain text of the body, whitespace collapsed: the summary's raw material


def rewrite_html(html: str, rewrite: ImageRewriter) -> Rewritten:
    """Clean an article body for feeds: images fixed, scripts gone, XML-safe."""
    html = xml_safe(html)
    if not html.strip():
        return Rewritten("", "")
    root = lxml.html.fragment_fromstring(html, create_parent="div")
    _rewrite_tree(root, rewrite)
    text = _SPACES.sub(" ", root.text_content()).strip()
    inner = (root.text or "") + "".join(etree.tostring(c, encoding="unicode", method="html") for c in root)
    # Inside an attribute the sanitizer leaves '>' as is; ']]>' would end a CDATA section.
    cleaned = _CLEANER.clean(inner).replace("]]>", "]]&gt;")
    return Rewritten(cleaned.strip(), xml_safe(text))


def plain_text(html: str) -> str:
    """Text of an HTML snippet (a front matter description may carry markup)."""
    if "<" not in html and "&" not in html:
        return _SPACES.sub(" ", html).strip()
    try:
        root = lxml.html.fragment_fromstring(html, create_parent="div")
    except etree.ParserError:
        return ""
    return _SPACES.sub(" ", root.text_content()).strip()


def truncate(text: str, limit: int) -> str:
    """At most ``limit`` characters, cut at a word boundary when one is near, with an ellipsis."""
    if len(text) <= limit:
        return text
    cut = text[: max(limit - 1, 0)]
    space = cut.rfind(" ")
    if space > limit * 0.6:
        cut = cut[:space]
    return cut.rstrip() + "…"
