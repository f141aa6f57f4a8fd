"""Backtest forecasters: the models a backtest compares, and the checks on their scores.

A :class:`Forecaster` names a callable ``fn(train, cells, as_of_s) -> scores`` and says whether
it wants every category or only the group being tested. :func:`naive_count_forecaster` (the
reference), :func:`constant_forecaster` (the sanity check) and :func:`model_forecaster` (any
:mod:`geo.scoring` model) build the usual ones; :func:`check_scores` checks what a forecaster
returns. :mod:`geo.backtest` re-exports them.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from geo.errors import GeoError
from geo.evaluation import test_counts_from_incidents as _counts_in_cells
from geo.scoring import MODELS, score_cells

__all__ = [
    "IN_GROUP_COLUMN",
    "Forecaster",
    "naive_count_forecaster",
    "constant_forecaster",
    "model_forecaster",
    "check_scores",
]

# Column added to a pooling forecaster's training frame: True for the tested group's incidents.
IN_GROUP_COLUMN = "in_group"

ForecastFn = Callable[[pd.DataFrame, np.ndarray, int], Any]


@dataclass(frozen=True)
class Forecaster:
    """A named forecasting model the harness can call at each origin.

    Attributes
    ----------
    name
        Label in tables and charts; unique within one backtest.
    fn
        ``fn(train, cells, as_of_s) -> scores``. ``train`` is the incidents frame cut to
        ``occurred_at < as_of_s`` (sorted by time; incidents outside the study cells
        included), ``cells`` the read-only study-cell array and ``scores`` one number per
        study cell (higher is hotter; ties allowed, NaN not).
    uses_all_categories
        False (the default): ``train`` holds only the category group being tested. True:
        ``train`` holds every category, so a pooling model can borrow strength from related
        categories, plus a boolean column ``in_group`` (:data:`IN_GROUP_COLUMN`) marking the
        incidents of the group being tested.
    """

    name: str
    fn: ForecastFn
    uses_all_categories: bool = False

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name:
            raise GeoError(f"Forecaster name must be a non-empty string, got {self.name!r}")
        if not callable(self.fn):
            raise GeoError(f"Forecaster {self.name!r}: fn must be callable, got {self.fn!r}")
        if not isinstance(self.uses_all_categories, bool):
            raise GeoError(
                f"Forecaster {self.name!r}: uses_all_categories must be True or False, "
                f"got {self.uses_all_categories!r}"
            )


# --- built-in forecasters ----------------------------------------------------------------------


def naive_count_forecaster(name: str = "naive") -> Forecaster:
    """Return the reference baseline: each cell's count over all its training history.

    The :class:`Forecaster` is labelled ``name`` and sees only the group being tested. Cells
    with equal counts tie (all the never-seen cells form one tie at the bottom).
    """

    def forecast(train: pd.DataFrame, cells: np.ndarray, as_of_s: int) -> np.ndarray:
        counts, _ = _counts_in_cells(cells, train["cell"].to_numpy(dtype=np.int64))
        return counts.astype(np.float64)

    return Forecaster(name=name, fn=forecast)


def constant_forecaster(name: str = "constant") -> Forecaster:
    """Return the sanity check: every cell scores the same.

    With ties counted as their expected value its curve is ``HR(p) = p`` (times the share of
    test incidents inside the study cells), so AUC20 is exactly 0.1 and PAI 1 when every test
    incident is inside. The :class:`Forecaster` is labelled ``name``.
    """

    def forecast(train: pd.DataFrame, cells: np.ndarray, as_of_s: int) -> np.ndarray:
        return np.zeros(cells.size, dtype=np.float64)

    return Forecaster(name=name, fn=forecast)


def model_forecaster(
    model: str,
    *,
    params: Any = None,
    category_weights: Mapping[str, float] | None = None,
    pool_categories: bool = False,
    name: str | None = None,
) -> Forecaster:
    """Return a forecaster that scores with a model of :func:`geo.scoring.score_cells`.

    Parameters
    ----------
    model
        A key of :data:`geo.scoring.MODELS`, e.g. ``"default"``.
    params
        The model's parameter dataclass; ``None`` for its defaults.
    category_weights
        ``code -> weight`` passed to the model; ``None`` weighs every incident 1 (plain
        counts, as the benchmarks compare).
    pool_categories
        False (the default): the model sees only the group being tested. True: it sees every
        category (:attr:`Forecaster.uses_all_categories`) and scores the group's categories
        with the others as context, so a pooling model (the default blend's all-crime
        feature) can borrow strength from them. An origin with no incident of the group in
        its history then scores every cell 0.
    name
        Label in tables and charts; the model's name by default.

    Returns
    -------
    Forecaster

    Raises
    ------
    GeoError
        For an unknown model. Parameters, weights and the training data are checked by
        :func:`geo.scoring.score_cells` at each call.
    """
    if model not in MODELS:
        raise GeoError(f"model must be one of {sorted(MODELS)}, got {model!r}")

    def forecast(train: pd.DataFrame, cells: np.ndarray, as_of_s: int) -> np.ndarray:
        codes: tuple[str, ...] | None = None
        if pool_categories:
            in_group = train[IN_GROUP_COLUMN].to_numpy(dtype=bool)
            if in_group.size and not in_group.any():
                return np.zeros(cells.size, dtype=np.float64)
            if not in_group.all():
                codes = tuple(train.loc[in_group, "category"].unique())
            train = train.drop(columns=[IN_GROUP_COLUMN])
        scored = score_cells(
            train,
            cells,
            as_of_s,
            model=model,
            params=params,
            category_weights=category_weights,
            categories=codes,
        )
        return scored["score"].to_numpy()

    return Forecaster(
        name=model if name is None else name, fn=forecast, uses_all_categories=pool_categories
    )


# --- scores ------------------------------------------------------------------------------------


def check_scores(raw: Any, n_cells: int, where: str) -> np.ndarray:
    """Return scores as a fresh float64 array, or raise naming where they came from."""
    array = np.asarray(raw)
    if array.shape != (n_cells,) or (array.size and array.dtype.kind not in "biuf"):
        raise GeoError(
            f"{where} must give one number per study cell ({n_cells}), got shape "
            f"{array.shape} and dtype {array.dtype}"
        )
    array = array.astype(np.float64)  # a copy: later changes to raw cannot reach us
    if np.isnan(array).any():
        raise GeoError(
            f"{where} gave {np.count_nonzero(np.isnan(array))} NaN scores; give cells "
            "without a forecast a low score instead"
        )
    return array
