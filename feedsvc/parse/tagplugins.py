"""Tag plugins: Hexo's ``{% name args %}`` in a post's source, rendered so none leaks into a feed.

The built-ins become HTML (code blocks, quotes, images, asset links, links; embeds become
links, as iframes do elsewhere). The popular NexT and Butterfly tags keep their visible text
(a folding's title, a tab's name, a button's label) and drop their styling arguments. An
unknown block keeps its inner content (and a plain-text first argument, as its title), an
unknown inline tag is dropped, and each unknown tag is a warning. Tags inside code (fenced, inline,
``<pre>``/``<code>``) stay literal, as Hexo leaves them.
"""

from __future__ import annotations

import html
import re
import shlex
from collections.abc import Callable

_PROTECTED = re.compile(r"(^(`{3,}|~{3,})[^\n]*\n.*?^\2[ \t]*$|`[^`\n]+`|<pre\b.*?</pre>|<code\b.*?</code>)",
                        re.DOTALL | re.MULTILINE | re.IGNORECASE)
_HELD = re.compile("\x00(\\d+)\x00")
_TAG = re.compile(r"\{%-?\s*(\w+)(.*?)-?%\}", re.DOTALL)
BLOCKS = {"codeblock", "code", "blockquote", "quote", "pullquote", "raw"}
# the popular NexT and Butterfly tags that carry visible text: a title or caption stays, as text
THEME_BLOCKS = {"note", "folding", "fold", "hideToggle", "hideBlock", "tabs", "gallery", "centerquote", "cq",
                "subtabs", "subtab"}
THEME_INLINE = {"btn", "button", "kbd", "label", "hideInline", "inlineImg", "inlineimage"}
_TAB = re.compile(r"<!--\s*tab\b([^>]*?)-->(.*?)<!--\s*endtab\s*-->", re.DOTALL)


def outside_code(source: str) -> str:
    """``source`` without its code (fenced, inline, ``<pre>``/``<code>``): what Markdown renders as markup."""
    return _PROTECTED.sub("", source)


def sub_outside_code(pattern: re.Pattern[str], replace: Callable[[re.Match[str]], str], source: str) -> str:
    """``pattern.sub(replace, source)``, leaving its code as it is."""
    out, pos = [], 0
    for code in _PROTECTED.finditer(source):
        out += [pattern.sub(replace, source[pos : code.start()]), code.group(0)]
        pos = code.end()
    return "".join([*out, pattern.sub(replace, source[pos:])])


def _args(text: str) -> list[str]:
    try:
        return shlex.split(text)
    except ValueError:
        return text.split()


def _esc(text: str) -> str:
    return html.escape(text, quote=True)


def _code(args: list[str], inner: str) -> str:
    lang = next((a.split(":", 1)[1] for a in args if a.startswith("lang:")), "")
    title = " ".join(a for a in args if not a.startswith(("lang:", "http://", "https://", "line_number:",
                                                             "highlight:", "first_line:", "mark:", "wrap:")))
    caption = f"<figcaption>{_esc(title)}</figcaption>" if title else ""
    css = f' class="language-{_esc(lang)}"' if lang else ""
    return f"\n<figure>{caption}<pre><code{css}>{_esc(inner.strip(chr(10)))}</code></pre></figure>\n"


def _quote(args: list[str], inner: str, css: str = "") -> str:
    links = [a for a in args if a.startswith(("http://", "https://"))]
    author = " ".join(a for a in args if a not in links)
    footer = f"\n\n<footer>{_esc(author)}</footer>" if author else ""
    source = f' cite="{_esc(links[0])}"' if links else ""
    return f"\n<blockquote{css}{source}>\n\n{inner.strip()}{footer}\n\n</blockquote>\n"


def _image(args: list[str]) -> str:
    """``[class names] src [width] [height] [title [alt]]``: the classes are the words before the
    first one that looks like a path or URL."""
    first = next((i for i, a in enumerate(args) if re.match(r"^(/|\.|https?:|[^\s]*[./])", a)), len(args))
    src = args[first] if first < len(args) else ""
    text = [a for a in args[first + 1 :] if not re.fullmatch(r"\d+(px|%)?", a)]
    title = text[0] if text else ""
    alt = text[1] if len(text) > 1 else title
    return f'<img src="{_esc(src)}" alt="{_esc(alt)}"' + (f' title="{_esc(title)}"' if title else "") + ">"


