"""Headless Chromium driven over the DevTools protocol on a pipe (``--remote-debugging-pipe``:
requests on fd 3, replies on fd 4, each a JSON object ending in NUL), so a test can switch
JavaScript off, pick the viewport and colour scheme, and read what the browser laid out: every
text box with its computed colours and position, and the screenshot."""

from __future__ import annotations

import base64
import fcntl
import json
import os
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--hide-scrollbars", "--remote-debugging-pipe"]
STYLES = ["color", "background-color", "font-size", "font-weight", "display", "visibility"]
TIMEOUT = 60.0
# what shows through where no element paints a background: Chromium's Canvas colour
LIGHT_CANVAS, DARK_CANVAS = (255.0, 255.0, 255.0), (18.0, 18.0, 18.0)


@dataclass(frozen=True)
class TextBox:
    """A run of text as laid out: its words, its colour and the first opaque background under it."""
    text: str
    color: tuple[float, float, float, float]
    background: tuple[float, float, float]
    font_px: float
    bold: bool
    left: float
    right: float


class Browser:
    """One headless Chromium with one page. Use as a context manager."""

    def __init__(self, chromium: str, profile: Path) -> None:
        to_browser_r, to_browser_w = os.pipe()
        from_browser_r, from_browser_w = os.pipe()
        # the child sees our pipe ends as its fds 3 (reads) and 4 (writes)
        self.process = subprocess.Popen(
            [chromium, *FLAGS, f"--user-data-dir={profile}", "about:blank"],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            pass_fds=(3, 4), preexec_fn=lambda: _as_fds_3_and_4(to_browser_r, from_browser_w))
        os.close(to_browser_r)
        os.close(from_browser_w)
        self.writer, self.reader = to_browser_w, from_browser_r
        self.buffer, self.next_id, self.dark = b"", 0, False
        self.events: list[dict[str, Any]] = []
        target = self.call("Target.createTarget", url="about:blank")["targetId"]
        self.session = self.call("Target.attachToTarget", targetId=target, flatten=True)["sessionId"]

    def __enter__(self) -> Browser:
        return self

    def __exit__(self, *exc: object) -> None:
        self.process.kill()
        self.process.wait(timeout=30)
        os.close(self.writer)
        os.close(self.reader)

    def _message(self, deadline: float) -> dict[str, Any]:
        while b"\0" not in self.buffer:
            if time.monotonic() > deadline:
                raise TimeoutError("Chromium did not answer")
            chunk = os.read(self.reader, 1 << 20)
            if not chunk:
                raise RuntimeError("Chromium closed the pipe")
            self.buffer += chunk
        raw, self.buffer = self.buffer.split(b"\0", 1)
        return json.loads(raw)

    def call(self, method: str, session: bool = False, **params: Any) -> dict[str, Any]:
        self.next_id += 1
        request: dict[str, Any] = {"id": self.next_id, "method": method, "params": params}
        if session:
            request["sessionId"] = self.session
        os.write(self.writer, json.dumps(request).encode() + b"\0")
        deadline = time.monotonic() + TIMEOUT
        while True:
            message = self._message(deadline)
            if message.get("id") == self.next_id:
                if "error" in message:
                    raise RuntimeError(f"{method}: {message['error']}")
                return message["result"]
            self.events.append(message)

    def wait_for(self, event: str) -> None:
        deadline = time.monotonic() + TIMEOUT
        while not any(e.get("method") == event for e in self.events):
            self.events.append(self._message(deadline))

    def open(self, url: str, width: int, height: int, dark: bool = False, javascript: bool = False) -> None:
        self.dark = dark
        self.call("Emulation.setScriptExecutionDisabled", session=True, value=not javascript)
        self.call("Emulation.setDeviceMetricsOverride", session=True, width=width, height=height,
                  deviceScaleFactor=1, mobile=width < 600)
        self.call("Emulation.setEmulatedMedia", session=True,
                  features=[{"name": "prefers-color-scheme", "value": "dark" if dark else "light"}])
        self.call("Page.enable", session=True)
        self.events.clear()
        self.call("Page.navigate", session=True, url=url)
        self.wait_for("Page.loadEventFired")

    def screenshot(self, out: Path) -> Path:
        data = self.call("Page.captureScreenshot", session=True, format="png")["data"]
        out.write_bytes(base64.b64decode(data))
        return out

    def page_width(self) -> float:
        return float(self.call("Page.getLayoutMetrics", session=True)["cssContentSize"]["width"])

    def text_boxes(self) -> list[TextBox]:
        snapshot = self.call("DOMSnapshot.captureSnapshot", session=True, computedStyles=STYLES)
        return list(_text_boxes(snapshot, DARK_CANVAS if self.dark else LIGHT_CANVAS))


def _as_fds_3_and_4(reads: int, writes: int) -> None:
    """In the child, before exec: our ends become fds 3 and 4, lifted out of the way first in
    case either already is one of them."""
    high = [fcntl.fcntl(fd, fcntl.F_DUPFD, 10) for fd in (reads, writes)]
    os.dup2(high[0], 3)
    os.dup2(high[1], 4)


def _rgba(value: str) -> tuple[float, float, float, float]:
    """A computed colour, ``rgb(r, g, b)`` or ``rgba(r, g, b, a)``."""
    parts = [float(p) for p in value[value.index("(") + 1:-1].replace("/", ",").split(",")]
    return (parts[0], parts[1], parts[2], parts[3] if len(parts) > 3 else 1.0)


def _text_boxes(snapshot: dict[str, Any], canvas: tuple[float, float, float]):  # noqa: ANN202 - yields TextBox
    strings = snapshot["strings"]
    document = snapshot["documents"][0]
    nodes, layout = document["nodes"], document["layout"]
    parents = nodes["parentIndex"]
    style_of = {node: [strings[i] if i >= 0 else "" for i in styles]
                for node, styles in zip(layout["nodeIndex"], layout["styles"], strict=True) if styles}

    def background(node: int) -> tuple[float, float, float]:
        while node >= 0:
            if node in style_of:
                r, g, b, a = _rgba(style_of[node][1])
                if a > 0.99:
                    return (r, g, b)
            node = parents[node]
        return canvas

    for node, text_index, bounds in zip(layout["nodeIndex"], layout["text"], layout["bounds"], strict=True):
        text = strings[text_index].strip() if text_index >= 0 else ""
        if not text or bounds[2] <= 0:
            continue
        color, _, size, weight, _, visibility = style_of[node]
        if visibility == "hidden":
            continue
        yield TextBox(text, _rgba(color), background(node), float(size.removesuffix("px")),
                      int(weight) >= 600, bounds[0], bounds[0] + bounds[2])


def contrast(foreground: tuple[float, float, float, float], background: tuple[float, float, float]) -> float:
    """WCAG 2.x contrast ratio, the text's alpha blended over its background first."""
    alpha = foreground[3]
    blended = [f * alpha + b * (1 - alpha) for f, b in zip(foreground[:3], background, strict=True)]

    def luminance(rgb: list[float] | tuple[float, ...]) -> float:
        def channel(c: float) -> float:
            c /= 255
            return c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4
        r, g, b = (channel(c) for c in rgb)
        return 0.2126 * r + 0.7152 * g + 0.0722 * b

    light, dark = sorted((luminance(blended), luminance(background)), reverse=True)
    return (light + 0.05) / (dark + 0.05)


def is_large(box: TextBox) -> bool:
    """WCAG's large text, which needs only 3:1: 24 px, or 18.66 px bold."""
    return box.font_px >= 24 or (box.bold and box.font_px >= 18.66)
