"""Flask application factory: settings, storage, map assets, blueprints and error pages."""

from __future__ import annotations

from collections.abc import Mapping

from flask import Flask


def create_app(test_config: Mapping[str, object] | None = None) -> Flask:
    """Create the app; ``test_config`` overrides settings (tests never edit the environment)."""
    from web import assets, storage, views
    from web.config import load_settings

    app = Flask(__name__, instance_relative_config=True)
    app.config.from_mapping(load_settings(test_config))
    app.extensions["engine"] = storage.make_engine(str(app.config["DATABASE_URL"]))
    assets.use_local_assets(str(app.config["VENDOR_URL_PREFIX"]))
    assets.register_vendor_assets(app, str(app.config["VENDOR_URL_PREFIX"]))
    app.register_blueprint(views.bp)
    return app
