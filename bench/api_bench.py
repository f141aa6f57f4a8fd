"""API load benchmark: 20 and 50 concurrent clients against a local server on the Chicago
data, on SQLite and on PostgreSQL.

Builds a Chicago database from ../shared in a temporary directory (`hotspot load-chicago`),
adds a commander and a grid worker whose grids are three busy Chicago police beats (Chicago
has no management grids; the beats are stored as areas of kind "grid"), a published plan and
a few hundred check-ins, then measures two load modes, each on a fresh server (waitress, 8
threads, in a subprocess) after the same warm-up: locust headless with 20 users logged in
through /login (10 commanders, 10 grid workers) on /api/cells, /api/cells/<hex>,
/api/incidents/aggregate, /api/plans and /api/checkins (grid workers also post check-ins,
with the CSRF header):

- think time: about 1 s between a user's requests (an analyst's script, a dashboard polling);
- no think time: each user sends its next request as soon as the last one is answered (a
  closed-loop stress test: the rate is whatever the server and locust manage on this machine).

Requests are measured for 30 s from the moment every user has logged in (log-ins are scrypt
password checks, ~0.15 s of CPU each, and are not API requests). Prints requests, failures
and p50/p95/p99 per endpoint and overall against issue #5's target (API p95 <= 200 ms with
20 concurrent clients), and the CPU seconds the server and locust used (they share the
machine's cores).

Then the same with 50 users (25 commanders, 25 grid workers) and no think time against
`hotspot serve --processes 2` (two waitress processes on one address, plan jobs in their
worker threads): first on the SQLite database, for comparison, then on PostgreSQL, issue
#17's target (API p95 <= 200 ms with 50 users without think time, two server processes on
PostgreSQL). The PostgreSQL server is a throwaway one made with initdb and pg_ctl in a
temporary folder (``tests/postgres.py``, as bench/import_bench.py makes it: a unix socket,
durability on: fsync, synchronous commit, full-page writes); the Chicago data is loaded into
it with the same `hotspot load-chicago`, then ANALYZEd (what autovacuum does after a load on
a production server; the throwaway server has autovacuum off). The CPU seconds of each
server process and of PostgreSQL's processes are printed too.

`--think`, `--no-think`, `--sqlite-50` or `--postgres` runs those modes only. Run with
`make bench`.
"""

from __future__ import annotations

import csv
import os
import resource
import socket
import subprocess
import sys
import tempfile
import textwrap
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from verdicts import verdict  # noqa: E402  (bench/verdicts.py)

from web import storage  # noqa: E402

SHARED = REPO.parent / "shared"
BIN = Path(sys.executable).parent
TARGET_P95_MS = 200.0
RUN_S = 30  # measured seconds, after every user has logged in
SERVER_THREADS = 8
GRID_BEATS = 3
PASSWORD = "bench-password"
# The test cluster's settings with durability back on: the figure is a production server's.
DURABLE = {"fsync": "on", "synchronous_commit": "on", "full_page_writes": "on"}


@dataclass(frozen=True)
class Mode:
    """One load: the users, their mean seconds between requests (uniform 0.5x..1.5x; 0 is
    the closed-loop stress), the database, and the server: ``processes`` None is waitress
    in one subprocess (the original runs), a number is `hotspot serve --processes N`."""

    users: int
    think_s: float
    database: str  # "SQLite" or "PostgreSQL"
    processes: int | None
    target: str  # the target line's words ("" for issue #5's)

    @property
    def login_allowance_s(self) -> float:
        """Locust runs this much longer than RUN_S: each log-in is ~0.15 s of scrypt."""
        return 10.0 + 0.3 * self.users


TARGET_17 = "API p95 <= 200 ms with 50 users without think time, two server processes on"
MODES = {
    "think": Mode(20, 1.0, "SQLite", None, ""),
    "no-think": Mode(20, 0.0, "SQLite", None, ""),
    "sqlite-50": Mode(50, 0.0, "SQLite", 2, f"{TARGET_17} SQLite (for comparison)"),
    "postgres": Mode(50, 0.0, "PostgreSQL", 2, f"{TARGET_17} PostgreSQL"),
}

