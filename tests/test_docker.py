"""The Dockerfile: no Docker engine runs here, so check that what it runs exists and fits."""

from __future__ import annotations

import json
import re
import shlex
import tomllib
from pathlib import Path

from feedsvc.cli import main
from feedsvc.config import load_config

ROOT = Path(__file__).parent.parent


def instructions() -> list[tuple[str, str]]:
    text = (ROOT / "Dockerfile").read_text(encoding="utf-8").replace("\\\n", " ")
    lines = [line.strip() for line in text.splitlines() if line.strip() and not line.lstrip().startswith("#")]
    return [(line.split(None, 1)[0].upper(), line.split(None, 1)[1]) for line in lines]


def exec_form(value: str) -> list[str]:
    return json.loads(value) if value.startswith("[") else shlex.split(value)


def test_slim_python_base_non_root_user_and_volumes() -> None:
    steps = dict(instructions())
    assert re.fullmatch(r"python:3\.1[1-9]-slim", steps["FROM"])
    assert steps["USER"] not in ("root", "0")
    assert set(json.loads(steps["VOLUME"])) == {"/articles", "/var/lib/feedsvc"}


def test_the_command_is_a_feedsvc_subcommand_of_the_console_script() -> None:
    scripts = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]["scripts"]
    command = exec_form(dict(instructions())["CMD"])
    assert command[0] in scripts and scripts[command[0]] == "feedsvc.cli:main"
    assert command[1] in main.commands


def test_healthcheck_asks_healthz_on_the_port_the_server_listens_on() -> None:
    import os
    import subprocess
    import sys
    import threading
    from http.server import BaseHTTPRequestHandler, HTTPServer

    check = dict(instructions())["HEALTHCHECK"]
    command = exec_form(check.split("CMD", 1)[1].strip())
    assert command[:2] == ["python", "-c"]
    answers = {"/healthz": 200}

    class Health(BaseHTTPRequestHandler):
        def log_message(self, *args: object) -> None:
            pass

        def do_GET(self) -> None:  # noqa: N802 - the http.server API
            self.send_response(answers.get(self.path, 404))
            self.end_headers()

    server = HTTPServer(("127.0.0.1", 0), Health)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        env = {**os.environ, "FEEDSVC_PORT": str(server.server_address[1])}
        run = [sys.executable, "-c", command[2]]
        assert subprocess.run(run, env=env, capture_output=True, timeout=30).returncode == 0
        answers["/healthz"] = 503  # an unhealthy service fails the check
        assert subprocess.run(run, env=env, capture_output=True, timeout=30).returncode != 0
    finally:
        server.shutdown()
        server.server_close()


def test_copied_files_exist_and_the_container_config_is_valid() -> None:
    for kind, value in instructions():
        if kind == "COPY":
            *sources, _ = value.split()
            assert all((ROOT / s).exists() for s in sources), value
    env = dict(instructions())["ENV"]
    assert "FEEDSVC_CONFIG=/etc/feedsvc/feedsvc.yaml" in env
    config = load_config(str(ROOT / "config" / "docker.yaml"), env={})
    assert str(config.sources[0].path) == "/articles" and str(config.state_dir) == "/var/lib/feedsvc"
    assert config.server.host == "0.0.0.0" and config.server.port == 8080
