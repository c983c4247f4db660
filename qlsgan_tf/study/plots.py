"""The capacity study's figures, as PNG files (matplotlib, Agg; no TensorFlow, no pyplot).

Each ``plot_*`` function checks its input, draws one figure, writes it to ``path`` (a ``.png``;
parent folders are created) and returns that path as a :class:`pathlib.Path`:

- :func:`plot_fid_trajectories` — FD-SAT4 vs epoch per run, failed runs dashed grey, and the
  real-vs-real floor.
- :func:`plot_score_vs_critic_capacity` — per quantum capacity Q, the optimality score vs critic
  capacity (log x) with the spread over seeds, unstable runs as ``x`` at the top, C*(Q) starred.
- :func:`plot_surface` — per quantum generator, the counted scores vs critic capacity, the
  fitted score surface and the knee C*(Q) with its interval.
- :func:`plot_scaling` — C*(Q) or G*(Q) on semilog-y axes with error bars, the fitted laws and
  the verdict.
- :func:`plot_image_grid` — SAT-4 patches as an RGB block and a NIR false-colour block.

Each has a ``*_figure`` twin (:func:`fid_figure`, :func:`score_figure`, :func:`surface_figure`,
:func:`scaling_figure`)
taking the same data and returning the :class:`~matplotlib.figure.Figure` unsaved.
Figures are built on :class:`matplotlib.figure.Figure` directly and rendered by the Agg canvas,
so plotting never touches pyplot's global state or the user's backend (safe in workers and
threads). Axes switch to log scale when the values span more than :data:`LOG_SPAN` (a factor).
"""
from __future__ import annotations

import math
import numbers
import os
import pathlib
import textwrap
from typing import Any, Dict, Mapping, Optional, Sequence, Union

import numpy as np
from matplotlib import colormaps, transforms
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from qlsgan_tf.constants import METRICS
from qlsgan_tf.study.analysis import most_stable_critic
from qlsgan_tf.training.images import plot_image_grid, png_path, save_figure
from qlsgan_tf.validation import ArgumentTypeError

__all__ = [
    "fid_figure",
    "plot_fid_trajectories",
    "plot_image_grid",
    "plot_scaling",
    "plot_score_vs_critic_capacity",
    "plot_surface",
    "scaling_figure",
    "score_figure",
    "surface_figure",
]

#: Values spanning more than this factor get a log axis.
LOG_SPAN = 30.0
#: Trajectories named one by one in the legend; more are drawn but summarised.
MAX_LEGEND_RUNS = 12
FAILED_COLOR = "0.55"
#: Where a figure is written: a path to a ``.png`` file.
PathArg = Union[str, "os.PathLike[str]"]


# --------------------------------------------------------------------------------------------
# Shared helpers.


def _floats(values, name: str, allow_nonfinite: bool = False) -> np.ndarray:
    try:
        arr = np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError) as err:
        raise TypeError(f"{name} must be a sequence of numbers, got {values!r}.") from err
    if arr.ndim != 1:
        raise ValueError(f"{name} must be 1-D, got shape {arr.shape}.")
    if not allow_nonfinite and not np.all(np.isfinite(arr)):
        bad = np.flatnonzero(~np.isfinite(arr))
        raise ValueError(f"{name} contains NaN/inf at index {bad.tolist()}.")
    return arr


