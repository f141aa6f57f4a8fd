"""The incident feed: a batch of rows (JSON or CSV) checked by the file importer's own code
(geo.ingest) and stored in one transaction (web.storage.feed).

JSON rows become the same Arrow text table a file gives (one string column per mapped field,
``__line__`` = row number in the batch from 1), so the checks, reasons, coordinate systems
and de-duplication keys are the importer's. A CSV body is read by the importer's reader.
"""

from __future__ import annotations

import hashlib
import math
import os
import tempfile
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, fields, replace

import numpy as np
import pandas as pd
import pyarrow as pa
from sqlalchemy.engine import Engine

from geo.errors import GeoError
from geo.ingest import LINE_COLUMN, PRESETS, ColumnMapping, ImportRules, prepare_incidents
from web import clock, storage
from web.services.caches import Cache
from web.services.imports import stored_boundary
from web.storage import feed as feed_store

__all__ = [
    "MAX_ROWS",
    "MAX_BODY_BYTES",
    "ENVELOPE_FIELDS",
    "FeedError",
    "FeedBatch",
    "batch_from_json",
    "batch_from_csv",
    "store_batch",
]

#: Most rows in one batch (larger sets are sent as several batches).
MAX_ROWS = 5000
#: Largest request body of a batch, in bytes.
MAX_BODY_BYTES = 8 * 2**20
ENVELOPE_FIELDS = ("source", "crs", "mapping", "preset", "incidents")
SOURCE_MAX = 60  # the run's file is "feed:<source>"; import_runs.source holds 80
# Fields a mapping may name (the rest of ColumnMapping is how a file is read).
MAPPING_FIELDS = tuple(f.name for f in fields(ColumnMapping) if f.name not in
                       {"crs", "delimiter", "encoding"})  # fmt: skip
REQUIRED_FIELDS = ("occurred_at", "category", "lon", "lat")
OUTSIDE = "outside the jurisdiction boundary"  # geo.ingest's reason
# When more than this share of a batch falls outside the jurisdiction, the answer says so.
MOSTLY_OUTSIDE = 0.5
CRS_GUESSES = ("EPSG:4326", "GCJ-02", "BD-09")


