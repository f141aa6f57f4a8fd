"""Scale benchmark: the site on ten times Chicago (6.8 million incidents) and on Chicago.

Builds each database once and keeps it in ``instance/bench/`` (later runs reuse it; delete
the folder to rebuild): the Chicago data of ../shared through the product's import path,
``hotspot load-chicago`` (boundaries, stations, the 31 monthly files), then for 10x the same
31 files imported nine more times with ``hotspot import --preset chicago --source
chicago-copy-N`` (a record id is unique within its source, so every copy's records get new
keys and are stored again). A database is built in a folder of its own that is renamed
only when complete, so an interrupted build is never reused.

Then, for each scale, in a fresh server process (the Flask app with its test client, as
bench/map_bench.py, logged in as an administrator): the cold first request of the
commander's map (/command/hotspots; it loads the site data, reported separately), the
process's peak resident memory just after it (VmHWM, /proc/self/status; the whole process:
Python, libraries, data and the request's scoring), and the map request scoring each time
(score, layer and answer caches cleared before each of 20 requests, median and p95). Prints
the figures against the targets of issue #11: peak <= 1 GB, first map <= 5 s and map with
scoring <= 0.3 s median at 10x. Run with `make bench`; ``--scales 10`` for one scale.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import textwrap
import time
from pathlib import Path

from verdicts import verdict  # noqa: E402  (bench/verdicts.py)

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"
CACHE = REPO / "instance" / "bench"
# `hotspot` of this tree (not of whichever tree the virtualenv was installed from).
HOTSPOT = [sys.executable, "-c", f"import sys; sys.path.insert(0, {str(REPO)!r}); "
           "from web.cli import cli; cli(prog_name='hotspot')"]  # fmt: skip
TARGET_PEAK_BYTES = 2**30
TARGET_FIRST_S = 5.0
TARGET_SCORING_S = 0.3
REQUESTS = 20
USERNAME = "bench-admin"
PASSWORD = "bench-admin-password"

# Runs in a fresh process: one server's first map request and its scoring requests.
MEASURE = textwrap.dedent(
    """
    import json, statistics, sys, time

    sys.path.insert(0, {repo!r})
    from werkzeug.security import generate_password_hash

    from web import create_app, storage
    from web.services import site_data

    url, requests = {url!r}, {requests}
    app = create_app({{"DATABASE_URL": url, "WTF_CSRF_ENABLED": False}})
    engine = app.extensions["engine"]
    if storage.get_user_by_name(engine, {username!r}) is None:
        storage.create_user(engine, {username!r}, generate_password_hash({password!r}), "admin")
    client = app.test_client()
    login = client.post("/login", data={{"username": {username!r}, "password": {password!r}}})
    assert login.status_code == 302, login.status_code
    loads = []
    load_site_data = site_data.load_site_data

    def timed_load(*args):
        start = time.perf_counter()
        data = load_site_data(*args)
        loads.append(time.perf_counter() - start)
        return data

    site_data.load_site_data = timed_load


    def get(path):
        start = time.perf_counter()
        response = client.get(path)
        assert response.status_code == 200, (path, response.status_code)
        return time.perf_counter() - start


    def peak_bytes():
        for line in open("/proc/self/status"):
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024


    first_s = get("/command/hotspots")
    peak = peak_bytes()
    data = site_data.site_data(engine)
    get("/command/hotspots")  # warm-up
    scoring = []
    for _ in range(requests):
        site_data.clear_caches()
        scoring.append(get("/command/hotspots"))
    scoring.sort()
    print(json.dumps({{
        "incidents": data.n_incidents, "first_s": first_s, "load_s": loads[0],
        "peak_bytes": peak, "peak_after_scoring_bytes": peak_bytes(),
        "scoring_median_s": statistics.median(scoring),
        "scoring_p95_s": scoring[min(len(scoring) - 1, round(0.95 * (len(scoring) - 1)))],
    }}))
    """
)


def hotspot(url: str, *args: str) -> None:
    env = {**os.environ, "HOTSPOT_DATABASE_URL": url}
    result = subprocess.run([*HOTSPOT, *args], env=env, capture_output=True, text=True)
    if result.returncode != 0:
        sys.exit(f"hotspot {' '.join(args[:3])} failed:\n{result.stdout}\n{result.stderr}")
    lines = [line for line in result.stdout.splitlines() if "imported" in line]
    if lines:
        print(f"  {lines[-1].strip()}")


def database(scale: int, cache: Path) -> str:
    """The URL of the scale's database, built first when it is not there yet."""
    folder = cache / f"chicago-{scale}x"
    path = folder / "chicago.db"
    if path.exists():
        hotspot(f"sqlite:///{path}", "init-db")  # a schema newer than the kept database's
        return f"sqlite:///{path}"
    building = cache / f"chicago-{scale}x.building"
    shutil.rmtree(building, ignore_errors=True)
    building.mkdir(parents=True)
    url = f"sqlite:///{building / 'chicago.db'}"
    files = sorted(str(p) for p in (SHARED / "data" / "incidents" / "chicago").glob("*.csv.gz"))
    print(f"building the {scale}x database in {building} (once; later runs reuse it)")
    start = time.perf_counter()
    hotspot(url, "load-chicago", "--shared", str(SHARED))
    for copy in range(2, scale + 1):
        hotspot(url, "import", "--preset", "chicago", "--source", f"chicago-copy-{copy}", *files)
    print(f"  built in {time.perf_counter() - start:.0f} s")
    building.rename(folder)
    return f"sqlite:///{path}"


def measure(url: str) -> dict:
    code = MEASURE.format(
        repo=str(REPO), url=url, requests=REQUESTS, username=USERNAME, password=PASSWORD
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    if result.returncode != 0:
        sys.exit(f"measurement failed:\n{result.stdout}\n{result.stderr[-3000:]}")
    return json.loads(result.stdout.strip().splitlines()[-1])


def report(scale: int, figures: dict) -> None:
    targeted = scale >= 10
    peak, first, median = (
        figures["peak_bytes"],
        figures["first_s"],
        figures["scoring_median_s"],
    )

    def target(ok: bool, text: str) -> str:
        return f"  target {text}  {verdict(ok)}" if targeted else ""

    print(f"\n{scale}x Chicago: {figures['incidents']:,} incidents")
    print(
        f"peak memory after the first map {peak / 2**20:>8.0f} MB"
        + target(peak <= TARGET_PEAK_BYTES, "<= 1024 MB")
    )
    print(
        f"first map request (cold)        {first:>8.2f} s "
        f"(loading the site data {figures['load_s']:.2f} s)"
        + target(first <= TARGET_FIRST_S, f"<= {TARGET_FIRST_S:g} s")
    )
    print(
        f"map request, scoring each time  {median:>8.3f} s median, "
        f"{figures['scoring_p95_s']:.3f} s p95 over {REQUESTS}"
        + target(median <= TARGET_SCORING_S, f"<= {TARGET_SCORING_S} s")
    )
    print(f"peak memory after scoring       {figures['peak_after_scoring_bytes'] / 2**20:>8.0f} MB")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--scales", default="1,10", help="comma-separated, e.g. 10")
    parser.add_argument("--cache", type=Path, default=CACHE, help="where the databases are kept")
    args = parser.parse_args()
    if not (SHARED / "data" / "incidents" / "chicago").is_dir():
        sys.exit(f"Chicago data not found under {SHARED}")
    for scale in (int(s) for s in args.scales.split(",")):
        report(scale, measure(database(scale, args.cache)))


if __name__ == "__main__":
    main()
