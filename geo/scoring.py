"""Hotspot scores per study-area cell: baselines, ring smoothing, a self-exciting model and
the backtested blend that is the default.

Every model answers one question: given the incidents that occurred before ``as_of_s``, how
hot is each study cell? :func:`score_cells` runs a model chosen by name from :data:`MODELS`
and returns one score per cell plus explanation columns, one per model component.

Modules
-------
This module is the entry point: :func:`score_cells`, :data:`MODELS`, the category-weight
guardrail and, re-exported, every public name of the models. The models live in
:mod:`geo.scoring_counts` (``naive``, ``weighted_count``, ``ring_smoothed``),
:mod:`geo.scoring_sepp` (``sepp``) and :mod:`geo.scoring_blend` (``default``); what they
share (checked inputs, the public signature, the result frame) in
:mod:`geo._scoring_inputs`.

Inputs
------
Incidents frame
    Columns ``occurred_at`` (``int64`` UTC seconds), ``cell`` (``int64`` H3 id at the study
    resolution) and ``category`` (category code, ``str``). Only incidents with
    ``occurred_at < as_of_s`` are used; incidents whose cell is not a study cell are ignored.
    Or :class:`IndexedIncidents`: the same incidents with cells and categories as indices
    into their distinct values, which a caller holding millions of incidents passes to have
    each distinct cell and category looked up once (the site does).
Study cells
    Distinct ``int64`` H3 ids of one resolution, in any order; the result keeps that order.
Category weights
    ``code -> weight`` (finite, >= 0); a code not in the mapping weighs 1.0, and an incident
    of weight 0 is dropped. :func:`category_weights_from_table` builds the mapping from the
    category table with the police-activity guardrail below.
Categories
    ``None`` (every category) or the codes to score, e.g. ``("BURGLARY",)``.

Models
------
``"naive"``
    Long-run (weighted) count: everything before ``as_of_s``. The baseline to beat.
``"weighted_count"``
    Weighted count over a lookback window, each incident discounted by
    ``0.5 ** (age / half_life)``.
``"ring_smoothed"``
    A (weighted, optionally decayed) count smoothed over H3 rings: ``sum_j kernel[d_ij] *
    count_j`` over study cells ``j`` within ``len(kernel) - 1`` rings of ``i``.
``"sepp"``
    The grid self-exciting point process of Mohler et al. (2015), fitted by EM with
    :func:`fit_sepp`; the score is the expected number of incidents in the next
    ``horizon_days``.
``"default"``
    The blend :func:`fit_blend` fits at each ``as_of_s`` on past data only; see there.

Which default and why
---------------------
On Chicago (res 9, the 5,629 cells whose centres lie in the city, incidents 2016-01 ..
2018-07) the long-run count is a strong baseline. Mean AUC20 against it, monthly origins
2017-07 .. 2018-07 (13, month-ahead) and 56 weekly origins to 2018-07-31 (week-ahead), for
all crime / burglary / violent:

=================  ========================  ========================
model              monthly                   weekly
=================  ========================  ========================
weighted_count     +0.3 / +1.2 / +0.2 %      +0.3 / +1.8 / +0.3 %
ring_smoothed      -1.1 / +1.4 / -1.1 %      -1.1 / +1.3 / -1.1 %
sepp               +0.0 / +0.1 / +0.0 %      (not run)
default            +0.3 / +4.9 / +0.3 %      +0.4 / +5.2 / +0.4 %
=================  ========================  ========================

The default is a log-linear Poisson blend whose coefficients are re-estimated at every
``as_of_s`` on the six month-long windows before it: own long-run count, own counts over
the last year and the last quarter, the neighbours' long-run and last-year counts and, when
``categories`` selects a group, the cell's count over every category (pooling: the
burglary gain falls from +4.9 % to +3.1 % without it). It beat the long-run count at every
monthly origin for all crime, 12 of 13 for burglary and 11 of 13 for violent crime. A guard
falls back to the long-run count when the fitted blend ranks its training windows worse
than the long-run count does. The self-exciting model, fitted on all history, finds little
triggering between days (branching ratio 0.035, mean delay about two hours: mostly
incidents recorded together), so it ranks as the long-run count does.

Guardrail: police-initiated categories
--------------------------------------
Recorded narcotics, weapons, prostitution, gambling, liquor-law and interference offences
mostly count where police already stop and search. Scoring them sends patrols back to where
they were, a feedback loop, so :data:`DEFAULT_POLICE_INITIATED_WEIGHT` is 0.0: with
:func:`category_weights_from_table` they are excluded unless the caller chooses otherwise.
:func:`score_cells` itself weighs every category 1.0 when no weights are given, so scores and
backtests are plain counts unless the caller applies the guardrail.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping
from types import MappingProxyType
from typing import Any

import numpy as np
import pandas as pd

from geo._frames import INCIDENT_COLUMNS
from geo._scoring_inputs import IndexedIncidents
from geo._scoring_inputs import prepare as _prepare  # noqa: F401 - geo.temporal imports it
from geo.errors import GeoError
from geo.scoring_blend import (
    BLEND_FEATURES,
    BlendFit,
    DefaultParams,
    fit_blend,
    score_default,
)
from geo.scoring_counts import (
    NaiveParams,
    RingSmoothedParams,
    WeightedCountParams,
    score_naive,
    score_ring_smoothed,
    score_weighted_count,
)
from geo.scoring_sepp import SeppFit, SeppParams, fit_sepp, score_sepp

__all__ = [
    "DEFAULT_POLICE_INITIATED_WEIGHT",
    "INCIDENT_COLUMNS",
    "IndexedIncidents",
    "BLEND_FEATURES",
    "NaiveParams",
    "WeightedCountParams",
    "RingSmoothedParams",
    "SeppParams",
    "DefaultParams",
    "SeppFit",
    "BlendFit",
    "MODELS",
    "score_cells",
    "score_naive",
    "score_weighted_count",
    "score_ring_smoothed",
    "score_sepp",
    "score_default",
    "fit_sepp",
    "fit_blend",
    "category_weights_from_table",
]

#: Factor applied to the table weight of police-initiated categories by
#: :func:`category_weights_from_table`: 0.0 excludes them (see the module notes).
DEFAULT_POLICE_INITIATED_WEIGHT = 0.0


# --- public entry points ------------------------------------------------------------------------


def score_cells(
    incidents: pd.DataFrame | IndexedIncidents,
    cells: np.ndarray,
    as_of_s: int,
    model: str = "default",
    params: Any = None,
    category_weights: Mapping[str, float] | None = None,
    categories: Collection[str] | None = None,
) -> pd.DataFrame:
    """Score every study cell with a model from :data:`MODELS`.

    Parameters
    ----------
    incidents
        Columns ``occurred_at`` (int64 UTC seconds), ``cell`` (int64) and ``category``, or
        the same as :class:`IndexedIncidents`. Only incidents with ``occurred_at < as_of_s``
        in study cells are used. Not modified.
    cells
        Distinct int64 study cells of one resolution, in any order.
    as_of_s
        Scoring time, UTC seconds.
    model
        A key of :data:`MODELS`.
    params
        The model's parameter dataclass; ``None`` for its defaults.
    category_weights
        ``code -> weight`` (>= 0); missing codes weigh 1.0, weight 0 drops the incidents.
    categories
        Codes to score (e.g. ``("BURGLARY",)``); ``None`` for every category.

    Returns
    -------
    pandas.DataFrame
        One row per cell in the order of ``cells``: ``cell`` (int64), ``score`` (float64,
        higher is hotter) and the model's explanation columns (see each ``score_*``).

    Raises
    ------
    GeoError
        For an unknown model, parameters of the wrong type, or bad incidents, cells, time,
        weights or categories.

    Examples
    --------
    Only the incident before ``as_of_s`` counts:

    >>> cell = 0x89283082803FFFF
    >>> frame = pd.DataFrame({"occurred_at": [0, 10], "cell": [cell, cell], "category": "A"})
    >>> score_cells(frame, np.array([cell]), as_of_s=5, model="naive")["score"].tolist()
    [1.0]
    """
    if model not in MODELS:
        raise GeoError(f"model must be one of {sorted(MODELS)}, got {model!r}")
    function, defaults = MODELS[model]
    return function(
        incidents,
        cells,
        as_of_s,
        defaults if params is None else params,
        category_weights=category_weights,
        categories=categories,
    )


def category_weights_from_table(
    categories_frame: pd.DataFrame,
    police_initiated_weight: float = DEFAULT_POLICE_INITIATED_WEIGHT,
) -> dict[str, float]:
    """Turn the category table into ``code -> weight``, applying the police-activity guardrail.

    Parameters
    ----------
    categories_frame
        Columns ``code``, ``weight`` (>= 0) and ``police_initiated`` (bool), as from
        :func:`geo.categories.load_categories`.
    police_initiated_weight
        Factor on the table weight of police-initiated categories: 0 excludes them (the
        default, :data:`DEFAULT_POLICE_INITIATED_WEIGHT`), 1 keeps the table's weight.

    Returns
    -------
    dict
        One entry per code.

    Raises
    ------
    GeoError
        When a column is missing, a weight is negative or not finite, or the factor is
        outside [0, 1].

    Examples
    --------
    >>> table = pd.DataFrame({"code": ["THEFT", "NARCOTICS"], "weight": [2.0, 0.5],
    ...                       "police_initiated": [False, True]})
    >>> category_weights_from_table(table)
    {'THEFT': 2.0, 'NARCOTICS': 0.0}
    """
    if not isinstance(categories_frame, pd.DataFrame):
        raise GeoError(
            f"categories_frame must be a DataFrame, got {type(categories_frame).__name__}"
        )
    missing = [c for c in ("code", "weight", "police_initiated") if c not in categories_frame]
    if missing:
        raise GeoError(
            f"categories_frame lacks columns {missing}; expected code, weight, police_initiated"
        )
    factor = float(police_initiated_weight)
    if not 0.0 <= factor <= 1.0:
        raise GeoError(
            f"police_initiated_weight must be in [0, 1], got {police_initiated_weight!r}"
        )
    weights = categories_frame["weight"].to_numpy(dtype=np.float64)
    if not (np.isfinite(weights).all() and (weights >= 0).all()):
        raise GeoError("categories_frame['weight'] must be finite and >= 0")
    flags = categories_frame["police_initiated"].to_numpy(dtype=bool)
    weights = np.where(flags, weights * factor, weights)
    codes = categories_frame["code"].astype(str).tolist()
    return {code: float(w) for code, w in zip(codes, weights, strict=True)}


ModelFunction = Callable[..., pd.DataFrame]

#: ``name -> (scoring function, default parameters)``; every function takes
#: ``(incidents, cells, as_of_s, params, *, category_weights, categories)``.
MODELS: Mapping[str, tuple[ModelFunction, Any]] = MappingProxyType(
    {
        "naive": (score_naive, NaiveParams()),
        "weighted_count": (score_weighted_count, WeightedCountParams()),
        "ring_smoothed": (score_ring_smoothed, RingSmoothedParams()),
        "sepp": (score_sepp, SeppParams()),
        "default": (score_default, DefaultParams()),
    }
)
