"""``hotspot worker``: a process that takes jobs from the database and runs them: plans and
re-plans, score runs and warning refreshes (every kind by default, or those of ``--kinds``)."""

from __future__ import annotations

import signal
import threading

import click

from web.cli._common import fail, pass_ctx
from web.services.workspace import Workspace


@click.command("worker")
@click.option(
    "--jobs",
    "threads",
    type=click.IntRange(1, 16),
    default=1,
    show_default=True,
    help="jobs run side by side (each solves in its own child process)",
)
@click.option(
    "--heartbeat",
    "heartbeat_s",
    type=click.FloatRange(0.2, 60),
    default=None,
    help="seconds between heartbeats [default: 2]",
)
@click.option(
    "--stale-after",
    "stale_after_s",
    type=click.FloatRange(1, 3600),
    default=None,
    help="seconds without a heartbeat after which a running job lost its worker and "
    "is retried or failed [default: 30]",
)
@click.option("--name", default=None, help="worker name in the job table [default: host:pid]")
@click.option(
    "--kinds",
    "kinds_text",
    default="all",
    show_default=True,
    help="the kinds of job to take, comma-separated: plan, replan, scores, warnings (or all)",
)
@pass_ctx
def worker_command(ctx: Workspace, threads: int, heartbeat_s: float | None,
                   stale_after_s: float | None, name: str | None,
                   kinds_text: str) -> None:  # fmt: skip
    """Take jobs from the database and run them until stopped (Ctrl-C or SIGTERM: the
    running jobs end first): plans, re-plans, score runs and warning refreshes. Run one or
    more beside `hotspot serve` with HOTSPOT_WORKERS=external; a job whose worker is killed
    is retried once by another."""
    from web import storage
    from web.services import plan_jobs

    kinds = _kinds(kinds_text, plan_jobs.ALL_KINDS)
    engine = ctx.engine
    if storage.current_revision(engine) is None:
        fail("the database is empty: run `hotspot init-db` first")
    heartbeat_s = plan_jobs.HEARTBEAT_S if heartbeat_s is None else heartbeat_s
    stale_after_s = plan_jobs.STALE_S if stale_after_s is None else stale_after_s
    if stale_after_s <= 2 * heartbeat_s:
        fail("--stale-after must be more than twice --heartbeat")
    workers = [
        plan_jobs.Worker(engine, name=f"{name}-{n}" if name and threads > 1 else name,
                         heartbeat_s=heartbeat_s, stale_after_s=stale_after_s, kinds=kinds)
        for n in range(threads)
    ]  # fmt: skip

    def stop(_signum, _frame) -> None:
        for worker in workers:
            worker.stopping.set()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    running = [threading.Thread(target=w.run, name=f"worker-{n}") for n, w in enumerate(workers)]
    for thread in running:
        thread.start()
    click.echo(f"{threads} worker(s) waiting for jobs: {', '.join(kinds)} ({workers[0].name})",
               err=True)  # fmt: skip
    for thread in running:
        while thread.is_alive():
            thread.join(timeout=0.5)
    click.echo("workers stopped", err=True)


def _kinds(text: str, known: tuple[str, ...]) -> tuple[str, ...]:
    """The kinds named in ``--kinds`` (``all``: every kind), in the table's order."""
    names = {part.strip().lower() for part in text.split(",") if part.strip()}
    if names == {"all"}:
        return known
    unknown = sorted(names - set(known))
    if unknown or not names:
        fail(f"--kinds: expected all or some of {', '.join(known)}; got {text[:80]!r}")
    return tuple(kind for kind in known if kind in names)
