"""Forecast accuracy on the stored data: a backtest of a map model against the naive count
over the figure area (web.services.statistics.figure_area: where incidents happen, not the
whole jurisdiction), cached per score run (:attr:`SiteData.scores_key`), and what its figures
mean in plain words."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

import pandas as pd
from flask_babel import gettext as _

from geo.checks import DAY_S
from web.services.caches import Cache
from web.services.filters import FilterError, category_groups, local_date
from web.services.map_layers import MAP_MODELS
from web.services.scores import MAP_MODEL
from web.services.statistics import figure_area

if TYPE_CHECKING:
    from web.services.site_data import SiteData

__all__ = ["Accuracy", "accuracy", "accuracy_groups", "accuracy_origins", "verdict"]


_accuracy = Cache("backtests", max_entries=8, max_bytes=64 * 2**20, derived=True)


@dataclass(frozen=True, eq=False)
class Accuracy:
    """A backtest of the map's model against the naive count (geo.backtest)."""

    origins_kind: str  # "monthly" or "weekly"
    origins: tuple[tuple[int, int], ...]
    model: str
    result: object  # geo.backtest.BacktestResult
    summary: pd.DataFrame  # geo.backtest.summarise, plus mean hit rates


def accuracy_origins(data: SiteData, kind: str = "auto", n: int | None = None):
    """The last ``n`` complete months (or weeks) of data, each with 90 days of history before
    it. ``auto`` takes months when at least three fit, else weeks. Returns (kind, origins)."""
    from geo.backtest import monthly_origins, weekly_origins

    if data.first_s is None:
        raise FilterError("no incidents stored yet")
    tz = data.timezone
    last_day = pd.Timestamp(local_date(data.last_s or 0, tz))
    earliest = data.first_s + 90 * DAY_S
    if kind not in ("auto", "monthly", "weekly"):
        raise FilterError(f"origins: expected monthly or weekly, got {kind!r}")
    if n is not None and not 1 <= n <= 36:
        raise FilterError(f"n: expected 1..36 origins, got {n}")
    months: list = []
    if kind in ("auto", "monthly"):
        # The last complete month ends on the newest incident's day or before.
        last_month = (last_day + pd.Timedelta(days=1)).to_period("M") - 1
        first_month = last_month - ((n or 6) - 1)
        months = [
            o
            for o in monthly_origins(str(first_month), str(last_month), tz)
            if o.origin_s >= earliest
        ]
        if kind == "monthly" or len(months) >= 3:
            if not months:
                raise FilterError("origins: not enough data for a monthly backtest")
            return "monthly", tuple(months)
    weeks = [
        o
        for o in weekly_origins(last_day.strftime("%Y-%m-%d"), n or 8, tz)
        if o.origin_s >= data.first_s + 28 * DAY_S
    ]
    if not weeks:
        raise FilterError("origins: not enough data for a backtest")
    return "weekly", tuple(weeks)


def accuracy_groups(data: SiteData) -> dict[str, tuple[str, ...] | None]:
    """``all`` and the category table's violent and property groups, when present."""
    table = category_groups(data)
    groups: dict[str, tuple[str, ...] | None] = {"all": None}
    for name in ("violent", "property"):
        if name in table:
            groups[name] = table[name]
    return groups


def accuracy(
    data: SiteData, kind: str = "auto", n: int | None = None, model: str = MAP_MODEL
) -> Accuracy:
    """Backtest ``model`` and the naive count on the stored data; cached per score run."""

    offered = [m for m in MAP_MODELS if m != "naive"]
    if model not in offered:
        raise FilterError(f"model: expected one of {', '.join(offered)}, got {model!r}")
    key = (data.source, data.scores_key, kind, n, model)
    return _accuracy.get_or_load(key, lambda: _accuracy_of(data, kind, n, model))


def _accuracy_of(data: SiteData, kind: str, n: int | None, model: str) -> Accuracy:
    from geo.backtest import model_forecaster, naive_count_forecaster, run_backtest, summarise

    chosen_kind, origins = accuracy_origins(data, kind, n)
    forecasters = [
        naive_count_forecaster("naive"),
        model_forecaster(model, category_weights=data.category_weights),
    ]
    groups = accuracy_groups(data)
    result = run_backtest(data.incidents, figure_area(data), forecasters, list(origins), groups)
    summary = summarise(result, reference="naive", pai_at=(0.01, 0.05, 0.1, 0.2))
    table = result.table[result.table["auc20"].notna()]
    hit = table.groupby(["group", "model"], sort=False)[
        [f"hit_rate_{p:g}" for p in result.fractions]
    ].mean()
    summary = summary.merge(
        hit.rename(columns=lambda c: f"mean_{c}").reset_index(), on=["group", "model"], how="left"
    )
    return Accuracy(chosen_kind, origins, model, result, summary)


def verdict(row: dict, fraction: float, kind: str, n_cells: int, who: str) -> str:
    """One summary row's hit rate at ``fraction`` of the area in plain words: "<who>: the
    top 5 % of cells (41 cells) held 38 % of next month's incidents, 7.6 times chance";
    "no incidents in this range" when no origin had a test incident."""
    hit = row.get(f"mean_hit_rate_{fraction:g}")
    if not row.get("n_origins") or hit is None or not math.isfinite(hit):
        return _("%(who)s: no incidents in this range.", who=who)
    times = hit / fraction
    values = {
        "who": who,
        "p": f"{fraction * 100:g}",
        "n": math.ceil(fraction * n_cells),
        "hit": f"{hit * 100:.0f}",
        "times": f"{times:.1f}",
    }
    if kind == "weekly":
        if times <= 1.0:
            return _(
                "%(who)s: the top %(p)s %% of cells (about %(n)d cells) held %(hit)s %% of next "
                "week's incidents, no better than chance.",
                **values,
            )
        return _(
            "%(who)s: the top %(p)s %% of cells (about %(n)d cells) held %(hit)s %% of next week's "
            "incidents, %(times)s times chance.",
            **values,
        )
    if times <= 1.0:
        return _(
            "%(who)s: the top %(p)s %% of cells (about %(n)d cells) held %(hit)s %% of next "
            "month's incidents, no better than chance.",
            **values,
        )
    return _(
        "%(who)s: the top %(p)s %% of cells (about %(n)d cells) held %(hit)s %% of next month's "
        "incidents, %(times)s times chance.",
        **values,
    )
