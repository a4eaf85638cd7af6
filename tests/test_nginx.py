"""The static export behind real nginx: precompressed files served with gzip_static, the README's
recipe, so nginx never compresses a feed per request."""

from __future__ import annotations

import gzip
import os
import subprocess
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path

from .conftest import require
from .exported import files, read
from .live import free_port, wait_for

RECIPE = """{user}daemon off; worker_processes 1; pid {tmp}/nginx.pid; error_log {tmp}/error.log;
events {{ worker_connections 64; }}
http {{
  access_log off;
  client_body_temp_path {tmp}/body; proxy_temp_path {tmp}/proxy; fastcgi_temp_path {tmp}/fcgi;
  uwsgi_temp_path {tmp}/uwsgi; scgi_temp_path {tmp}/scgi;
  types {{ application/rss+xml rss; application/atom+xml atom; application/feed+json json; text/html html;
          text/x-opml xml; text/xsl xsl; }}
  charset utf-8; charset_types application/rss+xml application/atom+xml application/feed+json text/x-opml;
  gzip_static on; gzip_vary on;
  server {{ listen 127.0.0.1:{port}; root {root}; location / {{ try_files $uri $uri.html =404; }}
    location ~ /_archive/[0-9]+$ {{ rewrite ^ $uri.html last; }}
    location ~ /_archive/[0-9]+\\.(rss|atom|json|html)$ {{ gzip_static always; gunzip on; }} }}
}}
"""


def test_nginx_serves_the_precompressed_feeds_of_the_export(built: Callable[..., Path], corpus: Path,
                                                              tmp_path: Path) -> None:
    nginx = require("nginx")
    out = built(corpus)
    assert (out / "feeds/all.atom.gz").is_file() and (out / "index.html.gz").is_file()
    port = free_port()
    conf = tmp_path / "nginx.conf"
    # started as root, nginx's workers would drop to an unprivileged user that cannot enter pytest's
    # private temporary directories: keep them as root (the user directive only works as root)
    user = "user root; " if os.geteuid() == 0 else ""
    conf.write_text(RECIPE.format(user=user, tmp=tmp_path, port=port, root=out), encoding="utf-8")
    server = subprocess.Popen([nginx, "-c", str(conf)], stderr=subprocess.DEVNULL)
    try:
        url = f"http://127.0.0.1:{port}"
        wait_for(lambda: urllib.request.urlopen(url + "/feeds/all.atom", timeout=2).status == 200, timeout=20)
        for path in ("/feeds/all.atom", "/feeds/all.rss", "/index.html"):
            request = urllib.request.Request(url + path, headers={"Accept-Encoding": "gzip"})
            with urllib.request.urlopen(request, timeout=5) as response:
                assert response.headers["Content-Encoding"] == "gzip", path
                assert response.headers["Vary"] == "Accept-Encoding", path
                assert gzip.decompress(response.read()) == (out / path.lstrip("/")).read_bytes()
        with urllib.request.urlopen(url + "/feeds/all.atom", timeout=5) as plain:  # no Accept-Encoding
            assert plain.headers.get("Content-Encoding") is None
            assert plain.read() == (out / "feeds/all.atom").read_bytes()
        archived = files(out, "feeds/all/_archive/*.atom")
        assert archived and not any(p.is_file() for p in archived)  # written as .gz alone
        path = "/" + archived[0].relative_to(out).as_posix()
        with urllib.request.urlopen(url + path, timeout=5) as plain:  # gunzip on: inflated for this client
            assert plain.headers.get("Content-Encoding") is None
            assert plain.headers["Content-Type"] == "application/atom+xml; charset=utf-8"
            assert plain.read() == read(archived[0])
        request = urllib.request.Request(url + path, headers={"Accept-Encoding": "gzip"})
        with urllib.request.urlopen(request, timeout=5) as response:
            assert response.headers["Content-Encoding"] == "gzip"
            assert gzip.decompress(response.read()) == read(archived[0])
        page = archived[0].with_suffix(".html")  # an archive page for people, at its URL without .html
        with urllib.request.urlopen(url + path.removesuffix(".atom"), timeout=5) as plain:
            assert plain.headers["Content-Type"] == "text/html; charset=utf-8" and plain.read() == read(page)
    finally:
        server.terminate()
        server.wait(timeout=10)
        time.sleep(0.1)


def test_a_rebuild_rewrites_a_gz_only_with_its_file(built: Callable[..., Path], corpus: Path) -> None:
    from feedsvc.ingest.scan import scan
    from feedsvc.ops.export import export
    from feedsvc.store import Store

    from .conftest import make_config

    out = built(corpus)
    stamps = {p: p.stat().st_mtime_ns for p in out.rglob("*.gz")}
    config = make_config(corpus, out.parent / "state0")  # the state of that build
    index = Store.open(config.state_dir)
    (corpus / "new.md").write_text("---\ntitle: New\ndate: 2031-01-01 00:00\n---\nnew\n", encoding="utf-8")
    scan(index, config, settle=0)
    export(index, config, out)
    index.close()
    changed = [p for p, stamp in stamps.items() if p.stat().st_mtime_ns != stamp]
    assert out / "feeds/all.atom.gz" in changed and b"New" in gzip.decompress((out / "feeds/all.atom.gz").read_bytes())
    assert len(changed) < len(stamps) / 2  # feeds the new article is not in keep their .gz
