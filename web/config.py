"""Every setting of the service in one place, with its default, unit and meaning.

Each setting can be overridden by an environment variable named ``HOTSPOT_<NAME>`` (e.g.
``HOTSPOT_DATABASE_URL``); tests pass a mapping to ``create_app`` instead. Secrets come only
from the environment: in production (``HOTSPOT_ENV=production``) the app refuses to start
without ``HOTSPOT_SECRET_KEY``.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from geo.cells import DEFAULT_RESOLUTION

__all__ = [
    "SETTINGS",
    "ENV_PREFIX",
    "REPO_ROOT",
    "TILE_CRS_NAMES",
    "ConfigError",
    "load_settings",
    "tile_crs_name",
]

ENV_PREFIX = "HOTSPOT_"
REPO_ROOT = Path(__file__).resolve().parents[1]


class ConfigError(RuntimeError):
    """A setting is missing or has an unusable value."""


@dataclass(frozen=True)
class Setting:
    name: str
    default: object
    kind: type
    doc: str


SETTINGS: tuple[Setting, ...] = (
    Setting("ENV", "development", str, "development or production"),
    Setting(
        "DATABASE_URL",
        f"sqlite:///{REPO_ROOT / 'instance' / 'hotspot.db'}",
        str,
        "SQLAlchemy database URL; SQLite file under instance/ by default, or "
        "postgresql+psycopg://... for a server",
    ),
    Setting(
        "SECRET_KEY", "", str, "session signing key; required from the environment in production"
    ),
    Setting("CITY_NAME", "嘉峪关市", str, "city shown in page titles (for a new database)"),
    Setting(
        "TIMEZONE", "Asia/Shanghai", str, "IANA timezone used to read local times (new database)"
    ),
    Setting(
        "H3_RESOLUTION",
        DEFAULT_RESOLUTION,
        int,
        "H3 base resolution incidents are stored at (0..15)",
    ),
    Setting(
        "BOUNDARY_TOLERANCE_M",
        50.0,
        float,
        "metres outside the jurisdiction boundary an incident may lie and still be accepted",
    ),
    Setting(
        "CATEGORIES_FILE",
        str(REPO_ROOT / "data" / "categories.csv"),
        str,
        "category file loaded into a new database (codes, names, severity weights)",
    ),
    Setting(
        "TILE_URL",
        "",
        str,
        "basemap tile URL template (intranet tile server, Tianditu...); empty = no basemap",
    ),
    Setting("TILE_ATTRIBUTION", "", str, "attribution text shown for the basemap tiles"),
    Setting(
        "TILE_CRS",
        "wgs84",
        str,
        "coordinate system the basemap tiles are drawn in: wgs84 (WGS-84 or CGCS2000, e.g. "
        "Tianditu) or gcj02 (GCJ-02, e.g. many PGIS services); with gcj02 every overlay is "
        "shifted to line up with the tiles",
    ),
    Setting(
        "TILE_SUBDOMAINS",
        "abc",
        str,
        "letters or digits put for {s} in the tile URL, one per server (Tianditu: 01234567)",
    ),
    Setting("TILE_MAX_ZOOM", 18, int, "highest zoom level the tile service has tiles for (1..22)"),
    Setting(
        "TILE_LABELS_URL",
        "",
        str,
        "optional second tile URL template drawn over the basemap, in the same coordinate "
        "system (Tianditu's place-name layer, e.g. cva_w); empty = none",
    ),
    Setting("MAX_CELLS_DRAWN", 5000, int, "most cells drawn on one map; coarser cells above it"),
    Setting("VENDOR_URL_PREFIX", "/static/vendor/", str, "URL prefix of the served map assets"),
    Setting("DEFAULT_LOCALE", "zh", str, "interface language before a user picks one: zh or en"),
    Setting(
        "SESSION_COOKIE_SECURE",
        "auto",
        str,
        "send the session cookie over HTTPS only: true, false or auto (true in production)",
    ),
    Setting("SESSION_HOURS", 12, int, "hours a login lasts at most (one shift plus handover)"),
    Setting("SESSION_IDLE_MIN", 120, int, "minutes without a request after which a login ends"),
    Setting("LOGIN_MAX_FAILURES", 5, int, "login attempts per user name before each waits longer"),
    Setting("LOGIN_WINDOW_MIN", 15, int, "minutes login attempts are counted over"),
    Setting("LOGIN_DELAY_S", 2, int, "seconds the first slowed attempt waits; doubles each time"),
    Setting("LOGIN_MAX_DELAY_S", 300, int, "longest wait between slowed login attempts"),
    Setting(
        "TRUSTED_PROXIES",
        0,
        int,
        "reverse proxies in front of the site (nginx: 1); their X-Forwarded-For gives the "
        "client's address for throttling and the audit log",
    ),
    Setting("PLAN_TIME_LIMIT_S", 30.0, float, "solver time limit of a plan generated on the site"),
    Setting(
        "WORKERS",
        "embedded",
        str,
        "who solves plan jobs: embedded (worker threads inside `hotspot serve`) or external "
        "(separate `hotspot worker` processes)",
    ),
    Setting(
        "ROAD_NETWORK_FILE",
        "",
        str,
        "OpenStreetMap extract (.osm or .osm.pbf) for street travel times and route lines; "
        "empty = great-circle distance x circuity",
    ),
    Setting("CHECKIN_MINUTES", 15.0, float, "patrol minutes one check-in counts as delivered"),
    Setting(
        "SCORE_INTERVAL_MIN",
        60.0,
        float,
        "minutes between score runs while the site serves (live data updates counts at once "
        "and forecast scores at each run); 0 = only on demand",
    ),
    Setting(
        "WARNING_VALUE_FACTOR",
        1.5,
        float,
        "factor on the value of cells under an open early warning in the next patrol plan "
        "(1 = warnings do not change plans)",
    ),
    Setting(
        "MAX_REQUEST_MB",
        16.0,
        float,
        "largest request body in MB (a feed batch or an upload); larger ones get 413",
    ),
    Setting(
        "NOW",
        "",
        str,
        "run the clock as of this moment, e.g. 2026-03-08T09:00 (city time unless an offset is "
        "given); for demos, shown in the top bar, refused in production; empty = real time",
    ),
)


def _convert(setting: Setting, raw: object) -> object:
    if setting.kind is str:
        return str(raw)
    try:
        return setting.kind(raw)
    except (TypeError, ValueError) as err:
        raise ConfigError(
            f"{ENV_PREFIX}{setting.name}: expected {setting.kind.__name__}, got {raw!r}"
        ) from err


def load_settings(
    overrides: Mapping[str, object] | None = None, environ: Mapping[str, str] | None = None
) -> dict[str, object]:
    """Return every setting: defaults, then ``HOTSPOT_*`` variables, then ``overrides``."""
    environ = os.environ if environ is None else environ
    values: dict[str, object] = {}
    for setting in SETTINGS:
        raw = environ.get(ENV_PREFIX + setting.name, setting.default)
        values[setting.name] = _convert(setting, raw)
    for key, value in (overrides or {}).items():
        values[key] = value
    secure = str(values["SESSION_COOKIE_SECURE"]).strip().lower()
    if secure not in ("true", "false", "auto", "1", "0"):
        raise ConfigError(f"{ENV_PREFIX}SESSION_COOKIE_SECURE: expected true, false or auto")
    values["SESSION_COOKIE_SECURE"] = (
        values["ENV"] == "production" if secure == "auto" else secure in ("true", "1")
    )
    _check_basemap(values)
    if values["DEFAULT_LOCALE"] not in ("zh", "en"):
        raise ConfigError(f"{ENV_PREFIX}DEFAULT_LOCALE: expected zh or en")
    if values["NOW"] and values["ENV"] == "production":
        raise ConfigError(
            f"{ENV_PREFIX}NOW is for demos and tests; production runs on the real clock"
        )
    if not values["SECRET_KEY"]:
        if values["ENV"] == "production":
            raise ConfigError(f"{ENV_PREFIX}SECRET_KEY must be set in production ({_MAKE_KEY})")
        # Development only: a fresh key per process (sessions end on restart).
        values["SECRET_KEY"] = secrets.token_hex(32)
    elif values["ENV"] == "production":
        _check_secret(str(values["SECRET_KEY"]))
    return values


#: TILE_CRS spellings (upper case, without "-", "_" and spaces) and what they mean.
TILE_CRS_NAMES = {"WGS84": "wgs84", "CGCS2000": "wgs84", "EPSG4326": "wgs84", "GCJ02": "gcj02"}
MAX_TILE_ZOOM = 22


def tile_crs_name(value: object) -> str:
    """``wgs84`` or ``gcj02`` for a TILE_CRS spelling (any case, with or without the dash);
    raises ConfigError for anything else."""
    key = str(value).strip().upper()
    for separator in ("-", "_", ":", " "):
        key = key.replace(separator, "")
    if key not in TILE_CRS_NAMES:
        raise ConfigError(
            f"{ENV_PREFIX}TILE_CRS: expected wgs84 or gcj02 (the coordinate system of the "
            f"basemap tiles), got {value!r}"
        )
    return TILE_CRS_NAMES[key]


def _check_tile_template(name: str, url: str) -> None:
    if not all(part in url for part in ("{z}", "{x}", "{y}")):
        raise ConfigError(
            f"{ENV_PREFIX}{name}: expected a tile URL template with {{z}}, {{x}} and {{y}}, "
            f"e.g. http://pgis.intranet/tiles/{{z}}/{{x}}/{{y}}.png; got {url!r}"
        )
    if not url.startswith(("http://", "https://", "/")):
        raise ConfigError(
            f"{ENV_PREFIX}{name}: expected an http(s) URL or a path on this site, got {url!r}"
        )


def _origin(url: str) -> str:
    """``scheme://host[:port]`` of a tile URL template ("" for a path on this site)."""
    if url.startswith("/"):
        return ""
    scheme, _, rest = url.partition("://")
    return f"{scheme}://{rest.split('/', 1)[0]}"


