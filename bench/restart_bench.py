"""Restart benchmark: a plan job's result survives a server restart (issue #17).

On the demo database (`hotspot demo --seed 7` into a temporary SQLite file, then into a
database on a throwaway PostgreSQL server made as the tests make one, tests/postgres.py),
`hotspot serve` runs as a real process (the embedded default, as `make run` serves: its
worker threads take the jobs). The demo planner logs in through /login and asks for a day
plan through /plans/new, as a browser does; then:

(a) while the job solves, the server is killed with SIGKILL (its whole process group: the
    solver too, as when the machine loses power) and started again: the job, left
    "running" by a dead worker, is retried by the new server once its heartbeat is older
    than the stale limit (30 s) and ends done on its second attempt. Printed: the restart
    (kill to first answer), and kill to the job done.
(b) after a job ended done, the server is stopped (SIGTERM) and started again: the plan's
    page and its API answer (/plans/<id>, /api/plans/<id>) with the same plan, the
    planner's session still valid (sessions are rows). Printed: the restart and the fetch.

Prints "survives restart: met" when both hold, "NOT met" with the reason otherwise.
`--sqlite` or `--postgres` runs one database only; `--time-limit S` sets the plan's solver
limit (default 15 s). Run with `make bench`.
"""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from verdicts import verdict  # noqa: E402  (bench/verdicts.py)

from web import storage  # noqa: E402
from web.services import plan_jobs  # noqa: E402
from web.storage import jobs as job_store  # noqa: E402

# The CLI of this checkout (as the tests start it), whichever copy the virtualenv installed.
HOTSPOT = [sys.executable, "-c", "from web.cli import cli; cli()"]
PLANNER = ("planner", "planner-demo")  # the demo's planner (web/services/demo.py)
ANSWER_S = 120.0  # for a server to answer after it starts
JOB_S = 600.0  # for a job to end (a retried one waits 30 s for its heartbeat to go stale)
SECRET = "restart-bench-" + "k" * 50  # one session key across restarts, as in production


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@dataclass
class Server:
    """`hotspot serve` in its own process group, its output in a log file."""

    env: dict[str, str]
    port: int
    log: Path
    process: subprocess.Popen | None = None

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> float:
        """Start it; returns the seconds until it answers /login."""
        import requests

        started = time.perf_counter()
        with self.log.open("a") as handle:
            self.process = subprocess.Popen(
                [*HOTSPOT, "serve", "--port", str(self.port)], env=self.env,
                cwd=REPO, stdout=handle, stderr=subprocess.STDOUT, start_new_session=True,
            )  # fmt: skip
        deadline = started + ANSWER_S
        while time.perf_counter() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"the server stopped:\n{self.log.read_text()[-3000:]}")
            try:
                if requests.get(f"{self.base}/login", timeout=5).status_code == 200:
                    return time.perf_counter() - started
            except requests.ConnectionError:
                time.sleep(0.2)
        raise RuntimeError(f"the server did not answer within {ANSWER_S:g} s")

    def kill(self) -> None:
        """SIGKILL to the server and everything it started (its solver children)."""
        assert self.process is not None
        os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait()

    def stop(self) -> None:
        """SIGTERM, as an administrator stops it; then anything left of its group is ended."""
        if self.process is None:
            return
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        try:
            os.killpg(self.process.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass


def login(base: str):
    """The demo planner's session, logged in through the login form."""
    import requests

    session = requests.Session()
    page = session.get(f"{base}/login", timeout=30).text
    token = re.search(r'name="csrf-token" content="([^"]+)"', page).group(1)
    sent = session.post(f"{base}/login", allow_redirects=False, timeout=30,
                        data={"username": PLANNER[0], "password": PLANNER[1],
                              "csrf_token": token})  # fmt: skip
    if sent.status_code != 302:
        raise RuntimeError(f"could not log in as {PLANNER[0]}: {sent.status_code}")
    return session


def submit_plan(session, base: str, days_ahead: int) -> str:
    """Ask for a day plan (the form's defaults) through /plans/new; returns its job's URL."""
    form_page = session.get(f"{base}/plans/new", timeout=60).text
    token = re.search(r'name="csrf_token" value="([^"]+)"', form_page).group(1)
    form = {"date": (date.today() + timedelta(days=days_ahead)).isoformat(), "shift": "day",
            "units_per_station": "", "dwell_min": "15", "candidates": "300",
            "max_visits": "2", "csrf_token": token}  # fmt: skip
    answer = session.post(f"{base}/plans/new", data=form, timeout=120)
    if answer.status_code != 200 or 'data-job-url="' not in answer.text:
        raise RuntimeError(f"the plan was not started: {answer.status_code} {answer.text[:300]}")
    return base + answer.text.split('data-job-url="')[1].split('"')[0]


def poll(session, url: str, until, timeout_s: float = JOB_S) -> dict:
    """GET the job's JSON every 0.2 s until ``until(job)``; connection errors are retried
    (the server may be starting)."""
    import requests

    deadline = time.perf_counter() + timeout_s
    while time.perf_counter() < deadline:
        try:
            answer = session.get(url, timeout=30)
            if answer.status_code == 200 and until(answer.json()):
                return answer.json()
        except requests.ConnectionError:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"gave up after {timeout_s:g} s waiting on {url}")


