"""Incident categories: the editable category file and matching raw category text to codes.

The category file (``data/categories.csv`` ships the default) is a UTF-8 CSV with columns

``code``
    Upper-case category code, e.g. ``BURGLARY``; the key incidents refer to.
``name_en``, ``name_zh``
    Display names in English and Simplified Chinese.
``weight``
    Severity weight (>= 0) used by the weighted hotspot scores.
``group``
    A coarse group (violent, property, disorder, police_initiated, other).
``police_initiated``
    ``true`` when recorded counts mostly reflect police activity (stops, searches) rather
    than victimisation; scoring can exclude or down-weight these.
``aliases``
    Other spellings that mean the same category, separated by ``;``.

Raw text is matched after normalisation: upper case, surrounding spaces stripped, runs of
white space folded to one space.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd

from geo.checks import CONTROL_CHARACTERS
from geo.errors import FileFormatError
from geo.tables import read_text_table

__all__ = [
    "CATEGORY_COLUMNS",
    "load_categories",
    "normalise_category_text",
    "category_codes_from_text",
]

CATEGORY_COLUMNS = ("code", "name_en", "name_zh", "weight", "group", "police_initiated", "aliases")
_TRUE = {"true", "1", "yes", "y", "t"}
_FALSE = {"false", "0", "no", "n", "f", ""}
# The longest text the database keeps per field (web/storage/schema.py).
_MAX_CHARS = {"code": 80, "name_en": 120, "name_zh": 120, "group": 40}


def normalise_category_text(values: pd.Series) -> pd.Series:
    """Upper-case, strip and fold white space; missing values stay missing."""
    # Category columns repeat a few dozen values: normalise the distinct ones only.
    codes, uniques = pd.factorize(values.astype("string"), use_na_sentinel=True)
    clean = [" ".join(str(u).upper().split()) for u in uniques]
    lookup = np.array(clean + [None], dtype=object)  # index -1 (missing) takes the last slot
    return pd.Series(lookup[codes], index=values.index, dtype="string")


def load_categories(path: str | Path) -> pd.DataFrame:
    """Read and validate a category file.

    Returns
    -------
    pandas.DataFrame
        Columns ``code, name_en, name_zh, weight (float), group, police_initiated (bool),
        aliases (tuple of str)``, one row per code.

    Raises
    ------
    FileFormatError
        Naming the file, line and field for a missing column, duplicate code or alias,
        a weight that is not a number >= 0, or a flag that is not true/false.
    """
    path = Path(path)
    frame = read_text_table(path, "category", CATEGORY_COLUMNS)
    if frame.empty:
        raise FileFormatError(f"{path}: the category file has no rows")
    rows = []
    seen: dict[str, int] = {}
    for offset, record in enumerate(frame.to_dict("records")):
        line = offset + 2  # the header is line 1
        code = " ".join(record["code"].strip().upper().split())
        if not code:
            raise FileFormatError(f"{path}: line {line}, field code: empty")
        try:
            weight = float(record["weight"])
        except ValueError:
            raise FileFormatError(
                f"{path}: line {line}, field weight: {record['weight']!r} is not a number"
            ) from None
        if not np.isfinite(weight) or weight < 0:
            raise FileFormatError(f"{path}: line {line}, field weight: must be >= 0, got {weight}")
        flag = record["police_initiated"].strip().lower()
        if flag not in _TRUE | _FALSE:
            raise FileFormatError(
                f"{path}: line {line}, field police_initiated: expected true or false, "
                f"got {record['police_initiated']!r}"
            )
        aliases = tuple(
            " ".join(a.strip().upper().split()) for a in record["aliases"].split(";") if a.strip()
        )
        for name in (code, *aliases):
            if name in seen:
                raise FileFormatError(
                    f"{path}: line {line}: {name!r} is already used on line {seen[name]}"
                )
            seen[name] = line
        row = {
            "code": code,
            "name_en": record["name_en"].strip() or code.title(),
            "name_zh": record["name_zh"].strip() or record["name_en"].strip() or code,
            "weight": weight,
            "group": record["group"].strip() or "other",
            "police_initiated": flag in _TRUE,
            "aliases": aliases,
        }
        _check_text(path, line, row)
        rows.append(row)
    return pd.DataFrame(rows, columns=list(CATEGORY_COLUMNS))


def _check_text(path: Path, line: int, row: dict) -> None:
    """Raise for a text field longer than the database keeps, or with control characters
    (PostgreSQL refuses a NUL)."""
    for name, limit in _MAX_CHARS.items():
        value = row[name]
        if len(value) > limit:
            raise FileFormatError(
                f"{path}: line {line}, field {name}: longer than {limit} characters"
            )
        if re.search(CONTROL_CHARACTERS, value):
            raise FileFormatError(f"{path}: line {line}, field {name}: control characters")


def category_codes_from_text(values: pd.Series, categories: pd.DataFrame) -> pd.Series:
    """Map raw category text to category codes.

    Parameters
    ----------
    values
        Raw category text, one per incident.
    categories
        A frame as returned by :func:`load_categories`.

    Returns
    -------
    pandas.Series
        The matching code, or ``<NA>`` where the text matches no code or alias; the
        normalised text itself is available from :func:`normalise_category_text`.
    """
    lookup: dict[str, str] = {}
    for code, aliases in zip(categories["code"], categories["aliases"], strict=True):
        lookup[code] = code
        for alias in aliases:
            lookup[alias] = code
    return normalise_category_text(values).map(lookup).astype("string")