def _check_basemap(values: dict[str, object]) -> None:
    """Check the basemap settings together (a bad one would break every map page) and
    normalise TILE_CRS to ``wgs84`` or ``gcj02``."""
    values["TILE_CRS"] = tile_crs_name(values["TILE_CRS"])
    workers = str(values.get("WORKERS", "")).strip().lower() or "embedded"
    if workers not in ("embedded", "external"):
        raise ConfigError(f"{ENV_PREFIX}WORKERS: expected embedded or external, got {workers!r}")
    values["WORKERS"] = workers
    url = str(values["TILE_URL"]).strip()
    labels = str(values["TILE_LABELS_URL"]).strip()
    values["TILE_URL"], values["TILE_LABELS_URL"] = url, labels
    zoom = values["TILE_MAX_ZOOM"]
    if isinstance(zoom, bool) or not isinstance(zoom, int) or not 1 <= zoom <= MAX_TILE_ZOOM:
        raise ConfigError(f"{ENV_PREFIX}TILE_MAX_ZOOM: expected 1 to {MAX_TILE_ZOOM}, got {zoom!r}")
    subdomains = str(values["TILE_SUBDOMAINS"]).strip()
    if not subdomains.isalnum() or not subdomains.isascii() or len(subdomains) > 16:
        raise ConfigError(
            f"{ENV_PREFIX}TILE_SUBDOMAINS: expected 1 to 16 letters or digits, got {subdomains!r}"
        )
    values["TILE_SUBDOMAINS"] = subdomains
    if labels and not url:
        raise ConfigError(f"{ENV_PREFIX}TILE_LABELS_URL needs {ENV_PREFIX}TILE_URL (the basemap)")
    if not url:
        return
    _check_tile_template("TILE_URL", url)
    if labels:
        _check_tile_template("TILE_LABELS_URL", labels)
        if _origin(labels) != _origin(url):
            # The pages' Content-Security-Policy lets images come from TILE_URL's server only.
            raise ConfigError(
                f"{ENV_PREFIX}TILE_LABELS_URL must be on the same server as "
                f"{ENV_PREFIX}TILE_URL ({_origin(url) or 'this site'}), got {labels!r}"
            )
    if not str(values["TILE_ATTRIBUTION"]).strip():
        raise ConfigError(
            f"{ENV_PREFIX}TILE_ATTRIBUTION: required with {ENV_PREFIX}TILE_URL (who made the "
            "basemap, shown on every map)"
        )


_MAKE_KEY = 'make one with: python3 -c "import secrets; print(secrets.token_hex(32))"'
# A key of 32 random bytes written as hex has 64 characters from 16 symbols.
MIN_SECRET_BYTES = 32
MIN_SECRET_SYMBOLS = 10


def _check_secret(key: str) -> None:
    """Refuse a production key that is short or plainly not random (anyone who guesses the
    key can forge a session cookie of any account)."""
    if len(key.encode()) < MIN_SECRET_BYTES or len(set(key)) < MIN_SECRET_SYMBOLS:
        raise ConfigError(
            f"{ENV_PREFIX}SECRET_KEY is too weak for production: at least "
            f"{MIN_SECRET_BYTES} bytes of {MIN_SECRET_SYMBOLS} or more different characters "
            f"are needed ({_MAKE_KEY})"
        )
