"""Small text tables (categories, units, stations): read as strings, required columns checked."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pandas as pd

from geo.errors import FileFormatError

__all__ = ["read_text_table"]


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
