"""Names people can read for H3 cells: the management grid and a number (``G061-12``).

A grid worker or commander says "G061-12", not "8924ae57577ffff". A cell is named after the
first area kind of :data:`NAME_KINDS` that covers it (grids first, then beats, then districts),
numbered 1, 2, ... inside its area in reading order (north to south, then west to east), so the
numbers of neighbouring cells are close and stay the same while the areas do. A cell no area
covers keeps its H3 id. Pages show the name first and the H3 id second.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

import h3
import numpy as np
import pandas as pd

from web import storage

__all__ = ["NAME_KINDS", "CellNames", "cell_names"]

#: Area kinds cells are named after, the first that covers a cell wins.
NAME_KINDS = ("grid", "beat", "district")

_MEMO_KEY = "cell_names"
# What an H3 id looks like (lower case): anything else never reaches h3, which reads text as
# a hexadecimal number and overflows on "-1" or on more than 16 digits instead of saying no.
_HEX_ID = re.compile(r"[0-9a-f]{15}")


@dataclass(frozen=True)
class CellNames:
    """Cell (int64) -> readable name, and back."""

    by_cell: dict[int, str]
    by_name: dict[str, int]

    def name(self, cell: int | str) -> str:
        """``G061-12`` for a named cell, else its H3 id (``cell`` as int or hex string)."""
        value = _as_int(cell)
        if value is None:
            return str(cell)
        return self.by_cell.get(value) or h3.int_to_str(value)

    def label(self, cell: int | str) -> str:
        """The name and the H3 id in brackets (``G061-12 (8924ae57577ffff)``); only the id
        for a cell without a name."""
        value = _as_int(cell)
        if value is None:
            return str(cell)
        hex_id = h3.int_to_str(value)
        name = self.by_cell.get(value)
        return f"{name} ({hex_id})" if name else hex_id

    def find(self, text: str, limit: int = 20) -> list[int]:
        """Cells whose name or H3 id matches ``text``: an exact name (``g061-12``, any case),
        an H3 id, or the start of a name (``G061`` gives that grid's cells), at most
        ``limit``, in name order."""
        # Full-width letters, digits and dashes (a Chinese keyboard's G０６１－１２) as ASCII.
        query = unicodedata.normalize("NFKC", text).strip().upper()
        if not query or len(query) > 40:
            return []
        if query in self.by_name:
            return [self.by_name[query]]
        cell = _hex_cell(query.lower())
        if cell is not None:
            return [cell]
        prefix = query if query.endswith("-") else f"{query}-"
        found = [name for name in self.by_name if name.startswith(prefix)]
        found.sort(key=_name_order)
        return [self.by_name[name] for name in found[:limit]]


def cell_names(engine, data) -> CellNames:
    """The names of the stored areas' cells, worked out once per site data version."""
    memo = data._memo
    if _MEMO_KEY not in memo:
        memo[_MEMO_KEY] = _names(lambda kind: storage.load_area_cells(engine, kind))
    return memo[_MEMO_KEY]


def _names(load_kind) -> CellNames:
    by_cell: dict[int, str] = {}
    for kind in NAME_KINDS:
        frame = load_kind(kind)
        if frame.empty:
            continue
        frame = frame[~frame["cell"].isin(by_cell)]
        frame = frame.drop_duplicates("cell", keep="first")
        by_cell.update(_numbered(frame))
    by_name = {name.upper(): cell for cell, name in by_cell.items()}
    return CellNames(by_cell=by_cell, by_name=by_name)


def _numbered(frame: pd.DataFrame) -> dict[int, str]:
    """``area_id-n`` for each cell of ``frame`` (``area_id``, ``cell``), in reading order."""
    cells = frame["cell"].to_numpy(dtype=np.int64)
    if not len(cells):
        return {}
    lat, lng = np.array([h3.cell_to_latlng(h3.int_to_str(int(c))) for c in cells]).T
    order = pd.DataFrame(
        {"area_id": frame["area_id"].astype(str).to_numpy(), "cell": cells, "lat": lat, "lng": lng}
    )
    # Rows of about one cell's height (1.5 edges; ~260 m at resolution 9) read west to east.
    edge_m = h3.average_hexagon_edge_length(h3.get_resolution(h3.int_to_str(int(cells[0]))), "m")
    row_deg = 1.5 * edge_m / 111_320.0
    order["row"] = np.floor(-order["lat"] / row_deg).astype(np.int64)
    order = order.sort_values(["area_id", "row", "lng"], kind="stable")
    numbers = order.groupby("area_id", sort=False).cumcount() + 1
    return {
        int(c): f"{a}-{n}" for a, c, n in zip(order["area_id"], order["cell"], numbers, strict=True)
    }


def _as_int(cell: int | str) -> int | None:
    if isinstance(cell, (int, np.integer)):
        return int(cell)
    return _hex_cell(str(cell).strip().lower())


def _hex_cell(text: str) -> int | None:
    """The cell of a lower-case H3 id, else None."""
    if not _HEX_ID.fullmatch(text) or not h3.is_valid_cell(text):
        return None
    return int(h3.str_to_int(text))


def _name_order(name: str) -> tuple[str, int]:
    area, _, number = name.rpartition("-")
    return (area, int(number) if number.isdigit() else 0)
