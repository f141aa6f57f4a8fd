"""Storing feed batches: incidents sent by a machine client (``kind='feed'``) or accepted
field reports (``kind='field'``), one transaction per batch.

A batch is one ``import_runs`` row (file ``feed:<source>``) with one ``feed_runs`` row. Each
incident is new (stored), the same as stored (unchanged: nothing written), or a new version of
a stored one (updated: the row is changed and the version it replaced is kept in
``incident_changes``). Every stored or updated incident gets an ``incident_changes`` row of
this run, so other server processes can bring their in-memory data up to date from it.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np
import pandas as pd
import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from web.storage._shared import now_seconds
from web.storage.importing import (
    ImportFile,
    ensure_categories,
    incident_insert_columns,
    insert_incidents,
    insert_rejects,
    insert_run,
    known_details,
)
from web.storage.schema import feed_runs, import_runs, incident_changes, incidents

__all__ = ["FEED_KINDS", "FeedResult", "feed_file_name", "rows_batch", "store_feed_batch"]

FEED_KINDS = ("feed", "field")
# Columns compared to tell an unchanged incident from a new version of it.
_COMPARED = ("occurred_at", "lon", "lat", "cell", "category_id", "detail_id")
_COORDINATE_TOLERANCE_DEG = 1e-9  # about 0.1 mm: the same place read back from a float column
_IN_CHUNK = 500  # ids per IN (...) query (SQLite's limit on parameters is far above)


@dataclass(frozen=True)
class FeedResult:
    """What a stored batch did.

    ``outcomes`` has one row per input row, in input order (by ``line``): ``line``,
    ``outcome`` ("stored", "updated", "unchanged" or "rejected"), ``id`` (the incident's
    key, for rows kept), ``field`` and ``reason`` (for rejected rows).
    """

    run_id: int
    stored: int
    updated: int
    unchanged: int
    rejected: int
    outcomes: pd.DataFrame


def feed_file_name(source: str) -> str:
    """The ``file`` of a feed batch's import run and rejects."""
    return f"feed:{source}"


def rows_batch(frame: pd.DataFrame, *, source: str, file_sha256: str) -> ImportFile:
    """A batch of incident rows made without the importer (an accepted field report): no
    rejects, no details, starting now."""
    empty = pd.DataFrame({"line": pd.Series(dtype=np.int64), "field": [], "reason": [], "raw": []})
    return ImportFile(
        file=feed_file_name(source),
        file_sha256=file_sha256,
        source=source,
        preset=None,
        started_at=now_seconds(),
        incidents=frame,
        rejects=empty,
        rows_read=len(frame),
    )


def store_feed_batch(
    bind: Engine | Connection, item: ImportFile, *, kind: str = "feed", token_id: int | None = None
) -> FeedResult:
    """Store one batch in one transaction: new incidents, new versions of stored ones, rejects.

    Parameters
    ----------
    bind
        An Engine (a transaction is opened and committed here) or a Connection inside the
        caller's transaction (which the caller commits or rolls back).
    item
        The batch as checked by ``geo.ingest.prepare_incidents``
        (:meth:`ImportFile.from_prepared`): ``file`` is :func:`feed_file_name` of the
        source, ``file_sha256`` the SHA-256 of the request body (or of the report), so the
        rejects of a batch sent twice are not stored twice. Incidents without a ``detail``
        get empty offence code, description and kind of place.
    kind, token_id
        "feed" or "field", and the token that sent the batch (or None).

    Raises
    ------
    ValueError
        For an unknown ``kind``. Any error rolls the whole batch back.
    """
    if kind not in FEED_KINDS:
        raise ValueError(f"kind must be one of {', '.join(FEED_KINDS)}, got {kind!r}")
    if isinstance(bind, Engine):
        with bind.begin() as conn:
            return _store(conn, item, kind, token_id)
    return _store(bind, item, kind, token_id)


