"""The area-wide work every explanation at one time shares (see geo.explain).

Internal to :mod:`geo.explain`, which re-exports :class:`ExplainContext`.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from geo._explain_cell import (
    as_cell_id,
    explanation_from_incidents,
    select_incidents,
    unknown_cell,
)
from geo._explain_results import (
    CellExplanation,
    GiStarSummary,
    HotHours,
    HotWindow,
    ModelSummary,
    gi_star_summary,
    model_summary,
)
from geo._explain_settings import ExplainSettings, check_settings
from geo.checks import DAY_S
from geo.emerging import emerging_hotspots
from geo.hotspots import hotspot_table
from geo.scoring import score_cells
from geo.temporal import HOT_WINDOW_COLUMNS, hot_windows, hour_weekday_profile


# Arrays make the generated __eq__ ambiguous, so equality is left as identity.
@dataclass(frozen=True, eq=False)
class ExplainContext:
    """Area-wide work shared by every explanation at one ``as_of_s``; build with :meth:`build`.

    Holds the selected incidents grouped by cell, the model scores and ranks, the Gi* table,
    the emerging classes and the hour profiles, so that :meth:`explain` only looks up one
    cell (and counts its own incidents). Read-only arrays; do not build by hand.
    """

    cells: NDArray[np.int64]
    as_of_s: int
    timezone: str
    model_name: str
    settings: ExplainSettings
    category_labels: tuple[str, ...]
    incident_starts: NDArray[np.int64]
    incident_times: NDArray[np.int64]
    incident_codes: NDArray[np.int64]
    scores: pd.DataFrame
    ranks: NDArray[np.int64]
    percentiles: NDArray[np.float64]
    gi_star: pd.DataFrame
    emerging: tuple[str, ...] | None
    profile: NDArray[np.float64]

    @classmethod
    def build(
        cls,
        incidents: pd.DataFrame,
        cells: np.ndarray,
        as_of_s: int,
        timezone: str,
        model: str = "default",
        settings: ExplainSettings | None = None,
        *,
        params: Any = None,
        category_weights: Mapping[str, float] | None = None,
        categories: Collection[str] | None = None,
    ) -> ExplainContext:
        """Compute the area-wide parts once (see :mod:`geo.explain` for each).

        Parameters
        ----------
        incidents, cells, as_of_s, model, params, category_weights, categories
            As for :func:`geo.scoring.score_cells`; ``params`` are the model's parameters
            (``None`` for its defaults).
        timezone
            IANA timezone of the city, e.g. ``"America/Chicago"``, for the hot hours.
        settings
            Windows and thresholds; ``None`` for the defaults.

        Returns
        -------
        ExplainContext

        Raises
        ------
        GeoError
            For bad incidents, cells, time, model, parameters, weights, categories,
            timezone or settings.
        """
        settings = check_settings(settings)
        # score_cells validates incidents, cells, as_of_s, model, weights and categories,
        # so the selection below can trust them.
        scores = score_cells(
            incidents,
            cells,
            as_of_s,
            model=model,
            params=params,
            category_weights=category_weights,
            categories=categories,
        )
        study = scores["cell"].to_numpy(dtype=np.int64, copy=True)
        as_of = int(as_of_s)
        n = study.size

        index, times, codes, labels = select_incidents(
            incidents, study, as_of, category_weights, categories
        )
        index, times, codes, starts = _grouped_by_cell(index, times, codes, n)

        score = scores["score"].to_numpy(dtype=np.float64)
        ranks, percentiles = _ranks(score)

        gi_start = as_of - int(round(settings.gi_window_days * DAY_S))
        gi_counts = np.bincount(index[times >= gi_start], minlength=n).astype(np.int64)
        gi_star = hotspot_table(study, gi_counts, k=settings.k, fdr=True)

        incident_cells = study[index]
        emerging = (
            _emerging_classes(study, incident_cells, times, as_of, settings)
            if settings.include_emerging
            else None
        )
        selected = pd.DataFrame(
            {"occurred_at": times, "cell": incident_cells, "category": np.asarray(labels)[codes]}
        )
        profile = hour_weekday_profile(
            selected,
            study,
            as_of,
            timezone,
            lookback_days=float(settings.hot_lookback_days),
            k=settings.k,
        )
        return cls(
            cells=_read_only(study),
            as_of_s=as_of,
            timezone=str(timezone),
            model_name=model,
            settings=settings,
            category_labels=labels,
            incident_starts=_read_only(starts),
            incident_times=_read_only(times),
            incident_codes=_read_only(codes),
            scores=scores,
            ranks=_read_only(ranks),
            percentiles=_read_only(percentiles),
            gi_star=gi_star,
            emerging=emerging,
            profile=_read_only(profile),
        )

    def position(self, cell: int | np.integer | str) -> int:
        """Row of ``cell`` (int64 id or H3 hex string) among the study cells.

        Raises
        ------
        UnknownCellError
            When ``cell`` is not a study cell, naming its hex id.
        GeoError
            When ``cell`` is neither an integer nor a valid H3 hex string.
        """
        cell_id = as_cell_id(cell)
        found = np.flatnonzero(self.cells == cell_id)
        if found.size == 0:
            raise unknown_cell(cell_id, self.cells.size)
        return int(found[0])

    def explain(self, cell: int | np.integer | str) -> CellExplanation:
        """Explain one study cell (int64 id or H3 hex string) from the shared work.

        Raises what :meth:`position` raises for a cell that is not a study cell.
        """
        i = self.position(cell)
        start, stop = int(self.incident_starts[i]), int(self.incident_starts[i + 1])
        return explanation_from_incidents(
            np.int64(self.cells[i]),
            self.incident_times[start:stop],
            self.incident_codes[start:stop],
            self.category_labels,
            self.as_of_s,
            self.timezone,
            self.settings,
            model=self._model(i),
            gi_star=self._gi_star(i),
            emerging=None if self.emerging is None else self.emerging[i],
            hot_hours=self._hot_hours(i),
        )

    def _gi_star(self, i: int) -> GiStarSummary:
        """The cell's row of the Gi* table."""
        row = self.gi_star.iloc[i]
        return gi_star_summary(
            count=int(row["count"]),
            z=float(row["z"]),
            p=float(row["p"]),
            gi_bin=int(row["gi_bin"]),
            window_days=float(self.settings.gi_window_days),
            k=int(self.settings.k),
        )

    def _model(self, i: int) -> ModelSummary:
        """The cell's score, rank and explanation columns with notes."""
        row = self.scores.iloc[i]
        names = [c for c in self.scores.columns if c not in ("cell", "score")]
        return model_summary(
            self.model_name,
            score=float(row["score"]),
            rank=int(self.ranks[i]),
            n_cells=int(self.cells.size),
            components={c: float(row[c]) for c in names},
            percentile=float(self.percentiles[i]),
        )

    def _hot_hours(self, i: int) -> HotHours:
        """The cell's hot windows, highest peak risk first."""
        settings = self.settings
        table = hot_windows(self.profile[i], threshold=settings.hot_threshold)
        table = table.sort_values(
            ["peak_risk", "weekday", "start_hour"], ascending=[False, True, True], kind="stable"
        ).head(settings.max_hot_windows)
        windows = tuple(
            HotWindow(
                weekday=int(weekday),
                start_hour=int(start_hour),
                hours=int(hours),
                mean_risk=float(mean_risk),
                peak_risk=float(peak_risk),
            )
            for weekday, start_hour, hours, mean_risk, peak_risk in zip(
                *(table[c].to_numpy() for c in HOT_WINDOW_COLUMNS), strict=True
            )
        )
        return HotHours(
            timezone=self.timezone,
            threshold=float(settings.hot_threshold),
            lookback_days=float(settings.hot_lookback_days),
            windows=windows,
        )