LOCUSTFILE = textwrap.dedent(
    '''
    """Locust users for bench/api_bench.py: commanders and grid workers on the JSON API."""

    import random
    import re
    import time

    import gevent
    from locust import HttpUser, between, constant, events, task
    from locust.exception import StopUser

    GROUPS = ["all", "burglary", "violent"]
    BY = ["day", "week", "month", "hour", "weekday", "category", "cell"]
    MONTHS = ["2018-04", "2018-05", "2018-06", "2018-07"]
    LAST_DAY = {"2018-04": 30, "2018-05": 31, "2018-06": 30, "2018-07": 31}


    SAMPLES = []  # (name, ms, failed, seconds since all logged in): API requests, RUN_S long
    LOGGED_IN = []  # one entry per user whose log-in finished
    GAVE_UP = []  # one entry per user whose log-in was refused five times
    MEASURE = {"start": None, "loaded": time.time()}


    @events.request.add_listener
    def _record(name, response_time, exception, **_kwargs):
        if name == "setup" or MEASURE["start"] is None:
            return
        at = time.time() - MEASURE["start"]
        if at <= %(run_s)f:
            SAMPLES.append((name, response_time, exception is not None, at))


    @events.quitting.add_listener
    def _save(**_kwargs):
        with open("samples.csv", "w") as handle:
            handle.write("name,ms,failed,at_s\\n")
            for name, ms, failed, at in SAMPLES:
                handle.write(f"{name},{ms:.3f},{int(failed)},{at:.3f}\\n")
        with open("login.txt", "w") as handle:  # seconds from start-up to all logged in
            start = MEASURE["start"]
            handle.write(f"{start - MEASURE['loaded'] if start else -1:.3f}\\n")
            handle.write(f"{len(GAVE_UP)}\\n")


    def month_range():
        month = random.choice(MONTHS)
        return f"start={month}-01&end={month}-{LAST_DAY[month]:02d}"


    class ApiUser(HttpUser):
        abstract = True
        # Each user waits about THINK seconds between requests (none: a closed-loop stress).
        wait_time = between(%(think)f / 2, %(think)f * 1.5) if %(think)f > 0 else constant(0)
        username = ""

        def on_start(self):
            # A script logs in and goes on with the API: the 302 to the role's home (a map
            # page) is not followed. A refused log-in (a 503 under load) is retried a few
            # times; each refusal counts as a failed "setup" request in locust's summary.
            for _attempt in range(5):
                page = self.client.get("/login", name="setup").text
                token = re.search(r'name="csrf-token" content="([^"]+)"', page).group(1)
                done = self.client.post("/login", name="setup", allow_redirects=False, data={
                    "username": self.username, "password": "%(password)s",
                    "csrf_token": token})
                if done.status_code == 302:
                    break
                gevent.sleep(0.5)
            else:
                GAVE_UP.append(self.username)
                self.wait_for_everyone()
                raise StopUser()
            me = self.client.get("/api/session", name="setup").json()
            self.csrf = me["csrf_token"]
            self.cells = me["cells"] or []
            top = self.client.get("/api/cells?limit=300", name="setup").json()["cells"]
            self.hot = [c["cell"] for c in top] or self.cells
            LOGGED_IN.append(self.username)
            self.wait_for_everyone()

        def wait_for_everyone(self):
            if len(LOGGED_IN) + len(GAVE_UP) == %(users)d:
                MEASURE["start"] = time.time()
            # Everyone starts together: early users would otherwise load the server while
            # the last ones still wait for their password checks.
            while len(LOGGED_IN) + len(GAVE_UP) < %(users)d:
                gevent.sleep(0.05)

        @task(4)
        def cells(self):
            query = [f"group={random.choice(GROUPS)}", "limit=200"]
            if random.random() < 0.5:
                query.append(month_range())
            self.client.get("/api/cells?" + "&".join(query), name="/api/cells")

        @task(4)
        def one_cell(self):
            self.client.get(f"/api/cells/{random.choice(self.hot)}", name="/api/cells/<hex>")

        @task(4)
        def aggregate(self):
            query = f"by={random.choice(BY)}&group={random.choice(GROUPS)}"
            if random.random() < 0.5:
                query += "&" + month_range()
            self.client.get("/api/incidents/aggregate?" + query, name="/api/incidents/aggregate")

        @task(2)
        def plans(self):
            self.client.get("/api/plans", name="/api/plans")

        @task(2)
        def checkins(self):
            self.client.get("/api/checkins?limit=100", name="/api/checkins")


    class Commander(ApiUser):
        fixed_count = %(half)d
        username = "bench-commander"


    class GridWorker(ApiUser):
        fixed_count = %(half)d
        username = "bench-grid"

        @task(1)
        def check_in(self):
            self.client.post(
                "/api/checkins",
                json={"cell": random.choice(self.cells), "visited_at": int(time.time()) - 60,
                      "minutes": 15, "note": "bench"},
                headers={"X-CSRFToken": self.csrf},
                name="POST /api/checkins",
            )
    '''
)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def load_chicago(env: dict[str, str]) -> float:
    start = time.perf_counter()
    result = subprocess.run(
        [str(BIN / "hotspot"), "load-chicago", "--shared", str(SHARED)],
        env=env,
        capture_output=True,
        text=True,
    )
    if result.returncode != 0:
        sys.exit(f"hotspot load-chicago failed:\n{result.stdout}\n{result.stderr}")
    return time.perf_counter() - start


