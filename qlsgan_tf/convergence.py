"""Run statuses and the convergence rule of the capacity study, in one place (TensorFlow-free).

A run is trained for ``epochs`` epochs and, from epoch ``epochs`` on, judged every
``fid_every`` epochs by ``metrics.stability.run_status`` on the last :func:`status_window`
latent scores, with the thresholds below (``docs/method.md`` §2). A verdict other than
``"improving"`` finishes the run; an improving run trains on up to its :func:`epoch_budget` and
is ``"not_converged"`` if it still improves then (:func:`settle`). Only a converged run's score
counts in the analysis. It is scored only where the rule reads: its latent score on the judged
windows (:func:`latent_due`), FD-SAT4 every ``fid_every`` epochs among the last ``k_last`` a
judgement scores (:func:`fd_due`).

Everything here is plain data and arithmetic, so that the trainer (``tuning.packs``), the
evaluator (``study.evaluation``), the record (``tuning.results``) and the report all read the
same rule.
"""
import math
from typing import Dict, Optional, Tuple

# --- Statuses ----------------------------------------------------------------------------------

CONVERGED = "converged"
"""The score plateaued: the run's score counts."""
IMPROVING = "improving"
"""The score still falls significantly (or too few evaluations to judge): train on."""
NOT_CONVERGED = "not_converged"
"""Still improving when its epoch budget ran out (the trainer's verdict, not the judge's)."""
DIVERGING = "diverging"
"""The score rises significantly."""
UNSTABLE = "unstable"
"""The score or the critic loss oscillates beyond its limit."""
FAILED = "failed"
"""A score or a loss turned NaN/inf."""

STATUS_DESCRIPTIONS: Dict[str, str] = {
    CONVERGED: "plateaued; its score counts",
    NOT_CONVERGED: "still improving at the end of its epoch budget",
    IMPROVING: "still improving (judged before its budget ran out)",
    DIVERGING: "score rising",
    UNSTABLE: "score or critic loss oscillating",
    FAILED: "NaN/inf in a score or loss",
}
"""Every status a run record may carry, with what it means (for reports and help texts)."""
STATUSES: Tuple[str, ...] = tuple(STATUS_DESCRIPTIONS)
"""Every status of a run record."""
JUDGED_STATUSES: Tuple[str, ...] = (CONVERGED, IMPROVING, DIVERGING, UNSTABLE, FAILED)
"""The verdicts of ``metrics.stability.run_status``, first match wins in reverse of this
order (failed, diverging, unstable, improving, else converged)."""
UNSTABLE_STATUSES: Tuple[str, ...] = (FAILED, UNSTABLE, DIVERGING)
"""Statuses of a run that is not ``stable`` (``RunResult.stable``)."""
COUNTED_STATUSES: Tuple[str, ...] = (CONVERGED,)
"""Statuses whose score the analysis uses (``RunResult.metric_score``)."""


def is_converged(status: str) -> bool:
    """True when a run of this status contributes its score."""
    return status in COUNTED_STATUSES


def is_stable(status: str) -> bool:
    """True unless the run failed, oscillated or diverged."""
    return status not in UNSTABLE_STATUSES


def is_failed(status: str) -> bool:
    """True when a score or loss of the run turned NaN/inf."""
    return status == FAILED


# --- Thresholds of the judgement (``metrics.stability.run_status``) ----------------------------

