"""Rewrite: unwrap proxied image URLs, undo lazy loading, sanitize, keep only XML-legal text.

Pure functions: HTML in, HTML out. lxml does the structural edits (it is the parser
beautifulsoup4 would drive, at a fifteenth of the cost per article), nh3 (ammonia) does the
sanitizing, so no regex ever decides what is safe. The sanitizer keeps no ``class`` or
``style`` attribute, so placeholder classes (``lazy``, ``opacity_0``) go with them.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import quote, unquote, urlsplit

import nh3
from lxml import etree

from feedsvc.config import Images
from feedsvc.hexo import absolute
from feedsvc.urls import proxy_url

LAZY_ATTRS = ("data-original", "data-src", "data-lazy-src", "data-actualsrc")
URL_ATTRS = ("href", "src", "poster")
# every character XML 1.0 refuses (the complement of its Char production: compiles 10x faster)
_ILLEGAL_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")
_CHAR_REF = re.compile(r"&#(?:[xX]([0-9a-fA-F]{1,8})|([0-9]{1,10}));?")
# libxml2 stops at 256 levels of nesting and drops the rest; huge_tree lifts that
# lxml.etree's parser, not lxml.html's: that one makes every element through a Python class
# lookup, a tenth of an article's parse
_PARSER = etree.HTMLParser(huge_tree=True, remove_comments=False)
_STRING = etree.XPath("string()")  # an element's text, its children's included (lxml.html's text_content)
_SCHEME = re.compile(r"^\s*[A-Za-z][A-Za-z0-9+.-]*:")
_WEB_SCHEME = re.compile(r"^\s*https?:", re.IGNORECASE)

_DROPPED = {"script", "style", "noscript", "template"}  # with all they hold
_TAGS = nh3.ALLOWED_TAGS | {"video", "audio", "source", "picture", "section", "main"}
_ATTRIBUTES = {tag: set(attrs) for tag, attrs in nh3.ALLOWED_ATTRIBUTES.items()}
_ATTRIBUTES["img"] |= {"srcset", "sizes", "title", "referrerpolicy"}
_ATTRIBUTES["a"] |= {"title"}
_ATTRIBUTES["video"] = {"src", "poster", "controls", "width", "height"}
_ATTRIBUTES["audio"] = {"src", "controls"}
_ATTRIBUTES["source"] = {"src", "srcset", "type", "media"}
# the only elements whose URLs reach a feed: the sanitizer drops href, src and poster elsewhere
# (looking at these alone, not at every element, took a quarter off rewrite_html)
_URL_TAGS = tuple(sorted(tag for tag, attrs in _ATTRIBUTES.items() if attrs.intersection(URL_ATTRS)))
_CLEANER = nh3.Cleaner(
    tags=_TAGS,
    clean_content_tags=_DROPPED,
    attributes=_ATTRIBUTES,
    url_schemes={"http", "https", "mailto"},
    strip_comments=True,
    set_tag_attribute_values={"img": {"referrerpolicy": "no-referrer"}},
)


def xml_safe(text: str) -> str:
    """Drop the characters XML 1.0 cannot carry (control characters, U+FFFE, lone surrogates)."""
    return _ILLEGAL_XML.sub("", text)


def _legal_ref(match: re.Match[str]) -> str:
    code = int(match.group(1), 16) if match.group(1) else int(match.group(2))
    legal = code in (0x9, 0xA, 0xD) or 0x20 <= code <= 0xD7FF or 0xE000 <= code <= 0xFFFD or 0x10000 <= code <= 0x10FFFF
    return match.group(0) if legal else ""


def xml_safe_markup(html: str) -> str:
    """Markup whose text, once its character references are decoded, is still XML-legal:
    ``&#x1;`` or ``&#xFFFE;`` would decode to what no feed can carry."""
    html = xml_safe(html)
    return _CHAR_REF.sub(_legal_ref, html) if "&#" in html else html


def parse_fragment(html: str) -> etree._Element | None:
    """An HTML fragment (or a whole document: its body) as a ``div``; None when it holds nothing."""
    try:
        document = etree.fromstring(html, _PARSER)
    except (etree.ParserError, ValueError):  # a doctype, a comment, nothing
        return None
    body = None if document is None else document.find("body")
    if body is None:
        return None
    body.tag = "div"
    return body