def add_accounts_and_plans(url: str) -> tuple[list[str], int]:
    """Commander, grid worker on the busiest beats, a published plan and check-ins."""
    from werkzeug.security import generate_password_hash

    engine = storage.make_engine(url)
    beats = storage.load_areas_table(engine, "beat")
    beat_cells = storage.load_area_cells(engine, "beat")
    counts = storage.cell_counts(engine)
    chosen = storage.busiest_areas(engine, "beat")[:GRID_BEATS]
    grids = beats[beats["area_id"].isin(chosen)].assign(
        area_id=lambda f: "B" + f["area_id"].astype(str), name=lambda f: "beat " + f["name"]
    )
    grid_cells = beat_cells[beat_cells["area_id"].isin(chosen)].assign(
        area_id=lambda f: "B" + f["area_id"].astype(str)
    )
    storage.store_areas(engine, "grid", grids, grid_cells, source="bench: busiest beats")
    hashed = generate_password_hash(PASSWORD)
    storage.create_user(engine, "bench-commander", hashed, "commander")
    worker = storage.create_user(engine, "bench-grid", hashed, "grid_worker")
    storage.set_user_grids(engine, worker, list(grids["area_id"]))
    cells = np.sort(grid_cells["cell"].to_numpy(dtype=np.int64))
    # A published plan for today: 40 stops over the city, some in the worker's cells.
    rng = np.random.default_rng(7)
    city = counts.sort_values("n", ascending=False)["cell"].to_numpy()[:200]
    stops = np.concatenate([rng.choice(city, 30, replace=False), rng.choice(cells, 10)])
    now = int(time.time())
    visits = pd.DataFrame(
        {
            "unit_id": [f"U{i % 8 + 1:02d}" for i in range(len(stops))],
            "seq": np.arange(1, len(stops) + 1),
            "cell": stops,
            "start_at": now + np.arange(len(stops)) * 600,
            "end_at": now + np.arange(len(stops)) * 600 + 900,
            "value": rng.uniform(1, 5, len(stops)),
        }
    )
    plan_id = storage.store_plan(
        engine,
        plan_date=time.strftime("%Y-%m-%d"),
        shift="day",
        created_by=None,
        shift_start=now,
        seed=7,
        request={},
        summary={"units": 8, "stops": len(stops)},
        plan_json="{}",
        geojson="{}",
        gpx="",
        csv="",
        visits=visits,
    )
    storage.publish_plan(engine, plan_id, None)
    for i in range(300):
        storage.add_checkin(
            engine, worker, int(cells[i % len(cells)]), now - i * 1800, 15, note="seeded"
        )
    engine.dispose()
    return chosen, len(cells)


