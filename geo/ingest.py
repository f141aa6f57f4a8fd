"""Reading incident files and validating them row by row, ready to be stored.

Two steps, kept apart so each is testable alone:

1. :func:`read_incident_table` turns a file (CSV or CSV.gz, GeoJSON, GeoPackage, Parquet or
   GeoParquet) into an Arrow table of the mapped columns as text, plus the row's position in
   the file. Whole-file problems (empty, truncated gzip, not in the expected encoding, wrong
   delimiter, missing columns) raise :class:`~geo.errors.FileFormatError` naming the file.
2. :func:`prepare_incidents` parses times and coordinates, converts them to UTC and WGS-84,
   checks every row, indexes good rows into H3 cells and computes their de-duplication key.
   Bad rows are returned, not dropped: each with its line, field, reason and raw values.

Column mappings are :class:`ColumnMapping` values; :data:`PRESETS` holds named ones, e.g.
``"chicago"`` for the City of Chicago data-portal export.
"""

from __future__ import annotations

import codecs
import csv
import gzip
import json
import zlib
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

from geo.categories import category_codes_from_text, normalise_category_text
from geo.cells import cells_from_points, validate_resolution
from geo.checks import CONTROL_CHARACTERS, check_aware_timestamp, utc_seconds_from_local
from geo.errors import ColumnMappingError, FileFormatError

__all__ = [
    "ColumnMapping",
    "PRESETS",
    "ImportRules",
    "PreparedIncidents",
    "LINE_COLUMN",
    "detect_format",
    "read_incident_table",
    "prepare_incidents",
    "dedupe_keys",
]

LINE_COLUMN = "__line__"
DETAIL_COLUMNS = ("offense_code", "description", "location_type")
_LON = "__lon__"
_LAT = "__lat__"
_GEO_SUFFIXES = {".geojson", ".json", ".gpkg", ".shp", ".zip", ".fgb"}
# Incidents before this (1970-01-01 UTC) are typing or export errors (a spreadsheet's empty
# date shows as 1900-01-00), not data: they are rejected and kept for review.
EARLIEST_S = 0
# The longest text the database keeps per field (web/storage/schema.py); longer values are
# rejected with the row rather than failing the whole import on the database.
MAX_CHARS = {"source_id": 80, "category": 80, "offense_code": 40}
# Description and location type: a case narrative (简要案情) of a few pages still fits.
MAX_TEXT_CHARS = 10_000
# The most bytes one incident file may hold, decompressed: its rows are held in memory while
# they are checked and stored in one transaction (a gzip of a few MB can hold many GB).
MAX_FILE_BYTES = 2 << 30


@dataclass(frozen=True)
class ColumnMapping:
    """Which input columns hold which incident fields, and how to read them.

    Attributes
    ----------
    occurred_at
        Column with the date and time the incident occurred.
    category
        Column with the category text (matched to category codes and aliases).
    lon, lat
        Coordinate columns (x and y in ``crs``); ``None`` takes them from the point geometry
        of a spatial file.
    source_id
        Column with the publisher's record id, used to de-duplicate; ``None`` de-duplicates
        on a hash of time, place, category and description.
    offense_code, description, location_type
        Optional descriptive columns kept with each incident.
    time_format
        ``strftime`` format of local times, e.g. ``"%m/%d/%Y %I:%M:%S %p"``; ``None`` reads
        ISO 8601, where a value with an offset (``Z``, ``+08:00``) keeps it and a value
        without one is local time in the city's timezone.
    crs
        Coordinate system of ``lon``/``lat``: ``"EPSG:4326"``, ``"GCJ-02"``, ``"BD-09"`` or
        any CRS string pyproj accepts. Ignored for spatial files, whose CRS is read.
    delimiter, encoding
        CSV delimiter and text encoding (e.g. ``"gbk"`` for many Chinese exports).
    """

    occurred_at: str
    category: str
    lon: str | None = None
    lat: str | None = None
    source_id: str | None = None
    offense_code: str | None = None
    description: str | None = None
    location_type: str | None = None
    time_format: str | None = None
    crs: str = "EPSG:4326"
    delimiter: str = ","
    encoding: str = "utf-8"

    def input_columns(self) -> dict[str, str]:
        """Map each used incident field to its input column name."""
        fields = {
            "occurred_at": self.occurred_at,
            "category": self.category,
            "lon": self.lon,
            "lat": self.lat,
            "source_id": self.source_id,
            "offense_code": self.offense_code,
            "description": self.description,
            "location_type": self.location_type,
        }
        return {k: v for k, v in fields.items() if v}


PRESETS: dict[str, ColumnMapping] = {
    # City of Chicago data portal "Crimes" export: local times with AM/PM, IUCR codes whose
    # leading zeros matter (every column is read as text, so they are kept).
    "chicago": ColumnMapping(
        occurred_at="Date",
        category="Primary Type",
        lon="Longitude",
        lat="Latitude",
        source_id="ID",
        offense_code="IUCR",
        description="Description",
        location_type="Location Description",
        time_format="%m/%d/%Y %I:%M:%S %p",
    ),
    # Our own plain format (the demo generator writes it): ISO 8601 times, WGS-84, most
    # columns named as their fields.
    "generic": ColumnMapping(
        "occurred_at", "category", "lon", "lat", source_id="incident_id", description="description"
    ),
}


