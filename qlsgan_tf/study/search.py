"""The adaptive critic search: where to train next once a generator's grid runs are in.

The critic grid is coarse (log-spaced, a few points), so C*(Q) read from it is either snapped
between two grid points or censored at an edge. After the grid, each refinement round asks
:func:`qlsgan_tf.study.optimum.suggest_capacities` for ``refine_points`` new critic budgets per
generator: golden-section points in log capacity on both sides of the current best critic, or
one grid step beyond a censored edge. The budget is explicit: at most ``refine_rounds x
refine_points x seeds x learning rates`` extra runs per generator, and critics stay within
one grid step beyond the grid's edges (``critic_limits``). The tuner
(``tuning.capacity.CapacityTuner``) trains the suggestions; the rounds depend only on
recorded results, so a resumed study asks the same questions and trains nothing twice.
"""
import math

from qlsgan_tf.models import capacity as capacity_lib
from qlsgan_tf.study import analysis, optimum

SMALLEST_CRITIC = 8
"""No critic below this many parameters is suggested (a 2-hidden-layer critic of a
3-dimensional latent has at least 11)."""


def critic_limits(config):
    """(smallest, largest) critic budget the search may suggest: one grid step beyond each
    edge of the critic grid (log spacing of its two outermost points), never below
    ``SMALLEST_CRITIC``; ``refine_max_critic`` replaces the upper limit when set."""
    caps = sorted(config.critic_capacities)
    if len(caps) < 2:
        return caps[0], caps[0]
    low = max(SMALLEST_CRITIC, math.floor(caps[0] ** 2 / caps[1]))
    high = config.refine_max_critic or math.ceil(caps[-1] ** 2 / caps[-2])
    return min(low, caps[0]), max(int(high), caps[-1])


def realised_critic(config, latent_dim, budget):
    """Trainable parameters of the critic built for ``budget`` (None when none can be)."""
    try:
        units = capacity_lib.units_for_capacity(int(budget), latent_dim, 1, config.critic_depth)
    except ValueError:
        return None
    return capacity_lib.mlp_param_count(latent_dim, units, 1)


def next_critics(config, label, results, search_round):
    """New critic budgets for one generator after its earlier rounds' ``results`` (run
    records); an empty list ends its search (no converged run, quantum generators only by
    default, every suggestion outside the limits or realising a critic already tried)."""
    if search_round > config.refine_rounds or not results or len(
            config.critic_capacities) < 2:
        return []
    if config.refine_kinds != "all" and results[0].get("kind") != config.refine_kinds:
        return []
    critics, est = analysis.critic_optimum(results, label, config, seed=search_round)
    if est.value is None:
        return []
    latent_dim = int(results[0]["latent_dim"])
    low, high = critic_limits(config)
    tried = {realised_critic(config, latent_dim, c) for c in critics}
    out = []
    for budget in optimum.suggest_capacities(critics, est, n=config.refine_points):
        realised = realised_critic(config, latent_dim, budget)
        if low <= budget <= high and realised is not None and realised not in tried:
            tried.add(realised)
            out.append(int(budget))
    return sorted(out)


def refiner(config):
    """The tuner's ``refine`` hook for ``config`` (None when it asks for no refinement)."""
    if not config.refine_rounds:
        return None

    def refine(label, results, search_round):
        return next_critics(config, label, results, search_round)

    return refine
