"""Stability of a GAN run from its FD-SAT4 trajectory and critic losses (pure numpy).

The study calls a run **optimal** when training is stable (no NaN/inf, FD-SAT4 and critic loss
do not oscillate beyond a threshold) and FD-SAT4 is low and stable. These functions turn the
per-evaluation trajectories into those judgements:

- :func:`trajectory_summary` — mean / std / min / last over the last K evaluations;
- :func:`oscillation` — mean absolute successive difference over the last K values, relative to
  their mean magnitude (scale-free, so one threshold fits losses of any scale);
- :func:`check_stability` / :func:`is_stable` — NaN/inf anywhere, or FD-SAT4 relative std, or
  critic-loss oscillation above their thresholds, make a run unstable;
- :func:`optimality_score` — ``mean + std_penalty * std`` of the last K FD-SAT4 values, or
  ``+inf`` when unstable (lower is better).

Defaults (heuristics, documented here and reported with the study): ``k=5`` evaluations,
``max_fid_rel_std=0.25`` (last-K FD-SAT4 std within 25 % of its mean),
``max_loss_oscillation=1.0`` (critic loss moving on average by no more than its own magnitude
between evaluations), ``std_penalty=1.0``.
"""
import dataclasses
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np

from qlsgan_tf import convergence
from qlsgan_tf.validation import check_finite_float, check_int

DEFAULT_K = 5
DEFAULT_MAX_FID_REL_STD = 0.25
DEFAULT_MAX_LOSS_OSCILLATION = 1.0
DEFAULT_STD_PENALTY = 1.0


def _as_1d(values, name):
    try:
        arr = np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError):
        raise TypeError(f"{name} must be a sequence of numbers; got {values!r:.80}") from None
    if arr.ndim != 1:
        raise ValueError(f"{name} must be one-dimensional; got shape {arr.shape}")
    if arr.size == 0:
        raise ValueError(f"{name} is empty")
    return arr


def _check_k(k):
    k = check_int("k", k, 1)
    return int(k)


def _tail(values, k, name):
    arr = _as_1d(values, name)
    return arr[-_check_k(k):] if k is not None else arr


def trajectory_summary(fid_values: Sequence[float], k: int = DEFAULT_K) -> Dict[str, float]:
    """Summary of the last ``k`` FD-SAT4 evaluations (all of them when fewer than ``k``).

    Returns:
      dict with ``mean``, ``std`` (population, ddof=0), ``min``, ``last``, ``k`` (values
      actually used) and ``n`` (trajectory length). NaN/inf propagate.
    """
    arr = _as_1d(fid_values, "fid_values")
    tail = arr[-_check_k(k):]
    return {
        "mean": float(np.mean(tail)),
        "std": float(np.std(tail)),
        "min": float(np.min(tail)),
        "last": float(tail[-1]),
        "k": int(tail.size),
        "n": int(arr.size),
    }


def relative_std(values: Sequence[float], k: Optional[int] = DEFAULT_K) -> float:
    """Std / |mean| of the last ``k`` values (inf when the mean is 0 and the std is not)."""
    tail = _tail(values, k, "values")
    mean, std = abs(float(np.mean(tail))), float(np.std(tail))
    if mean == 0.0:
        return 0.0 if std == 0.0 else float("inf")
    return std / mean


def oscillation(values: Sequence[float], k: Optional[int] = DEFAULT_K,
                relative: bool = True) -> float:
    """Mean absolute successive difference of the last ``k`` values.

    Args:
      values: a trajectory (e.g. per-epoch critic loss).
      k: window (None: the whole trajectory); a window of one value has oscillation 0.
      relative: divide by the mean absolute value in the window, making the measure
        scale-free (a WGAN critic loss of -5 jumping by 5 scores 1.0); 0 when the window's
        values are all 0.

    Returns:
      float (NaN when the window holds NaN/inf).
    """
    tail = _tail(values, k, "values")
    if tail.size < 2:
        return 0.0
    diff = float(np.mean(np.abs(np.diff(tail))))
    if not relative:
        return diff
    scale = float(np.mean(np.abs(tail)))
    return 0.0 if scale == 0.0 else diff / scale