@dataclass(frozen=True)
class ImportRules:
    """How rows are checked and indexed.

    Attributes
    ----------
    timezone
        IANA timezone of the city, used to read local times.
    now
        The current time (timezone-aware); later incidents are rejected.
    resolution
        H3 base resolution cells are stored at.
    source
        Name of the data source; record ids are unique within a source.
    boundary
        Jurisdiction boundary (shapely geometry, WGS-84) or ``None`` for no check.
    boundary_tolerance_m
        Points up to this far outside the boundary are accepted (block-level coordinates
        snapped to streets that form the city limit sit a few centimetres outside).
    known_categories
        The category table (see :func:`geo.categories.load_categories`).
    strict_categories
        Reject rows whose category matches no code or alias; otherwise the normalised text
        becomes a new category.
    """

    timezone: str
    now: pd.Timestamp
    resolution: int
    source: str
    known_categories: pd.DataFrame
    boundary: object | None = None
    boundary_tolerance_m: float = 0.0
    strict_categories: bool = False


@dataclass(frozen=True)
class PreparedIncidents:
    """Result of :func:`prepare_incidents` for one file.

    Attributes
    ----------
    incidents
        Good rows: ``key`` (int64 de-duplication key), ``source_id``, ``occurred_at`` (int64
        seconds since the epoch, UTC), ``lon``, ``lat`` (WGS-84), ``cell`` (int64 H3 id at
        the base resolution), ``category`` (code), ``detail`` (row of ``details``), ``line``.
    rejects
        Bad rows: ``line``, ``field``, ``reason``, ``raw`` (JSON of the row's mapped values).
    rows_read
        Data rows in the file.
    new_categories
        Category codes seen that the category table does not know (non-strict imports).
    details
        The distinct (``offense_code``, ``description``, ``location_type``) combinations of
        the file ("" where missing); incidents refer to them by position. They repeat a lot,
        so they are kept once rather than as three strings per incident.
    """

    incidents: pd.DataFrame
    rejects: pd.DataFrame
    rows_read: int
    new_categories: tuple[str, ...] = field(default_factory=tuple)
    details: pd.DataFrame = field(
        default_factory=lambda: pd.DataFrame(columns=list(DETAIL_COLUMNS))
    )


def detect_format(path: Path) -> str:
    """Return ``"csv"``, ``"parquet"`` or ``"spatial"`` from the file name."""
    suffixes = [s.lower() for s in path.suffixes]
    if suffixes[-1:] == [".gz"]:
        suffixes = suffixes[:-1]
    last = suffixes[-1] if suffixes else ""
    if last in {".csv", ".txt", ".tsv"}:
        return "csv"
    if last in {".parquet", ".geoparquet"}:
        return "parquet"
    if last in _GEO_SUFFIXES:
        return "spatial"
    raise FileFormatError(
        f"{path}: unknown file type {last or '(none)'!r}; expected .csv, .csv.gz, .geojson, "
        ".gpkg, .shp, .parquet"
    )


def read_incident_table(path: str | Path, mapping: ColumnMapping) -> pa.Table:
    """Read the mapped columns of an incident file as text.

    Parameters
    ----------
    path
        CSV (optionally gzip-compressed), GeoJSON, GeoPackage, Shapefile, Parquet or
        GeoParquet file.
    mapping
        Which columns to read.

    Returns
    -------
    pyarrow.Table
        One string column per mapped field (named as in the file), ``__line__`` (int64: the
        CSV line number, header = line 1, or the feature/row number from 1 in other formats)
        and, for spatial files without coordinate columns, ``__lon__``/``__lat__`` in
        WGS-84.

    Raises
    ------
    FileFormatError
        When the file is missing, empty, truncated, not in the expected encoding, has the
        wrong delimiter or misses mapped columns.
    """
    path = Path(path)
    if not path.is_file():
        raise FileFormatError(f"{path}: no such file")
    if path.stat().st_size == 0:
        raise FileFormatError(f"{path}: the file is empty")
    if path.stat().st_size > MAX_FILE_BYTES:
        raise FileFormatError(_too_large(path))
    kind = detect_format(path)
    if kind == "csv" and (mapping.lon is None or mapping.lat is None):
        raise ColumnMappingError(
            f"{path}: a CSV file has no point geometry; map its coordinate columns "
            "(--map lon=COLUMN --map lat=COLUMN)"
        )
    if kind == "csv":
        table = _read_csv(path, mapping)
    elif kind == "parquet":
        table = _read_parquet(path, mapping)
    else:
        table = _read_spatial(path, mapping)
    if table.num_rows == 0:
        raise FileFormatError(f"{path}: the file has a header but no data rows")
    return table


def _too_large(path: Path) -> str:
    return (
        f"{path}: more than {MAX_FILE_BYTES >> 20} MB of data (decompressed); split the "
        "export, e.g. by month, and import the parts"
    )