def _number(value, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise ArgumentTypeError(f"{name} must be a number, got {value!r}.")
    return float(value)


def _field(record: Mapping[str, Any], key: str, where: str):
    if not isinstance(record, Mapping):
        raise TypeError(f"{where} must be a dict, got {type(record).__name__}.")
    if key not in record:
        raise ValueError(f"{where} has no {key!r} (keys: {sorted(record)}).")
    return record[key]


def _wants_log(values: np.ndarray) -> bool:
    values = values[np.isfinite(values)]
    return values.size > 1 and values.min() > 0 and values.max() / values.min() > LOG_SPAN


def _short(value: float) -> str:
    return f"{value:.3g}" if math.isfinite(value) else str(value)


# --------------------------------------------------------------------------------------------
# FD-SAT4 trajectories.


def _check_trajectories(trajectories) -> list:
    if isinstance(trajectories, Mapping) or not isinstance(trajectories, Sequence):
        raise TypeError(
            "trajectories must be a list of dicts {label, epochs, fd, failed}, "
            f"got {type(trajectories).__name__}."
        )
    if not trajectories:
        raise ValueError("trajectories is empty: there is no run to plot.")
    out = []
    for i, run in enumerate(trajectories):
        where = f"trajectories[{i}]"
        label = str(_field(run, "label", where))
        epochs = _floats(_field(run, "epochs", where), f"{where}['epochs']")
        fd = _floats(_field(run, "fd", where), f"{where}['fd']", allow_nonfinite=True)
        if epochs.size != fd.size:
            raise ValueError(
                f"{where} has {epochs.size} epochs but {fd.size} fd values; they must pair up."
            )
        out.append(dict(label=label, epochs=epochs, fd=fd, failed=bool(run.get("failed", False))))
    return out


def fid_figure(trajectories: Sequence[Mapping[str, Any]], floor: Optional[float] = None,
               title: Optional[str] = None, ylabel: str = METRICS["fd"].label) -> Figure:
    """The figure of :func:`plot_fid_trajectories`, unsaved."""
    runs = _check_trajectories(trajectories)
    if floor is not None:
        floor = _number(floor, "floor")
    fig = Figure(figsize=(8.0, 4.8))
    ax = fig.add_subplot()
    good = [r for r in runs if not r["failed"]]
    palette = colormaps["tab10" if len(good) <= 10 else "viridis"]
    n_good = max(len(good), 1)
    legend_runs, i_good, failed_labelled, diverged_labelled = [], 0, False, False
    for run in runs:
        finite = np.isfinite(run["fd"])
        if run["failed"]:
            style: Dict[str, Any] = dict(color=FAILED_COLOR, linestyle="--", linewidth=1.0,
                                         alpha=0.8)
            label = None if failed_labelled else "failed runs"
            failed_labelled = True
        else:
            color = palette(i_good if len(good) <= 10 else i_good / max(n_good - 1, 1))
            style = dict(color=color, linestyle="-", linewidth=1.6)
            label = run["label"] if i_good < MAX_LEGEND_RUNS else None
            i_good += 1
        ax.plot(run["epochs"][finite], run["fd"][finite], marker=".", markersize=4,
                label=label, **style)
        if not finite.all() and finite.any():
            last = np.flatnonzero(finite)[-1]
            ax.plot(run["epochs"][last], run["fd"][last], marker="x", markersize=9,
                    markeredgewidth=2, color="tab:red", linestyle="none",
                    label=None if diverged_labelled else "diverged (NaN/inf after this)")
            diverged_labelled = True
        if label:
            legend_runs.append(label)
    if floor is not None:
        ax.axhline(floor, color="black", linestyle=":", linewidth=1.5,
                   label=f"real-vs-real floor ({_short(floor)})")
    floor_values = [np.array([floor])] if floor is not None else []
    all_fd = np.concatenate([r["fd"] for r in runs] + floor_values)
    if _wants_log(all_fd):
        ax.set_yscale("log")
    ax.set_xlabel("epoch")
    ax.set_ylabel(f"{ylabel} (lower is better)")
    n_failed = sum(r["failed"] for r in runs)
    ax.set_title(title or f"{ylabel} during training: {len(runs)} runs, {n_failed} failed")
    ax.grid(True, which="both", alpha=0.3)
    if len(good) > MAX_LEGEND_RUNS:
        ax.text(0.99, 0.01, f"{len(good) - MAX_LEGEND_RUNS} more stable runs not in legend",
                transform=ax.transAxes, ha="right", va="bottom", fontsize="small")
    handles, _ = ax.get_legend_handles_labels()
    if handles:
        ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize="small",
                  frameon=False)
    return fig


