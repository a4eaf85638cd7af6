"""`feedsvc deploy`: the export made equal in an object store, against a real S3 API on 127.0.0.1
(moto's server, started and stopped here) and a folder (file://), as a bucket with no rewrite
rules or a CDN in front of it would serve every URL."""

from __future__ import annotations

import gzip
import shutil
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from feedsvc.cli import main

from .conftest import REAL, SEED
from .exported import files, read
from .live import LiveServer, wait_for

BUCKET = "feeds-bucket"


@pytest.fixture(scope="module")
def s3() -> Iterator[str]:
    import logging

    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # moto's server logs every request
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


@pytest.fixture
def bucket(s3: str, monkeypatch: pytest.MonkeyPatch):  # noqa: ANN201 - a boto3 client on a fresh bucket
    import boto3

    for name, value in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                        "AWS_DEFAULT_REGION": "us-east-1"}.items():
        monkeypatch.setenv(name, value)
    client = boto3.client("s3", endpoint_url=s3, region_name="us-east-1")
    objects = client.list_objects_v2(Bucket=BUCKET).get("Contents", []) if _exists(client) else []
    for item in objects:
        client.delete_object(Bucket=BUCKET, Key=item["Key"])
    if not _exists(client):
        client.create_bucket(Bucket=BUCKET)
    return client


def _exists(client) -> bool:  # noqa: ANN001
    return any(b["Name"] == BUCKET for b in client.list_buckets()["Buckets"])


def keys(client) -> dict[str, dict]:  # noqa: ANN001
    found: dict[str, dict] = {}
    for page in client.get_paginator("list_objects_v2").paginate(Bucket=BUCKET):
        found.update({item["Key"]: item for item in page.get("Contents", [])})
    return found


def site(tmp: Path, target: str, extra: str = "") -> Path:
    corpus = tmp / "corpus"
    if not corpus.exists():
        shutil.copytree(REAL, corpus)
        shutil.copy(SEED, corpus / SEED.name)
    config = tmp / "feedsvc.yaml"
    config.write_text(f"site: {{url: 'https://feeds.example.com', timezone: Asia/Shanghai}}\nsources: [{{path: '{corpus}'}}]\n"
                      f"state_dir: '{tmp / 'state'}'\nfeeds: {{archive_size: 5, limit: 10}}\n"
                      f"deploy:\n  target: '{target}'\n{extra}", encoding="utf-8")
    return config


def run(config: Path, *args: str) -> tuple[int, str]:
    result = CliRunner().invoke(main, ["deploy", "--config", str(config), *args])
    return result.exit_code, result.output


def s3_site(tmp: Path, endpoint: str, extra: str = "") -> Path:
    return site(tmp, f"s3://{BUCKET}/site", f"  endpoint: '{endpoint}'\n  region: us-east-1\n{extra}")


def test_a_dry_run_prints_the_plan_and_changes_nothing(tmp_path: Path, s3: str, bucket) -> None:  # noqa: ANN001
    code, output = run(s3_site(tmp_path, s3), "--dry-run")
    assert code == 0, output
    assert "upload site/feeds/all.atom" not in output and "upload feeds/all.atom" in output
    assert keys(bucket) == {}
    assert "would upload" in output and "would delete 0" in output