def start_server(
    env: dict[str, str], port: int, log: Path, processes: int | None
) -> subprocess.Popen:
    """The server in a subprocess: waitress over the app factory (``processes`` None) or
    `hotspot serve --processes N`; returns once it answers."""
    if processes is None:
        command = [
            sys.executable,
            "-c",
            "from waitress import serve; from web import create_app; "
            f"serve(create_app(), host='127.0.0.1', port={port}, threads={SERVER_THREADS})",
        ]
    else:
        command = [str(BIN / "hotspot"), "serve", "--host", "127.0.0.1", "--port", str(port),
                   "--processes", str(processes), "--threads", str(SERVER_THREADS)]  # fmt: skip
    # The log goes to a file: waitress warns on stderr for every queued request under load,
    # and an unread pipe fills up and stalls the server (the run then measures the stall).
    with log.open("w") as handle:
        server = subprocess.Popen(
            command, env=env, cwd=REPO, stdout=handle, stderr=subprocess.STDOUT
        )
    import requests

    deadline = time.time() + 120
    while time.time() < deadline:
        if server.poll() is not None:
            sys.exit(f"the server stopped:\n{log.read_text()[-5000:]}")
        try:
            if requests.get(f"http://127.0.0.1:{port}/login", timeout=2).status_code == 200:
                return server
        except requests.ConnectionError:
            time.sleep(0.3)
    server.terminate()
    sys.exit("the server did not answer within 120 s")


def login_session(base: str, username: str, fresh_connections: bool = False):
    """A logged-in session; with ``fresh_connections`` each request opens its own connection
    (so the requests of a warm-up reach every server process, not one)."""
    import re

    import requests

    session = requests.Session()
    if fresh_connections:
        session.headers["Connection"] = "close"
    page = session.get(f"{base}/login").text
    token = re.search(r'name="csrf-token" content="([^"]+)"', page).group(1)
    response = session.post(
        f"{base}/login",
        data={"username": username, "password": PASSWORD, "csrf_token": token},
        allow_redirects=False,
    )
    if response.status_code != 302:
        sys.exit(f"could not log in as {username}: {response.status_code}")
    return session


def warm_up(base: str, processes: int | None) -> float:
    """Load the site data and fill the score, count, day and Gi* caches the run uses (in
    every server process: with several, each request on its own connection, the whole list
    once more than there are processes, two clients at a time)."""
    from concurrent.futures import ThreadPoolExecutor

    start = time.perf_counter()
    rounds = 1 if processes is None else processes + 1
    jobs = [("bench-commander", "bench-grid")[i % 2] for i in range(2 * rounds)]
    with ThreadPoolExecutor(2) as pool:
        list(pool.map(lambda name: warm_up_once(base, name, processes is not None), jobs))
    return time.perf_counter() - start


def warm_up_once(base: str, username: str, fresh_connections: bool) -> None:
    months = ["", "&start=2018-04-01&end=2018-04-30", "&start=2018-05-01&end=2018-05-31",
              "&start=2018-06-01&end=2018-06-30", "&start=2018-07-01&end=2018-07-31"]  # fmt: skip
    session = login_session(base, username, fresh_connections)
    for group in ("all", "burglary", "violent"):
        for month in months:
            for url in (f"/api/cells?group={group}&limit=200{month}",
                        f"/api/incidents/aggregate?by=day&group={group}{month}"):  # fmt: skip
                response = session.get(base + url)
                if response.status_code != 200:
                    sys.exit(f"warm-up {url}: {response.status_code} {response.text[:300]}")
    top = session.get(f"{base}/api/cells?limit=1").json()["cells"]
    session.get(f"{base}/api/cells/{top[0]['cell']}")
    session.get(f"{base}/api/plans")
    session.get(f"{base}/api/checkins")


