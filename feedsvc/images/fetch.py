"""Image fetch: one upstream image, over a connection that can only reach public addresses.

The host is resolved here and the socket connects to an address checked first, so DNS cannot
swap in a private one between check and connect (no rebinding window); the peer is checked
again after connecting, and every redirect hop goes through the same path. Only http(s), only
``image/*``, at most ``max_bytes``, within a total deadline.
"""

from __future__ import annotations

import http.client
import ipaddress
import socket
import ssl
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from urllib.parse import urljoin, urlsplit

from feedsvc import __version__

USER_AGENT = f"feedsvc-image-proxy/{__version__}"
MAX_REDIRECTS = 5
CHUNK = 64 * 1024


class FetchError(Exception):
    """The image cannot be had; ``status`` is what the proxy answers (403, 404, 502, 504)."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


@dataclass(frozen=True)
class Limits:
    max_bytes: int = 15 * 1024 * 1024
    connect_timeout: float = 5
    total_timeout: float = 20
    allow_private: bool = False


# the image types readers show; SVG among them, served under a sandboxing policy (web.app)
IMAGE_TYPES = frozenset({"image/jpeg", "image/png", "image/gif", "image/webp", "image/avif", "image/apng", "image/bmp",
                         "image/svg+xml", "image/x-icon", "image/vnd.microsoft.icon", "image/heic", "image/heif",
                         "image/jxl", "image/tiff"})


@dataclass(frozen=True)
class Fetched:
    body: bytes
    content_type: str
    last_modified: str | None


_NAT64 = ipaddress.ip_network("64:ff9b::/96")  # the well-known NAT64 prefix: the IPv4 address is its last 32 bits


def is_public(address: str) -> bool:
    """A globally routable unicast address. An IPv6 address that carries an IPv4 one (mapped,
    6to4 ``2002:7f00:1::1``, Teredo, NAT64) reaches that IPv4 address, so it is judged by it."""
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address):
        teredo = ip.teredo[1] if ip.teredo else None
        nat64 = ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF) if ip in _NAT64 else None
        if embedded := ip.ipv4_mapped or ip.sixtofour or teredo or nat64:
            return is_public(str(embedded))
    return ip.is_global and not (ip.is_multicast or ip.is_reserved or ip.is_unspecified)


def guarded_connect(host: str, port: int, timeout: float, allow_private: bool) -> socket.socket:
    """A TCP connection to ``host`` that refuses every non-public address unless allowed."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as e:
        raise FetchError(502, f"cannot resolve {host}: {e.strerror}") from e
    allowed = [info for info in infos if allow_private or is_public(str(info[4][0]))]
    if not allowed:
        raise FetchError(403, f"{host} resolves only to addresses the proxy may not reach")
    last: OSError | None = None
    for family, kind, proto, _, address in allowed:
        sock = socket.socket(family, kind, proto)
        sock.settimeout(timeout)
        try:
            sock.connect(address)
        except OSError as e:
            sock.close()
            last = e
            continue
        if not allow_private and not is_public(str(sock.getpeername()[0])):
            sock.close()
            raise FetchError(403, f"{host} connected to a non-public address")
        return sock
    if isinstance(last, TimeoutError):
        raise FetchError(504, f"connecting to {host} timed out")
    raise FetchError(502, f"cannot connect to {host}: {last}")


class _HTTP(http.client.HTTPConnection):
    def __init__(self, host: str, port: int | None, limits: Limits) -> None:
        super().__init__(host, port, timeout=limits.connect_timeout)
        self.limits = limits

    def connect(self) -> None:
        self.sock = self.guarded_sock = guarded_connect(self.host, self.port, self.limits.connect_timeout,
                                                        self.limits.allow_private)


class _HTTPS(http.client.HTTPSConnection):
    def __init__(self, host: str, port: int | None, limits: Limits) -> None:
        super().__init__(host, port, timeout=limits.connect_timeout, context=ssl.create_default_context())
        self.limits = limits

    def connect(self) -> None:
        sock = guarded_connect(self.host, self.port, self.limits.connect_timeout, self.limits.allow_private)
        self.sock = self.guarded_sock = self._context.wrap_socket(  # type: ignore[attr-defined]
            sock, server_hostname=self.host)


