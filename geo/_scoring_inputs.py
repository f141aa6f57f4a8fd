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

from geo._frames import check_incidents
from geo.checks import check_cells, check_number, check_seconds
from geo.errors import GeoError

__all__ = [
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
    frame = check_incidents(incidents)
    weights_by_code = _check_category_weights(category_weights)
    selected = _check_categories(categories)

    times = frame["occurred_at"].to_numpy().astype(np.int64, copy=False)
    before = times < as_of
    times = times[before]
    incident_cells = frame["cell"].to_numpy()[before]
    incident_cells = (
        incident_cells.view(np.int64)
        if incident_cells.dtype == np.uint64
        else incident_cells.astype(np.int64, copy=False)
    )
    order = np.argsort(study, kind="stable")
    sorted_study = study[order]
    position = np.minimum(np.searchsorted(sorted_study, incident_cells), study.size - 1)
    inside = sorted_study[position] == incident_cells
    index = order[position[inside]]
    times = times[inside]

    # Map the few distinct category codes, not every incident.
    codes, uniques = pd.factorize(frame["category"], use_na_sentinel=True)
    codes = codes[before][inside]
    unique_codes = [str(u) for u in uniques]
    code_weight = np.array(
        [float(weights_by_code.get(u, 1.0)) for u in unique_codes] + [1.0], dtype=np.float64
    )
    code_selected = np.array(
        [selected is None or u in selected for u in unique_codes] + [selected is None],
        dtype=bool,
    )
    weight = code_weight[codes]  # the NA sentinel -1 reads the last slot
    in_group = code_selected[codes]
    kept = weight > 0
    return Prepared(
        cells=study,
        as_of_s=as_of,
        times=times[kept],
        index=index[kept].astype(np.int64),
        weight=weight[kept],
        in_group=in_group[kept],
        has_group=selected is not None,
    )


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