def plot_fid_trajectories(trajectories: Sequence[Mapping[str, Any]], path: PathArg,
                          floor: Optional[float] = None, title: Optional[str] = None,
                          ylabel: str = METRICS["fd"].label) -> pathlib.Path:
    """FD-SAT4 against epoch, one line per run; failed runs dashed grey.

    Args:
      trajectories: list of dicts ``{"label": str, "epochs": [...], "fd": [...],
        "failed": bool}``; ``fd`` may hold NaN/inf (a diverged run): the finite part is drawn
        and a red ``x`` marks its last finite evaluation. ``failed`` defaults to False.
      path: the ``.png`` to write.
      floor: the real-vs-real FD-SAT4 floor, drawn as a dotted horizontal line (optional).
      title, ylabel: override the default title and metric name.

    Returns:
      ``path`` as a :class:`pathlib.Path`.
    """
    path = png_path(path)
    return save_figure(fid_figure(trajectories, floor, title, ylabel), path)


# --------------------------------------------------------------------------------------------
# Optimality score vs critic capacity.


def _check_rows(rows) -> list:
    if isinstance(rows, Mapping) or not isinstance(rows, Sequence):
        raise TypeError(
            "rows must be a list of dicts {q_capacity, critic_budget, score, seed}, "
            f"got {type(rows).__name__}."
        )
    if not rows:
        raise ValueError("rows is empty: there is no run to plot.")
    out = []
    for i, row in enumerate(rows):
        where = f"rows[{i}]"
        q = _number(_field(row, "q_capacity", where), f"{where}['q_capacity']")
        c = _number(_field(row, "critic_budget", where), f"{where}['critic_budget']")
        score = _field(row, "score", where)
        score = math.nan if score is None else _number(score, f"{where}['score']")
        _field(row, "seed", where)
        for name, value in (("q_capacity", q), ("critic_budget", c)):
            if not (math.isfinite(value) and value > 0):
                raise ValueError(f"{where}['{name}'] must be a positive number, got {value!r}.")
        stable = bool(row.get("stable", math.isfinite(score))) and math.isfinite(score)
        group = str(row.get("generator", "")) or None
        out.append(dict(q=q, c=c, score=score, stable=stable, group=group))
    return out


def score_figure(rows: Sequence[Mapping[str, Any]], optima: Optional[Mapping[Any, Any]] = None,
                 title: Optional[str] = None,
                 ylabel: str = "optimality score (lower is better)") -> Figure:
    """The figure of :func:`plot_score_vs_critic_capacity`, unsaved."""
    runs = _check_rows(rows)
    if optima is not None and not isinstance(optima, Mapping):
        raise TypeError(f"optima must map q_capacity -> critic capacity, got {optima!r}.")
    groups: Dict[tuple, Dict[float, list]] = {}
    for run in runs:
        groups.setdefault((run["q"], run["group"]), {}).setdefault(run["c"], []).append(run)
    keys = sorted(groups, key=lambda k: (k[0], k[1] or ""))
    fig = Figure(figsize=(8.0, 5.0))
    ax = fig.add_subplot()
    cmap = colormaps["viridis"]
    n_unstable = 0
    for i, (q, group) in enumerate(keys):
        color = cmap(0.85 * i / max(len(keys) - 1, 1))
        n_unstable += _score_curve(ax, q, group, groups[(q, group)], color, optima)
    _score_axes(ax, np.array([r["score"] for r in runs if r["stable"]]), title, ylabel)
    extra = [] if optima == {} else [
        Line2D([], [], marker="*", markersize=14, color="white", markeredgecolor="black",
               linestyle="none", label="chosen critic")]
    extra.append(Line2D([], [], marker="o", color="0.4", alpha=0.5, linestyle="none",
                        markersize=4, label="seeds (band: min-max)"))
    if n_unstable:
        extra.append(Line2D([], [], marker="x", color="0.3", markeredgewidth=2,
                            linestyle="none", label=f"unstable runs ({n_unstable})"))
    handles, _ = ax.get_legend_handles_labels()
    ax.legend(handles=handles + extra, loc="upper left", bbox_to_anchor=(1.01, 1.0),
              fontsize="small", frameon=False)
    return fig