class _Bounded:
    """A read-only stream that raises ``FileFormatError`` past ``MAX_FILE_BYTES``."""

    closed = False

    def __init__(self, stream: pa.NativeFile, path: Path) -> None:
        self.stream, self.path, self.count = stream, path, 0

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        data = self.stream.read(size)
        self.count += len(data)
        if self.count > MAX_FILE_BYTES:
            raise FileFormatError(_too_large(self.path))
        return data

    def close(self) -> None:
        self.stream.close()


def _is_gzip(path: Path) -> bool:
    with path.open("rb") as handle:
        return handle.read(2) == b"\x1f\x8b"


_BYTE_ORDER_MARKS = ((b"\xef\xbb\xbf", "utf-8"), (b"\xff\xfe", "utf-16"), (b"\xfe\xff", "utf-16"))


def _open_text_start(path: Path, compressed: bool, size: int, whole_line: bool) -> bytes:
    """The first ``size`` bytes of the (decompressed) file, or its first line if shorter."""
    opener = gzip.open if compressed else open
    try:
        with opener(path, "rb") as handle:
            return handle.readline(size) if whole_line else handle.read(size)
    except (OSError, EOFError, zlib.error) as err:
        raise FileFormatError(f"{path}: not a readable gzip file ({err})") from err


def _encoding_of(path: Path, compressed: bool, given: str) -> str:
    """The encoding a byte-order mark declares (Excel writes one for "CSV UTF-8" and
    "Unicode text"), else ``given``: a mark is certain where a guess at --encoding is not."""
    start = _open_text_start(path, compressed, 3, whole_line=False)
    for mark, name in _BYTE_ORDER_MARKS:
        if start.startswith(mark):
            return name
    return given


def _first_undecodable_line(path: Path, compressed: bool, encoding: str) -> str:
    """`` at line N (byte B)`` of the first line that is not valid ``encoding`` text, or ""."""
    if encoding.startswith("utf-16"):
        return ""  # its lines are not split at a newline byte
    opener = gzip.open if compressed else open
    decoder = codecs.getincrementaldecoder(encoding)()
    number, offset = 1, 0
    try:
        with opener(path, "rb") as handle:
            # At most 1 MB at a time: a file without newlines is no reason to hold it whole.
            while chunk := handle.readline(1 << 20):
                try:
                    decoder.decode(chunk)
                except UnicodeDecodeError as err:
                    return f" at line {number} (byte {offset + err.start + 1})"
                number, offset = (
                    (number + 1, 0) if chunk.endswith(b"\n") else (number, offset + len(chunk))
                )
    except (OSError, EOFError, zlib.error, LookupError):
        return ""
    return ""


def _first_ragged_line(
    path: Path, compressed: bool, encoding: str, delimiter: str, header: list[str]
) -> str:
    """`` at line N`` of the first row whose number of fields differs from the header's
    (Arrow's message quotes the row but cannot say where it is), or ""."""
    opener = gzip.open if compressed else open
    try:
        with opener(path, "rt", encoding=encoding, newline="", errors="replace") as handle:
            reader = csv.reader(handle, delimiter=delimiter)
            next(reader, None)
            for row in reader:
                if row and len(row) != len(header):
                    return f" at line {reader.line_num}"
    except (OSError, EOFError, zlib.error, LookupError, csv.Error):
        return ""
    return ""


def _read_header(path: Path, compressed: bool, encoding: str) -> str:
    # A UTF-16 line does not end at the first newline byte: decode a block and split it.
    raw = _open_text_start(path, compressed, 1 << 20, whole_line=not encoding.startswith("utf-16"))
    if raw.startswith(b"\xef\xbb\xbf"):
        raw = raw[3:]
    try:
        text = codecs.getincrementaldecoder(encoding)().decode(raw, final=False)
        return text.lstrip("\ufeff").split("\n", 1)[0].rstrip("\r")
    except UnicodeDecodeError as err:
        raise FileFormatError(
            f"{path}: line 1 is not valid {encoding} text (byte {err.start}); "
            "give the file's encoding, e.g. --encoding gbk"
        ) from err
    except LookupError as err:
        raise FileFormatError(f"{path}: unknown encoding {encoding!r}") from err


def _check_columns(path: Path, available: list[str], mapping: ColumnMapping, header: str) -> None:
    wanted = mapping.input_columns()
    twice = [col for col in dict.fromkeys(wanted.values()) if available.count(col) > 1]
    if twice:
        raise ColumnMappingError(
            f"{path}: the header names column(s) {', '.join(map(repr, twice))} more than once; "
            "rename them so each is one column"
        )
    missing = [f"{col} ({fld})" for fld, col in wanted.items() if col not in available]
    if not missing:
        return
    hint = ""
    if mapping.delimiter not in header:
        seps = (";", "\t", "|", ",", "\uff0c")  # the last: a full-width comma
        found = [repr(d) for d in seps if d != mapping.delimiter and d in header]
        if found:
            hint = (
                f"; the header has no {mapping.delimiter!r} but has {' and '.join(found)}: "
                "wrong delimiter? (use --delimiter)"
            )
    shown = ", ".join(available[:30]) + (" ..." if len(available) > 30 else "")
    raise ColumnMappingError(
        f"{path}: missing column(s) {', '.join(missing)}; the file has: {shown}{hint}"
    )