def _store(conn: Connection, item: ImportFile, kind: str, token_id: int | None) -> FeedResult:
    frame = item.incidents.reset_index(drop=True)
    if "detail" not in frame:
        frame = frame.assign(detail=0)
        details = pd.DataFrame({"offense_code": [""], "description": [""], "location_type": [""]})
        item = dataclasses.replace(item, details=details)
    item = dataclasses.replace(item, incidents=frame)
    rejects = item.rejects
    now = now_seconds()
    code_to_id = ensure_categories(conn, [item])
    run_id = insert_run(conn, item, finished_at=now)
    outcome = np.full(len(frame), "stored", dtype=object)
    if len(frame):
        detail_ids = known_details(conn, item.details)
        columns = incident_insert_columns(conn, item, run_id, code_to_id, detail_ids)
        stored = _stored_versions(conn, columns["id"])
        known = np.isin(columns["id"], stored["id"].to_numpy(dtype=np.int64))
        if known.any():
            old = stored.set_index("id").loc[columns["id"][known]]
            same = np.ones(int(known.sum()), dtype=bool)
            for name in _COMPARED:
                new_values = columns[name][known]
                if name in ("lon", "lat"):
                    old_values = old[name].to_numpy(dtype=np.float64)
                    same &= np.abs(new_values - old_values) <= _COORDINATE_TOLERANCE_DEG
                else:  # detail_id may be NULL in rows stored before details existed
                    old_values = pd.to_numeric(old[name]).fillna(-1).to_numpy(dtype=np.int64)
                    same &= new_values == old_values
            outcome[np.flatnonzero(known)] = np.where(same, "unchanged", "updated")
            changed = np.flatnonzero(known)[~same]
            if changed.size:
                _log_versions(conn, run_id, old.iloc[np.flatnonzero(~same)])
                _update_incidents(conn, {k: v[changed] for k, v in columns.items()})
        new = outcome == "stored"
        if new.any():
            inserted = insert_incidents(conn, {k: v[new] for k, v in columns.items()})
            if inserted != int(new.sum()):  # a concurrent batch stored one of them first
                raise RuntimeError("incidents of this batch were stored meanwhile; send it again")
            conn.execute(
                sa.insert(incident_changes),
                [{"import_run_id": run_id, "incident_id": int(i)} for i in columns["id"][new]],
            )
    insert_rejects(conn, item, run_id)
    counts = {name: int((outcome == name).sum()) for name in ("stored", "updated", "unchanged")}
    conn.execute(
        sa.update(import_runs)
        .where(import_runs.c.id == run_id)
        .values(inserted=counts["stored"], duplicates=counts["unchanged"])
    )
    conn.execute(
        sa.insert(feed_runs).values(
            import_run_id=run_id,
            kind=kind,
            token_id=token_id,
            updated=counts["updated"],
            unchanged=counts["unchanged"],
        )
    )
    kept = pd.DataFrame(
        {
            "line": frame["line"].to_numpy(dtype=np.int64),
            "outcome": outcome,
            "id": frame["key"].to_numpy(dtype=np.int64).astype(str),
            "field": None,
            "reason": None,
        }
    )
    refused = pd.DataFrame(
        {
            "line": rejects["line"].to_numpy(dtype=np.int64),
            "outcome": "rejected",
            "id": None,
            "field": rejects["field"].astype(object).to_numpy(),
            "reason": rejects["reason"].astype(object).to_numpy(),
        }
    )
    outcomes = pd.concat([kept, refused], ignore_index=True) if len(refused) else kept
    outcomes = outcomes.sort_values("line", kind="stable", ignore_index=True)
    return FeedResult(
        run_id=run_id,
        stored=counts["stored"],
        updated=counts["updated"],
        unchanged=counts["unchanged"],
        rejected=len(rejects),
        outcomes=outcomes,
    )


def _stored_versions(conn: Connection, ids: np.ndarray) -> pd.DataFrame:
    """The stored rows of the incidents with these keys (those that exist)."""
    wanted = [int(i) for i in np.unique(ids)]
    parts = []
    for start in range(0, len(wanted), _IN_CHUNK):
        chunk = wanted[start : start + _IN_CHUNK]
        rows = conn.execute(sa.select(incidents).where(incidents.c.id.in_(chunk))).all()
        parts.append(pd.DataFrame(rows, columns=[c.name for c in incidents.columns]))
    if not parts:
        return pd.DataFrame(columns=[c.name for c in incidents.columns])
    return pd.concat(parts, ignore_index=True)


def _log_versions(conn: Connection, run_id: int, old: pd.DataFrame) -> None:
    """Keep the versions about to be replaced (``old`` indexed by incident key)."""

    def value(v):
        return None if pd.isna(v) else v.item() if hasattr(v, "item") else v

    conn.execute(
        sa.insert(incident_changes),
        [
            {
                "import_run_id": run_id,
                "incident_id": int(row["id"]),
                "old_run_id": int(row["import_run_id"]),
                "old_source_id": value(row["source_id"]),
                "old_occurred_at": int(row["occurred_at"]),
                "old_lon": float(row["lon"]),
                "old_lat": float(row["lat"]),
                "old_cell": int(row["cell"]),
                "old_category_id": int(row["category_id"]),
                "old_detail_id": value(row["detail_id"]),
            }
            for row in old.reset_index().to_dict("records")
        ],
    )


def _update_incidents(conn: Connection, columns: dict[str, np.ndarray]) -> None:
    """Write new versions over stored incidents (``import_run_id`` becomes this run's)."""
    names = [n for n in columns if n != "id"]
    conn.execute(
        sa.update(incidents)
        .where(incidents.c.id == sa.bindparam("key"))
        .values({n: sa.bindparam(f"new_{n}") for n in names}),
        [
            {"key": int(columns["id"][i]), **{f"new_{n}": _plain(columns[n][i]) for n in names}}
            for i in range(len(columns["id"]))
        ],
    )


def _plain(value):
    """A numpy scalar as the Python value a driver takes."""
    return value.item() if hasattr(value, "item") else value
