"""What `feedsvc deploy` costs against a real S3 API on 127.0.0.1 (moto's server, started here):
objects and bytes for N generated articles, the time of a first deploy, of a deploy with nothing
changed, and of one after one article was edited. Then the library choice: the same objects put
through obstore (what feedsvc uses) and through boto3 (what fsspec's s3fs is built on), with the
same number of threads, alternating rounds. moto is a Python server, so the times are moto's as
much as ours: compare the columns of one run, not with a cloud.

    python bench/deploy.py [-n 10000] [--sample 500] [--rounds 3]
"""

from __future__ import annotations

import argparse
import logging
import os
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

HERE = Path(__file__).parent
sys.path[:0] = [str(HERE), str(HERE.parent)]

from generate import generate  # noqa: E402
from runs import write_config  # noqa: E402

from feedsvc.ops.deploy import exported_files  # noqa: E402

BUCKET = "feeds-bench"


def deploy(config: Path) -> tuple[float, str]:
    started = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "feedsvc", "deploy", "--config", str(config)], capture_output=True,
                          text=True, check=True)
    return time.perf_counter() - started, done.stderr.strip().splitlines()[-1]


def puts(files: list[tuple[str, bytes]], put, threads: int = 16) -> float:  # noqa: ANN001
    started = time.perf_counter()
    with ThreadPoolExecutor(threads) as pool:
        list(pool.map(lambda item: put(*item), files))
    return time.perf_counter() - started


def compare_libraries(endpoint: str, out: Path, sample: int, rounds: int) -> None:
    import boto3
    import obstore
    from obstore.store import from_url

    files = [(p.relative_to(out).as_posix(), p.read_bytes()) for p in sorted(out.rglob("*.gz"))[:sample]]
    store = from_url(f"s3://{BUCKET}/obstore", endpoint=endpoint, region="us-east-1", client_options={"allow_http": True})
    client = boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1")
    import_cost = subprocess.run([sys.executable, "-X", "importtime", "-c", "import obstore.store"], capture_output=True,
                                 text=True).stderr
    ours, theirs = [], []
    for _ in range(rounds):
        ours.append(puts(files, lambda key, body: obstore.put(store, key, body,
                                                              attributes={"Content-Type": "application/rss+xml"})))
        theirs.append(puts(files, lambda key, body: client.put_object(Bucket=BUCKET, Key="boto3/" + key, Body=body,
                                                                      ContentType="application/rss+xml")))
    boto_import = subprocess.run([sys.executable, "-X", "importtime", "-c", "import boto3; boto3.client"],
                                 capture_output=True, text=True).stderr

    def cumulative_ms(trace: str, module: str) -> float:
        lines = [line for line in trace.splitlines() if line.rstrip().endswith(f" {module}")]
        return int(lines[-1].split("|")[1]) / 1000 if lines else float("nan")

    print(f"{len(files)} objects put with 16 threads, medians of {rounds} alternating rounds:"
          f" obstore {statistics.median(ours):.2f} s, boto3 {statistics.median(theirs):.2f} s"
          f" (obstore / boto3 {statistics.median(o / t for o, t in zip(ours, theirs, strict=True)):.2f});"
          f" import: obstore.store {cumulative_ms(import_cost, 'obstore.store'):.0f} ms,"
          f" boto3 {cumulative_ms(boto_import, 'boto3'):.0f} ms")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", "--count", type=int, default=10_000)
    parser.add_argument("--sample", type=int, default=500, help="objects in the library comparison")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    import boto3
    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # moto's server logs every request
    os.environ.update(AWS_ACCESS_KEY_ID="bench", AWS_SECRET_ACCESS_KEY="bench", AWS_DEFAULT_REGION="us-east-1")
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    try:
        host, port = server.get_host_and_port()
        endpoint = f"http://{host}:{port}"
        boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1").create_bucket(Bucket=BUCKET)
        with tempfile.TemporaryDirectory(prefix="feedsvc-deploy-bench-") as tmp:
            root = Path(tmp)
            generate(root / "articles", args.count)
            config = write_config(root, root / "articles",
                                  f"deploy:\n  target: s3://{BUCKET}/site\n  endpoint: {endpoint}\n  region: us-east-1\n"
                                  "  gzip: true\n")
            subprocess.run([sys.executable, "-m", "feedsvc", "build", "--config", str(config), "--out",
                            str(root / "state" / "export")], check=True, capture_output=True)
            first, summary = deploy(config)
            out = root / "state" / "export"
            objects = exported_files(out)
            sent = sum(file.stat().st_size for plain, gz in objects.values() if (file := gz or plain))
            print(f"{args.count} articles: {len(objects)} objects, {sent / 1e6:.1f} MB sent gzipped")
            print(f"first deploy (after a build): {first:.1f} s ({summary})")
            again, summary = deploy(config)
            print(f"nothing changed: {again:.2f} s ({summary})")
            post = next((root / "articles").rglob("*.md"))
            post.write_text(post.read_text(encoding="utf-8").replace("title:", "title: Edited", 1), encoding="utf-8")
            edited, summary = deploy(config)
            print(f"one article edited (scan, export, deploy): {edited:.2f} s ({summary})")
            compare_libraries(endpoint, out, args.sample, args.rounds)
    finally:
        server.stop()


if __name__ == "__main__":
    main()