def run_locust(
    tmp: Path, base: str, mode: Mode
) -> tuple[pd.DataFrame, float, tuple[float, int], dict, float]:
    """Run locust headless; returns the measured requests, the measured seconds, the seconds
    the log-ins took with the users whose log-in was refused five times, locust's aggregated
    row (log-ins included) and locust's CPU seconds."""
    locustfile = tmp / "locustfile.py"
    locustfile.write_text(
        LOCUSTFILE
        % {"password": PASSWORD, "half": mode.users // 2, "think": mode.think_s,
           "users": mode.users, "run_s": RUN_S}
    )  # fmt: skip
    prefix = tmp / "locust"
    for stale in (tmp / "samples.csv", tmp / "login.txt", tmp / "locust_stats.csv"):
        stale.unlink(missing_ok=True)
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    result = subprocess.run(
        [str(BIN / "locust"), "-f", str(locustfile), "--headless", "-u", str(mode.users),
         "-r", str(mode.users), "-t", f"{RUN_S + mode.login_allowance_s:.0f}s",
         "--host", base, "--csv", str(prefix), "--only-summary", "--loglevel", "WARNING",
         "--stop-timeout", "5"],
        capture_output=True,
        text=True,
        cwd=tmp,
    )  # fmt: skip
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    locust_cpu_s = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    samples = tmp / "samples.csv"
    stats = tmp / "locust_stats.csv"
    if not samples.exists() or not stats.exists():
        sys.exit(f"locust failed ({result.returncode}):\n{result.stdout}\n{result.stderr}")
    frame = pd.read_csv(samples)
    if frame.empty:
        sys.exit(f"no request measured (did every user log in?):\n{result.stderr[-2000:]}")
    # RUN_S, or less when locust stopped first (slow log-ins): the last measured request.
    window_s = min(float(RUN_S), float(frame["at_s"].max()))
    login_s, gave_up = (float(v) for v in (tmp / "login.txt").read_text().split())
    with stats.open(newline="") as handle:
        aggregated = next(r for r in csv.DictReader(handle) if r["Name"] == "Aggregated")
    return frame, window_s, (login_s, int(gave_up)), aggregated, locust_cpu_s


def report(samples: pd.DataFrame, window_s: float) -> tuple[float, float, str]:
    """Print requests, failures, p50/p95/p99, the rate and each endpoint's share of all the
    waiting (its requests' summed milliseconds) per endpoint and overall; returns the overall
    p95 and the slowest endpoint's p95 with its name."""
    print(f"  {'endpoint':<28}{'requests':>9}{'failures':>9}{'p50 ms':>8}{'p95 ms':>8}"
          f"{'p99 ms':>8}{'req/s':>8}{'time %':>8}")  # fmt: skip
    worst = (0.0, "")
    overall = float("nan")
    total_ms = float(samples["ms"].sum())
    groups = [(name, frame) for name, frame in samples.groupby("name", sort=True)]
    for name, frame in [*groups, ("overall", samples)]:
        p50, p95, p99 = np.percentile(frame["ms"].to_numpy(), [50, 95, 99])
        share = 100.0 * float(frame["ms"].sum()) / total_ms
        print(f"  {name:<28}{len(frame):>9}{int(frame['failed'].sum()):>9}{p50:>8.0f}"
              f"{p95:>8.0f}{p99:>8.0f}{len(frame) / window_s:>8.1f}{share:>8.1f}")  # fmt: skip
        if name != "overall":
            worst = max(worst, (float(p95), str(name)))
        else:
            overall = float(p95)
    return overall, worst[0], worst[1]


def cpu_seconds(process) -> float:
    times = process.cpu_times()
    return times.user + times.system


