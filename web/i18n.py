"""Languages and local time: Flask-Babel with English and Simplified Chinese.

Texts are written in English in the code and templates (``_("...")``) and translated in
``web/translations/zh/LC_MESSAGES/messages.po``. The compiled ``.mo`` files are build
products: ``make install`` compiles them, and the app compiles any that are missing or
older than their ``.po`` at start, so a fresh clone never shows untranslated pages.

Dates and times are shown in the city's timezone (stored with the data, ``meta``).

Incident categories are shown by name, never by code: :func:`category_name` (also the Jinja
filter ``category_name``) gives a code's ``name_zh`` on Chinese pages and ``name_en`` on
English ones, from the stored category table.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from flask import Flask, current_app, g
from flask_babel import Babel, format_datetime, get_locale
from flask_babel import lazy_gettext as _l

from web import storage

__all__ = [
    "TRANSLATIONS_DIR",
    "compile_catalogs",
    "init_i18n",
    "city_timezone",
    "local_time",
    "is_chinese",
    "category_name_column",
    "category_names",
    "category_name",
    "area_kind_name",
]

TRANSLATIONS_DIR = Path(__file__).resolve().parent / "translations"


def compile_catalogs(directory: Path = TRANSLATIONS_DIR, force: bool = False) -> list[Path]:
    """Compile every ``messages.po`` whose ``.mo`` is missing or older; return those written."""
    written = []
    for po_path in sorted(directory.glob("*/LC_MESSAGES/messages.po")):
        mo_path = po_path.with_suffix(".mo")
        if not force and mo_path.exists() and mo_path.stat().st_mtime >= po_path.stat().st_mtime:
            continue
        with po_path.open("rb") as source:
            catalog = read_po(source)
        with mo_path.open("wb") as target:
            write_mo(target, catalog)
        written.append(mo_path)
    return written


def city_timezone() -> str:
    """The city's IANA timezone (from the database, else the setting), once per request."""
    if "city_timezone" not in g:
        meta = storage.get_meta(current_app.extensions["engine"])
        g.city_timezone = meta.get("timezone") or str(current_app.config["TIMEZONE"])
    return str(g.city_timezone)


def local_time(epoch_s: float | int | None, format: str = "short") -> str:
    """Format UTC epoch seconds in the city's timezone and the user's language."""
    if epoch_s is None or epoch_s != epoch_s:  # None or NaN
        return ""
    return format_datetime(datetime.fromtimestamp(float(epoch_s), UTC), format)


def is_chinese() -> bool:
    """Whether the page is in Chinese (the request's locale)."""
    return str(get_locale() or "").startswith("zh")


def category_name_column() -> str:
    """The category table's name column for the page's language: ``name_zh`` or ``name_en``."""
    return "name_zh" if is_chinese() else "name_en"


def category_names() -> dict[str, str]:
    """Every stored category code -> its name in the page's language (the other language's
    name, then the code, where a name is empty); read once per request."""
    return dict(_category_names())


def _category_names() -> dict[str, str]:
    column = category_name_column()
    if g.get("category_names_column") != column:
        table = storage.load_categories_table(current_app.extensions["engine"])
        other = "name_en" if column == "name_zh" else "name_zh"
        g.category_names = {
            str(code): str(name or fallback or code)
            for code, name, fallback in zip(
                table["code"], table[column].fillna(""), table[other].fillna(""), strict=True
            )
        }
        g.category_names_column = column
    return g.category_names


def category_name(code: object) -> str:
    """A category's name in the page's language; an unknown code is shown as it is."""
    if code is None or code != code:  # None or NaN
        return ""
    text = str(code)
    return _category_names().get(text, text)


# Names of the area kinds the site knows (a stored kind of another name is shown as it is).
_AREA_KINDS = {
    "jurisdiction": _l("Jurisdiction"),
    "district": _l("Districts"),
    "beat": _l("Beats"),
    "grid": _l("Management grids"),
    "urban_core": _l("Urban core"),
}


def area_kind_name(kind: object) -> str:
    """An area kind (``grid``, ``beat``...) by its name in the page's language."""
    text = str(kind)
    return str(_AREA_KINDS.get(text, text))


def init_i18n(app: Flask) -> None:
    """Set up Flask-Babel (locale from web.views.access.select_locale, city timezone)."""
    from web.views.access import LANGUAGES, select_locale

    compile_catalogs()
    app.config.setdefault("BABEL_DEFAULT_LOCALE", str(app.config["DEFAULT_LOCALE"]))
    app.config.setdefault("BABEL_TRANSLATION_DIRECTORIES", str(TRANSLATIONS_DIR))
    Babel(app, locale_selector=select_locale, timezone_selector=city_timezone)
    app.jinja_env.filters["localtime"] = local_time
    app.jinja_env.filters["category_name"] = category_name
    app.jinja_env.filters["area_kind_name"] = area_kind_name
    app.jinja_env.globals["LANGUAGES"] = LANGUAGES
