"""Generate N articles shaped like the mirror's (the seed's front matter and HTML body).

    python bench/generate.py OUT_DIR [-n 10000] [--seed 1] [--categories 1000]

Same arguments, same files: the corpus is reproducible. Never commit what it writes.
"""

from __future__ import annotations

import argparse
import random
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

SEED_ARTICLE = Path(__file__).parent.parent / "tests" / "data" / "seed" / "000_79e926f4911b19ff.txt"
SECTIONS = {
    "新媒体": ["ZAKER", "199IT", "人人都是产品经理", "虎嗅", "36氪"],
    "编程": ["开源中国", "码农网", "Dockone", "ACM", "InfoQ"],
    "二次元": ["AcFun", "Bangumi", "Animen 动漫平台"],
    "图片": ["煎蛋", "1X", "Pixiv"],
    "游戏": ["3DMGame", "机核", "游研社"],
    "社交媒体": ["Mastodon", "微博"],
    "设计": ["Axis Studios", "Dribbble"],
    "音视频": ["低端影视", "哔哩哔哩"],
}
ROUTES = ["channel", "首页", "最新", "news"]


def _paragraphs() -> list[str]:
    body = SEED_ARTICLE.read_text(encoding="utf-8").split("---\n", 2)[2]
    return re.findall(r"<p>[^<]{20,}</p>", body)


def _image(rng: random.Random) -> str:
    return f"http://zkres{rng.randint(1, 3)}.myzaker.com/2021{rng.randint(1, 12):02}/{rng.getrandbits(96):024x}_1024.jpg"


def _body(rng: random.Random, paragraphs: list[str], image: str) -> str:
    parts = ["<div>   ", '<p></p><div class="img_box" id="id_imagebox_0" onclick><div class="content_img_div">'
             f'<img class="lazy opacity_0 " id="img_0" data-original="{image}" data-height="567" data-width="1080" '
             f'src="https://cors.zfour.workers.dev/?{image}" referrerpolicy="no-referrer"></div></div>']
    for i in range(1, 60):
        parts.append(rng.choice(paragraphs))
        if i % 15 == 0:
            other = _image(rng)
            parts.append(f'<div class="img_box"><img class="lazy opacity_0" data-original="{other}" '
                         f'src="https://cors.zfour.workers.dev/?{other}"></div>')
    return "".join(parts) + "  \n</div>"


def category_tree(nodes: int) -> list[tuple[str, str, str]]:
    """Leaf paths of a three-level tree of about ``nodes`` nodes: 10 sections of 10 sources, the
    rest routes below the sources (1,000 -> 10 + 100 + 900)."""
    routes = max(1, round((nodes - 110) / 100))
    return [(f"分区{a}", f"来源{a}-{b}", f"栏目{c}") for a in range(10) for b in range(10) for c in range(routes)]


def article(rng: random.Random, paragraphs: list[str], n: int,
            tree: list[tuple[str, str, str]] | None = None) -> tuple[str, str]:
    section = rng.choice(list(SECTIONS))
    source, route = rng.choice(SECTIONS[section]), rng.choice(ROUTES)
    if tree:  # 1-4 paths of the big tree, Hexo's list of lists
        paths = rng.sample(tree, rng.randint(1, 4))
        section, source, route = paths[0]
        categories = "categories:\n" + "".join(f" - [{', '.join(p)}]\n" for p in paths)
    else:
        categories = f"categories: \n - {section}\n - {source}\n - {route}\n"
    when = datetime(2021, 1, 1, tzinfo=UTC) + timedelta(seconds=rng.randint(0, 2 * 365 * 86400))
    date = when.strftime("%a, %d %b %Y %H:%M:%S GMT") if n % 3 else when.strftime("%Y-%m-%d %H:%M:%S")
    image = _image(rng)
    title = f"第{n}篇：" + re.sub(r"<[^>]+>", "", rng.choice(paragraphs))[:30]
    text = (f"\n---\ntitle: '{title}'\n{categories}"
            f"headimg: 'https://cors.zfour.workers.dev/?{image}'\nauthor: {source}\ncomments: false\n"
            f"date: {date}\nthumbnail: 'https://cors.zfour.workers.dev/?{image}'\n---\n\n"
            + _body(rng, paragraphs, image))
    return f"{section}/{source}/{route}/{n:06}.md", text


def generate(out: Path, count: int, seed: int = 1, categories: int | None = None) -> None:
    """``categories``: file the articles under a three-level tree of about that many nodes,
    1-4 paths each, instead of the mirror's [site type, source, route]."""
    rng = random.Random(seed)
    paragraphs = _paragraphs()
    tree = category_tree(categories) if categories else None
    for n in range(count):
        relpath, text = article(rng, paragraphs, n, tree)
        path = out / relpath
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path)
    parser.add_argument("-n", "--count", type=int, default=10_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--categories", type=int, help="a three-level tree of about this many categories")
    args = parser.parse_args()
    generate(args.out, args.count, args.seed, args.categories)


if __name__ == "__main__":
    main()
