"""Browser tests: the demo site served by waitress, driven by Playwright in Debian's chromium.

Playwright never downloads a browser here: it launches /usr/bin/chromium (the Makefile
installs Debian's chromium and CJK fonts when missing). Every page a test opens is watched:
console errors and any request to a non-local address fail the test. Screenshots are saved
under test-artifacts/browser/ (kept by CI as artifacts).
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from click.testing import CliRunner

from tests.web.conftest import PASSWORDS
from web import create_app, storage
from web.cli import cli

CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "browser"
LOCAL_HOSTS = {"127.0.0.1", "localhost"}
# Browser context options by screen size.
DESKTOP = {"viewport": {"width": 1280, "height": 860}}
PHONE = {"viewport": {"width": 390, "height": 844}, "is_mobile": True, "has_touch": True}
# The two ways most pages are tried: a phone in Chinese and a desktop in English.
PHONE_ZH_DESKTOP_EN = {
    "phone-zh": {**PHONE, "locale": "zh-CN"},
    "desktop-en": {**DESKTOP, "locale": "en-US"},
}

pytestmark = pytest.mark.browser


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def demo_database(directory: Path) -> tuple[str, dict[str, str]]:
    """The demo (60 days, seed 7) loaded through the CLI into ``directory/site.db``: its
    database URL and the CLI environment that names it."""
    url = f"sqlite:///{directory / 'site.db'}"
    env = {"HOTSPOT_DATABASE_URL": url}
    runner = CliRunner()
    assert runner.invoke(cli, ["init-db"], env=env).exit_code == 0
    result = runner.invoke(cli, ["demo", "--days", "60", "--seed", "7"], env=env)
    assert result.exit_code == 0, result.output
    return url, env


def plan_in_force(database_url: str, shift: str) -> tuple[int, int]:
    """The id and revision of the demo's published plan in force for today's ``shift``."""
    engine = storage.make_engine(database_url)
    try:
        plans = storage.list_plans(engine, status="published")
        row = plans[plans["shift"] == shift].iloc[0]
        return int(row["id"]), int(row["revision"])
    finally:
        engine.dispose()


@contextmanager
def serving(app) -> Iterator[str]:
    """``app`` served by waitress on a free local port while the block runs: its base URL."""
    from waitress.server import create_server

    port = _free_port()
    server = create_server(app, host="127.0.0.1", port=port, threads=4)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.close()


@contextmanager
def own_demo_site(tmp_path_factory, name: str, **config) -> Iterator[tuple[str, str]]:
    """(base URL, database URL) of a demo site on a database of its own, for a module whose
    tests change what others would see (``config``: more app settings)."""
    url, _env = demo_database(tmp_path_factory.mktemp(name))
    app = create_app({"DATABASE_URL": url, "SECRET_KEY": f"browser-{name}-" + "k" * 20, **config})
    try:
        with serving(app) as base_url:
            yield base_url, url
    finally:
        app.extensions["engine"].dispose()


def own_site_fixture(name: str, **config):  # noqa: ANN201 (a pytest fixture)
    """A module-scoped fixture ``site``: (base URL, database URL) of a demo site of the
    module's own (``own_demo_site``). In a test module: ``site = own_site_fixture("name")``."""

    @pytest.fixture(scope="module")
    def site(tmp_path_factory) -> Iterator[tuple[str, str]]:
        with own_demo_site(tmp_path_factory, name, **config) as where:
            yield where

    return site


@pytest.fixture(scope="session")
def live_server(tmp_path_factory) -> Iterator[str]:
    """The demo site on a local port (its own database: browser tests write to it)."""
    url, _env = demo_database(tmp_path_factory.mktemp("browser"))
    app = create_app({"DATABASE_URL": url, "SECRET_KEY": "browser-tests-" + "k" * 20,
                      "PLAN_TIME_LIMIT_S": 4.0})  # fmt: skip
    with serving(app) as base_url:
        yield base_url


@pytest.fixture(scope="session")
def browser():
    if not CHROMIUM.exists():
        pytest.fail(f"{CHROMIUM} is missing: run `make browser-deps` (Debian's chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(
            executable_path=str(CHROMIUM), args=["--no-sandbox", "--disable-gpu"]
        )
        yield chromium
        chromium.close()


