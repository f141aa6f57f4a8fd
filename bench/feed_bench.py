"""Live feed benchmark (issue 13): a month of Chicago incidents replayed through the feed
while 20 site users browse the API.

Builds a Chicago database from ../shared in a temporary directory (`hotspot load-chicago`,
with the accounts, grids, plan and check-ins of bench/api_bench.py), creates a feed token,
and serves the site with waitress (8 threads) in a subprocess. While locust's 20 users (10
commanders, 10 grid workers, about 1 s between requests: bench/api_bench.py's "think"
mode) use the API, one client replays July 2018 (the last month of the data, in time order,
as a dispatch system sends it) through ``POST /api/feed/incidents`` in JSON batches of 500
rows under the source name ``dispatch-1``, for at most 60 s. A second client watches
``/api/incidents/aggregate`` for July and times how long each batch's stored rows take to be
counted there. Afterwards it checks the database (rows of the sources = stored, none twice)
and sends the first pass again (nothing may change).

Prints against the targets of issue #13: feed throughput >= 2,000 incidents/s stored, feed
POST p95 <= 1 s, site API p95 <= 200 ms during the replay, POST-to-counted p95 <= 5 s, rows
= sent - rejected, re-sending changes nothing. Run with `make bench`.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
import pandas as pd

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))

import api_bench  # noqa: E402  (the database, accounts, server and locust users)

from web import storage  # noqa: E402

SHARED = REPO.parent / "shared"
MONTH_FILE = SHARED / "data" / "incidents" / "chicago" / "chicago_crimes_2018-07.csv.gz"
SOURCE = "dispatch"
BATCH_ROWS = 500
REPLAY_S = 60.0
TARGET_RATE = 2000.0
# The replay sends at the target rate plus the month's share of rejected rows (0.5 %), so a
# server that keeps up stores 2,000 incidents a second; a short run after it sends as fast as
# the server answers, for the most one client gets through.
PACE_ROWS_PER_S = 2050.0
MAX_RUN_S = 20.0
TARGET_POST_P95_S = 1.0
TARGET_API_P95_MS = 200.0
TARGET_VISIBLE_P95_S = 5.0
JULY = "start=2018-07-01&end=2018-07-31"


def month_rows() -> list[dict[str, str]]:
    """July 2018's rows as the dispatch system would send them: in time order, as text."""
    frame = pd.read_csv(MONTH_FILE, dtype=str, keep_default_na=False)
    when = pd.to_datetime(frame["Date"], format="%m/%d/%Y %I:%M:%S %p")
    frame = frame.iloc[np.argsort(when.to_numpy(), kind="stable")]
    return frame.to_dict("records")


def make_token(url: str) -> str:
    from web.storage.tokens import create_token

    engine = storage.make_engine(url)
    _record, token = create_token(engine, "bench-feed", "feed")
    engine.dispose()
    return token


