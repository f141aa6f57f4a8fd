"""Small text tables (categories, units, stations): read as strings, required columns checked."""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path

import pandas as pd

from geo.checks import CONTROL_CHARACTERS
from geo.errors import FileFormatError

__all__ = ["check_text_column", "check_unique", "read_text_table"]

_CONTROL = re.compile(CONTROL_CHARACTERS)


def read_text_table(path: str | Path, what: str, required: Sequence[str]) -> pd.DataFrame:
    """Read a UTF-8 CSV with every value as text (empty cells as "").

    Raises ``FileFormatError`` naming the file when it cannot be read ("cannot read the
    ``what`` file") or lacks one of the ``required`` columns.
    """
    try:
        frame = pd.read_csv(path, dtype=str, keep_default_na=False, encoding="utf-8")
    except (OSError, UnicodeDecodeError, pd.errors.ParserError) as err:
        raise FileFormatError(f"{path}: cannot read the {what} file: {err}") from err
    missing = [c for c in required if c not in frame.columns]
    if missing:
        raise FileFormatError(
            f"{path}: missing column(s) {', '.join(missing)}; expected {', '.join(required)}"
        )
    return frame


def check_text_column(
    path: str | Path, frame: pd.DataFrame, column: str, limit: int, *, required: bool
) -> None:
    """Check that every cell of ``column`` is one line of at most ``limit`` characters, and
    not blank where ``required``; store the values stripped, blanks (NaN too) as "".

    Raises ``FileFormatError`` naming the file, line and field.
    """
    values = []
    for offset, raw in enumerate(frame[column].tolist()):
        text = "" if raw is None or pd.isna(raw) else str(raw).strip()
        where = f"{path}: line {offset + 2}, field {column}"
        if required and not text:
            raise FileFormatError(f"{where}: empty")
        if len(text) > limit or _CONTROL.search(text):
            raise FileFormatError(
                f"{where}: one line of at most {limit} characters, got {text[:40]!r}"
            )
        values.append(text)
    frame[column] = values


def check_unique(path: str | Path, frame: pd.DataFrame, column: str) -> None:
    """Raise ``FileFormatError`` naming the line where a value of ``column`` is given again
    (and the line of its first use)."""
    seen: dict[object, int] = {}
    for offset, value in enumerate(frame[column].tolist()):
        first = seen.setdefault(value, offset + 2)
        if first != offset + 2:
            raise FileFormatError(
                f"{path}: line {offset + 2}, field {column}: {value!r} is given twice "
                f"(first on line {first})"
            )