@contextmanager
def _deadline(connection: http.client.HTTPConnection, deadline: float) -> Iterator[None]:
    """Cut the connection when the total time is up: a server that drips a byte at a time
    never lets a read time out on its own."""
    def cut() -> None:
        # the connection's own reference is dropped once a response that closes is read
        sock = getattr(connection, "guarded_sock", None)
        if sock is not None:
            with suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)

    timer = threading.Timer(max(deadline - time.monotonic(), 0), cut)
    timer.daemon = True
    timer.start()
    try:
        yield
    except (OSError, http.client.HTTPException, FetchError) as e:
        if time.monotonic() >= deadline:  # whatever broke, it broke because the time was up
            raise FetchError(504, "image fetch took too long") from e
        raise
    finally:
        timer.cancel()


def _connection(url: str, limits: Limits) -> tuple[http.client.HTTPConnection, str]:
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as e:
        raise FetchError(403, f"not a valid URL: {url}") from e
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise FetchError(403, f"only http and https images are proxied: {url}")
    return (_HTTPS if parts.scheme == "https" else _HTTP)(parts.hostname, port, limits), parts.hostname


def _request(connection: http.client.HTTPConnection, url: str, referers: dict[str, str]) -> http.client.HTTPResponse:
    parts = urlsplit(url)
    headers = {"User-Agent": USER_AGENT, "Accept": "image/*"}
    if parts.hostname in referers:  # some hosts insist on one; the rest get none at all
        headers["Referer"] = referers[parts.hostname]
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    try:
        connection.request("GET", path, headers=headers)
        return connection.getresponse()
    except FetchError:
        raise
    except TimeoutError as e:
        connection.close()
        raise FetchError(504, f"{parts.hostname} did not answer in time") from e
    except (OSError, http.client.HTTPException) as e:
        connection.close()
        raise FetchError(502, f"{parts.hostname}: {e}") from e


def _read(response: http.client.HTTPResponse, limits: Limits, deadline: float) -> bytes:
    declared = response.getheader("Content-Length")
    if declared and declared.isdigit() and int(declared) > limits.max_bytes:
        raise FetchError(502, f"image is larger than {limits.max_bytes} bytes")
    chunks, size = [], 0
    try:
        while chunk := response.read(CHUNK):
            size += len(chunk)
            if size > limits.max_bytes:
                raise FetchError(502, f"image is larger than {limits.max_bytes} bytes")
            if time.monotonic() > deadline:
                raise FetchError(504, "image download took too long")
            chunks.append(chunk)
    except TimeoutError as e:
        raise FetchError(504, "image download stalled") from e
    if time.monotonic() >= deadline:  # cut at the deadline: what arrived may end anywhere
        raise FetchError(504, "image download took too long")
    return b"".join(chunks)


def fetch(url: str, referers: dict[str, str], limits: Limits) -> Fetched:
    """The image at ``url``, following at most five redirects, each hop guarded, all of it
    within ``limits.total_timeout``."""
    deadline = time.monotonic() + limits.total_timeout
    for _ in range(MAX_REDIRECTS + 1):
        if time.monotonic() > deadline:
            raise FetchError(504, "image fetch took too long")
        connection, host = _connection(url, limits)
        try:
            with _deadline(connection, deadline):
                fetched = _hop(connection, url, referers, limits, deadline)
        except (OSError, http.client.HTTPException) as e:
            raise FetchError(502, f"{host}: {e}") from e
        finally:
            connection.close()
        if isinstance(fetched, Fetched):
            return fetched
        url = fetched
    raise FetchError(502, "too many redirects")


def _hop(connection: http.client.HTTPConnection, url: str, referers: dict[str, str], limits: Limits,
         deadline: float) -> Fetched | str:
    """One request: the image, or the URL a redirect points to."""
    response = _request(connection, url, referers)
    try:
        if response.status in (301, 302, 303, 307, 308) and response.getheader("Location"):
            return urljoin(url, response.getheader("Location", ""))
        if response.status in (404, 410):
            raise FetchError(404, f"upstream answered {response.status}")
        if response.status != 200:
            raise FetchError(502, f"upstream answered {response.status}")
        content_type = (response.getheader("Content-Type") or "").split(";")[0].strip().lower()
        if content_type not in IMAGE_TYPES:  # served with it: never a type taken as it came
            raise FetchError(502, f"upstream sent {content_type[:60] or 'no type'!r}, not an image type the proxy serves")
        body = _read(response, limits, deadline)
        return Fetched(body, content_type, response.getheader("Last-Modified"))
    finally:
        response.close()