class CpuMeter:
    """CPU seconds of the server's processes (each one) and of PostgreSQL's, between
    :meth:`start` and :meth:`stop` (processes that end in between are not counted)."""

    def __init__(self, server_pid: int, postmaster_pid: int | None) -> None:
        import psutil

        self.server = psutil.Process(server_pid)
        self.postmaster = psutil.Process(postmaster_pid) if postmaster_pid else None
        self.before: dict[int, float] = {}

    def _processes(self) -> dict[int, tuple[str, object]]:
        found = {self.server.pid: ("server", self.server)}
        for child in self.server.children(recursive=True):
            found[child.pid] = ("server", child)
        if self.postmaster is not None:
            found[self.postmaster.pid] = ("postgres", self.postmaster)
            for child in self.postmaster.children(recursive=True):
                found[child.pid] = ("postgres", child)
        return found

    def _read(self) -> dict[int, tuple[str, float]]:
        import psutil

        read = {}
        for pid, (kind, process) in self._processes().items():
            try:
                read[pid] = (kind, cpu_seconds(process))
            except psutil.NoSuchProcess:
                pass
        return read

    def start(self) -> None:
        self.before = self._read()

    def stop(self) -> tuple[list[float], float]:
        """Each server process's CPU seconds (the biggest first) and PostgreSQL's in all."""
        server, postgres = [], 0.0
        for pid, (kind, now) in self._read().items():
            used = now - self.before.get(pid, (kind, 0.0))[1]
            if kind == "server":
                server.append(used)
            else:
                postgres += used
        return sorted(server, reverse=True), postgres


def run_mode(tmp: Path, env: dict[str, str], name: str, postmaster: int | None) -> float:
    """One load mode on a fresh, warmed server; prints its table and returns the overall p95."""
    mode = MODES[name]
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    log = tmp / f"server-{name}.log"
    server = start_server(env, port, log, mode.processes)
    try:
        warm_s = warm_up(base, mode.processes)
        meter = CpuMeter(server.pid, postmaster)
        meter.start()
        load_before = os.getloadavg()[0]
        try:
            samples, window_s, logins, aggregated, locust_cpu_s = run_locust(tmp, base, mode)
        except SystemExit:
            print(f"the server's log ends:\n{log.read_text(errors='replace')[-3000:]}")
            raise
        load_after = os.getloadavg()[0]
        server_cpu, postgres_cpu = meter.stop()
    finally:
        server.terminate()
        server.wait(timeout=30)
    login_s, gave_up = logins
    think = f"think time {mode.think_s:g} s" if mode.think_s else "no think time"
    if mode.processes is None:
        serving = f"waitress, 1 process, {SERVER_THREADS} threads"
    else:
        serving = (f"hotspot serve --processes {mode.processes}, {SERVER_THREADS} threads "
                   "each")  # fmt: skip
    print(f"\n  mode: {name} ({think}, {mode.database}, {serving}); warm-up {warm_s:.1f} s "
          f"(site data, scores, counts, Gi*; not measured)")  # fmt: skip
    print(f"  load                {mode.users} users ({mode.users // 2} commanders, "
          f"{mode.users // 2} grid workers), measured {window_s:.0f} s once all had logged "
          f"in (after {login_s:.1f} s); {os.cpu_count()} CPUs shared with locust; load "
          f"average {load_before:.2f} before, {load_after:.2f} after")  # fmt: skip
    overall, worst_p95, worst_name = report(samples, window_s)
    met = verdict(overall <= TARGET_P95_MS)
    print(f"  overall p95 {overall:.0f} ms, target <= {TARGET_P95_MS:.0f} ms: {met}; slowest "
          f"endpoint p95 {worst_p95:.0f} ms ({worst_name})")  # fmt: skip
    processes = ", ".join(f"{s:.1f}" for s in server_cpu)
    postgres = f", PostgreSQL {postgres_cpu:.1f} s" if postmaster else ""
    print(
        f"  CPU during the locust run (log-ins included): server {sum(server_cpu):.1f} s "
        f"(per process: {processes}){postgres}, locust {locust_cpu_s:.1f} s; locust's own "
        f"summary (log-ins included): {aggregated['Request Count']} requests, "
        f"{aggregated['Failure Count']} failures, p95 {aggregated['95%']} ms"
    )
    refusals(log, gave_up)
    if mode.target:
        print(f"  {mode.target}: {met}")
    return overall