def _score_curve(ax, q, group, by_critic, color, optima):
    """One generator's seeds, mean curve, min-max band, unstable marks and star; returns the
    number of unstable runs drawn."""
    top = transforms.blended_transform_factory(ax.transData, ax.transAxes)
    caps = np.array(sorted(by_critic))
    stats, n_unstable = [], 0
    for c in caps:
        stable = np.array([r["score"] for r in by_critic[c] if r["stable"]])
        stats.append((stable.mean(), stable.min(), stable.max()) if stable.size else
                     (math.nan, math.nan, math.nan))
        ax.scatter(np.full(stable.size, c), stable, s=12, color=color, alpha=0.5, linewidths=0)
        n_bad = sum(not r["stable"] for r in by_critic[c])
        if n_bad:
            n_unstable += n_bad
            ax.plot([c], [0.97], marker="x", markersize=9, markeredgewidth=2,
                    color=color, transform=top, clip_on=False, linestyle="none")
            if n_bad > 1:
                ax.annotate(f"{n_bad}", (c, 0.97), xycoords=top, xytext=(5, -3),
                            textcoords="offset points", fontsize="x-small", color=color)
    mean, lo, hi = (np.array(s) for s in zip(*stats))
    ok = np.isfinite(mean)
    label = f"Q = {q:g}" + (f" ({group})" if group else "")
    ax.plot(caps[ok], mean[ok], marker="o", markersize=4, color=color, label=label)
    if ok.sum() > 1:
        ax.fill_between(caps[ok], lo[ok], hi[ok], color=color, alpha=0.15, linewidth=0)
    if optima is not None:
        star = optima.get(q, optima.get(group)) if optima else None
    else:
        star = most_stable_critic({c: [r["score"] if r["stable"] else math.nan
                                       for r in rs] for c, rs in by_critic.items()})
    if star is not None:
        star = float(star)
        where = np.flatnonzero(caps == star)
        if where.size and ok[where[0]]:
            ax.plot([star], [mean[where[0]]], marker="*", markersize=18, color=color,
                    markeredgecolor="black", linestyle="none", zorder=5)
        else:  # no stable run there: star at the top, beside the x marks
            ax.plot([star], [0.9], marker="*", markersize=18, color=color,
                    markeredgecolor="black", transform=top, linestyle="none", zorder=5)
    return n_unstable


def _score_axes(ax, finite_scores, title, ylabel):
    """Log x axis, y range with headroom for the row of unstable-run marks, labels, grid."""
    ax.set_xscale("log")
    if finite_scores.size:
        low, high = finite_scores.min(), finite_scores.max()
        if _wants_log(finite_scores):
            ax.set_yscale("log")
            ax.set_ylim(low / 1.3, high * (high / low) ** 0.2)
        else:
            pad = (high - low) or max(abs(high), 1.0)
            ax.set_ylim(low - 0.08 * pad, high + 0.25 * pad)
    ax.set_xlabel("critic capacity (trainable parameters)")
    ax.set_ylabel(ylabel)
    ax.set_title(title or "Optimality score vs critic capacity, per quantum generator capacity Q")
    ax.grid(True, which="both", alpha=0.3)


def plot_score_vs_critic_capacity(rows: Sequence[Mapping[str, Any]], path: PathArg,
                                  optima: Optional[Mapping[Any, Any]] = None,
                                  title: Optional[str] = None,
                                  ylabel: str = "optimality score (lower is better)"
                                  ) -> pathlib.Path:
    """Per quantum capacity Q: mean score over seeds against critic capacity (log x).

    Args:
      rows: list of dicts ``{"q_capacity", "critic_budget", "score", "seed"}``, one per run;
        ``score`` inf/NaN/None marks an unstable run (an optional ``"stable": False`` does
        too). Unstable runs are drawn as ``x`` at the top of the axes (a number beside it
        counts them); the line is the mean over stable seeds, the band their min-max. An
        optional ``"generator"`` key separates generators that share a Q.
      path: the ``.png`` to write.
      optima: ``{q_capacity: C*(Q)}`` (or ``{generator: C*}``) to star; by default
        :func:`qlsgan_tf.study.analysis.most_stable_critic`: the budget with the most stable
        seeds, then the lowest mean score.
      title, ylabel: override the defaults.

    Returns:
      ``path`` as a :class:`pathlib.Path`.
    """
    path = png_path(path)
    return save_figure(score_figure(rows, optima, title, ylabel), path)