def _comma(raw: str) -> list[str]:
    """The comma-separated arguments of a theme's tag (``{% folding green, Title %}``)."""
    return [part.strip().strip("'\"") for part in raw.split(",")]


def _heading(text: str) -> str:
    return f"\n<p><strong>{_esc(text)}</strong></p>\n\n" if text else ""


def _theme_block(name: str, raw: str, inner: str) -> str:
    """A theme's block tag: its visible title (if any) as a bold line, then its content."""
    parts = _comma(raw)
    if name in ("folding", "fold"):
        title = parts[1] if len(parts) > 1 else parts[0]
    elif name == "hideToggle":
        title = parts[0]
    elif name == "hideBlock":
        title = parts[0] or "Show"
    elif name in ("tabs", "subtabs"):
        return "\n" + _TAB.sub(lambda m: _heading(m.group(1).strip().split("@")[0]) + m.group(2), inner) + "\n"
    elif name in ("centerquote", "cq"):
        return f"\n<blockquote>\n\n{inner.strip()}\n\n</blockquote>\n"
    else:  # note, gallery, subtab: their arguments are styles and icons, not text
        title = ""
    return f"\n<div>\n\n{_heading(title)}{inner.strip()}\n\n</div>\n"  # blank lines: Markdown inside


def _theme_inline(name: str, raw: str) -> str:
    parts = _comma(raw)
    if name in ("btn", "button"):  # {% btn url, text, icon %}
        return _link(parts[0], parts[1] if len(parts) > 1 else parts[0]) if parts[0] else ""
    if name == "kbd":
        return f"<kbd>{_esc(raw.strip())}</kbd>"
    if name == "label":  # NexT: {% label class@text %}; Butterfly: {% label text color %}
        text = raw.strip()
        return _esc(text.split("@", 1)[1] if "@" in text else text.rsplit(" ", 1)[0] if " " in text else text)
    if name == "hideInline":  # {% hideInline content,display,bg,color %}
        return _esc(parts[0])
    if name in ("inlineImg", "inlineimage"):
        return f'<img src="{_esc(parts[0].split()[0] if parts[0] else "")}" alt="">'
    return ""


def _theme_image(raw: str) -> str:
    """Butterfly/Volantis ``{% image url, width=100px, alt=Caption %}``: options never reach the URL."""
    parts = _comma(raw)
    options = dict(p.split("=", 1) for p in parts[1:] if "=" in p)
    alt = options.get("alt", "") or next((p for p in parts[1:] if "=" not in p), "")
    image = f'<img src="{_esc(parts[0])}" alt="{_esc(alt)}">'
    return f"<figure>{image}<figcaption>{_esc(alt)}</figcaption></figure>" if alt else image


def _link(href: str, text: str) -> str:
    return f'<a href="{_esc(href)}">{_esc(text or href)}</a>'


def _embed(name: str, args: list[str]) -> str:
    target = args[0] if args else ""
    url = {"youtube": f"https://www.youtube.com/watch?v={target}", "vimeo": f"https://vimeo.com/{target}"}.get(name, target)
    return f"<p>{_link(url, url)}</p>"


def _inline(name: str, args: list[str], page: Callable[[str], str], raw: str = "") -> str | None:
    if name == "image" and "," in raw:  # the themes' form, options after commas
        return _theme_image(raw)
    if name in ("img", "image", "asset_img"):  # an asset name resolves into the post's folder later
        return _image(args)
    if name == "link" and "," in raw:  # Butterfly's link card: {% link title, url, image %}
        parts = _comma(raw)
        return _link(parts[1], parts[0]) if len(parts) > 1 else _link(parts[0], parts[0])
    if name in THEME_INLINE:
        return _theme_inline(name, raw)
    if name in ("post_link", "post_path") and args:  # another post: its title stays, as text
        return _esc(args[1] if name == "post_link" and len(args) > 1 else args[0])
    if name == "asset_link" and args:
        return _link(args[0], " ".join(a for a in args[1:] if a not in ("true", "false")))
    if name == "asset_path" and args:
        return _esc(page(args[0]))
    if name in ("link", "a") and args:
        text = [a for a in args[1:] if a not in ("true", "false")]
        return _link(args[0], text[0] if text else args[0])
    if name in ("iframe", "youtube", "vimeo"):
        return _embed(name, args)
    return None