def _read_csv(path: Path, mapping: ColumnMapping) -> pa.Table:
    compressed = _is_gzip(path)
    encoding = _encoding_of(path, compressed, mapping.encoding.lower().replace("_", "-"))
    header = _read_header(path, compressed, encoding)
    if not header.strip():
        raise FileFormatError(f"{path}: the first line is empty; expected a header row")
    available = [c.strip().strip('"') for c in header.split(mapping.delimiter)]
    _check_columns(path, available, mapping, header)
    wanted = list(dict.fromkeys(mapping.input_columns().values()))
    try:
        stream = pa.input_stream(str(path), compression="gzip" if compressed else None)
        table = pacsv.read_csv(
            _Bounded(stream, path) if compressed else stream,
            # The header as checked above names the columns: "a, b" (a space after each
            # comma, as typed by hand) gives "b", where Arrow's own reading gives " b".
            read_options=pacsv.ReadOptions(
                encoding="utf8" if encoding in {"utf-8", "utf8"} else encoding,
                block_size=8 << 20,
                column_names=available,
                skip_rows=1,
            ),
            parse_options=pacsv.ParseOptions(delimiter=mapping.delimiter),
            convert_options=pacsv.ConvertOptions(
                include_columns=wanted,
                column_types={c: pa.string() for c in wanted},
                strings_can_be_null=True,
            ),
        )
    except OSError as err:
        raise FileFormatError(
            f"{path}: the compressed data is truncated or corrupt ({err})"
            if compressed
            else f"{path}: cannot read ({err})"
        ) from err
    except pa.ArrowInvalid as err:
        text = str(err)
        if "UTF8" in text or "decode" in text.lower():
            where = _first_undecodable_line(path, compressed, encoding)
            raise FileFormatError(
                f"{path}: the file is not valid {encoding} text{where} ({text}); "
                "give its encoding, e.g. --encoding gbk"
            ) from err
        where = ""
        if "columns, got" in text:
            where = _first_ragged_line(path, compressed, encoding, mapping.delimiter, available)
        raise FileFormatError(f"{path}: malformed CSV{where}: {text}") from err
    except pa.ArrowKeyError as err:  # a column the header check saw but Arrow did not
        raise FileFormatError(f"{path}: cannot read the header row ({err})") from err
    lines = pa.array(np.arange(2, table.num_rows + 2, dtype=np.int64))
    return table.append_column(LINE_COLUMN, lines)


def _text_table(frame: pd.DataFrame, columns: list[str]) -> pa.Table:
    arrays = {}
    for col in columns:
        values = frame[col]
        if isinstance(values.dtype, pd.DatetimeTZDtype):
            values = values.dt.tz_convert("UTC").dt.strftime("%Y-%m-%dT%H:%M:%SZ")
        elif pd.api.types.is_datetime64_any_dtype(values):
            values = values.dt.strftime("%Y-%m-%dT%H:%M:%S")
        text = values.astype("string")
        arrays[col] = pa.array(_objects(text), type=pa.string())
    return pa.table(arrays)


def _read_parquet(path: Path, mapping: ColumnMapping) -> pa.Table:
    import pyarrow.parquet as pq

    try:
        schema = pq.read_schema(path)
    except (pa.ArrowInvalid, OSError) as err:
        raise FileFormatError(f"{path}: not a readable Parquet file ({err})") from err
    if b"geo" in (schema.metadata or {}) and (mapping.lon is None or mapping.lat is None):
        return _read_spatial(path, mapping)
    _check_columns(path, schema.names, mapping, header=",".join(schema.names))
    wanted = list(dict.fromkeys(mapping.input_columns().values()))
    frame = pq.read_table(path, columns=wanted).to_pandas()
    table = _text_table(frame, wanted)
    lines = pa.array(np.arange(1, table.num_rows + 1, dtype=np.int64))
    return table.append_column(LINE_COLUMN, lines)


def _read_spatial(path: Path, mapping: ColumnMapping) -> pa.Table:
    import geopandas as gpd

    try:
        if detect_format(path) == "parquet":
            frame = gpd.read_parquet(path)
        else:
            frame = gpd.read_file(path, engine="pyogrio")
    except Exception as err:  # pyogrio raises several unrelated types for unreadable files
        raise FileFormatError(f"{path}: not a readable spatial file ({err})") from err
    columns = [c for c in frame.columns if c != frame.geometry.name]
    uses_geometry = mapping.lon is None or mapping.lat is None
    needed = {k: v for k, v in mapping.input_columns().items() if k not in {"lon", "lat"}}
    check = replace(mapping, lon=None, lat=None) if uses_geometry else mapping
    _check_columns(path, columns, check, header=",".join(columns))
    wanted = list(dict.fromkeys(needed.values()))
    if not uses_geometry:
        wanted += [mapping.lon, mapping.lat]  # type: ignore[list-item]
    table = _text_table(pd.DataFrame(frame[wanted]), wanted)
    if uses_geometry:
        lon, lat = _points_from_geometry(path, frame)
        table = table.append_column(_LON, pa.array(lon)).append_column(_LAT, pa.array(lat))
    lines = pa.array(np.arange(1, table.num_rows + 1, dtype=np.int64))
    return table.append_column(LINE_COLUMN, lines)