class WatchedPage:
    """A page plus what went wrong on it: console errors, failed and external requests."""

    def __init__(self, page, base_url: str) -> None:
        self.page = page
        self.base_url = base_url
        self.console_errors: list[str] = []
        self.external: list[str] = []
        self.failed: list[str] = []
        page.on("console", self._console)
        page.on("pageerror", lambda error: self.console_errors.append(f"pageerror: {error}"))
        page.on("request", self._request)
        page.on("requestfailed", self._request_failed)
        page.on("response", self._response)

    def _console(self, message) -> None:
        if message.type == "error":
            self.console_errors.append(message.text)

    def _request_failed(self, request) -> None:
        # A navigation cancels the old page's pending requests (net::ERR_ABORTED): not a
        # fault. A missing file shows up as an HTTP error status in _response instead.
        if "ERR_ABORTED" not in str(request.failure):
            self.failed.append(f"{request.url} {request.failure}")

    def _response(self, response) -> None:
        if response.status >= 400:
            self.failed.append(f"{response.status} {response.url}")

    def _request(self, request) -> None:
        parts = urlsplit(request.url)
        if parts.scheme in ("data", "blob", "about"):
            return
        if parts.hostname not in LOCAL_HOSTS:
            self.external.append(request.url)

    def goto(self, path: str):
        return self.page.goto(self.base_url + path)

    def login(self, username: str, password: str | None = None) -> None:
        self.goto("/login")
        self.page.fill("#username", username)
        self.page.fill("#password", password or PASSWORDS[username])
        with self.page.expect_navigation():
            self.page.click("#login-submit")

    def login_in(self, username: str, lang: str) -> None:
        """Log in, then switch the page to ``lang`` (``zh`` or ``en``) if it is not in it."""
        self.login(username)
        wanted = "zh-CN" if lang == "zh" else "en"
        if self.page.locator("html").get_attribute("lang") != wanted:
            with self.page.expect_navigation():
                self.page.click(f"#lang-{lang}")
        assert self.page.locator("html").get_attribute("lang") == wanted

    def click_through(self, selector: str) -> None:
        """Click ``selector`` and wait for the page it leads to."""
        with self.page.expect_navigation():
            self.page.click(selector)

    def take_refusal(self, path: str) -> None:
        """Take the one refusal (400 from a URL containing ``path``, which the browser also
        logs to the console) off the page's list of failures: it is what the test asked for."""
        refused = [f for f in self.failed if f.startswith("400 ") and path in f]
        assert len(refused) == 1, self.failed
        self.failed.remove(refused[0])
        logged = [e for e in self.console_errors if "status of 400" in e]
        assert len(logged) <= 1, self.console_errors
        for entry in logged:
            self.console_errors.remove(entry)

    def fits_screen(self) -> bool:
        """Whether nothing on the page is wider than the screen (no sideways scrolling)."""
        width = self.page.evaluate("() => document.documentElement.scrollWidth")
        return width <= self.page.viewport_size["width"] + 1

    def shot(self, name: str) -> Path:
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        target = ARTIFACTS / f"{name}.png"
        self.page.screenshot(path=str(target), full_page=True)
        return target


def _watched_page(browser, base_url: str, **context_options) -> Iterator[WatchedPage]:
    """A page in a fresh browser context; after the test, fails on anything that went wrong."""
    context = browser.new_context(**context_options)
    page = context.new_page()
    page.set_default_timeout(20000)
    watched = WatchedPage(page, base_url)
    yield watched
    try:
        assert not watched.external, f"requests left the server: {watched.external}"
        assert not watched.console_errors, f"console errors: {watched.console_errors}"
        assert not watched.failed, f"failed requests: {watched.failed}"
    finally:
        context.close()


@contextmanager
def page_opener(browser) -> Iterator:
    """``open(base_url, **context_options)`` -> a watched page in a browser context of its
    own; when the block ends every page opened is checked (as :func:`_watched_page`) and
    closed. For tests that open several pages or pages on a site of their own."""
    opened = []

    def open_(base_url: str, **context_options) -> WatchedPage:
        pages = _watched_page(browser, base_url, **context_options)
        opened.append(pages)
        return next(pages)

    yield open_
    for pages in opened:
        next(pages, None)


@pytest.fixture
def watched(browser, live_server) -> Iterator[WatchedPage]:
    """A fresh English-language page at desktop size."""
    yield from _watched_page(browser, live_server, **DESKTOP, locale="en-US")


@pytest.fixture
def phone(browser, live_server) -> Iterator[WatchedPage]:
    """A phone-sized page (390 x 844, touch) in Chinese, as grid workers use the site."""
    yield from _watched_page(browser, live_server, **PHONE, locale="zh-CN")
