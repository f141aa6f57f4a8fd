"""Hotspot map benchmark: the commander's city-wide map of Chicago at resolution 9.

Builds a Chicago database from ../shared in a temporary folder (`hotspot load-chicago`),
creates an admin account and, with the Flask test client logged in, measures
/command/hotspots: page bytes raw and gzip-compressed on the wire, the cells JSON, and the
server time (median and p95 over 20 requests after one warm-up, the cold first request
reported separately). "Scoring each time" clears the score and layer caches before every
request, so each one scores the city again; that is the figure the target is about. Prints
the figures against the targets of issue #5 item 9. Run with `make bench`.
"""

from __future__ import annotations

import gzip
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from click.testing import CliRunner  # noqa: E402
from verdicts import verdict  # noqa: E402  (bench/verdicts.py)

SHARED = REPO.parent / "shared"
TARGET_PAGE_BYTES = 1_500_000
TARGET_WIRE_BYTES = 400_000
TARGET_SERVER_S = 0.3
REQUESTS = 20
USERNAME = "bench-admin"
PASSWORD = "bench-admin-password"


def build_database(url: str) -> None:
    from web.cli import cli

    runner = CliRunner()
    env = {"HOTSPOT_DATABASE_URL": url}
    for args in (["load-chicago", "--shared", str(SHARED)],):
        result = runner.invoke(cli, args, env=env)
        if result.exit_code != 0:
            sys.exit(f"hotspot {' '.join(args)} failed:\n{result.output}")
        print(result.output.strip())


def timed(client, path: str, *, before=None) -> tuple[float, object]:
    if before is not None:
        before()
    start = time.perf_counter()
    response = client.get(path, headers={"Accept-Encoding": "gzip"})
    elapsed = time.perf_counter() - start
    if response.status_code != 200:
        sys.exit(f"{path}: HTTP {response.status_code}\n{response.data[:500]!r}")
    return elapsed, response


def p95(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]


def main() -> None:
    if not (SHARED / "data" / "incidents" / "chicago").is_dir():
        sys.exit(f"Chicago data not found under {SHARED}")
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{tmp}/chicago.db"
        os.environ["HOTSPOT_DATABASE_URL"] = url
        start = time.perf_counter()
        build_database(url)
        print(f"database built in {time.perf_counter() - start:.1f} s\n")

        from werkzeug.security import generate_password_hash

        from web import create_app, storage
        from web.services import site_data as hotspot_data

        app = create_app({"DATABASE_URL": url, "WTF_CSRF_ENABLED": False})
        engine = app.extensions["engine"]
        storage.create_user(engine, USERNAME, generate_password_hash(PASSWORD), "admin")
        client = app.test_client()
        login = client.post("/login", data={"username": USERNAME, "password": PASSWORD})
        if login.status_code != 302:
            sys.exit(f"login failed: HTTP {login.status_code}")

        page = "/command/hotspots"
        cold_s, response = timed(client, page)
        wire = response.data
        raw = gzip.decompress(wire) if response.headers.get("Content-Encoding") == "gzip" else wire
        cells_s, cells = timed(client, "/command/cells.json")
        cells_wire = cells.data
        cells_raw = (
            gzip.decompress(cells_wire)
            if cells.headers.get("Content-Encoding") == "gzip"
            else cells_wire
        )
        data = cells.get_json(force=True) if not cells_raw else __import__("json").loads(cells_raw)
        n_cells = len(data["cells"])

        timed(client, page)  # warm-up
        warm = [timed(client, page)[0] for _ in range(REQUESTS)]
        scoring = [
            timed(client, page, before=hotspot_data.clear_caches)[0] for _ in range(REQUESTS)
        ]
        cells_scoring = [
            timed(client, "/command/cells.json", before=hotspot_data.clear_caches)[0]
            for _ in range(REQUESTS)
        ]

        print(
            f"Chicago hotspot map, H3 res {data['resolution']}: {n_cells} cells sent "
            f"({data['study_cells']} study cells), {data['total']} incidents "
            f"{data['start']}..{data['end']}"
        )
        print(
            f"page bytes raw          {len(raw):>10,}   target <= {TARGET_PAGE_BYTES:,}  "
            f"{verdict(len(raw) <= TARGET_PAGE_BYTES)}"
        )
        print(
            f"page bytes gzip (wire)  {len(wire):>10,}   target <= {TARGET_WIRE_BYTES:,}  "
            f"{verdict(len(wire) <= TARGET_WIRE_BYTES)}"
        )
        print(f"cells JSON raw / gzip   {len(cells_raw):>10,} / {len(cells_wire):,}")
        print(f"cold first page request {cold_s:>10.3f} s  (loads 690k incidents; not targeted)")
        print(f"cells JSON, first       {cells_s:>10.3f} s")
        median = statistics.median(scoring)
        print(
            f"page, scoring each time {median:>10.3f} s median, {p95(scoring):.3f} s p95 over "
            f"{REQUESTS}   target <= {TARGET_SERVER_S} s  "
            f"{verdict(median <= TARGET_SERVER_S)}"
        )
        print(
            f"page, caches warm       {statistics.median(warm):>10.3f} s median, "
            f"{p95(warm):.3f} s p95"
        )
        print(
            f"cells JSON, scoring     {statistics.median(cells_scoring):>10.3f} s median, "
            f"{p95(cells_scoring):.3f} s p95"
        )
        engine.dispose()


if __name__ == "__main__":
    main()