class Replay:
    """The feeding client and the watching client, with what they measured."""

    def __init__(
        self, base: str, token: str, rows: list[dict], watcher, prefix: str = SOURCE
    ) -> None:
        import requests

        self.base, self.rows, self.watcher, self.prefix = base, rows, watcher, prefix
        self.session = requests.Session()
        self.session.headers["Authorization"] = f"Bearer {token}"
        self.posts: list[float] = []  # seconds per POST
        self.outcomes: dict[str, int] = {}
        self.visible: list[float] = []  # seconds from a POST's answer to its rows counted
        self.sent = 0
        self.started = self.finished = 0.0
        self._expected: list[tuple[float, int]] = []  # (answer time, July total to reach)
        self._done = threading.Event()

    def july_total(self) -> int:
        answer = self.watcher.get(f"{self.base}/api/incidents/aggregate?by=month&{JULY}")
        answer.raise_for_status()
        return int(answer.json()["total"])

    def post(self, batch: list[dict], source: str) -> dict:
        body = {"source": source, "crs": "wgs84", "preset": "chicago", "incidents": batch}
        start = time.perf_counter()
        answer = self.session.post(f"{self.base}/api/feed/incidents", json=body, timeout=60)
        self.posts.append(time.perf_counter() - start)
        if answer.status_code != 200:
            sys.exit(f"feed POST answered {answer.status_code}: {answer.text[:500]}")
        return answer.json()

    def feed(self, delay_s: float, rows_per_s: float | None, seconds: float) -> None:
        """Send batches for ``seconds``: at ``rows_per_s`` (a batch when it is due), or as
        fast as the server answers (None)."""
        time.sleep(delay_s)  # until every locust user has logged in
        total = self.july_total()
        self.started = time.perf_counter()
        for n, (source, at) in enumerate(self.batches()):
            if time.perf_counter() - self.started > seconds:
                break
            if rows_per_s:
                due = self.started + n * BATCH_ROWS / rows_per_s
                time.sleep(max(0.0, due - time.perf_counter()))
            batch = self.rows[at : at + BATCH_ROWS]
            outcome = self.post(batch, source)
            self.sent += len(batch)
            for row in outcome["outcomes"]:
                self.outcomes[row["outcome"]] = self.outcomes.get(row["outcome"], 0) + 1
            total += outcome["totals"]["stored"]
            self._expected.append((time.perf_counter(), total))
        self.finished = time.perf_counter()
        self._done.set()

    def batches(self):
        """(source, first row) of each batch: the month, then again as the next centre's."""
        for n in range(1, 1000):
            for at in range(0, len(self.rows), BATCH_ROWS):
                yield f"{self.prefix}-{n}", at

    def watch(self) -> None:
        """Time each batch's rows to being counted by the API (polled every 0.1 s)."""
        while not (self._done.is_set() and not self._expected):
            if not self._expected:
                time.sleep(0.05)
                continue
            total = self.july_total()
            now = time.perf_counter()
            while self._expected and self._expected[0][1] <= total:
                answered, _ = self._expected.pop(0)
                self.visible.append(now - answered)
            time.sleep(0.1)


def p95(values) -> float:
    return float(np.percentile(np.asarray(values, dtype=float), 95)) if len(values) else 0.0


def main() -> None:
    if not MONTH_FILE.exists():
        sys.exit(f"no Chicago data at {MONTH_FILE}")
    rows = month_rows()
    with tempfile.TemporaryDirectory() as tmp_dir:
        tmp = Path(tmp_dir)
        url = f"sqlite:///{tmp / 'chicago.db'}"
        env = {**os.environ, "HOTSPOT_DATABASE_URL": url,
               "HOTSPOT_SECRET_KEY": "bench-" + os.urandom(16).hex(),
               "HOTSPOT_LOGIN_MAX_FAILURES": "1000", "HOTSPOT_SCORE_INTERVAL_MIN": "0"}  # fmt: skip
        load_s = api_bench.load_chicago(env)
        api_bench.add_accounts_and_plans(url)
        token = make_token(url)
        port = api_bench.free_port()
        base = f"http://127.0.0.1:{port}"
        server = api_bench.start_server(env, port, tmp / "server.log")
        try:
            warm_s = api_bench.warm_up(base)
            watcher = api_bench.login_session(base, "bench-commander")
            replay = Replay(base, token, rows, watcher)
            api_bench.RUN_S = int(REPLAY_S)
            feeder = threading.Thread(
                target=replay.feed,
                args=(api_bench.LOGIN_ALLOWANCE_S, PACE_ROWS_PER_S, REPLAY_S),
            )
            watching = threading.Thread(target=replay.watch)
            feeder.start()
            watching.start()
            samples, window_s, *_ = api_bench.run_locust(tmp, base, api_bench.MODES["think"])
            feeder.join()
            watching.join(timeout=30)
            engine = storage.make_engine(url)
            stored = _source_rows(engine)
            again = Replay(base, token, rows[: replay.sent], watcher)
            again_outcomes: dict[str, int] = {}
            for at in range(0, len(again.rows), BATCH_ROWS):
                answer = again.post(again.rows[at : at + BATCH_ROWS], f"{SOURCE}-1")
                for row in answer["outcomes"]:
                    again_outcomes[row["outcome"]] = again_outcomes.get(row["outcome"], 0) + 1
            stored_again = _source_rows(engine)
            fastest = Replay(base, token, rows, watcher, prefix=f"{SOURCE}-max")
            fastest.feed(0.0, None, MAX_RUN_S)
        finally:
            server.terminate()
            server.wait(timeout=30)
    _report(load_s, warm_s, replay, samples, window_s, stored, again_outcomes, stored_again)
    seconds = fastest.finished - fastest.started
    print(f"  one client, no pause {fastest.outcomes.get('stored', 0) / seconds:>6.0f} incidents/s "
          f"stored ({fastest.sent:,} rows in {seconds:.1f} s, POST p95 {p95(fastest.posts):.3f} s;"
          f" 20 users idle)")  # fmt: skip