def check_stability(fid_values: Sequence[float],
                    critic_losses: Optional[Sequence[float]] = None, k: int = DEFAULT_K,
                    max_fid_rel_std: Optional[float] = DEFAULT_MAX_FID_REL_STD,
                    max_loss_oscillation: Optional[float] = DEFAULT_MAX_LOSS_OSCILLATION
                    ) -> Tuple[bool, List[str]]:
    """Judges a run's stability; returns ``(stable, reasons)`` with a reason per failed test.

    Unstable when: any FD-SAT4 or critic-loss value is NaN/inf (divergence), the relative std
    of the last ``k`` FD-SAT4 values exceeds ``max_fid_rel_std``, or the relative oscillation
    of the last ``k`` critic losses exceeds ``max_loss_oscillation``. ``None`` for a threshold
    (or for ``critic_losses``) skips that test.
    """
    fid = _as_1d(fid_values, "fid_values")
    k = _check_k(k)
    losses = None if critic_losses is None else _as_1d(critic_losses, "critic_losses")
    for name, thr in (("max_fid_rel_std", max_fid_rel_std),
                      ("max_loss_oscillation", max_loss_oscillation)):
        if thr is not None and (not isinstance(thr, (int, float)) or thr < 0):
            raise ValueError(f"{name} must be a non-negative number or None; got {thr!r}")
    reasons = []
    if not np.all(np.isfinite(fid)):
        reasons.append("FD-SAT4 trajectory contains NaN/inf")
    if losses is not None and not np.all(np.isfinite(losses)):
        reasons.append("critic loss contains NaN/inf")
    if reasons:
        return False, reasons
    if max_fid_rel_std is not None:
        rel = relative_std(fid, k)
        if rel > max_fid_rel_std:
            reasons.append(f"FD-SAT4 relative std {rel:.3g} over the last {min(k, fid.size)} "
                           f"evaluations exceeds {max_fid_rel_std}")
    if losses is not None and max_loss_oscillation is not None:
        osc = oscillation(losses, k)
        if osc > max_loss_oscillation:
            reasons.append(f"critic-loss oscillation {osc:.3g} over the last "
                           f"{min(k, losses.size)} values exceeds {max_loss_oscillation}")
    return not reasons, reasons


def is_stable(fid_values: Sequence[float], critic_losses: Optional[Sequence[float]] = None,
              k: int = DEFAULT_K, max_fid_rel_std: Optional[float] = DEFAULT_MAX_FID_REL_STD,
              max_loss_oscillation: Optional[float] = DEFAULT_MAX_LOSS_OSCILLATION) -> bool:
    """True when :func:`check_stability` finds no reason to call the run unstable."""
    return check_stability(fid_values, critic_losses, k, max_fid_rel_std,
                           max_loss_oscillation)[0]


def optimality_score(fid_values: Sequence[float],
                     critic_losses: Optional[Sequence[float]] = None, k: int = DEFAULT_K,
                     std_penalty: float = DEFAULT_STD_PENALTY,
                     max_fid_rel_std: Optional[float] = DEFAULT_MAX_FID_REL_STD,
                     max_loss_oscillation: Optional[float] = DEFAULT_MAX_LOSS_OSCILLATION
                     ) -> float:
    """The study's score of a run: low and stable FD-SAT4 is good (lower is better).

    ``mean + std_penalty * std`` of the last ``k`` FD-SAT4 values; ``+inf`` when the run is
    unstable by :func:`check_stability` with the given thresholds.
    """
    if not isinstance(std_penalty, (int, float)) or std_penalty < 0:
        raise ValueError(f"std_penalty must be a non-negative number; got {std_penalty!r}")
    stable, _ = check_stability(fid_values, critic_losses, k, max_fid_rel_std,
                                max_loss_oscillation)
    if not stable:
        return float("inf")
    summ = trajectory_summary(fid_values, k)
    return summ["mean"] + float(std_penalty) * summ["std"]


# --- Convergence status of a run from its latent-score trajectory -------------------------------

# The statuses, thresholds and window are the study's convergence rule, defined once in
# ``qlsgan_tf.convergence``; the names stay importable from here.
STATUSES = convergence.JUDGED_STATUSES
DEFAULT_STATUS_K = convergence.DEFAULT_STATUS_K
IMPROVING_ALPHA = convergence.IMPROVING_ALPHA
DIVERGING_ALPHA = convergence.DIVERGING_ALPHA
MIN_REL_CHANGE = convergence.MIN_REL_CHANGE
MAX_REL_OSCILLATION = convergence.MAX_REL_OSCILLATION
MAX_CRITIC_OSCILLATION = convergence.MAX_CRITIC_OSCILLATION


@dataclasses.dataclass(frozen=True)
class RunStatus:
    """Convergence verdict of one run: ``status`` (one of ``convergence.STATUSES``), ``reasons``
    and ``score`` (mean of the last ``k`` scores when converged, else NaN)."""

    status: str
    reasons: Tuple[str, ...]
    score: float

    @property
    def converged(self) -> bool:
        """True when the run's score may be used (the run plateaued)."""
        return convergence.is_converged(self.status)


def _trend(window, scale):
    """Least-squares slope of ``window`` vs evaluation index: (relative change, p_down, p_up)."""
    x = np.arange(window.size, dtype=np.float64)
    slope = np.polyfit(x, window, 1)[0]
    resid = window - np.polyval(np.polyfit(x, window, 1), x)
    dof = window.size - 2
    se = np.sqrt(np.sum(resid ** 2) / dof / np.sum((x - x.mean()) ** 2))
    if se == 0.0:
        p_down, p_up = (0.0, 1.0) if slope < 0 else (1.0, 0.0) if slope > 0 else (1.0, 1.0)
    else:
        t = slope / se
        p_down, p_up = float(_scipy_stats().t.cdf(t, dof)), float(_scipy_stats().t.sf(t, dof))
    return slope * (window.size - 1) / scale, p_down, p_up


