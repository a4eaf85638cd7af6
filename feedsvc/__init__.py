"""feedsvc: republish a growing directory of Hexo-style articles as clean, valid feeds.

Stage packages in the order the data flows; each imports the floor and the stages above it::

  the floor, shared by every stage
    errors             the exception hierarchy (FeedsvcError, ConfigError, ArticleError, StoreUnavailable)
    model              plain values every stage passes on: Article, FeedQuery, FeedSpec, Selection, Page
    atomic             atomic file replacement and the scan lock
    urls               every public path and absolute URL; signed image-proxy URLs
    slugs              a new category or tag name -> its URL segment (pinyin for CJK)
    yamlload           YAML loaded safely, with a budget for aliases
    typedyaml          YAML data checked against dataclass fields; every problem at once
    hexo               a Hexo blog's settings, permalinks and file-name dates
    config             feedsvc.yaml -> frozen, validated Config
    cli                ``feedsvc serve | build | check``: the one entry point
  parse: file bytes -> Article, pure
    parse.frontmatter  a file's text -> YAML header (strict, else lenient) and body
    parse.tagplugins   Hexo's {% tag %} plugins rendered, unknown ones reported
    parse.assets       a Hexo post's asset folder: its files as the post names them, and those missing
    parse.rewrite      body HTML -> absolute, unwrapped image URLs, no lazy loading, sanitized
    parse.articles     file bytes -> Article (front matter, dates, ids, Markdown/HTML body)
  store: the SQLite index, the only code that speaks SQL
    store.db           schema, opening (read-only for web workers), corruption, transactions
    store.state        typed state: the agreed walk, the last scan and failure, push and export state
    store.articles     article writes, electing each id's live file, the change log, entries cache
    store.files        each file's stat, digest, error and warnings
    store.terms        category nodes and tags with their slugs and live counts
    store.queries      a FeedQuery as SQL
    store.exports      the manifest of each export folder
    store.polls        the polling log: requests, validators and gaps per feed reader
  feeds: what to publish
    feeds.catalog      which feeds exist, what each selects, archive pages, signatures
    feeds.tree         the feeds as pages look them up: all at once, or node by node
    feeds.filters      RSSHub's URL filters (RE2 regexes, OpenCC)
    feeds.rhythm       cache hints from each feed's own rhythm
  ingest: the folders into the store
    ingest.pools       spawned worker processes that die with their parent
    ingest.sources     what the article folders hold now, and what could not be seen
    ingest.blogs       a Hexo post's asset folder, and the commit that added an undated post
    ingest.scan        a plan (what to read, mark, forget) and carrying it out in batches
  render: bytes for readers and people
    render.entries     an article's entry in each format
    render.documents   RSS 2.0 / Atom 1.0 / JSON Feed 1.1 / OPML bytes
    render.pages       the index, feed and article pages from the templates
    render.site        one rendering path (store -> Page) for the server and the export
    render.filtered    a feed under RSSHub's URL filters, served live
  images: the image proxy
    images.fetch       one guarded upstream image fetch
    images.proxy       the proxy's disk cache
  ops: running it
    ops.export         every URL written to a folder, atomically, unchanged files untouched
    ops.writer         the export's files and their .gz, written by a thread, atomically
    ops.push           WebSub pings of the feeds whose bytes changed
    ops.deploy         an object store (S3, GCS, Azure, a folder) made equal to the export
    ops.pipeline       open (healing) -> scan -> export -> feeds to ping, for build and serve
    ops.health         what /healthz says, and the scanner's own word for it
    ops.metrics        Prometheus counters across granian's workers
    ops.scheduler      the scan on a schedule and from the watcher, once per deployment
    ops.supervisor     serve's process around granian: a free port, workers that die with it
  web: serving
    web.http           conditional GET, gzip and cache headers on a plain WSGI environ
    web.cache          rendered pages per worker, and the fast path that answers from them
    web.polls          each feed poll recorded by reader, for /healthz?clients
    web.app            the Flask app factory: feeds, pages, images, health and metrics
"""

__version__ = "0.1.0"
