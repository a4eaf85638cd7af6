"""A local image origin on 127.0.0.1 for the proxy tests: it records what it was asked."""

from __future__ import annotations

import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import unquote

PNG = (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x02\x00\x00\x00\x90wS\xde"
       b"\x00\x00\x00\x0cIDATx\x9cc\xf8\xcf\xc0\x00\x00\x03\x01\x01\x00\xc9\xfe\x92\xef\x00\x00\x00\x00IEND\xaeB`\x82")


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        # A client hanging up is what the drip and huge routes are for. Its traceback, printed
        # from this thread, once broke a test: Python 3.11 parses source lines to print one,
        # and its AST state is shared with a thread compiling (werkzeug compiles its routes)
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)


class Origin:
    def __init__(self) -> None:
        self.requests: list[tuple[str, dict[str, str]]] = []
        self.closing = threading.Event()
        origin = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def do_GET(self) -> None:  # noqa: N802 - the http.server API
                origin.requests.append((self.path, {k.lower(): v for k, v in self.headers.items()}))
                route = self.path.split("?")[0]
                if route == "/typed":  # an image sent with the type the query names
                    return self.reply(200, unquote(self.path.partition("?type=")[2]), PNG)
                if route.startswith("/img/") or route.endswith(".jpg"):
                    return self.reply(200, "image/png", PNG)
                if route == "/hotlink.png":  # refuses any Referer but its own site's
                    ok = self.headers.get("Referer") in (None, "https://origin.example/")
                    return self.reply(200 if ok else 403, "image/png", PNG if ok else b"no hotlinking")
                if route == "/slow.png":
                    time.sleep(3)
                    return self.reply(200, "image/png", PNG)
                if route == "/drip.png":  # headers at once, then a byte at a time, for a minute
                    self.send_response(200)
                    self.send_header("Content-Type", "image/png")
                    self.send_header("Content-Length", "600")
                    self.end_headers()
                    for _ in range(600):
                        if origin.closing.wait(0.1):  # the test is over: its clients are gone
                            return None
                        self.wfile.write(b"\0")
                        self.wfile.flush()
                    return None
                if route == "/huge.png":
                    return self.reply(200, "image/png", b"\0" * (3 * 1024 * 1024))
                if route == "/page.html":
                    return self.reply(200, "text/html", b"<html>not an image</html>")
                if route.startswith("/redirect/"):
                    return self.redirect(route[len("/redirect"):])
                if route == "/to-private.png":
                    return self.redirect("http://10.0.0.1/x.png")
                if route == "/loop.png":
                    return self.redirect("/loop.png")
                return self.reply(404, "text/plain", b"nope")

            def reply(self, status: int, content_type: str, body: bytes) -> None:
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def redirect(self, location: str) -> None:
                self.send_response(302)
                self.send_header("Location", location)
                self.send_header("Content-Length", "0")
                self.end_headers()

        self.server = _Server(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)

    def __enter__(self) -> Origin:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.closing.set()
        self.server.shutdown()
        self.server.server_close()