# --------------------------------------------------------------------------------------------
# The fitted score surface and its knees.


def _check_panels(panels) -> list:
    if isinstance(panels, Mapping) or not isinstance(panels, Sequence) or not panels:
        raise ValueError("panels must be a non-empty list of dicts {label, critics, means, "
                         "curve_x, curve_y, knee, knee_ci, censored}.")
    out = []
    for i, panel in enumerate(panels):
        where = f"panels[{i}]"
        critics = _floats(_field(panel, "critics", where), f"{where}['critics']")
        means = _floats(_field(panel, "means", where), f"{where}['means']", allow_nonfinite=True)
        if critics.shape != means.shape or np.any(critics <= 0):
            raise ValueError(f"{where}: critics must be positive and as long as means.")
        out.append(dict(panel, critics=critics, means=means))
    return out


def surface_figure(panels: Sequence[Mapping[str, Any]], title: Optional[str] = None,
                   ylabel: str = "score of converged runs (lower is better)") -> Figure:
    """The figure of :func:`plot_surface`, unsaved."""
    panels = _check_panels(panels)
    n = len(panels)
    cols = min(4, n)
    rows = math.ceil(n / cols)
    fig = Figure(figsize=(3.4 * cols, 2.8 * rows + 0.6))
    for i, panel in enumerate(panels):
        ax = fig.add_subplot(rows, cols, i + 1)
        seeds = panel.get("seed_scores")
        if seeds is not None:
            for c, vals in zip(panel["critics"], np.asarray(seeds, dtype=np.float64).T):
                vals = vals[np.isfinite(vals)]
                ax.scatter(np.full(vals.size, c), vals, s=8, color="0.55", alpha=0.6,
                           linewidths=0)
        ok = np.isfinite(panel["means"])
        ax.plot(panel["critics"][ok], panel["means"][ok], "o", color="black", markersize=4,
                label="mean of counted runs")
        cx = panel.get("curve_x")
        if cx is not None and len(cx):
            ax.plot(cx, panel["curve_y"], color="tab:red", linewidth=1.8, label="fitted surface")
        knee = panel.get("knee")
        if knee is not None and math.isfinite(float(knee)):
            ci = panel.get("knee_ci") or (None, None)
            lo = ci[0] if ci[0] is not None and math.isfinite(ci[0]) and ci[0] > 0 else None
            hi = ci[1] if ci[1] is not None and math.isfinite(ci[1]) else None
            if lo is not None or hi is not None:
                x0 = lo if lo is not None else ax.get_xlim()[0]
                x1 = hi if hi is not None else panel["critics"].max() * 3
                ax.axvspan(x0, x1, color="tab:blue", alpha=0.12, linewidth=0)
            style = "--" if panel.get("censored") else "-"
            ax.axvline(float(knee), color="tab:blue", linestyle=style, linewidth=1.5,
                       label="knee C* (95% CI)")
        ax.set_xscale("log")
        shown = panel["means"][ok]
        if seeds is not None:
            seen = np.asarray(seeds, dtype=np.float64)
            shown = np.concatenate([shown, seen[np.isfinite(seen)]])
        if shown.size:  # the data set the scale; a fitted curve never squashes them
            low, high = float(shown.min()), float(shown.max())
            pad = 0.08 * ((high - low) or max(abs(high), 1.0))
            ax.set_ylim(low - pad, high + pad)
        cens = panel.get("censored")
        ax.set_title(f"{panel.get('label', '')}" + (f" (knee censored {cens})" if cens else ""),
                     fontsize="small")
        ax.grid(True, which="both", alpha=0.3)
        ax.tick_params(labelsize="x-small")
        if i % cols == 0:
            ax.set_ylabel(ylabel, fontsize="x-small")
        if i >= n - cols:
            ax.set_xlabel("critic capacity", fontsize="x-small")
        if i == 0:
            ax.legend(fontsize="xx-small", loc="upper right")
    fig.suptitle(title or "Score vs critic capacity per quantum generator: data, fitted "
                 "surface and knee", fontsize="medium")
    fig.tight_layout()
    return fig