DEFAULT_STATUS_K = 8
"""Evaluations in the judged window: enough for a slope test with 6 degrees of freedom to tell a
plateau from a steady fall of 20 % or more at a few per cent evaluation noise (rates measured by
simulation in the tests), few enough that a run need not train much longer to be judged."""
MIN_STATUS_K = 3
"""The smallest window that can test a trend (a line through 3 points has 1 degree of
freedom)."""
IMPROVING_ALPHA = 0.05
"""One-sided p-value of the least-squares slope below which a fall counts as significant. A false
"improving" only costs training time (the trainer trains longer), so a 5 % level is affordable."""
DIVERGING_ALPHA = 0.01
"""One-sided p-value for a significant rise. A false "diverging" discards a good run, so the
level is stricter than :data:`IMPROVING_ALPHA`."""
MIN_REL_CHANGE = 0.10
"""A trend must also change the score by at least this fraction of the scale over the window:
statistically significant but practically negligible drifts of a plateaued run do not count."""
MAX_REL_OSCILLATION = 0.5
"""Mean absolute successive difference over the window, relative to the scale, above which the
score oscillates ("unstable"): a plateau with i.i.d. noise of relative std s scores about
1.13 s, so the limit lets noise of up to ~44 % of the scale pass."""
MAX_CRITIC_OSCILLATION = 1.0
"""Critic-loss oscillation limit, relative to the mean |loss| over the whole run (not the
window: a WGAN critic loss that has settled near 0 is a good sign, not an oscillation)."""


# --- Schedule and budget -----------------------------------------------------------------------


def status_window(epochs: int, status_k: int = 0) -> int:
    """Latent-score evaluations judged per run (one per epoch): ``status_k`` when set, else
    :data:`DEFAULT_STATUS_K`, fewer when the study trains fewer epochs (at least
    :data:`MIN_STATUS_K`, to test a trend)."""
    return int(status_k or min(DEFAULT_STATUS_K, max(MIN_STATUS_K, epochs)))


def epoch_budget(epochs: int, max_epochs: int = 0) -> int:
    """Most epochs a run trains: ``max_epochs`` for a run still improving (0: no extension)."""
    return max(int(max_epochs), int(epochs))


def judgement_due(epoch: int, epochs: int, fid_every: int) -> bool:
    """True when the runs are judged after ``epoch`` (1-based): at ``epochs``, then every
    ``fid_every`` epochs."""
    return epoch >= epochs and (epoch - epochs) % fid_every == 0


def latent_due(epoch: int, epochs: int, window: int, every_epoch: bool = False) -> bool:
    """True when the latent score is measured after ``epoch`` (1-based): on the epochs the
    first judgement reads (the last ``window`` up to ``epochs``) and every epoch after, since
    each later judgement reads the window that ends there; every epoch when ``every_epoch``."""
    return every_epoch or epoch > epochs - window


def fd_due(epoch: int, epochs: int, fid_every: int, k_last: int = 0) -> bool:
    """True when FD-SAT4 is measured after ``epoch``: every ``fid_every`` epochs and at every
    judgement; with ``k_last`` (> 0) only those that can be among the last ``k_last`` a
    judgement scores (none of an earlier epoch is ever read)."""
    due = epoch % fid_every == 0 or judgement_due(epoch, epochs, fid_every)
    if not due or k_last <= 0 or epoch >= epochs:
        return due
    later = sum(e % fid_every == 0 for e in range(epoch + 1, epochs)) + 1  # + the judgement
    return later < k_last


def settle(status: str, final: bool) -> Optional[str]:
    """What a judged run becomes: its verdict, except that an improving run trains on (None) or,
    at the end of its budget (``final``), is ``"not_converged"``."""
    if status != IMPROVING:
        return status
    return NOT_CONVERGED if final else None


# --- The NaN rule ------------------------------------------------------------------------------


def diverged(losses_diverged: bool, latent_score: Optional[float] = None) -> Tuple[str, ...]:
    """The NaN rule, the only one: a run has diverged, and is recorded "failed" at once, when
    its losses turned NaN/inf in a step (``training.gan_step.finite_runs`` froze it; in a
    Keras ``fit``, ``training.callbacks.NaNGuard`` stops it) or the latent score just measured
    (None: none this epoch) is NaN/inf (its generated latents are). No finite value, however
    large, counts. Returns the reasons (empty: it has not)."""
    reasons: Tuple[str, ...] = ("losses turned NaN/inf",) if losses_diverged else ()
    if latent_score is not None and not math.isfinite(latent_score):
        reasons += ("latent score turned NaN/inf",)
    return reasons