def job_row(url: str, job_url: str) -> job_store.JobRecord:
    engine = storage.make_engine(url)
    try:
        record = job_store.get_job(engine, job_url.rsplit("/", 1)[-1])
    finally:
        engine.dispose()
    assert record is not None
    return record


def load_demo(env: dict[str, str]) -> float:
    started = time.perf_counter()
    for command in (["init-db"], ["demo", "--seed", "7"]):
        done = subprocess.run([*HOTSPOT, *command], env=env, cwd=REPO,
                              capture_output=True, text=True)  # fmt: skip
        if done.returncode != 0:
            raise RuntimeError(f"hotspot {command[0]} failed:\n{done.stdout}\n{done.stderr}")
    return time.perf_counter() - started


def measure(url: str, label: str, tmp: Path, time_limit_s: float) -> bool:
    """Both restarts on the database at ``url``; prints the figures; True when met."""
    env = {**os.environ, "HOTSPOT_DATABASE_URL": url, "HOTSPOT_SECRET_KEY": SECRET,
           "HOTSPOT_PLAN_TIME_LIMIT_S": f"{time_limit_s:g}",
           "HOTSPOT_LOGIN_MAX_FAILURES": "1000"}  # fmt: skip
    env.pop("HOTSPOT_WORKERS", None)  # the embedded default
    print(f"\n  {label}: demo loaded in {load_demo(env):.1f} s; plan limit {time_limit_s:g} s")
    server = Server(env, free_port(), tmp / f"serve-{label}.log")
    try:
        first_s = server.start()
        session = login(server.base)
        # (a) killed while it solves, started again: the job is retried and done.
        job_url = submit_plan(session, server.base, 20)
        solving = poll(
            session, job_url, lambda job: job["phase"] == "solving" or job["state"] != "running"
        )
        if solving["state"] != "running":
            raise RuntimeError(f"the job ended before it was killed: {solving}")
        server.kill()
        killed = time.perf_counter()
        restart_s = server.start()
        done = poll(session, job_url, lambda job: job["state"] != "running")
        retried_s = time.perf_counter() - killed
        row = job_row(url, job_url)
        retried = done["state"] == "done" and row.attempts == 2 and done["plan_id"] is not None
        print(f"  (a) kill -9 while solving: first start {first_s:.1f} s, restart {restart_s:.1f}"
              f" s; job {done['state']} after {retried_s:.1f} s from the kill (attempt "
              f"{row.attempts}, retried once its heartbeat was {plan_jobs.STALE_S:g} s old; "
              f"{row.error or 'no error'})")  # fmt: skip
        # (b) a finished job's plan, fetched after a stop and start.
        job_url = submit_plan(session, server.base, 21)
        finished = poll(session, job_url, lambda job: job["state"] != "running")
        plan_id = finished["plan_id"]
        before = session.get(f"{server.base}/api/plans/{plan_id}", timeout=60).json()
        server.stop()
        stopped = time.perf_counter()
        restart_s = server.start()
        fetch_started = time.perf_counter()
        page = session.get(f"{server.base}/plans/{plan_id}", timeout=120)
        after = session.get(f"{server.base}/api/plans/{plan_id}", timeout=60)
        fetch_s = time.perf_counter() - fetch_started
        same = page.status_code == 200 and after.status_code == 200 and after.json() == before
        print(f"  (b) stop after a job was done (plan {plan_id}, {finished['state']}): "
              f"restart {restart_s:.1f} s; plan page {page.status_code} and API "
              f"{after.status_code} {fetch_s:.2f} s later ({time.perf_counter() - stopped:.1f} s "
              f"from the stop); the same plan: {same}")  # fmt: skip
        ok = retried and same
        print(f"  {label}: a plan job's result survives a server restart: {verdict(ok)}")
        return ok
    except Exception as err:  # noqa: BLE001 - reported as not met, with the reason
        print(f"  {label}: survives restart: NOT met ({type(err).__name__}: {err})")
        print(server.log.read_text()[-2000:] if server.log.exists() else "")
        return False
    finally:
        server.stop()


def main() -> None:
    args = sys.argv[1:]
    time_limit_s = float(args[args.index("--time-limit") + 1]) if "--time-limit" in args else 15.0
    chosen = [name for name in ("sqlite", "postgres") if f"--{name}" in args]
    chosen = chosen or ["sqlite", "postgres"]
    print("Restart benchmark: the demo (seed 7), `hotspot serve` killed and restarted")
    print(f"  {os.cpu_count()} CPU cores, load average {os.getloadavg()[0]:.2f} at the start")
    results: list[bool] = []
    with tempfile.TemporaryDirectory() as tmp_dir:
        tmp = Path(tmp_dir)
        if "sqlite" in chosen:
            results.append(measure(f"sqlite:///{tmp / 'demo.db'}", "SQLite", tmp, time_limit_s))
        if "postgres" in chosen:
            try:
                from tests import postgres

                cluster = postgres.Cluster()
                cluster.start()
            except Exception as err:  # noqa: BLE001 - a missing server is reported
                print(f"\n  PostgreSQL: not measured: {err}")
                results.append(False)
            else:
                try:
                    url = cluster.create_database()
                    results.append(measure(url, "PostgreSQL", tmp, time_limit_s))
                finally:
                    cluster.stop()
    print(f"  load average {os.getloadavg()[0]:.2f} at the end")
    print(f"survives restart: {verdict(bool(results) and all(results))}")


if __name__ == "__main__":
    main()