def _points_from_geometry(path: Path, frame) -> tuple[np.ndarray, np.ndarray]:
    geoms = frame.geometry
    empty = geoms.isna() | geoms.is_empty
    kinds = set(geoms[~empty].geom_type.unique())
    if kinds - {"Point"}:
        raise FileFormatError(
            f"{path}: incidents must be points; found {', '.join(sorted(kinds - {'Point'}))}"
        )
    if frame.crs is not None and frame.crs.is_projected and (~empty).any():
        x0, y0, x1, y1 = geoms[~empty].total_bounds
        if -180 <= x0 <= x1 <= 180 and -90 <= y0 <= y1 <= 90:
            raise FileFormatError(
                f"{path}: the points {[round(v, 3) for v in (x0, y0, x1, y1)]} look like "
                f"longitude and latitude, but the file declares the projected CRS "
                f"{frame.crs.to_string()} (they would all land within metres of 0°, 0°); "
                "fix the file's CRS, or export it as CSV with lon/lat columns"
            )
    if frame.crs is not None and not frame.crs.equals("EPSG:4326"):
        geoms = geoms.to_crs("EPSG:4326")
    lon = np.full(len(frame), np.nan)
    lat = np.full(len(frame), np.nan)
    ok = ~empty.to_numpy()
    lon[ok] = geoms[ok].x.to_numpy()
    lat[ok] = geoms[ok].y.to_numpy()
    return lon, lat


# --- row validation --------------------------------------------------------------------


def _text(table: pa.Table, column: str | None) -> pd.Series:
    if column is None:
        return pd.Series(pd.NA, index=range(table.num_rows), dtype="string")
    return table.column(column).to_pandas(types_mapper=pd.ArrowDtype).astype("string")


def _numbers(table: pa.Table, column: str) -> tuple[np.ndarray, np.ndarray]:
    """Return (values, missing) for a text column of numbers; unparsable values are NaN."""
    col = table.column(column)
    if pa.types.is_floating(col.type):
        values = np.array(col.to_numpy(zero_copy_only=False), dtype=np.float64)
        return values, np.isnan(values)
    text = pc.utf8_trim_whitespace(col)
    missing = pc.or_kleene(pc.is_null(text), pc.equal(text, "")).to_numpy(zero_copy_only=False)
    missing = np.asarray(pd.array(missing, dtype="boolean").fillna(True), dtype=bool)
    try:
        values = pc.cast(text, pa.float64()).to_numpy(zero_copy_only=False)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        values = pd.to_numeric(text.to_pandas(), errors="coerce").to_numpy(dtype=np.float64)
    values = np.array(values, dtype=np.float64)  # a writable copy
    values[missing] = np.nan
    return values, missing


def _local_seconds_to_utc(naive_s: np.ndarray, ok: np.ndarray, timezone: str) -> np.ndarray:
    """Convert the wall-clock seconds in ``timezone`` where ``ok`` to UTC seconds (0 elsewhere).

    A local time that occurs twice (clocks going back) is read as the first occurrence,
    daylight time; one that never occurs (clocks going forward) moves to the first moment
    after the gap (:mod:`geo.checks`).
    """
    out = np.zeros(naive_s.shape, dtype=np.int64)
    if ok.any():
        out[ok] = utc_seconds_from_local(naive_s[ok], timezone, name="local times")
    return out


_OFFSET = r"(?:[zZ]|[+-]\d{2}:?\d{2})$"


def _parse_times(text: pa.ChunkedArray, mapping: ColumnMapping, timezone: str):
    """Return (utc_seconds int64, missing bool, unparsable bool)."""
    trimmed = pc.utf8_trim_whitespace(text)
    missing = pc.or_kleene(pc.is_null(trimmed), pc.equal(trimmed, "")).to_numpy(
        zero_copy_only=False
    )
    missing = np.asarray(pd.array(missing, dtype="boolean").fillna(True), dtype=bool)
    n = len(trimmed)
    utc_s = np.zeros(n, dtype=np.int64)
    parsed = np.zeros(n, dtype=bool)
    if mapping.time_format is not None:
        stamps = pc.strptime(trimmed, format=mapping.time_format, unit="s", error_is_null=True)
        valid = stamps.is_valid().to_numpy(zero_copy_only=False)
        naive = pc.fill_null(stamps.cast(pa.int64()), 0).to_numpy(zero_copy_only=False)
        utc_s = _local_seconds_to_utc(np.asarray(naive, dtype=np.int64), valid, timezone)
        parsed = valid
    else:
        series = trimmed.to_pandas().astype(object)
        has_offset = series.str.contains(_OFFSET, regex=True, na=False).to_numpy(dtype=bool)
        if has_offset.any():
            aware = pd.to_datetime(series[has_offset], format="ISO8601", utc=True, errors="coerce")
            ok = aware.notna().to_numpy()
            idx = np.flatnonzero(has_offset)
            utc_s[idx[ok]] = aware[ok].to_numpy(dtype="datetime64[s]").astype(np.int64)
            parsed[idx[ok]] = True
        naive_mask = ~has_offset & ~missing
        if naive_mask.any():
            local = pd.to_datetime(series[naive_mask], format="ISO8601", errors="coerce")
            ok = local.notna().to_numpy()
            idx = np.flatnonzero(naive_mask)
            seconds = np.zeros(len(idx), dtype=np.int64)
            seconds[ok] = local[ok].to_numpy(dtype="datetime64[s]").astype(np.int64)
            converted = _local_seconds_to_utc(seconds, ok, timezone)
            utc_s[idx[ok]] = converted[ok]
            parsed[idx[ok]] = True
    unparsable = ~missing & ~parsed
    return utc_s, missing, unparsable