def refusals(log: Path, gave_up: int) -> None:
    """Print the requests the server answered 503 because of a database error (the site's
    outage handler logs each), by cause, and the users that could not log in."""
    import collections

    causes = collections.Counter(
        line.split("database unavailable for ", 1)[1].strip()[:200]
        for line in log.read_text(errors="replace").splitlines()
        if "database unavailable for" in line
    )
    if gave_up:
        print(f"  users whose log-in was refused five times (left out): {gave_up}")
    for cause, count in causes.most_common(3):
        print(f"  503 (database error) x{count}: {cause}")


def bench_env(url: str) -> dict[str, str]:
    # Fifty users log in from one address within seconds: login throttling (what it does is
    # not measured here) is raised as bench/abuse_bench.py raises it.
    return {**os.environ, "HOTSPOT_DATABASE_URL": url,
            "HOTSPOT_SECRET_KEY": "bench-" + os.urandom(16).hex(),
            "HOTSPOT_LOGIN_MAX_FAILURES": "1000"}  # fmt: skip


def prepare(env: dict[str, str], url: str, database: str) -> None:
    load_s = load_chicago(env)
    if database == "PostgreSQL":
        engine = storage.make_engine(url)
        with engine.connect() as conn:
            conn.execution_options(isolation_level="AUTOCOMMIT").exec_driver_sql("ANALYZE")
        engine.dispose()
    beats, n_cells = add_accounts_and_plans(url)
    print(f"\n  {database}: database built {load_s:.1f} s (hotspot load-chicago"
          f"{', then ANALYZE' if database == 'PostgreSQL' else ''}); grid worker: beats "
          f"{', '.join(map(str, beats))} as grids ({n_cells} cells)")  # fmt: skip


def postmaster_pid(cluster) -> int:
    return int((cluster.data_dir / "postmaster.pid").read_text().split()[0])


def run_postgres(tmp: Path, names: list[str]) -> dict[str, float]:
    """The modes on PostgreSQL: a new throwaway server with durability on, removed after."""
    from tests import postgres

    postgres.SETTINGS = {**postgres.SETTINGS, **DURABLE}
    cluster = postgres.Cluster()
    try:
        cluster.start()
        url = cluster.create_database()
        env = bench_env(url)
        prepare(env, url, "PostgreSQL")
        pid = postmaster_pid(cluster)
        return {name: run_mode(tmp, env, name, pid) for name in names}
    finally:
        cluster.stop()


def main() -> None:
    if not (SHARED / "data" / "incidents" / "chicago").is_dir():
        sys.exit(f"no Chicago data in {SHARED}/data/incidents/chicago")
    chosen = [m for m in MODES if f"--{m}" in sys.argv[1:]] or list(MODES)
    print("API load benchmark: Chicago 2016-01 .. 2018-07 (../shared/data), local servers")
    print(f"  {os.cpu_count()} CPU cores, load average {os.getloadavg()[0]:.2f} at the start")
    results: dict[str, float] = {}
    with tempfile.TemporaryDirectory() as tmp_dir:
        tmp = Path(tmp_dir)
        on_sqlite = [name for name in chosen if MODES[name].database == "SQLite"]
        if on_sqlite:
            url = f"sqlite:///{tmp / 'chicago.db'}"
            env = bench_env(url)
            prepare(env, url, "SQLite")
            results.update({name: run_mode(tmp, env, name, None) for name in on_sqlite})
        on_postgres = [name for name in chosen if MODES[name].database == "PostgreSQL"]
        if on_postgres:
            try:
                results.update(run_postgres(tmp, on_postgres))
            except Exception as err:  # noqa: BLE001 - a missing server is reported
                print(f"\n  PostgreSQL: not measured: {err}")
    print()
    for name, p95 in results.items():
        mode = MODES[name]
        target = mode.target or f"API p95 <= 200 ms with {mode.users} concurrent clients"
        print(f"  {name:<10} overall p95 {p95:>6.0f} ms; {target}: "
              f"{verdict(p95 <= TARGET_P95_MS)}")  # fmt: skip


if __name__ == "__main__":
    main()