def _source_rows(engine) -> tuple[int, int]:
    """(incidents of the feed's sources, distinct (source, record id) among them)."""
    import sqlalchemy as sa

    with engine.connect() as conn:
        row = conn.execute(
            sa.text(
                "SELECT count(*), count(DISTINCT r.source || ':' || i.source_id) FROM incidents i "
                "JOIN import_runs r ON r.id = i.import_run_id WHERE r.source LIKE :sources"
            ),
            {"sources": f"{SOURCE}-%"},
        ).one()
    return int(row[0]), int(row[1])


def _report(load_s, warm_s, replay, samples, window_s, stored, again, stored_again) -> None:
    verdict = api_bench.verdict
    seconds = max(replay.finished - replay.started, 1e-9)
    n_stored = replay.outcomes.get("stored", 0)
    rejected = replay.outcomes.get("rejected", 0)
    rate = n_stored / seconds
    api_p95 = p95(samples["ms"].to_numpy())
    print("Live feed benchmark: July 2018 of Chicago replayed through POST /api/feed/incidents")
    print(f"  database built      {load_s:>8.1f} s (hotspot load-chicago); warm-up {warm_s:.1f} s")
    print(f"  replay              paced at {PACE_ROWS_PER_S:,.0f} rows/s: {replay.sent:,} rows in "
          f"{len(replay.posts)} batches of {BATCH_ROWS} in {seconds:.1f} s; outcomes "
          f"{json.dumps(replay.outcomes)}")  # fmt: skip
    print(f"  feed throughput     {rate:>8.0f} incidents/s stored  target >= {TARGET_RATE:.0f}  "
          f"{verdict(rate >= TARGET_RATE)}")  # fmt: skip
    print(f"  feed POST           p50 {np.median(replay.posts):.3f} s, p95 {p95(replay.posts):.3f}"
          f" s  target p95 <= {TARGET_POST_P95_S:g} s  "
          f"{verdict(p95(replay.posts) <= TARGET_POST_P95_S)}")  # fmt: skip
    api_bench.report(samples, window_s)
    print(f"  site API (20 users) p95 {api_p95:.0f} ms over {len(samples)} requests in "
          f"{window_s:.0f} s, {int(samples['failed'].sum())} failed  target <= "
          f"{TARGET_API_P95_MS:.0f} ms  {verdict(api_p95 <= TARGET_API_P95_MS)}")  # fmt: skip
    visible = p95(replay.visible)
    print(f"  POST to counted     p50 {np.median(replay.visible or [0]):.2f} s, p95 "
          f"{visible:.2f} s over {len(replay.visible)} batches  target p95 <= "
          f"{TARGET_VISIBLE_P95_S:g} s  {verdict(visible <= TARGET_VISIBLE_P95_S)}")  # fmt: skip
    # Every row sent is stored, updates an earlier one of the month (a record id sent twice)
    # or is rejected; the source's rows are the stored ones, each record id once.
    kept = replay.sent - rejected
    answered = n_stored + replay.outcomes.get("updated", 0) + replay.outcomes.get("unchanged", 0)
    rows_ok = stored[0] == n_stored == stored[1] and answered == kept
    print(f"  database            {stored[0]:,} rows of sources {SOURCE}-* ({stored[1]:,} distinct"
          f" ids); sent - rejected = {kept:,}  {verdict(rows_ok)}")  # fmt: skip
    same = stored_again == stored and set(again) <= {"unchanged", "rejected"}
    print(f"  {SOURCE}-1 sent again outcomes {json.dumps(again)}; rows {stored_again[0]:,}  "
          f"{verdict(same)}")  # fmt: skip


if __name__ == "__main__":
    main()