class FeedError(ValueError):
    """A batch that cannot be read at all; ``status`` is the HTTP status to answer with."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.status = status


@dataclass(frozen=True)
class FeedBatch:
    """A batch read from a request, ready to check and store."""

    source: str
    crs: str
    preset: str | None
    mapping: ColumnMapping
    table: pa.Table
    body_sha256: str


def body_sha256(body: bytes) -> str:
    return hashlib.sha256(body).hexdigest()


def _source(value: object) -> str:
    if not isinstance(value, str) or not value.strip():
        raise FeedError("'source' is required: the name of the sending system, e.g. \"110\"")
    source = value.strip()
    if len(source) > SOURCE_MAX or any(ord(ch) < 32 for ch in source):
        raise FeedError(f"'source' is one line of at most {SOURCE_MAX} characters")
    return source


def _crs(value: object) -> str:
    from geo.coords import normalise_crs_name

    if not isinstance(value, str) or not value.strip():
        raise FeedError("'crs' is required: wgs84, gcj02, bd09 or EPSG:nnnn")
    try:
        return normalise_crs_name(value.strip())
    except GeoError as err:
        raise FeedError(f"'crs': {err}") from err


def _refuse_unknown(
    given: Iterable[str], known: Sequence[str], message: str, show: Callable[[str], str]
) -> None:
    """Raise a FeedError when ``given`` holds names outside ``known``: ``message`` filled with
    the unknown names (each through ``show``) and the known ones."""
    unknown = sorted(set(given) - set(known))
    if unknown:
        raise FeedError(message.format(", ".join(map(show, unknown)), ", ".join(known)))


def _mapping(preset: object, given: object, crs: str) -> ColumnMapping:
    """The preset (``generic`` by default) changed field by field, as ``hotspot import
    --preset P --map FIELD=COLUMN`` does."""
    if preset is not None and (not isinstance(preset, str) or preset not in PRESETS):
        raise FeedError(f"unknown 'preset' {preset!r}; known: {', '.join(sorted(PRESETS))}")
    if given is None:
        given = {}
    if not isinstance(given, Mapping):
        raise FeedError("'mapping' is an object of FIELD: COLUMN")
    _refuse_unknown(given, MAPPING_FIELDS, "'mapping': unknown field(s) {}; fields: {}", str)
    for key, column in given.items():
        if column is not None and (not isinstance(column, str) or not column):
            raise FeedError(f"'mapping': {key} is a column name (text), got {column!r}")
    if preset is None and given:
        missing = [f for f in REQUIRED_FIELDS if not given.get(f)]
        if missing:
            raise FeedError(f"'mapping' without a preset needs {', '.join(missing)}")
        mapping = ColumnMapping(**given)
    else:
        mapping = replace(PRESETS[str(preset or "generic")], **given)
    if not mapping.lon or not mapping.lat:
        raise FeedError("'mapping': lon and lat need columns (a feed has no geometry)")
    return replace(mapping, crs=crs)


def _text(value: object, row: int, key: str) -> str | None:
    """One value of a row as the text a CSV cell would hold."""
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, bool):
        raise FeedError(f"row {row}: {key!r} is true/false; send text or a number")
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return repr(value) if math.isfinite(value) else None
    kind = "a list" if isinstance(value, list) else "an object"
    raise FeedError(f"row {row}: {key!r} is {kind}; values are text, numbers or null")


def table_from_rows(rows: Sequence[Mapping[str, object]], mapping: ColumnMapping) -> pa.Table:
    """The batch's rows as the importer's text table (mapped columns, ``__line__`` from 1).

    Columns no row has are missing values, except the required ones (time, category, place),
    which are a 400 as a missing column of a file is.
    """
    columns = list(dict.fromkeys(mapping.input_columns().values()))
    seen = set().union(*(row.keys() for row in rows)) if rows else set()
    missing = [f"{column} ({field})" for field, column in mapping.input_columns().items()
               if field in REQUIRED_FIELDS and column not in seen]  # fmt: skip
    if missing:
        raise FeedError(f"no row has the field(s) {', '.join(missing)}")
    arrays = {
        column: pa.array(
            [_text(row.get(column), n, column) for n, row in enumerate(rows, start=1)],
            type=pa.string(),
        )
        for column in columns
    }
    arrays[LINE_COLUMN] = pa.array(np.arange(1, len(rows) + 1, dtype=np.int64))
    return pa.table(arrays)


def batch_from_json(payload: object, body: bytes) -> FeedBatch:
    """Read a JSON batch ``{"source", "crs", "mapping"?, "preset"?, "incidents": [...]}``."""
    if not isinstance(payload, dict):
        raise FeedError("the body is a JSON object with source, crs and incidents")
    _refuse_unknown(payload, ENVELOPE_FIELDS, "unknown field(s) {}; a batch has {}", repr)
    source = _source(payload.get("source"))
    crs = _crs(payload.get("crs"))
    preset = payload.get("preset")
    mapping = _mapping(preset, payload.get("mapping"), crs)
    rows = payload.get("incidents")
    if not isinstance(rows, list):
        raise FeedError("'incidents' is a list of objects, one per incident")
    _check_size(len(rows))
    for n, row in enumerate(rows, start=1):
        if not isinstance(row, dict):
            raise FeedError(f"row {n} of 'incidents' is not an object")
        for key, value in row.items():
            _text(value, n, key)  # every value, mapped or not, is a scalar
    table = table_from_rows(rows, mapping)
    return FeedBatch(source, crs, preset if isinstance(preset, str) else None, mapping, table,
                     body_sha256(body))  # fmt: skip


def _check_size(n: int) -> None:
    if n == 0:
        raise FeedError("the batch has no incidents")
    if n > MAX_ROWS:
        raise FeedError(f"a batch has at most {MAX_ROWS} rows, got {n}: send several", 413)


def batch_from_csv(body: bytes, params: Mapping[str, object]) -> FeedBatch:
    """Read a CSV batch (header row, then one incident per line) with ``source``, ``crs``,
    ``preset`` and ``map`` (FIELD=COLUMN, repeated) given as query parameters."""
    from geo.ingest import read_incident_table

    unknown = sorted(set(params) - {"source", "crs", "preset", "map"})
    if unknown:
        raise FeedError(f"unknown parameter(s) {', '.join(unknown)}; use source, crs, preset, map")
    source = _source(params.get("source"))
    crs = _crs(params.get("crs"))
    preset = params.get("preset") or None
    given: dict[str, str] = {}
    items = params.get("map") or []
    for item in items if isinstance(items, list) else [items]:
        key, sep, column = str(item).partition("=")
        if not sep:
            raise FeedError(f"'map' takes FIELD=COLUMN, got {item!r}")
        given[key] = column
    mapping = _mapping(preset, given, crs)
    if not body.strip():
        raise FeedError("the CSV body is empty")
    handle, path = tempfile.mkstemp(suffix=".csv", prefix="feed-")
    try:
        with os.fdopen(handle, "wb") as out:
            out.write(body)
        table = read_incident_table(path, mapping)
    except GeoError as err:
        raise FeedError(str(err).replace(path, "the CSV")) from err
    finally:
        os.unlink(path)
    _check_size(table.num_rows)
    # Rows are numbered in the batch from 1 (not file lines, where the header is line 1).
    lines = pa.array(np.arange(1, table.num_rows + 1, dtype=np.int64))
    table = table.set_column(table.schema.get_field_index(LINE_COLUMN), LINE_COLUMN, lines)
    return FeedBatch(source, crs, str(preset) if preset else None, mapping, table,
                     body_sha256(body))  # fmt: skip


# The jurisdiction expanded by the tolerance, per database and tolerance: reading, parsing and
# buffering it takes far longer than checking a batch's points, and it seldom changes (a write
# to the areas table clears it).
# Another server process may load areas: this process's own writes clear the cache at once,
# the others' within a minute.
_boundaries = Cache("feed boundaries", max_entries=8, tables=("areas",), ttl_s=60.0)


def _expanded_boundary(engine: Engine, tolerance_m: float):
    from geo.boundaries import expand_boundary

    def load():
        raw = stored_boundary(engine)
        return None if raw is None else expand_boundary(raw, tolerance_m)

    return _boundaries.get_or_load((storage.database_key(engine), float(tolerance_m)), load)


def _crs_warning(batch: FeedBatch, rejects: pd.DataFrame, rows: int, boundary) -> str | None:
    """A note when most of the batch is outside the jurisdiction, naming the coordinate
    system that would put those rows inside (GCJ-02 sent as WGS-84 lands 100-700 m off)."""
    from geo.boundaries import points_in_boundary
    from geo.coords import to_wgs84

    outside = rejects[rejects["reason"] == OUTSIDE]
    if boundary is None or rows == 0 or len(outside) <= MOSTLY_OUTSIDE * rows:
        return None
    index = outside["line"].to_numpy(dtype=np.int64) - 1
    x = pd.to_numeric(batch.table.column(batch.mapping.lon).to_pandas(), errors="coerce")
    y = pd.to_numeric(batch.table.column(batch.mapping.lat).to_pandas(), errors="coerce")
    x_out, y_out = x.to_numpy()[index], y.to_numpy()[index]
    note = (
        f"{len(outside)} of {rows} rows are outside the jurisdiction: is 'crs' ({batch.crs}) right?"
    )
    for guess in CRS_GUESSES:
        if guess == batch.crs:
            continue
        lon, lat = (x_out, y_out) if guess == "EPSG:4326" else to_wgs84(x_out, y_out, guess)
        inside = points_in_boundary(np.asarray(lon), np.asarray(lat), boundary, tolerance_m=0.0)
        if inside.mean() >= 0.8:
            return f"{note} As {guess} {int(inside.sum())} of them would be inside."
    return note


def store_batch(
    engine: Engine,
    batch: FeedBatch,
    *,
    token_id: int | None,
    timezone: str,
    resolution: int,
    boundary_tolerance_m: float,
) -> dict:
    """Check a batch with the importer's rules and store it; returns the answer to send:
    every row's outcome in input order, totals, the run id and any warnings."""
    started = int(clock.now_s())
    known = storage.load_categories_table(engine)
    meta = storage.get_meta(engine)
    boundary = _expanded_boundary(engine, boundary_tolerance_m)
    rules = ImportRules(
        timezone=meta.get("timezone", timezone),
        now=clock.now(),
        resolution=int(meta.get("resolution", resolution)),
        source=batch.source,
        known_categories=known,
        boundary=boundary,
        boundary_tolerance_m=0.0,  # already in the expanded boundary
    )
    try:
        prepared = prepare_incidents(batch.table, batch.mapping, rules)
    except GeoError as err:
        raise FeedError(str(err)) from err
    checked = storage.ImportFile.from_prepared(
        prepared,
        file=feed_store.feed_file_name(batch.source),
        file_sha256=batch.body_sha256,
        source=batch.source,
        preset=batch.preset,
        started_at=started,
    )
    result = feed_store.store_feed_batch(engine, checked, kind="feed", token_id=token_id)
    outcomes = []
    for row in result.outcomes.to_dict("records"):
        item: dict[str, object] = {"row": int(row["line"]), "outcome": row["outcome"]}
        if row["outcome"] == "rejected":
            item["field"], item["reason"] = row["field"], row["reason"]
        else:
            item["id"] = row["id"]
        outcomes.append(item)
    warning = _crs_warning(batch, prepared.rejects, prepared.rows_read, boundary)
    return {
        "run_id": result.run_id,
        "source": batch.source,
        "crs": batch.crs,
        "rows": prepared.rows_read,
        "totals": {
            "stored": result.stored,
            "updated": result.updated,
            "unchanged": result.unchanged,
            "rejected": result.rejected,
        },
        "new_categories": list(prepared.new_categories),
        "warnings": [warning] if warning else [],
        "outcomes": outcomes,
    }
