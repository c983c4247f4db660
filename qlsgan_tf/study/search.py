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

import numpy as np

from qlsgan_tf.models import capacity as capacity_lib
from qlsgan_tf.study import analysis, optimum, power

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
    """New critic budgets for one generator after its earlier rounds' ``results``
    (``RunResult`` records); an empty list ends its search (no converged run, quantum
    generators only by default, every suggestion outside the limits or realising a critic
    already tried)."""
    if search_round > config.refine_rounds or not results or len(
            config.critic_capacities) < 2:
        return []
    if config.refine_kinds != "all" and results[0].kind != config.refine_kinds:
        return []
    critics, est = analysis.critic_optimum(results, label, config, seed=search_round)
    if est.value is None:
        return []
    latent_dim = results[0].latent_dim
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


VALLEYS = ("quadratic", "v", "asymmetric")


def _valley(shape, d):
    """Relative score rise at log distance ``d`` from the optimum (power.VALLEY_CURVATURE for
    the quadratic valley the power simulation uses; a V; steep below, flat above)."""
    if shape == "quadratic":
        return power.VALLEY_CURVATURE * d ** 2
    if shape == "v":
        return 0.3 * np.abs(d)
    if shape == "asymmetric":
        return np.where(d < 0, 0.3 * np.abs(d), 0.05 * d ** 2)
    raise ValueError(f"valley must be one of {VALLEYS}; got {shape!r}")


def simulate_search(critic_grid, n_seeds, *, truth_range, valley="quadratic", noise=0.05,
                    rounds=1, points=2, limits=None, n_rep=200, seed=0):
    """Error of C* with and without the adaptive search, on planted optima (known truth).

    Each repetition draws a true log C* uniformly in ``log(truth_range)``, a score table
    ``[n_seeds, critics]`` unimodal around it (``valley``; each seed a shared offset of
    ``power.SEED_OFFSET``, each run relative noise ``noise``), and estimates C* on (a) the
    grid, (b) the grid plus ``rounds`` rounds of ``points`` suggested critics (the same
    seeds: their offsets are kept), and (c) a log-even grid over the same range with the same
    number of critics as (b) may add, i.e. at equal run budget.

    Returns ``{design: {"median_abs_err", "rms_err", "censored", "coverage"}}`` (errors in
    natural log; ``censored``: fraction censored; ``coverage``: fraction of uncensored CIs
    holding the truth).
    """
    rng = np.random.default_rng(seed)
    grid = [float(c) for c in critic_grid]
    low, high = limits or (SMALLEST_CRITIC, math.inf)
    n_dense = len(grid) + rounds * points
    dense = list(np.exp(np.linspace(np.log(grid[0]), np.log(grid[-1]), n_dense)))
    out = {k: {"err": [], "censored": 0, "covered": []} for k in ("grid", "adaptive", "even")}

    def record(name, est, truth):
        out[name]["err"].append(abs(math.log(est.value) - truth))
        if est.censored:
            out[name]["censored"] += 1
        else:
            out[name]["covered"].append(est.ci[0] <= math.exp(truth) <= est.ci[1])

    for rep in range(n_rep):
        truth = rng.uniform(*np.log(truth_range))
        offset = 1.0 + power.SEED_OFFSET * rng.standard_normal((n_seeds, 1))

        def table(caps, truth=truth, offset=offset):
            d = np.log(np.asarray(caps, dtype=np.float64)) - truth
            return (1.0 + _valley(valley, d)) * offset * np.exp(
                noise * rng.standard_normal((n_seeds, len(caps))))

        caps, tab = list(grid), table(grid)
        est = optimum.estimate_optimum(caps, tab, seed=rep)
        record("grid", est, truth)
        for _ in range(rounds):
            new = [c for c in optimum.suggest_capacities(caps, est, n=points) if low <= c <= high]
            if est.value is None or not new:
                break
            merged = sorted(caps + new)
            cols = dict(zip(caps, tab.T))
            cols.update(zip(new, table(new).T))
            caps, tab = merged, np.stack([cols[c] for c in merged], axis=1)
            est = optimum.estimate_optimum(caps, tab, seed=rep)
        record("adaptive", est, truth)
        record("even", optimum.estimate_optimum(dense, table(dense), seed=rep), truth)
    return {k: {"median_abs_err": float(np.median(v["err"])),
                "rms_err": float(np.sqrt(np.mean(np.square(v["err"])))),
                "censored": v["censored"] / n_rep,
                "coverage": float(np.mean(v["covered"])) if v["covered"] else None}
            for k, v in out.items()}