def dedupe_keys(
    source: str,
    source_id: pd.Series,
    occurred_at: np.ndarray,
    lon: np.ndarray,
    lat: np.ndarray,
    category: pd.Series,
    description: pd.Series,
) -> np.ndarray:
    """Return one int64 de-duplication key per incident.

    The key hashes ``source`` with the record id where there is one; otherwise it hashes the
    content (time, coordinates to 6 decimals, i.e. about 0.1 m, category and description).
    Keys are 64-bit, so two different incidents share one with probability about
    n**2 / 2**65: about 1e-8 for a million incidents.
    """
    ids = pa.array(_objects(source_id.astype("string").str.strip()), type=pa.string())
    has_id = pc.fill_null(pc.not_equal(ids, ""), False).to_numpy(zero_copy_only=False)
    # The source name is hashed once and mixed into every id's hash.
    source_hash = pd.util.hash_array(np.array([source], dtype=object))[0]
    # Most publishers' ids are integers: mixing their bits is far cheaper than hashing text.
    # Row by row, only canonical integers take that path (so "0012" and "12" stay apart, and
    # an id gets the same key whatever else its file holds).
    canonical = pc.fill_null(pc.match_substring_regex(ids, r"^[1-9][0-9]{0,17}$"), False)
    canonical = canonical.to_numpy(zero_copy_only=False)
    numeric = pc.cast(pc.if_else(canonical, ids, "0"), pa.int64()).to_numpy(zero_copy_only=False)
    by_id = _mix64(numeric.view(np.uint64) ^ source_hash)
    text_rows = has_id & ~canonical
    if text_rows.any():
        text = np.asarray(pc.fill_null(ids, "").to_numpy(zero_copy_only=False), dtype=object)
        by_id[text_rows] = _mix64(pd.util.hash_array(text[text_rows]) ^ source_hash)
    by_content = np.zeros(len(has_id), dtype=np.uint64)
    no_id = ~has_id
    if no_id.any():
        by_content[no_id] = (
            pd.util.hash_pandas_object(
                pd.DataFrame(
                    {
                        "t": np.asarray(occurred_at)[no_id],
                        "x": np.round(np.asarray(lon)[no_id], 6),
                        "y": np.round(np.asarray(lat)[no_id], 6),
                        "c": pd.Series(category, dtype=object).fillna("").to_numpy()[no_id],
                        "d": description.astype("string").fillna("").to_numpy(dtype=object)[no_id],
                    }
                ),  # rows kept have a time and a place: only text can be missing here
                index=False,
            ).to_numpy()
            ^ source_hash
        )
    keys = np.where(has_id, by_id, by_content)
    return keys.astype(np.uint64).view(np.int64)


def _objects(values: pd.Series) -> np.ndarray:
    """Return a Series as an object array with None for missing values."""
    return values.to_numpy(dtype=object, na_value=None)  # type: ignore[call-overload]


def _mix64(values: np.ndarray) -> np.ndarray:
    """SplitMix64 finaliser: spreads every input bit over the whole 64-bit key."""
    z = values.astype(np.uint64) + np.uint64(0x9E3779B97F4A7C15)
    z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return z ^ (z >> np.uint64(31))