def test_every_url_is_an_object_at_its_path_with_its_type_body_and_caching(tmp_path: Path, s3: str, bucket) -> None:  # noqa: ANN001
    config = s3_site(tmp_path, s3, "  gzip: true\n")
    code, output = run(config)
    assert code == 0, output
    out = tmp_path / "state" / "export"
    exported = {p.relative_to(out).as_posix() for p in files(out, "**/*")}
    stored = keys(bucket)
    expected = {"site/" + (k[:-5] if k.endswith(".html") and not k.endswith("index.html") else k) for k in exported}
    assert set(stored) - {"site/.feedsvc-deploy.json"} == expected
    assert not any(k.endswith(".gz") for k in stored) and "site/index.html" in stored
    assert f"uploaded {len(expected)}, deleted 0, unchanged 0" in output

    def head(key: str) -> tuple[dict, bytes]:
        got = bucket.get_object(Bucket=BUCKET, Key="site/" + key)
        return got, gzip.decompress(got["Body"].read())

    feed, body = head("feeds/all.atom")
    assert feed["ContentType"] == "application/atom+xml; charset=utf-8" and feed["ContentEncoding"] == "gzip"
    assert feed["CacheControl"] == "public, max-age=300" and body == read(out / "feeds/all.atom")
    page, body = head("feeds/all")  # the feed's page: a key without .html
    assert page["ContentType"] == "text/html; charset=utf-8" and body == (out / "feeds/all.html").read_bytes()
    article = next(k for k in exported if k.startswith("articles/"))
    assert head(article[:-5])[1] == (out / article).read_bytes()
    pages = sorted(int(k.rsplit("/", 1)[1].split(".")[0]) for k in exported if k.startswith("feeds/all/_archive/")
                   and k.endswith(".rss"))
    oldest, body = head(f"feeds/all/_archive/{pages[0]}.rss")  # exported as .gz alone: sent as it is
    assert oldest["CacheControl"] == "public, max-age=604800, immutable" and oldest["ContentEncoding"] == "gzip"
    assert body == read(out / f"feeds/all/_archive/{pages[0]}.rss")
    assert head(f"feeds/all/_archive/{pages[-1]}.rss")[0]["CacheControl"] == "public, max-age=300"  # still filling
    assert head("opml.xml")[0]["ContentType"] == "text/x-opml; charset=utf-8"


def test_a_second_deploy_uploads_nothing_and_one_edit_uploads_a_handful(tmp_path: Path, s3: str, bucket) -> None:  # noqa: ANN001
    config = s3_site(tmp_path, s3)
    assert run(config)[0] == 0
    before = {k: v["LastModified"] for k, v in keys(bucket).items()}
    time.sleep(1.1)  # S3 times have whole seconds: a rewritten object would show a later one
    code, output = run(config)
    assert code == 0 and "uploaded 0, deleted 0, unchanged" in output, output
    assert {k: v["LastModified"] for k, v in keys(bucket).items()} == before
    post = next((tmp_path / "corpus").rglob("*.md"))
    post.write_text(post.read_text(encoding="utf-8").replace("title:", "title: Edited", 1), encoding="utf-8")
    code, output = run(config)
    uploaded = int(output.split("uploaded ", 1)[1].split(",", 1)[0])
    assert code == 0 and 0 < uploaded <= 60 < len(before), output  # its page, the feeds and pages it is in


def test_a_stray_object_is_deleted_and_too_many_deletes_are_refused(tmp_path: Path, s3: str, bucket) -> None:  # noqa: ANN001
    config = s3_site(tmp_path, s3)
    assert run(config)[0] == 0
    for n in range(3):
        bucket.put_object(Bucket=BUCKET, Key=f"site/stray-{n}.html", Body=b"old")
    code, output = run(config, "--max-deletes", "2")
    assert code == 1 and "3 objects would be deleted, more than max_deletes (2)" in output
    assert "site/stray-0.html" in keys(bucket)
    code, output = run(config, "--max-deletes", "2", "--force")
    assert code == 0 and "deleted 3" in output
    assert not any("stray" in k for k in keys(bucket))