def render(source: str, page: Callable[[str], str] = lambda url: url,
           asset: Callable[[str], bool] | None = None) -> tuple[str, list[str]]:
    """``source`` with its tag plugins rendered, and a warning per unknown tag. ``page(url)``
    makes an asset path absolute (``asset_path`` yields text, not an attribute). ``asset(name)``:
    whether the post's asset folder has that file; given, an asset tag's name is found as Hexo
    finds it (the shortest run of its words that names a file, so a name may hold spaces
    unquoted), and one that names no file is a warning."""
    if "{%" not in source:
        return source, []
    warnings: list[str] = []
    kept: list[str] = []

    def hold(match: re.Match[str]) -> str:  # code is set aside, so no tag inside it is seen
        kept.append(match.group(0))
        return f"\x00{len(kept) - 1}\x00"

    held = _PROTECTED.sub(hold, source.replace("\x00", ""))
    rendered = _render_text(held, page, warnings, lambda text: _HELD.sub(lambda m: kept[int(m.group(1))], text), asset)
    return _HELD.sub(lambda m: kept[int(m.group(1))], rendered), list(dict.fromkeys(warnings))


def _asset_args(name: str, args: list[str], asset: Callable[[str], bool], warnings: list[str]) -> list[str]:
    """The arguments of an asset tag with its file name as one, found as Hexo finds it: the
    shortest run of words from the first that names a file of the post."""
    for end in range(1, len(args) + 1):
        if asset(candidate := " ".join(args[:end])):
            return ["./" + candidate, *args[end:]]  # "./": a path, whatever its words (and the same URL)
    if args:
        warnings.append(f"{{% {name} {args[0]} %}}: no such file in the post's asset folder; the link is broken")
    return args


def _render_text(text: str, page: Callable[[str], str], warnings: list[str], restore: Callable[[str], str],
                 asset: Callable[[str], bool] | None = None) -> str:
    out, pos = [], 0
    while match := _TAG.search(text, pos):
        out.append(text[pos : match.start()])
        name, args = match.group(1), _args(match.group(2))
        end = re.compile(r"\{%-?\s*end" + re.escape(name) + r"\s*-?%\}").search(text, match.end())
        pos = match.end()
        if name.startswith("end"):
            continue  # the closing tag of an unknown block: dropped
        if end and (name in BLOCKS or name in THEME_BLOCKS or not _knows_inline(name)):
            inner = text[match.end() : end.start()]
            pos = end.end()
            if name in ("codeblock", "code"):
                out.append(_code(args, restore(inner)))
            elif name in ("blockquote", "quote"):
                out.append(_quote(args, _render_text(inner, page, warnings, restore, asset)))
            elif name == "pullquote":
                out.append(_quote([], _render_text(inner, page, warnings, restore, asset), ' class="pullquote"'))
            elif name == "raw":
                out.append(inner)
            elif name in THEME_BLOCKS:
                out.append(_theme_block(name, match.group(2), _render_text(inner, page, warnings, restore, asset)))
            else:
                warnings.append(f"unknown tag plugin {{% {name} %}}: its content is kept, the tag left out")
                first = _comma(match.group(2))[0]  # a plain-text first argument reads as the block's title
                heading = _heading(first) if re.fullmatch(r"[^\W\d_][\w .:?!'-]*|[^\x00-\x7f][^,]*", first) else ""
                out.append(heading + _render_text(inner, page, warnings, restore, asset))
            continue
        if asset is not None and name in ("asset_img", "asset_link", "asset_path"):
            args = _asset_args(name, args, asset, warnings)
        rendered = _inline(name, args, page, match.group(2))
        if rendered is None:
            warnings.append(f"unknown tag plugin {{% {name} %}}: left out")
        out.append(rendered or "")
    out.append(text[pos:])
    return "".join(out)


def _knows_inline(name: str) -> bool:
    return name in ("img", "image", "asset_img", "asset_link", "asset_path", "link", "a", "iframe", "youtube", "vimeo",
                    "post_link", "post_path", *THEME_INLINE)
