"""What every scoring model shares: checked inputs, parameter checks and the result frame.

:func:`prepare` checks the incidents, study cells, time, category weights and category filter
of a scoring call and cuts the incidents to the study cells and the time before ``as_of_s``
(:class:`Prepared`). :func:`model_entry` gives a model written against prepared data the
public signature of the ``geo.scoring.score_*`` functions; :func:`result_frame` assembles the
frame they return. The models themselves live in :mod:`geo.scoring_counts`,
:mod:`geo.scoring_sepp` and :mod:`geo.scoring_blend`; :mod:`geo.scoring` is the entry point.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from geo._frames import MAX_SECONDS, check_incidents
from geo.checks import check_cells, check_number, check_seconds
from geo.errors import GeoError

__all__ = [
    "IndexedIncidents",
    "Prepared",
    "prepare",
    "check_params",
    "check_positive",
    "check_optional_positive",
    "model_entry",
    "result_frame",
]

_P = TypeVar("_P")
_R = TypeVar("_R")


# --- argument checks ----------------------------------------------------------------------------


def check_positive(value: Any, name: str) -> None:
    """Raise unless ``value`` is a finite number > 0."""
    check_number(value, name, low=0.0, low_open=True)


def check_optional_positive(value: Any, name: str) -> None:
    """Raise unless ``value`` is None or a finite number > 0."""
    if value is not None:
        check_positive(value, name)


def check_params(params: Any, expected: type[_P]) -> _P:
    """Return ``params``, or the defaults for ``None``; raise for another type."""
    if params is None:
        return expected()
    if not isinstance(params, expected):
        raise GeoError(f"params must be a {expected.__name__}, got {type(params).__name__}")
    return params


# --- preparation --------------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class IndexedIncidents:
    """Incidents whose cells and categories are already small integers: what a caller that
    keeps many incidents in memory passes instead of a frame, so scoring looks up each
    distinct cell and category once rather than every incident's.

    Incident ``i`` happened at ``occurred_at[i]`` (int64 UTC seconds) in cell
    ``cell_ids[cell_index[i]]``, of category ``category_codes[category_index[i]]`` (-1 for
    none, as a frame's missing category). The arrays are not modified.
    """

    occurred_at: NDArray[np.int64]
    cell_index: NDArray[np.integer]
    cell_ids: NDArray[np.int64]
    category_index: NDArray[np.integer]
    category_codes: tuple[str, ...]

    def __post_init__(self) -> None:
        n = len(self.occurred_at)
        if len(self.cell_index) != n or len(self.category_index) != n:
            raise GeoError(
                "IndexedIncidents: occurred_at, cell_index and category_index must have one "
                f"length, got {n}, {len(self.cell_index)} and {len(self.category_index)}"
            )
        if n and max(-int(self.occurred_at.min()), int(self.occurred_at.max())) > MAX_SECONDS:
            raise GeoError("IndexedIncidents.occurred_at must be UTC seconds")
        if n and (
            int(self.cell_index.min()) < 0 or int(self.cell_index.max()) >= len(self.cell_ids)
        ):
            raise GeoError("IndexedIncidents.cell_index must point into cell_ids")
        if n and (
            int(self.category_index.min()) < -1
            or int(self.category_index.max()) >= len(self.category_codes)
        ):
            raise GeoError("IndexedIncidents.category_index must point into category_codes")

    def __len__(self) -> int:
        return len(self.occurred_at)


@dataclass(frozen=True, eq=False)
class Prepared:
    """Validated incidents before ``as_of_s`` in study cells, with weights and group flags."""

    cells: NDArray[np.int64]
    as_of_s: int
    times: NDArray[np.int64]
    index: NDArray[np.int64]
    weight: NDArray[np.float64]
    in_group: NDArray[np.bool_]
    has_group: bool

    def group_counts(self) -> NDArray[np.float64]:
        """Weighted count of the selected incidents per cell."""
        return np.bincount(
            self.index[self.in_group],
            weights=self.weight[self.in_group],
            minlength=self.cells.size,
        ).astype(np.float64)


def prepare(
    incidents: Any,
    cells: Any,
    as_of_s: Any,
    category_weights: Any,
    categories: Any,
) -> Prepared:
    """Check the inputs and cut the incidents to the study cells and the time before as_of."""
    study = check_cells(cells)
    as_of = check_seconds(as_of_s, "as_of_s")
    weights_by_code = _check_category_weights(category_weights)
    selected = _check_categories(categories)
    if isinstance(incidents, IndexedIncidents):
        code_weight, code_selected = _code_tables(
            incidents.category_codes, weights_by_code, selected
        )
        times, index, codes = _indexed_columns(incidents, study, as_of, code_weight > 0)
    else:
        times, index, codes, code_names = _frame_columns(incidents, study, as_of)
        code_weight, code_selected = _code_tables(code_names, weights_by_code, selected)
        kept = code_weight[codes] > 0
        times, index, codes = times[kept], index[kept], codes[kept]
    return Prepared(
        cells=study,
        as_of_s=as_of,
        times=times,
        index=index.astype(np.int64, copy=False),
        weight=code_weight[codes],  # the missing-category code -1 reads the last slot
        in_group=code_selected[codes],
        has_group=selected is not None,
    )


def _code_tables(
    code_names: Collection[str], weights_by_code: Mapping[str, float], selected: frozenset | None
) -> tuple[NDArray[np.float64], NDArray[np.bool_]]:
    """Each category code's weight and whether the filter selects it, plus a last slot for
    incidents without a category: the few distinct codes are weighed, not every incident."""
    weight = [float(weights_by_code.get(str(u), 1.0)) for u in code_names] + [1.0]
    chosen = [selected is None or str(u) in selected for u in code_names] + [selected is None]
    return np.array(weight, dtype=np.float64), np.array(chosen, dtype=bool)


def _frame_columns(
    incidents: Any, study: NDArray[np.int64], as_of: int
) -> tuple[NDArray[np.int64], NDArray[np.int64], NDArray[np.integer], list[str]]:
    """(times, study-cell index, category code, code names) of a frame's incidents before
    ``as_of`` in study cells."""
    frame = check_incidents(incidents)
    times = frame["occurred_at"].to_numpy().astype(np.int64, copy=False)
    before = times < as_of
    incident_cells = frame["cell"].to_numpy()[before]
    incident_cells = (
        incident_cells.view(np.int64)
        if incident_cells.dtype == np.uint64
        else incident_cells.astype(np.int64, copy=False)
    )
    index, inside = _study_index(study, incident_cells)
    codes, uniques = pd.factorize(frame["category"], use_na_sentinel=True)
    return times[before][inside], index[inside], codes[before][inside], [str(u) for u in uniques]


def _indexed_columns(
    incidents: IndexedIncidents, study: NDArray[np.int64], as_of: int, code_kept: NDArray[np.bool_]
) -> tuple[NDArray[np.int64], NDArray[np.int64], NDArray[np.integer]]:
    """(times, study-cell index, category code) of the incidents before ``as_of`` in study
    cells whose category is kept (``code_kept``, with the last slot for code -1): each
    distinct cell is looked up once."""
    index_of_cell, cell_inside = _study_index(study, np.asarray(incidents.cell_ids, np.int64))
    study_of_cell = np.where(cell_inside, index_of_cell, -1)[incidents.cell_index]
    kept = (incidents.occurred_at < as_of) & (study_of_cell >= 0)
    kept &= code_kept[incidents.category_index]
    return (
        np.asarray(incidents.occurred_at, dtype=np.int64)[kept],
        study_of_cell[kept],
        incidents.category_index[kept],
    )


def _study_index(
    study: NDArray[np.int64], cells: NDArray[np.int64]
) -> tuple[NDArray[np.int64], NDArray[np.bool_]]:
    """For each of ``cells``, its position in ``study`` (meaningful where the mask is True)
    and whether it is a study cell."""
    order = np.argsort(study, kind="stable")
    sorted_study = study[order]
    position = np.minimum(np.searchsorted(sorted_study, cells), max(study.size - 1, 0))
    inside = sorted_study[position] == cells if study.size else np.zeros(len(cells), bool)
    return order[position], inside


def _check_category_weights(weights: Any) -> Mapping[str, float]:
    """Check ``code -> weight`` has finite, non-negative weights."""
    if weights is None:
        return {}
    if not isinstance(weights, Mapping):
        raise GeoError(f"category_weights must map code -> weight, got {type(weights).__name__}")
    for code, value in weights.items():
        try:
            number = float(value)
        except (TypeError, ValueError) as err:
            raise GeoError(f"category_weights[{code!r}] must be a number, got {value!r}") from err
        if not (math.isfinite(number) and number >= 0):
            raise GeoError(f"category_weights[{code!r}] must be finite and >= 0, got {value!r}")
    return weights


def _check_categories(categories: Any) -> frozenset[str] | None:
    """Check the category filter is None or a non-empty collection of codes."""
    if categories is None:
        return None
    if isinstance(categories, str) or not isinstance(categories, Collection):
        raise GeoError(
            f"categories must be a collection of codes such as ('BURGLARY',), got {categories!r}"
        )
    codes = frozenset(categories)
    if not codes or not all(isinstance(c, str) for c in codes):
        raise GeoError(f"categories must name at least one code (str), got {categories!r}")
    return codes


# --- the models' public form --------------------------------------------------------------------


def model_entry(
    name: str, params_type: type[_P], model: Callable[[Prepared, _P], _R]
) -> Callable[..., _R]:
    """Give ``model(data, params)`` the public signature every scoring model shares.

    The function returned is called as ``name(incidents, cells, as_of_s, params=None, *,
    category_weights=None, categories=None)``: it checks ``params`` (``None`` for the
    defaults of ``params_type``), then the other inputs (:func:`prepare`), and runs
    ``model`` on them. It carries ``model``'s docstring, so that documents the public
    function.
    """

    def entry(
        incidents: pd.DataFrame,
        cells: np.ndarray,
        as_of_s: int,
        params: _P | None = None,
        *,
        category_weights: Mapping[str, float] | None = None,
        categories: Collection[str] | None = None,
    ) -> _R:
        checked = check_params(params, params_type)
        data = prepare(incidents, cells, as_of_s, category_weights, categories)
        return model(data, checked)

    entry.__name__ = entry.__qualname__ = name
    entry.__module__ = model.__module__
    entry.__doc__ = model.__doc__
    entry.__annotations__ = {
        **entry.__annotations__,
        "params": f"{params_type.__name__} | None",
        "return": model.__annotations__.get("return", "Any"),
    }
    return entry


def result_frame(
    cells: NDArray[np.int64], score: NDArray[np.float64], columns: Mapping[str, NDArray[Any]]
) -> pd.DataFrame:
    """Assemble ``cell``, ``score`` and the explanation columns."""
    frame = {"cell": cells.astype(np.int64), "score": np.asarray(score, dtype=np.float64)}
    frame.update({name: np.asarray(v, dtype=np.float64) for name, v in columns.items()})
    return pd.DataFrame(frame)