def plot_surface(panels: Sequence[Mapping[str, Any]], path: PathArg,
                 title: Optional[str] = None,
                 ylabel: str = "score of converged runs (lower is better)") -> pathlib.Path:
    """One small panel per quantum generator: the counted runs' scores and their mean per
    critic capacity (log x), the fitted score surface, and the knee C*(Q) with its interval
    (dashed when censored).

    Args:
      panels: list of dicts ``{"label", "critics", "means", "seed_scores" [n_seeds, n_c]
        (optional), "curve_x", "curve_y" (the fitted curve), "knee", "knee_ci", "censored"}``.
      path: the ``.png`` to write.
    """
    path = png_path(path)
    return save_figure(surface_figure(panels, title, ylabel), path)


# --------------------------------------------------------------------------------------------
# Scaling laws.


def _law_legend(fit) -> str:
    a, b = fit.params["a"], fit.params["b"]
    formula = {
        "exponential": f"y = {a:.3g}·exp({b:.3g}·Q)",
        "power_law": f"y = {a:.3g}·Q^{b:.3g}",
        "linear": f"y = {a:.3g} {'+' if b >= 0 else '−'} {abs(b):.3g}·Q",
    }[fit.name]
    return f"{fit.label}: {formula}  (ΔAICc = {fit.delta_aicc:.1f})"


def _error_bars(y: np.ndarray, y_err, y_ci) -> Optional[np.ndarray]:
    if y_err is not None and y_ci is not None:
        raise ValueError("give y_err (offsets) or y_ci (absolute bounds), not both.")
    if y_ci is not None:
        ci = np.asarray(y_ci, dtype=np.float64)
        if ci.shape == (y.size, 2):
            ci = ci.T
        if ci.shape != (2, y.size):
            raise ValueError(f"y_ci must have shape ({y.size}, 2) or (2, {y.size}), got "
                             f"{ci.shape}.")
        if not np.all(np.isfinite(ci)):
            raise ValueError("y_ci contains NaN/inf; drop unbounded intervals first.")
        if np.any(ci[0] > y) or np.any(ci[1] < y):
            raise ValueError("y_ci must bracket y: every lower bound <= y <= upper bound.")
        return np.stack([y - ci[0], ci[1] - y])
    if y_err is None:
        return None
    err = np.asarray(y_err, dtype=np.float64)
    if err.shape not in ((y.size,), (2, y.size)):
        raise ValueError(
            f"y_err must have shape ({y.size},) or (2, {y.size}) (matplotlib's [below, above] "
            f"offsets), got {err.shape}."
        )
    if not np.all(np.isfinite(err)) or np.any(err < 0):
        raise ValueError("y_err must be finite and non-negative (offsets from y).")
    return err


def _check_censored(censored, n):
    if censored is None:
        return [None] * n
    values = list(censored)
    if len(values) != n or any(v not in (None, "low", "high") for v in values):
        raise ValueError(f"censored must list None, 'low' or 'high' for each of the {n} points; "
                         f"got {censored!r}.")
    return values