def test_a_deploy_killed_halfway_finishes_on_the_next_run(tmp_path: Path, s3: str, bucket,  # noqa: ANN001
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    from feedsvc.ops import deploy as deploy_module

    config = s3_site(tmp_path, s3)
    real, done = deploy_module.Target.put, []

    def dies_after_ten(self, item) -> None:  # noqa: ANN001
        if len(done) >= 10:
            raise ConnectionError("the network went away")
        real(self, item)
        done.append(item.key)

    monkeypatch.setattr(deploy_module.Target, "put", dies_after_ten)
    code, output = run(config)
    assert code == 1 and "the next deploy carries on" in output
    assert 10 <= len(keys(bucket)) < 50  # whole objects, no more
    monkeypatch.setattr(deploy_module.Target, "put", real)
    code, output = run(config)
    assert code == 0, output
    uploaded = int(output.split("uploaded ", 1)[1].split(",", 1)[0])
    assert uploaded < len(keys(bucket)) - 1  # what the killed run put there is not sent again
    assert "uploaded 0," in run(config)[1]


def test_a_folder_target_holds_every_url_and_a_second_deploy_writes_nothing(tmp_path: Path) -> None:
    target, out = tmp_path / "bucket", tmp_path / "state/export"
    config = site(tmp_path, f"file://{target}")
    code, output = run(config)
    assert code == 0, output
    assert (target / "feeds/all.json").read_bytes() == (out / "feeds/all.json").read_bytes()  # deploy.gzip: false
    archived = files(out, "feeds/all/_archive/*.json")
    assert archived and not archived[0].is_file()  # the export holds an archive page as .gz alone...
    assert (target / archived[0].relative_to(out)).read_bytes() == read(archived[0])  # ...the target as it is read
    # a folder keeps the file names (a category's page and its children's folder cannot share one)
    assert (target / "feeds/all.html").is_file() and (target / "index.html").is_file()
    assert not list(target.rglob("*.gz"))
    times = {p: p.stat().st_mtime_ns for p in target.rglob("*")}
    code, output = run(config)
    assert code == 0 and "uploaded 0, deleted 0" in output
    assert {p: p.stat().st_mtime_ns for p in target.rglob("*") if p.name != ".feedsvc-deploy.json"} == \
        {p: t for p, t in times.items() if p.name != ".feedsvc-deploy.json"}


def test_the_invalidate_hook_gets_the_changed_paths(tmp_path: Path) -> None:
    seen = tmp_path / "purged"
    hook = tmp_path / "purge.sh"
    hook.write_text(f'#!/bin/sh\nprintf "%s\\n" "$@" >> {seen}\n', encoding="utf-8")
    hook.chmod(0o755)
    config = site(tmp_path, f"file://{tmp_path / 'bucket'}", f"  invalidate: ['{hook}']\n")
    assert run(config)[0] == 0
    purged = seen.read_text(encoding="utf-8").split()
    assert "/feeds/all.atom" in purged and "/index.html" in purged and "/feeds/all.html" in purged


def test_deploy_without_a_target_says_so(tmp_path: Path) -> None:
    config = site(tmp_path, "file:///unused")
    config.write_text(config.read_text(encoding="utf-8").split("deploy:")[0], encoding="utf-8")
    code, output = run(config)
    assert code == 2 and "deploy.target is not set" in output


def test_serve_with_a_target_puts_a_new_article_in_the_bucket(tmp_path: Path, s3: str, bucket) -> None:  # noqa: ANN001
    corpus = tmp_path / "articles"
    shutil.copytree(REAL, corpus)
    live = LiveServer(tmp_path, corpus, extra_yaml=f"deploy: {{target: 's3://{BUCKET}/live', endpoint: '{s3}',"
                                                   " region: us-east-1}\n").start()
    try:
        wait_for(lambda: "live/feeds/all.atom" in keys(bucket), timeout=60)
        (corpus / "new.md").write_text("---\ntitle: Fresh from serve\ndate: 2030-01-01 10:00\n---\n<p>new</p>\n",
                                       encoding="utf-8")

        def arrived() -> bool:
            body = bucket.get_object(Bucket=BUCKET, Key="live/feeds/all.atom")["Body"].read()
            return b"Fresh from serve" in body

        wait_for(arrived, timeout=60)
        assert live.health()["status"] == "ok"
    finally:
        live.stop()


def test_feeds_are_uploaded_after_the_pages_they_link_to_and_the_index_last(tmp_path: Path) -> None:
    from feedsvc.config import load_config
    from feedsvc.ops.deploy import local_items, plan

    config = site(tmp_path, f"file://{tmp_path / 'bucket'}")
    assert run(config, "--dry-run")[0] == 0
    items = local_items(tmp_path / "state" / "export", load_config(str(config)))
    order = [item.key for item in plan(items, {}, {}).uploads]
    linked = [i for i, k in enumerate(order) if "." not in k.rsplit("/", 1)[-1] or "_archive" in k]  # pages, archives
    feeds = [i for i, k in enumerate(order) if k.endswith((".rss", ".atom", ".json")) and "_archive" not in k]
    assert linked and feeds and max(linked) < min(feeds)
    assert order[-2:] == ["index.html", "opml.xml"]
