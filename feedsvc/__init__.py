"""feedsvc: republish a growing directory of Hexo-style articles as clean, valid feeds.

The data flow, one module a stage::

    config    YAML -> frozen, validated Config
    articles  file bytes -> Article (front matter, dates, ids, Markdown/HTML body)
    rewrite   body HTML -> unwrapped image URLs, no lazy loading, sanitized, XML-safe
    scan      article directories -> incremental updates of the index
    index     SQLite store of files and articles in state_dir
    feeds     which feeds exist and which articles each one selects
    render    RSS 2.0 / Atom 1.0 / JSON Feed 1.1 / OPML bytes
    pages     the HTML index page and one page per article
    export    every URL written to a directory, atomically, unchanged files untouched
    cli       ``feedsvc build | check``
"""

__version__ = "0.1.0"
