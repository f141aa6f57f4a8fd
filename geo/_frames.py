"""Checks shared by the modules that take an incidents frame (scoring, backtesting)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from geo.errors import GeoError

INCIDENT_COLUMNS = ("occurred_at", "cell", "category")
# Later than the year 5000 in seconds: larger values are milli-, micro- or nanoseconds.
MAX_SECONDS = 10**11


def check_incidents(incidents: Any) -> pd.DataFrame:
    """Check an incidents frame's columns and their types; return it unchanged."""
    if not isinstance(incidents, pd.DataFrame):
        raise GeoError(f"incidents must be a DataFrame, got {type(incidents).__name__}")
    missing = [c for c in INCIDENT_COLUMNS if c not in incidents.columns]
    if missing:
        raise GeoError(
            f"incidents lacks columns {missing}; expected {list(INCIDENT_COLUMNS)}, got "
            f"{list(incidents.columns)}"
        )
    for column in ("occurred_at", "cell"):
        if incidents[column].dtype.kind not in "iu":
            raise GeoError(
                f"incidents['{column}'] must hold int64 values, got dtype {incidents[column].dtype}"
            )
    times = incidents["occurred_at"].to_numpy()
    if times.size and int(np.abs(times).max()) > MAX_SECONDS:
        raise GeoError(
            "incidents['occurred_at'] must be UTC seconds; values up to "
            f"{int(np.abs(times).max())} look like milli-, micro- or nanoseconds"
        )
    return incidents
