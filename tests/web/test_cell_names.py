"""Readable cell names: grid and number, reading order, search."""

from __future__ import annotations

import h3
import pandas as pd

from web.services.cell_names import _names


def _cells_around(lat: float, lng: float, k: int) -> list[int]:
    centre = h3.latlng_to_cell(lat, lng, 9)
    return sorted(h3.str_to_int(c) for c in h3.grid_disk(centre, k))


def _loader(frames: dict[str, pd.DataFrame]):
    empty = pd.DataFrame({"area_id": [], "cell": []})
    return lambda kind: frames.get(kind, empty)


def test_cells_are_numbered_per_grid_in_reading_order():
    cells = _cells_around(39.77, 98.29, 2)
    names = _names(_loader({"grid": pd.DataFrame({"area_id": "G001", "cell": cells})}))
    numbers = {c: int(names.name(c).split("-")[1]) for c in cells}
    assert sorted(numbers.values()) == list(range(1, len(cells) + 1))
    lat = {c: h3.cell_to_latlng(h3.int_to_str(c))[0] for c in cells}
    first, last = min(cells, key=numbers.get), max(cells, key=numbers.get)
    assert lat[first] > lat[last]  # number 1 is in the north, the last in the south


def test_grid_names_win_over_beats_and_unnamed_cells_keep_their_id():
    cells = _cells_around(41.88, -87.63, 1)
    grid = pd.DataFrame({"area_id": "G061", "cell": cells[:3]})
    beat = pd.DataFrame({"area_id": "0111", "cell": cells[:5]})
    names = _names(_loader({"grid": grid, "beat": beat}))
    assert all(names.name(c).startswith("G061-") for c in cells[:3])
    assert all(names.name(c).startswith("0111-") for c in cells[3:5])
    loose = cells[6]
    assert names.name(loose) == h3.int_to_str(loose)
    assert names.label(cells[0]) == f"{names.name(cells[0])} ({h3.int_to_str(cells[0])})"
    assert names.label(loose) == h3.int_to_str(loose)
    assert names.name(h3.int_to_str(cells[0])) == names.name(cells[0])  # hex in, same name


def test_find_by_name_id_or_grid_prefix():
    cells = _cells_around(39.77, 98.29, 1)
    names = _names(_loader({"grid": pd.DataFrame({"area_id": "G007", "cell": cells})}))
    some = cells[2]
    assert names.find(names.name(some).lower()) == [some]
    assert names.find(h3.int_to_str(some)) == [some]
    grid = names.find("g007")
    assert sorted(grid) == cells
    assert [names.name(c) for c in grid][:2] == ["G007-1", "G007-2"]
    assert names.find("G00") == []  # a prefix must be a whole area id
    assert names.find("x" * 100) == []
    assert names.find("  ") == []
    assert len(names.find("G007", limit=3)) == 3