def _scipy_stats():
    import scipy.stats

    return scipy.stats


def _check_threshold(name, value, upper=None):
    return check_finite_float(name, value, 0, upper)


def _status_checks(window, losses, scale, th):
    """Ordered (status, reason) pairs that fire for a finite window of length >= 3."""
    out = []
    change, p_down, p_up = _trend(window, scale)
    if p_up < th["diverging_alpha"] and change >= th["min_rel_change"]:
        out.append((convergence.DIVERGING,
                    f"score rises by {change:.0%} of its scale over the last "
                    f"{window.size} evaluations (one-sided p={p_up:.2g})"))
    osc = float(np.mean(np.abs(np.diff(window)))) / scale
    if osc > th["max_rel_oscillation"]:
        out.append((convergence.UNSTABLE, f"score oscillation {osc:.3g} of its scale exceeds "
                                f"{th['max_rel_oscillation']}"))
    if losses is not None and th["max_critic_oscillation"] is not None:
        loss_scale = float(np.mean(np.abs(losses)))
        tail = losses[-window.size:]
        losc = 0.0 if loss_scale == 0.0 else float(np.mean(np.abs(np.diff(tail)))) / loss_scale
        if losc > th["max_critic_oscillation"]:
            out.append((convergence.UNSTABLE,
                        f"critic-loss oscillation {losc:.3g} of its mean magnitude "
                        f"exceeds {th['max_critic_oscillation']}"))
    if p_down < th["improving_alpha"] and -change >= th["min_rel_change"]:
        out.append((convergence.IMPROVING,
                    f"score still falls by {-change:.0%} of its scale over the "
                    f"last {window.size} evaluations (one-sided p={p_down:.2g})"))
    return out


def run_status(scores: Sequence[float], critic_losses: Optional[Sequence[float]] = None, *,
               k: int = DEFAULT_STATUS_K, floor: float = 0.0,
               improving_alpha: float = IMPROVING_ALPHA,
               diverging_alpha: float = DIVERGING_ALPHA,
               min_rel_change: float = MIN_REL_CHANGE,
               max_rel_oscillation: float = MAX_REL_OSCILLATION,
               max_critic_oscillation: Optional[float] = MAX_CRITIC_OSCILLATION) -> RunStatus:
    """Judges a run from its score trajectory (distances, lower is better) over evaluations.

    Rules, first match wins: any NaN/inf score or critic loss -> ``"failed"``; a significant
    rise over the last ``k`` scores -> ``"diverging"``; score or critic-loss oscillation ->
    ``"unstable"``; a significant fall -> ``"improving"`` (also when fewer than ``k``
    evaluations exist: the trainer should train longer); else ``"converged"``.

    Trends and oscillation are measured relative to ``scale = max(mean of the window, floor)``,
    where ``floor`` is the finite-sample floor of the score (real vs real at the same sample
    sizes): a run whose score sits near 0, i.e. at the floor, is judged by fluctuations
    relative to the floor, never punished for being small. ``max_critic_oscillation=None``
    skips the critic-loss test.

    Returns:
      :class:`RunStatus`.
    """
    arr = _as_1d(scores, "scores")
    k = _check_k(k)
    if k < convergence.MIN_STATUS_K:
        raise ValueError(f"k must be >= {convergence.MIN_STATUS_K} to test a trend; got {k}")
    losses = None if critic_losses is None else _as_1d(critic_losses, "critic_losses")
    th = {name: _check_threshold(name, val, upper)
          for name, val, upper in (("improving_alpha", improving_alpha, 1.0),
                                   ("diverging_alpha", diverging_alpha, 1.0),
                                   ("min_rel_change", min_rel_change, None),
                                   ("max_rel_oscillation", max_rel_oscillation, None))}
    th["max_critic_oscillation"] = (None if max_critic_oscillation is None else _check_threshold(
        "max_critic_oscillation", max_critic_oscillation))
    floor = _check_threshold("floor", floor)
    bad = [name for name, v in (("score", arr), ("critic loss", losses))
           if v is not None and not np.all(np.isfinite(v))]
    if bad:
        return RunStatus(convergence.FAILED,
                         tuple(f"{n} trajectory contains NaN/inf" for n in bad), np.nan)
    if arr.size < k:
        return RunStatus(convergence.IMPROVING,
                         (f"only {arr.size} evaluations; {k} are needed to judge a plateau",),
                         np.nan)
    window = arr[-k:]
    scale = max(float(np.mean(np.abs(window))), floor)
    if scale == 0.0:
        return RunStatus(convergence.CONVERGED, (), 0.0)
    fired = _status_checks(window, losses, scale, th)
    if not fired:
        return RunStatus(convergence.CONVERGED, (), float(np.mean(window)))
    return RunStatus(fired[0][0], tuple(r for _, r in fired), np.nan)
