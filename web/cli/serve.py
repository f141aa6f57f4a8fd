"""``hotspot serve``: the site under waitress, in one process or several.

With ``--processes N`` the command binds the address once and forks N server processes that
accept on it, each with its own app and database connections (sessions, login throttling,
data versions and plan jobs are in the database, so every process agrees). It restarts a
server process that dies, and stops them all on Ctrl-C or SIGTERM. The first process queues
the scheduled score runs and, after new data, the warning refreshes (jobs: any worker runs
them; several ``hotspot serve`` on one database queue one score run per interval between
them, and at most one of each kind waits at a time).

Jobs (plans, score runs, warning refreshes) run in worker threads of the server processes
unless ``HOTSPOT_WORKERS=external`` says separate ``hotspot worker`` processes take them.
"""

from __future__ import annotations

import os
import signal
import socket
import sys
import time

import click

from web import storage
from web.cli._common import fail

# A server process that dies is started again after this pause (a crash loop stays slow).
RESTART_PAUSE_S = 1.0
_processes = 1  # server processes of this `hotspot serve` (their children know it)


@click.command("serve")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", type=click.IntRange(0, 65535), default=5000, show_default=True)
@click.option(
    "--processes",
    type=click.IntRange(1, 64),
    default=1,
    show_default=True,
    help="server processes accepting on the address (each with --threads threads)",
)
@click.option("--threads", type=click.IntRange(1, 256), default=8, show_default=True)
def serve_command(host: str, port: int, processes: int, threads: int) -> None:
    """Serve the site with waitress (printing the demo logins when the demo is loaded)."""
    from web.services import plan_jobs

    app = _checked_app()
    if processes == 1:
        click.echo(f"serving on http://{host}:{port}")
        _serve(app, 0, threads, host=host, port=port)
        return
    # The parent only binds and watches: each process makes its own app and connections,
    # with one session key (development makes a random one per process otherwise).
    os.environ.setdefault("HOTSPOT_SECRET_KEY", str(app.config["SECRET_KEY"]))
    app.extensions["engine"].dispose()
    del app
    listener = socket.create_server((host, port), backlog=1024)
    listener.set_inheritable(True)
    bound = listener.getsockname()[1]
    external = plan_jobs.external_workers()
    where = "in `hotspot worker` processes" if external else "in the server processes"
    click.echo(f"serving on http://{host}:{bound} with {processes} processes "
               f"(jobs run {where})")  # fmt: skip
    _supervise(listener, processes, threads)


def _checked_app():
    """The app, after checking the database is ready and no demo account is served in
    production."""
    from web import create_app
    from web.config import ConfigError
    from web.services.demo import demo_logins

    try:
        app = create_app()
    except ConfigError as err:  # production without a strong secret, with demo accounts...
        fail(str(err))
    engine = app.extensions["engine"]
    if storage.current_revision(engine) is None:
        fail("the database is empty: run `hotspot init-db` (or `make run`) first")
    logins = demo_logins(engine)
    if logins and app.config["ENV"] == "production":
        fail("demo accounts exist; disable or delete them before serving in production")
    if logins:
        click.echo("demo logins (user / password / role):")
        for username, password, role in logins:
            click.echo(f"  {username:<10} {password:<16} {role}")
    elif not storage.list_users(engine).shape[0]:
        click.echo("no accounts yet: create one with `hotspot users add NAME --role admin`")
    return app