def _grouped_by_cell(
    index: NDArray[np.int64], times: NDArray[np.int64], codes: NDArray[np.int64], n_cells: int
) -> tuple[NDArray[np.int64], NDArray[np.int64], NDArray[np.int64], NDArray[np.int64]]:
    """The incidents sorted by cell row then time, and where each cell's run starts (the
    incidents of cell row ``i`` are ``starts[i]:starts[i + 1]``)."""
    order = np.lexsort((times, index))
    index, times, codes = index[order], times[order], codes[order]
    starts = np.searchsorted(index, np.arange(n_cells + 1)).astype(np.int64)
    return index, times, codes, starts


def _emerging_classes(
    study: NDArray[np.int64],
    incident_cells: NDArray[np.int64],
    times: NDArray[np.int64],
    as_of_s: int,
    settings: ExplainSettings,
) -> tuple[str, ...]:
    """Each study cell's emerging hot spot class over the trend's steps."""
    bin_s = int(round(settings.trend_bin_days * DAY_S))
    table = emerging_hotspots(
        study,
        incident_cells,
        times,
        as_of_s - settings.trend_bins * bin_s,
        as_of_s,
        bin_s=bin_s,
        k=settings.k,
        alpha=settings.alpha,
    )
    return tuple(str(c) for c in table["category"])


def _ranks(score: NDArray[np.float64]) -> tuple[NDArray[np.int64], NDArray[np.float64]]:
    """Rank (1 = highest, ties share the best) and percent of other cells scoring lower."""
    n = score.size
    ascending = np.sort(score)
    lower = np.searchsorted(ascending, score, side="left")
    not_higher = np.searchsorted(ascending, score, side="right")
    ranks = (n - not_higher + 1).astype(np.int64)
    percentiles = 100.0 * lower / (n - 1) if n > 1 else np.full(n, 100.0)
    return ranks, np.asarray(percentiles, dtype=np.float64)


def _read_only(array: NDArray[Any]) -> NDArray[Any]:
    """Mark an array read-only, so a frozen context cannot be changed through it."""
    array.setflags(write=False)
    return array
