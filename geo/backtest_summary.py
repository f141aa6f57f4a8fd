"""Backtest summaries: the models side by side, as a table, as text and as a chart.

:func:`summarise` turns the long table of :func:`geo.backtest_run.run_backtest` into one row
per group and model (mean AUC20 with its spread, PAI, PEI, the change against a reference),
:func:`format_table` renders that for the CLI and benchmarks and :func:`plot_coverage` draws
the mean coverage curves (matplotlib, imported only there). :mod:`geo.backtest` re-exports
them.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from geo.backtest_run import BacktestResult, mean_rows
from geo.errors import GeoError
from geo.evaluation import AUC20_MAX_FRACTION

__all__ = ["summarise", "format_table", "plot_coverage"]


# --- summaries ---------------------------------------------------------------------------------


def summarise(
    result: BacktestResult | pd.DataFrame,
    reference: str | None = "naive",
    *,
    pai_at: Sequence[float] = (0.01, 0.05),
    pei_at: Sequence[float] = (0.05,),
) -> pd.DataFrame:
    """Put the models side by side: one row per (group, model), means and spread over origins.

    Parameters
    ----------
    result
        A :class:`BacktestResult` or its long ``table``.
    reference
        Model every other is compared with, in the same group and on the same origins; None
        for no comparison.
    pai_at, pei_at
        Area fractions whose mean PAI and PEI to report (columns of the long table).

    Returns
    -------
    pandas.DataFrame
        In the long table's group and model order, columns ``group``, ``model``,
        ``n_origins`` (origins with test incidents), ``mean_auc20``, ``std_auc20`` (sample
        standard deviation over origins, NaN for one origin), ``min_auc20``, ``max_auc20``,
        ``mean_pai_<p>``, ``mean_pei_<p>``; with a reference also ``reference``,
        ``auc20_vs_ref`` (``mean_auc20 / reference's mean_auc20 - 1``) and
        ``share_beats_ref`` (share of origins where the model's AUC20 is strictly higher;
        0 for the reference itself).

    Raises
    ------
    GeoError
        When the table lacks a needed column, or the reference model is missing from a group.
    """
    table = result.table if isinstance(result, BacktestResult) else result
    if not isinstance(table, pd.DataFrame):
        raise GeoError(f"result must be a BacktestResult or its table, got {type(result)}")
    wanted = [f"pai_{p:g}" for p in pai_at] + [f"pei_{p:g}" for p in pei_at]
    needed = ["group", "model", "origin_s", "auc20", *wanted]
    missing = [c for c in needed if c not in table.columns]
    if missing:
        raise GeoError(
            f"the long table lacks columns {missing}; run the backtest with those fractions "
            "or pass other pai_at / pei_at"
        )
    evaluated = table[table["auc20"].notna()]
    grouped = evaluated.groupby(["group", "model"], sort=False)["auc20"]
    summary = pd.DataFrame(
        {
            "n_origins": grouped.count(),
            "mean_auc20": grouped.mean(),
            "std_auc20": grouped.std(ddof=1),
            "min_auc20": grouped.min(),
            "max_auc20": grouped.max(),
        }
    )
    means = evaluated.groupby(["group", "model"], sort=False)[wanted].mean()
    summary = summary.join(means.rename(columns={c: f"mean_{c}" for c in wanted}))
    # Keep every (group, model) of the table, even one with no evaluated origin.
    order = pd.MultiIndex.from_frame(table[["group", "model"]].drop_duplicates())
    summary = summary.reindex(order)
    summary["n_origins"] = summary["n_origins"].fillna(0).astype(np.int64)
    if reference is not None:
        summary = _compare_with(summary, evaluated, reference)
    return summary.reset_index()


def format_table(summary: pd.DataFrame) -> str:
    """Render a :func:`summarise` frame as a plain-text table for the CLI and benchmarks.

    Parameters
    ----------
    summary
        From :func:`summarise`.

    Returns
    -------
    str
        One header line, a rule and one line per (group, model); AUC20 as mean, standard
        deviation and range over origins, PAI and PEI as means, the comparison with the
        reference in per cent.

    Raises
    ------
    GeoError
        When ``summary`` lacks the columns :func:`summarise` writes.
    """
    needed = ["group", "model", "n_origins", "mean_auc20", "std_auc20", "min_auc20", "max_auc20"]
    missing = [c for c in needed if c not in summary.columns]
    if missing:
        raise GeoError(f"summary lacks columns {missing}; pass the frame summarise returns")
    extra = [c for c in summary.columns if re.fullmatch(r"mean_(pai|pei)_.+", str(c))]
    headers = ["group", "model", "n", "AUC20", "sd", "min", "max"]
    headers += [_measure_label(c) for c in extra]
    has_ref = {"reference", "auc20_vs_ref", "share_beats_ref"} <= set(summary.columns)
    if has_ref:
        headers += ["vs ref", "beats ref"]
    lines = []
    for record in summary.to_dict("records"):
        cells = [
            str(record["group"]),
            str(record["model"]),
            str(int(record["n_origins"])),
            *(_number(record[c], "{:.3f}") for c in needed[3:]),
            *(_number(record[c], "{:.2f}") for c in extra),
        ]
        if has_ref:
            if record["model"] == record["reference"]:
                cells += ["(ref)", ""]
            else:
                cells += [
                    _number(100 * record["auc20_vs_ref"], "{:+.1f}%"),
                    _number(100 * record["share_beats_ref"], "{:.0f}%"),
                ]
        lines.append(cells)
    widths = [max(len(row[i]) for row in [headers, *lines]) for i in range(len(headers))]

    def render(row: list[str]) -> str:
        text = [
            v.ljust(w) if i < 2 else v.rjust(w)
            for i, (v, w) in enumerate(zip(row, widths, strict=True))
        ]
        return "  ".join(text).rstrip()

    rule = "  ".join("-" * w for w in widths)
    return "\n".join([render(headers), rule, *(render(row) for row in lines)])


# --- chart -------------------------------------------------------------------------------------


def plot_coverage(
    result: BacktestResult,
    path: str | Path,
    groups: Sequence[str] | None = None,
    *,
    max_fraction: float = AUC20_MAX_FRACTION,
) -> Path:
    """Write a PNG of the mean coverage curves, one panel per group, one line per model.

    Each panel also shows the best possible curve (dashed) and a random forecast (dotted).
    Uses matplotlib's Agg canvas directly (no pyplot, no display, nothing fetched: the fonts
    are the ones matplotlib ships).

    Parameters
    ----------
    result
        From :func:`run_backtest`.
    path
        Where to write the PNG; the folder must exist.
    groups
        Groups to draw, in order; all by default.
    max_fraction
        Right end of the x axis (share of area), in (0, 1]; 0.2 shows the AUC20 range.

    Returns
    -------
    pathlib.Path
        ``path``.

    Raises
    ------
    GeoError
        When a group is unknown or ``max_fraction`` is outside (0, 1].
    ModuleNotFoundError
        When matplotlib is not installed.
    """
    names = list(result.groups) if groups is None else [str(g) for g in groups]
    unknown = [g for g in names if g not in result.groups]
    if unknown or not names:
        raise GeoError(f"groups must name groups of the result {list(result.groups)}, got {groups}")
    if not (isinstance(max_fraction, int | float) and 0 < max_fraction <= 1):
        raise GeoError(f"max_fraction must be in (0, 1], got {max_fraction!r}")
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
        from matplotlib.ticker import MaxNLocator, PercentFormatter
    except ModuleNotFoundError as err:
        raise ModuleNotFoundError(
            "plot_coverage needs matplotlib, which the project pins in pyproject.toml"
        ) from err

    grid = result.area_fraction_grid
    # The tolerance keeps the grid point at max_fraction despite rounding in linspace.
    shown = grid <= max_fraction + 1e-12
    x = grid[shown]
    figure = Figure(figsize=(4.2 * len(names), 4.0), dpi=100, layout="constrained")
    FigureCanvasAgg(figure)
    axes = figure.subplots(nrows=1, ncols=len(names), sharey=True, squeeze=False)[0]
    for ax, group in zip(axes, names, strict=True):
        n_origins = result.best_curves[group].shape[0]
        for model in result.models:
            ax.plot(x, result.mean_curve(group, model)[shown], label=model, linewidth=1.6)
        best = mean_rows(result.best_curves[group])[shown]
        ax.plot(x, best, color="0.45", linestyle="--", linewidth=1.0, label="best possible")
        share = float(np.mean(result.inside_shares[group])) if n_origins else np.nan
        ax.plot(x, share * x, color="black", linestyle=":", linewidth=1.0, label="random")
        ax.set_title(f"{group} ({n_origins} origins)")
        ax.set_xlabel("share of study area")
        ax.set_xlim(0, max_fraction)
        ax.set_ylim(0, 1)
        ax.xaxis.set_major_locator(MaxNLocator(nbins=4, steps=[1, 2, 2.5, 5, 10]))
        ax.xaxis.set_major_formatter(PercentFormatter(xmax=1, decimals=0))
        ax.yaxis.set_major_formatter(PercentFormatter(xmax=1, decimals=0))
        ax.grid(visible=True, linewidth=0.4, alpha=0.5)
    axes[0].set_ylabel("share of test incidents (hit rate)")
    axes[0].legend(loc="upper left", fontsize="small")
    destination = Path(path)
    figure.savefig(destination, format="png")
    return destination


# --- helpers -----------------------------------------------------------------------------------


def _compare_with(summary: pd.DataFrame, evaluated: pd.DataFrame, reference: str) -> pd.DataFrame:
    """Add the relative AUC20 difference and share of origins beaten vs ``reference``."""
    groups = summary.index.get_level_values("group").unique()
    lacking = [g for g in groups if (g, reference) not in summary.index]
    if lacking:
        raise GeoError(
            f"reference model {reference!r} is missing from groups {lacking}; models are "
            f"{sorted(summary.index.get_level_values('model').unique())}"
        )
    ref_mean = summary.xs(reference, level="model")["mean_auc20"]
    summary = summary.copy()
    summary["reference"] = reference
    summary["auc20_vs_ref"] = (
        summary["mean_auc20"].to_numpy()
        / ref_mean.reindex(summary.index.get_level_values("group")).to_numpy()
        - 1.0
    )
    ref_rows = evaluated.loc[evaluated["model"] == reference, ["group", "origin_s", "auc20"]]
    paired = evaluated.merge(
        ref_rows.rename(columns={"auc20": "ref_auc20"}), on=["group", "origin_s"], how="inner"
    )
    paired["beats"] = (paired["auc20"] > paired["ref_auc20"]).astype(np.float64)
    beats = paired.groupby(["group", "model"], sort=False)["beats"].mean()
    summary["share_beats_ref"] = beats.reindex(summary.index)
    return summary


def _measure_label(column: str) -> str:
    """``mean_pai_0.01`` -> ``PAI@1%``."""
    _, measure, fraction = column.split("_", 2)
    return f"{measure.upper()}@{100 * float(fraction):g}%"


def _number(value: Any, pattern: str) -> str:
    """Format a number, or ``-`` for a missing one."""
    return "-" if value is None or pd.isna(value) else pattern.format(value)
