"""``hotspot serve``: the site under waitress."""

from __future__ import annotations

import click

from web import storage
from web.cli._common import fail


@click.command("serve")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", type=int, default=5000, show_default=True)
def serve_command(host: str, port: int) -> None:
    """Serve the site with waitress (printing the demo logins when the demo is loaded)."""
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
    click.echo(f"serving on http://{host}:{port}")
    _warm_up(engine)
    interval = float(app.config["SCORE_INTERVAL_MIN"])
    if interval > 0:
        from web.services.score_runs import ScoreSchedule

        ScoreSchedule(engine, interval).start()
        click.echo(f"forecast scores recomputed every {interval:g} min")
    from web.services.warnings import WarningRefresher

    # Early warnings follow new data within about 2 s, off the feed's request path.
    WarningRefresher(engine).start()
    from waitress import serve

    serve(app, host=host, port=port, threads=8)


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