def prepare_incidents(
    table: pa.Table, mapping: ColumnMapping, rules: ImportRules
) -> PreparedIncidents:
    """Check every row of a table from :func:`read_incident_table`.

    Parameters
    ----------
    table
        The file's mapped columns as text, with ``__line__``.
    mapping
        The mapping used to read it.
    rules
        Timezone, current time, boundary, categories and resolution.

    Returns
    -------
    PreparedIncidents
        Good rows ready to store and bad rows with their reasons. Each bad row gets one
        reason, the first of: missing/unparsable time, missing/unparsable/out-of-range or
        swapped coordinates, coordinates the CRS cannot convert, text longer than the
        database keeps or a record id or category with control characters, missing or
        (strict) unknown category, time in the future or before 1970, outside the boundary,
        duplicate of an earlier row of the same file.
    """
    resolution = validate_resolution(rules.resolution)
    check_aware_timestamp(rules.now, "rules.now")
    n = table.num_rows
    lines = table.column(LINE_COLUMN).to_numpy().astype(np.int64)
    field_names = mapping.input_columns()
    reason = np.full(n, None, dtype=object)
    bad_field = np.full(n, None, dtype=object)

    def reject(mask: np.ndarray, column: str, why: str) -> None:
        new = mask & (reason == None)  # noqa: E711 - elementwise test on an object array
        reason[new] = why
        bad_field[new] = column

    # time
    utc_s, t_missing, t_bad = _parse_times(
        table.column(mapping.occurred_at), mapping, rules.timezone
    )
    fmt = mapping.time_format or "ISO 8601"
    reject(t_missing, mapping.occurred_at, "missing date/time")
    reject(t_bad, mapping.occurred_at, f"unparsable date/time (expected {fmt})")

    # coordinates
    lon_col = mapping.lon if mapping.lon is not None else _LON
    lat_col = mapping.lat if mapping.lat is not None else _LAT
    x, x_missing = _numbers(table, lon_col)
    y, y_missing = _numbers(table, lat_col)
    x_name = mapping.lon or "geometry"
    y_name = mapping.lat or "geometry"
    reject(x_missing, x_name, "missing coordinate")
    reject(y_missing, y_name, "missing coordinate")
    reject(~x_missing & ~np.isfinite(x), x_name, "unparsable coordinate (not a number)")
    reject(~y_missing & ~np.isfinite(y), y_name, "unparsable coordinate (not a number)")
    lon, lat = _coordinates_to_wgs84(x, y, mapping)
    finite = np.isfinite(lon) & np.isfinite(lat)
    lat_out = finite & (np.abs(lat) > 90)
    lon_out = finite & (np.abs(lon) > 180)
    swapped = finite & (lat_out | lon_out) & (np.abs(lon) <= 90) & (np.abs(lat) <= 180)
    reject(swapped, y_name, "latitude and longitude look swapped (latitude out of range)")
    reject(lat_out, y_name, "latitude out of range -90..90")
    reject(lon_out, x_name, "longitude out of range -180..180")
    unconverted = np.isfinite(x) & np.isfinite(y) & ~finite
    reject(unconverted, f"{x_name}/{y_name}", f"coordinates cannot be converted from {mapping.crs}")
    _reject_bad_text(table, mapping, reject)

    # category
    # A category column repeats a few dozen values: match the distinct ones, then spread.
    encoded = pc.dictionary_encode(table.column(mapping.category)).combine_chunks()
    distinct = pd.Series(encoded.dictionary.to_pylist(), dtype="string")
    index = encoded.indices.to_numpy(zero_copy_only=False)
    valid = encoded.is_valid().to_numpy(zero_copy_only=False)
    index = np.where(valid, np.nan_to_num(index, nan=0), len(distinct)).astype(np.int64)
    distinct_codes = category_codes_from_text(distinct, rules.known_categories)
    distinct_norm = normalise_category_text(distinct)
    # The extra last slot (None) is where missing categories (index = len(distinct)) land.
    codes = pd.Series(np.append(_objects(distinct_codes), [None])[index], dtype="string")
    normalised = pd.Series(np.append(_objects(distinct_norm), [None])[index], dtype="string")
    cat_missing = (normalised.isna() | (normalised == "")).to_numpy(dtype=bool)
    unknown = codes.isna().to_numpy(dtype=bool) & ~cat_missing
    reject(cat_missing, mapping.category, "missing category")
    if rules.strict_categories:
        reject(unknown, mapping.category, "unknown category (not in the category table)")
    codes = codes.where(~pd.Series(unknown), normalised)
    new_categories = tuple(sorted(set(normalised[unknown & (reason == None)])))  # noqa: E711

    # time in the future
    now_s = int(rules.now.tz_convert("UTC").timestamp())
    reject(~t_missing & ~t_bad & (utc_s > now_s), mapping.occurred_at, "date/time in the future")
    reject(~t_missing & ~t_bad & (utc_s < EARLIEST_S), mapping.occurred_at, "date/time before 1970")

    # boundary
    open_rows = np.asarray(reason == None, dtype=bool)  # noqa: E711
    if rules.boundary is not None and open_rows.any():
        from geo.boundaries import points_in_boundary

        inside = np.zeros(n, dtype=bool)
        inside[open_rows] = points_in_boundary(
            lon[open_rows], lat[open_rows], rules.boundary, tolerance_m=rules.boundary_tolerance_m
        )
        outside = open_rows & ~inside
        if outside.any():
            flipped = np.zeros(n, dtype=bool)
            flipped[outside] = points_in_boundary(
                lat[outside], lon[outside], rules.boundary, rules.boundary_tolerance_m
            )
            reject(flipped, y_name, "latitude and longitude look swapped (inside when swapped)")
            reject(outside, f"{x_name}/{y_name}", "outside the jurisdiction boundary")

    # de-duplication within the file
    source_id = _text(table, mapping.source_id)
    description = _text(table, mapping.description)
    keys = dedupe_keys(rules.source, source_id, utc_s, lon, lat, codes, description)
    open_rows = np.asarray(reason == None, dtype=bool)  # noqa: E711
    if open_rows.any():
        key_series = pd.Series(keys[open_rows])
        dup = key_series.duplicated(keep="first").to_numpy()
        if dup.any():
            first_line = (
                pd.Series(lines[open_rows]).groupby(key_series.to_numpy()).transform("first")
            ).to_numpy()
            idx = np.flatnonzero(open_rows)[dup]
            dup_field = mapping.source_id or "(whole row)"
            for i, first in zip(idx, first_line[dup], strict=True):
                reason[i] = f"duplicate of line {first} in the same file"
                bad_field[i] = dup_field

    good = np.asarray(reason == None, dtype=bool)  # noqa: E711
    cells = cells_from_points(lat[good], lon[good], resolution)
    detail_index, details = _details(table, mapping)
    incidents = pd.DataFrame(
        {
            "key": keys[good],
            "source_id": source_id[good].reset_index(drop=True),
            "occurred_at": utc_s[good],
            "lon": lon[good],
            "lat": lat[good],
            "cell": cells,
            "category": codes[good].reset_index(drop=True),
            "detail": detail_index[good],
            "line": lines[good],
        }
    )
    rejects = _reject_frame(table, field_names, ~good, lines, bad_field, reason)
    return PreparedIncidents(incidents, rejects, n, new_categories, details)


