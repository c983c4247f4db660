"""The adaptive critic search: where to train next once a generator's grid runs are in.

The estimand is the knee of the score-vs-critic-capacity curve (``docs/method.md``). After
the grid, each refinement round fits the generator's surface
(:func:`qlsgan_tf.analysis.fit_surface`, its runs alone) and asks for ``refine_points`` new
critic budgets, always on the grid's even log spacing:

- the knee is censored high (low): the grid is extended by whole grid steps beyond its top
  (bottom), where the knee lies;
- the knee is bracketed: the grid is densified around it, at the log midpoints of the
  intervals nearest the knee;
- too few critics to place a knee (a knee needs about five): the best mean score stands in
  for it, censored when it is at an edge of the critics tried.

The budget is explicit: at most ``refine_rounds x refine_points x seeds x learning rates``
extra runs per generator, and critics stay within ``critic_limits``. The tuner
(``tuning.capacity.CapacityTuner``) trains the suggestions; the rounds depend only on
recorded results, so a resumed study asks the same questions and trains nothing twice.
"""
import math
import warnings
from typing import TYPE_CHECKING, Callable, List, Optional, Sequence, Tuple

import numpy as np

from qlsgan_tf import analysis as stats_lib
from qlsgan_tf.models import capacity as capacity_lib
from qlsgan_tf.study import analysis

if TYPE_CHECKING:
    from qlsgan_tf.study.presets import StudyConfig
    from qlsgan_tf.tuning.results import RunResult

#: The tuner's ``refine(label, results, search_round) -> new critic budgets`` hook.
Refine = Callable[[str, Sequence["RunResult"], int], List[int]]

SMALLEST_CRITIC = 8
"""No critic below this many parameters is suggested (a 2-hidden-layer critic of a
3-dimensional latent has at least 11)."""


def critic_limits(config: "StudyConfig") -> Tuple[int, int]:
    """(smallest, largest) critic budget the search may suggest: one grid step beyond each
    edge of the critic grid (log spacing of its two outermost points), never below
    ``SMALLEST_CRITIC``; ``refine_max_critic`` replaces the upper limit when set."""
    caps = sorted(config.critic_capacities)
    if len(caps) < 2:
        return caps[0], caps[0]
    low = max(SMALLEST_CRITIC, math.floor(caps[0] ** 2 / caps[1]))
    high = config.refine_max_critic or math.ceil(caps[-1] ** 2 / caps[-2])
    return min(low, caps[0]), max(int(high), caps[-1])


def realised_critic(config: "StudyConfig", latent_dim: int, budget: int) -> Optional[int]:
    """Trainable parameters of the critic built for ``budget`` (None when none can be)."""
    try:
        units = capacity_lib.units_for_capacity(int(budget), latent_dim, 1, config.critic_depth)
    except ValueError:
        return None
    return capacity_lib.mlp_param_count(latent_dim, units, 1)


def suggest_critics(critics: Sequence[float], knee: Optional[float], censored: Optional[str],
                    n: int, step: float) -> List[int]:
    """``n`` new critic budgets for a knee at ``knee`` (None: no estimate) on ``critics``:
    whole log steps ``step`` beyond a censored edge, else log midpoints of the intervals
    nearest the knee (nearest first)."""
    x = np.log(np.asarray(sorted(critics), dtype=np.float64))
    if knee is None or x.size < 2:
        return []
    if censored in ("high", "low"):
        sign, edge = (1.0, x[-1]) if censored == "high" else (-1.0, x[0])
        pts = [edge + sign * step * (k + 1) for k in range(n)]
    else:
        mids = 0.5 * (x[1:] + x[:-1])
        order = np.argsort(np.abs(mids - math.log(knee)))
        pts = [mids[i] for i in order[:n]]
    return [int(round(math.exp(p))) for p in pts]


def next_critics(config: "StudyConfig", label: str, results: Sequence["RunResult"],
                 search_round: int) -> List[int]:
    """New critic budgets for one generator after its earlier rounds' ``results``
    (``RunResult`` records); an empty list ends its search (no counted run, quantum
    generators only by default, every suggestion outside the limits or realising a critic
    already tried)."""
    if search_round > config.refine_rounds or not results or len(
            config.critic_capacities) < 2:
        return []
    if config.refine_kinds != "all" and results[0].kind != config.refine_kinds:
        return []
    table = analysis.RunTable([r for r in results if r.generator == label],
                              getattr(config, "score_metric", "latent"), config.learning_rate)
    if not table.runs:
        return []
    critics, scores, _ = table.cells(label)
    if not np.isfinite(scores).any():
        return []
    fit = stats_lib.fit_surface([float(table.info(label)["generator_capacity"])],
                                [[float(c) for c in critics]], [scores], seed=search_round,
                                n_boot=0)
    value, censored = fit.knees[0].value, fit.knees[0].censored
    if not math.isfinite(value):  # too few counted critics to place a knee: the best mean
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # critics with no counted run
            means = np.nanmean(scores, axis=0)
        best = int(np.nanargmin(means))
        value = float(critics[best])
        censored = ("high" if best == len(critics) - 1 else "low" if best == 0 else None)
    grid = np.log(np.asarray(sorted(config.critic_capacities), dtype=np.float64))
    step = float(np.mean(np.diff(grid)))
    latent_dim = results[0].latent_dim
    low, high = critic_limits(config)
    tried = {realised_critic(config, latent_dim, c) for c in critics}
    out = []
    for budget in suggest_critics(critics, value, censored, config.refine_points, step):
        realised = realised_critic(config, latent_dim, budget)
        if low <= budget <= high and realised is not None and realised not in tried:
            tried.add(realised)
            out.append(int(budget))
    return sorted(out)


def refiner(config: "StudyConfig") -> Optional[Refine]:
    """The tuner's ``refine`` hook for ``config`` (None when it asks for no refinement)."""
    if not config.refine_rounds:
        return None

    def refine(label: str, results: Sequence["RunResult"], search_round: int) -> List[int]:
        return next_critics(config, label, results, search_round)

    return refine