def _serve(app, index: int, threads: int, **where) -> None:
    """Serve ``app`` as server process ``index`` (0 queues the scheduled jobs) until
    stopped."""
    from waitress import serve

    from web.services import plan_jobs

    engine = app.extensions["engine"]
    _warm_up(engine)
    if not plan_jobs.external_workers():
        # One solver per core in all: the processes share the embedded workers out. Score
        # runs and warning refreshes have a worker of their own in each process, so they
        # never wait behind a solve.
        count = max(1, plan_jobs.WORKERS // _processes)
        plan_jobs.start_embedded_workers(engine, count, kinds=plan_jobs.KINDS)
        plan_jobs.start_background_worker(engine)
    if index == 0:
        _start_schedules(app)

    def stop(_signum, _frame) -> None:
        raise SystemExit(0)

    # Stopping on purpose (SIGTERM, Ctrl-C): the plan jobs running here go back to the queue
    # at once, for another worker, instead of waiting to be found without a heartbeat.
    signal.signal(signal.SIGTERM, stop)
    try:
        serve(app, threads=threads, **where)
    except KeyboardInterrupt:
        pass
    finally:
        released = plan_jobs.release_jobs()
        if released:
            click.echo(f"{released} plan job(s) given back to the queue", err=True)


def _start_schedules(app) -> None:
    """Queue a score run every ``SCORE_INTERVAL_MIN`` minutes, and a warning refresh soon
    after new data (the workers run them)."""
    engine = app.extensions["engine"]
    interval = float(app.config["SCORE_INTERVAL_MIN"])
    if interval > 0:
        from web.services.score_runs import ScoreSchedule

        ScoreSchedule(engine, interval).start()
        click.echo(f"forecast scores recomputed every {interval:g} min")
    from web.services.warnings import WarningRefresher

    # Early warnings follow new data within about 2 s, off the feed's request path.
    WarningRefresher(engine).start()


def _supervise(listener: socket.socket, processes: int, threads: int) -> None:
    """Fork ``processes`` servers on ``listener``; start again any that dies; stop them all
    on SIGTERM or Ctrl-C."""
    global _processes
    _processes = processes
    children: dict[int, int] = {}  # pid -> index
    stopping = False

    def stop(_signum, _frame) -> None:
        nonlocal stopping
        stopping = True
        for pid in children:
            try:
                os.kill(pid, signal.SIGTERM)
            except ProcessLookupError:
                pass

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    for index in range(processes):
        children[_fork(listener, index, threads)] = index
    while children:
        try:
            pid, status = os.wait()
        except ChildProcessError:
            break
        except InterruptedError:  # pragma: no cover - Python retries os.wait itself
            continue
        index = children.pop(pid, -1)
        if index < 0 or stopping:
            continue
        click.echo(f"server process {index} (pid {pid}) ended ({_why(status)}); starting it "
                   "again", err=True)  # fmt: skip
        time.sleep(RESTART_PAUSE_S)
        if not stopping:
            children[_fork(listener, index, threads)] = index
    listener.close()


def _why(status: int) -> str:
    if os.WIFSIGNALED(status):
        return f"signal {os.WTERMSIG(status)}"
    return f"exit status {os.waitstatus_to_exitcode(status)}"


def _fork(listener: socket.socket, index: int, threads: int) -> int:
    """Start server process ``index`` on ``listener``; returns its pid (in the parent)."""
    sys.stdout.flush()  # or the child would print what the parent had not yet
    sys.stderr.flush()
    pid = os.fork()
    if pid:
        return pid
    # The child: its own signal handling (_serve's) and its own app.
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    signal.signal(signal.SIGINT, signal.default_int_handler)
    code = 0
    try:
        from web import create_app

        _serve(create_app(), index, threads, sockets=[listener])
    except SystemExit as end:
        code = end.code if isinstance(end.code, int) else 1
    except BaseException:  # noqa: BLE001 - the parent logs and restarts it
        import traceback

        traceback.print_exc()
        code = 1
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
    os._exit(code)


def _warm_up(engine) -> None:
    """Load the incidents into memory in the background, so the first map is not slow."""
    import threading

    from web.services import site_data as hotspot_data

    def load() -> None:
        try:
            hotspot_data.site_data(engine)
        except ValueError as err:  # e.g. no boundary yet: the pages say so themselves
            click.echo(f"note: map data not loaded: {err}", err=True)

    threading.Thread(target=load, name="warm-up", daemon=True).start()