def collapse_spaces(text: str) -> str:
    """Runs of whitespace (Unicode's, as ``\\s`` means) as one space, none at the ends."""
    return " ".join(text.split())


def text_of(element: etree._Element, limit: int | None = None) -> str:
    """The element's text, whitespace collapsed; with ``limit``, only its start: at least
    ``limit`` characters when it has that many (a summary of a long body reads a few hundred
    of its many thousand, and collapsing all of it was a tenth of an article's parse)."""
    if limit is None:
        return collapse_spaces(_STRING(element))
    pieces, raw, check_at = [], 0, limit
    for piece in element.itertext():
        pieces.append(piece)
        raw += len(piece)
        # the collapsed text of a start is the start of the collapsed text: once it is long
        # enough, the rest cannot change it. Looked at each time the raw text doubles, so a
        # body of nothing but spaces costs linear time, not quadratic
        if raw > check_at:
            if len(text := collapse_spaces("".join(pieces))) > limit:
                return text
            check_at = 2 * raw
    return collapse_spaces("".join(pieces))


def _drop(element: etree._Element) -> None:
    """The element and what it holds out of the tree; the text after it stays where it was."""
    parent = element.getparent()
    if element.tail:
        previous = element.getprevious()
        if previous is None:
            parent.text = (parent.text or "") + element.tail
        else:
            previous.tail = (previous.tail or "") + element.tail
    parent.remove(element)


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
    page: str = ""  # the item's link: relative URLs resolve against it (a reader would use the feed's)
    root_url: str = ""  # where root-relative URLs (/img/x.png) point: the blog's origin and root
    local: Callable[[str], str] | None = None  # a relative URL as the blog's page means it (see parse.assets)

    def resolve(self, url: str) -> str:
        """A URL of the article, absolute (when the article has a page to resolve it against)."""
        url = self.local(url) if self.local is not None else url
        return absolute(url, self.page, self.root_url) if self.page or self.root_url else url.strip()

    def __call__(self, url: str) -> str:
        """The URL to load; raises ValueError for one that is not a URL (``http://[::1``)."""
        url = self.resolve(url)
        if self.images.mode == "keep" or not url or url.startswith("data:"):
            return url
        url = unwrap(url, self.images.unwrap)
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError for a port that is not a number
        if parts.scheme == "http" and parts.hostname in self.images.https_hosts:
            url = "https" + url[4:]
        if self.images.mode == "template" and parts.scheme in ("http", "https"):
            return _fill_template(self.images.template or "{raw}", url)
        if self.images.mode == "proxy" and parts.scheme in ("http", "https"):
            return proxy_url(self.base_url, self.images.proxy_key or "", url)
        return url

    def link(self, url: str) -> str:
        """Links are only unwrapped: the proxy is dead weight there too, the mode is for images."""
        url = self.resolve(url)
        return url if self.images.mode == "keep" else unwrap(url, self.images.unwrap)

    def srcset(self, value: str) -> str:
        """Each candidate rewritten; one with a scheme other than http(s) is left out (the
        sanitizer checks ``src`` and ``href`` schemes, not the URLs inside a ``srcset``)."""
        candidates = []
        for candidate in value.split(","):
            words = candidate.split()
            if words and not (_SCHEME.match(words[0]) and not _WEB_SCHEME.match(words[0])):
                candidates.append(" ".join([self(words[0]), *words[1:]]))
        return ", ".join(candidates)


def _fill_template(template: str, url: str) -> str:
    noscheme = url.split("://", 1)[-1]
    return (
        template.replace("{url}", quote(url, safe=""))
        .replace("{raw}", url)
        .replace("{url_noscheme}", noscheme)
    )


def _fix_img(img: etree._Element, rewrite: ImageRewriter, problems: list[str]) -> None:
    for attr in LAZY_ATTRS:
        lazy = img.attrib.pop(attr, None)
        if lazy and lazy.strip():
            img.set("src", lazy)
    lazy_srcset = img.attrib.pop("data-srcset", None)
    if lazy_srcset:
        img.set("srcset", lazy_srcset)
    for attr, fix in (("src", rewrite), ("srcset", rewrite.srcset)):
        if value := img.get(attr):
            try:
                img.set(attr, fix(value))
            except ValueError:
                del img.attrib[attr]
                problems.append(f"image {attr} {value[:80]!r} is not a valid URL; left out")


