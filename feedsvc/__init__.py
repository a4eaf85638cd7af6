"""feedsvc: republish a growing directory of Hexo-style articles as clean, valid feeds.

The data flow, one module a stage, listed in import order (each imports only those above it)::

    errors      the exception hierarchy (FeedsvcError, ConfigError, ArticleError, StoreUnavailable)
    workers     spawned worker processes that die with their parent; a dead one is an error
    model       plain values every stage passes on: Article, FeedQuery, FeedSpec, Selection, Page
    files       atomic file replacement
    urls        every public path and absolute URL; signed image-proxy URLs
    slugs       a new category or tag name -> its URL segment (pinyin for CJK)
    settings    YAML data checked against dataclass fields; every problem at once
    hexo        a Hexo blog's settings, permalinks and file-name dates
    config      YAML -> frozen, validated Config
    frontmatter a file's text -> YAML header (strict, else lenient) and body
    tagplugins  Hexo's {% tag %} plugins rendered, unknown ones reported
    rewrite     body HTML -> absolute and unwrapped image URLs, no lazy loading, sanitized, XML-safe
    articles    file bytes -> Article (front matter, dates, ids, Markdown/HTML body)
    index       SQLite store of files and articles in state_dir; owns all of its SQL
    feeds       which feeds exist and which articles each one selects; slugs
    sources     what the article directories hold now, and what could not be seen
    scan        article directories -> incremental updates of the index, in batches
    render      RSS 2.0 / Atom 1.0 / JSON Feed 1.1 / OPML bytes
    pages       the HTML index page and one page per article
    site        one rendering path (index -> Page) for the service and the export
    http        conditional GET, gzip and cache headers on a plain WSGI environ
    pagecache   rendered pages per worker, and the fast path that answers from them
    health      what /healthz says, with its reasons
    imagefetch  one guarded upstream image fetch
    imageproxy  the image proxy's disk cache
    export      every URL written to a directory, atomically, unchanged files untouched
    push        WebSub pings of the feeds whose bytes a scan changed
    scheduler   the scan on a schedule, once per deployment
    supervisor  serve's process around granian: a free port, workers that die with it
    web         the Flask app: feeds, pages, images and health blueprints
    cli         ``feedsvc serve | build | check``
"""

__version__ = "0.1.0"