def scaling_figure(Q: Sequence[float], y: Any, comparison: Any,  # noqa: N803
                   ylabel: str, y_err: Any = None, y_ci: Any = None,
                   title: Optional[str] = None,
                   xlabel: str = "quantum generator capacity Q (trainable parameters)",
                   censored: Optional[Sequence[Optional[str]]] = None) -> Figure:
    """The figure of :func:`plot_scaling`, unsaved."""
    q = _floats(Q, "Q")
    y = _floats(y, "y")
    if q.size != y.size:
        raise ValueError(f"Q and y must have the same length, got {q.size} and {y.size}.")
    if q.size == 0:
        raise ValueError("Q and y are empty: there is no point to plot.")
    if np.any(y <= 0):
        raise ValueError("y must be positive: capacities are drawn on a log axis.")
    err = _error_bars(y, y_err, y_ci)
    if comparison is not None and not (hasattr(comparison, "fits")
                                       and hasattr(comparison, "verdict")):
        raise TypeError(
            f"comparison must be a law comparison (or None), got {comparison!r}."
        )
    cens = np.array([c or "" for c in _check_censored(censored, q.size)])
    fig = Figure(figsize=(8.0, 5.2))
    ax = fig.add_subplot()
    exact = cens == ""
    ax.errorbar(q[exact], y[exact], yerr=None if err is None else err[..., exact], fmt="o",
                color="black", markersize=6, capsize=4, elinewidth=1.2, zorder=5,
                label="measured" + (" (95% CI)" if err is not None else ""))
    for side, marker, text in (("low", "v", "censored: at or below"),
                               ("high", "^", "censored: at or above")):
        pick = cens == side
        if pick.any():
            ax.plot(q[pick], y[pick], marker=marker, markersize=9, linestyle="none",
                    markerfacecolor="white", markeredgecolor="black", zorder=5, label=text)
    fits = dict(getattr(comparison, "fits", {}) or {})
    best = getattr(comparison, "best", None)
    span = q.max() - q.min()
    grid = np.linspace(max(q.min() - 0.05 * span, q.min() / 2), q.max() + 0.05 * span, 300)
    styles = {"exponential": "tab:red", "power_law": "tab:blue", "linear": "tab:green"}
    for name, fit in fits.items():
        with np.errstate(over="ignore", invalid="ignore"):
            pred = fit.predict(grid)
        pred = np.where(pred > 0, pred, np.nan)
        is_best = best is not None and fit.name == best.name
        ax.plot(grid, pred, color=styles.get(name, "0.3"), linewidth=2.4 if is_best else 1.4,
                linestyle="-" if is_best else "--", label=_law_legend(fit),
                zorder=3)
    ax.set_yscale("log")
    lo = y - (err[0] if err is not None and err.ndim == 2 else err if err is not None else 0)
    hi = y + (err[1] if err is not None and err.ndim == 2 else err if err is not None else 0)
    lo = np.where(lo > 0, lo, y)
    ax.set_ylim(lo.min() / 2.5, hi.max() * 2.5)  # extrapolated curves must not squash the data
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    verdict = getattr(comparison, "verdict", None) or "no fit"
    head = title or f"{ylabel} vs Q"
    ax.set_title(head + "\n" + textwrap.fill(verdict, 80), fontsize="medium")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(loc="upper left", fontsize="small", framealpha=0.9)
    return fig


def plot_scaling(Q: Sequence[float], y: Any, comparison: Any,  # noqa: N803
                 path: PathArg, ylabel: str, y_err: Any = None, *, y_ci: Any = None,
                 title: Optional[str] = None,
                 xlabel: str = "quantum generator capacity Q (trainable parameters)",
                 censored: Optional[Sequence[Optional[str]]] = None) -> pathlib.Path:
    """A capacity series y(Q) on semilog-y axes with the fitted laws and the verdict.

    On semilog-y axes an exponential law is a straight line, so curvature is the visual test.
    The best law is drawn solid, the others dashed; each legend entry carries the fitted
    parameters and ΔAICc; the title carries the verdict.

    Args:
      Q: quantum generator capacities.
      y: the series, positive (e.g. C*(Q) or G*(Q)).
      comparison: a law comparison with ``fits`` (name -> law with ``name``, ``label``,
        ``params`` a/b, ``delta_aicc``, ``predict``), ``best`` and ``verdict`` — the knee laws
        of :func:`qlsgan_tf.study.analysis.knee_laws` or
        :func:`qlsgan_tf.analysis.twostage.compare_laws` —, or ``None`` (points only).
      path: the ``.png`` to write.
      ylabel: what y is, e.g. ``"optimal critic capacity C*(Q)"``.
      y_err: error bars as matplotlib offsets, shape ``(n,)`` or ``(2, n)`` = [below, above].
      y_ci: alternatively the absolute interval of each point, shape ``(n, 2)`` or ``(2, n)``.
      title, xlabel: override the defaults.
      censored: per point None, ``"low"`` or ``"high"``; censored points are drawn as open
        triangles pointing where the true value lies, without error bars.

    Returns:
      ``path`` as a :class:`pathlib.Path`.
    """
    path = png_path(path)
    return save_figure(scaling_figure(Q, y, comparison, ylabel, y_err, y_ci, title, xlabel,
                                       censored), path)


# --------------------------------------------------------------------------------------------
# Image grids.