def _reject_bad_text(table: pa.Table, mapping: ColumnMapping, reject) -> None:
    """Reject rows whose record id or category holds control characters (a NUL byte cannot
    be stored in PostgreSQL text), or whose text fields are longer than the database keeps."""
    for name, column in mapping.input_columns().items():
        if name in {"occurred_at", "lon", "lat"}:
            continue
        text = table.column(column)
        limit = MAX_CHARS.get(name, MAX_TEXT_CHARS)
        too_long = pc.fill_null(pc.greater(pc.utf8_length(text), limit), False)
        reject(too_long.to_numpy(zero_copy_only=False), column, f"longer than {limit} characters")
        if name in {"source_id", "category"}:
            control = pc.fill_null(pc.match_substring_regex(text, CONTROL_CHARACTERS), False)
            reject(control.to_numpy(zero_copy_only=False), column, "control characters in the text")


def _details(table: pa.Table, mapping: ColumnMapping) -> tuple[np.ndarray, pd.DataFrame]:
    """Dictionary-encode the descriptive columns: an index per row and the distinct values."""
    parts = []
    for column in (mapping.offense_code, mapping.description, mapping.location_type):
        if column is None:
            parts.append(pa.array([""] * table.num_rows, type=pa.string()))
        else:
            text = pc.fill_null(pc.utf8_trim_whitespace(table.column(column)), "")
            # Control characters are no part of a description (and \x1f joins the parts).
            parts.append(pc.replace_substring_regex(text, CONTROL_CHARACTERS, " "))
    joined = pc.binary_join_element_wise(*parts, "\x1f")
    encoded = pc.dictionary_encode(joined)
    if isinstance(encoded, pa.ChunkedArray):
        encoded = encoded.combine_chunks()
    index = encoded.indices.to_numpy(zero_copy_only=False).astype(np.int64)
    values = [v.split("\x1f") for v in encoded.dictionary.to_pylist()]
    return index, pd.DataFrame(values, columns=list(DETAIL_COLUMNS))


def _coordinates_to_wgs84(
    x: np.ndarray, y: np.ndarray, mapping: ColumnMapping
) -> tuple[np.ndarray, np.ndarray]:
    if mapping.lon is None or mapping.lat is None:
        return x, y  # spatial files are converted from their own CRS when read
    from geo.coords import normalise_crs_name, to_wgs84

    if normalise_crs_name(mapping.crs) == "EPSG:4326":
        return x, y
    ok = np.isfinite(x) & np.isfinite(y)
    lon = np.full(x.shape, np.nan)
    lat = np.full(y.shape, np.nan)
    if ok.any():
        lon[ok], lat[ok] = to_wgs84(x[ok], y[ok], mapping.crs)
    return lon, lat


def _reject_frame(
    table: pa.Table,
    field_names: dict[str, str],
    bad: np.ndarray,
    lines: np.ndarray,
    bad_field: np.ndarray,
    reason: np.ndarray,
) -> pd.DataFrame:
    idx = np.flatnonzero(bad)
    if idx.size == 0:
        return pd.DataFrame(
            {
                "line": pd.Series(dtype=np.int64),
                "field": pd.Series(dtype=object),
                "reason": pd.Series(dtype=object),
                "raw": pd.Series(dtype=object),
            }
        )
    columns = list(dict.fromkeys(field_names.values()))
    subset = table.take(pa.array(idx)).select(columns).to_pylist()
    raw = [json.dumps(row, ensure_ascii=False) for row in subset]
    return pd.DataFrame(
        {
            "line": lines[idx],
            "field": bad_field[idx],
            "reason": reason[idx],
            "raw": raw,
        }
    )