def _iframe_to_link(iframe: etree._Element) -> None:
    """Feed readers drop iframes (and validators flag them): an embedded video becomes a link."""
    src = iframe.get("src", "").strip()
    if src.startswith("//"):
        src = "https:" + src
    if not src.lower().startswith(("http://", "https://")):
        _drop(iframe)
        return
    link = etree.Element("a", href=src)
    link.text = src
    paragraph = etree.Element("p")
    paragraph.append(link)
    paragraph.tail = iframe.tail
    iframe.getparent().replace(iframe, paragraph)


def _rewrite_tree(root: etree._Element, rewrite: ImageRewriter, problems: list[str]) -> None:
    for bad in list(root.iter("script", "style", "noscript", "template")):
        _drop(bad)
    for iframe in list(root.iter("iframe")):
        _iframe_to_link(iframe)
    for element in root.iter(*_URL_TAGS):
        tag = element.tag
        if tag == "img":
            _fix_img(element, rewrite, problems)
            continue
        if tag == "source" and element.get("srcset"):
            try:
                element.set("srcset", rewrite.srcset(element.get("srcset", "")))
            except ValueError:
                del element.attrib["srcset"]
        for attr in URL_ATTRS:
            if value := element.get(attr):
                element.set(attr, rewrite.link(value))


@dataclass(frozen=True)
class Rewritten:
    html: str
    text: str  # plain text of the body, whitespace collapsed, its start only with a limit: the summary's raw material
    problems: tuple[str, ...] = ()  # parts left out, for the article's warnings


# what a body nested past libxml2's depth keeps: its text, links, images and paragraphs
_FLAT_TAGS = {"a", "img", "p", "br"}
_FLAT_ATTRIBUTES = {"a": {"href"}, "img": {"src", "srcset", "alt", "data-srcset", *LAZY_ATTRS}}


def _too_deep() -> bool:
    """Whether the last parse stopped at libxml2's nesting limit (2,048 levels even with
    huge_tree): it drops everything after that point without raising."""
    return any(error.type_name == "ERR_RESOURCE_LIMIT" for error in _PARSER.error_log)


def rewrite_html(html: str, rewrite: ImageRewriter, text_limit: int | None = None) -> Rewritten:
    """Clean an article body for feeds: images fixed, scripts gone, XML-safe. ``text_limit``:
    the text is needed only up to so many characters (see ``text_of``)."""
    problems: list[str] = []
    root = parse_fragment(xml_safe_markup(html)) if html.strip() else None
    if root is not None and _too_deep():
        # readers parse with libxml2 too: the nesting goes, what it held stays
        problems.append("the HTML is nested deeper than 2,048 levels; its wrapper elements were dropped")
        flat = nh3.clean(html, tags=_FLAT_TAGS, attributes=_FLAT_ATTRIBUTES, clean_content_tags=_DROPPED,
                         link_rel=None)
        root = parse_fragment(xml_safe_markup(flat))
    if root is None:
        return Rewritten("", "", tuple(problems))
    _rewrite_tree(root, rewrite, problems)
    text = text_of(root, text_limit)
    root.attrib.clear()  # the body's own attributes: the wrapper is cut off below
    inner = etree.tostring(root, encoding="unicode", method="html", with_tail=False)[len("<div>") : -len("</div>")]
    # Inside an attribute the sanitizer leaves '>' as is; ']]>' would end a CDATA section.
    cleaned = _CLEANER.clean(inner).replace("]]>", "]]&gt;")
    return Rewritten(cleaned.strip(), text, tuple(dict.fromkeys(problems)))


def plain_text(html: str) -> str:
    """Text of an HTML snippet (a front matter description may carry markup)."""
    if "<" not in html and "&" not in html:
        return collapse_spaces(html)
    root = parse_fragment(xml_safe_markup(html))
    return "" if root is None else text_of(root)


def truncate(text: str, limit: int) -> str:
    """At most ``limit`` characters, cut at a word boundary when one is near, with an ellipsis."""
    if len(text) <= limit:
        return text
    cut = text[: max(limit - 1, 0)]
    space = cut.rfind(" ")
    if space > limit * 0.6:
        cut = cut[:space]
    return cut.rstrip() + "…"
