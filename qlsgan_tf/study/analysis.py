"""From recorded runs to the study's answers: C*(Q), G*(Q), their intervals, the law verdicts.

Pure numpy/scipy over the run records (``tuning.results.RunResult``; no TensorFlow), so
``qlsgan report`` can re-analyse a study directory anywhere. The method is ``docs/method.md``;
in short:

- A run counts only when it converged (``RunResult.metric_score``; an older record without a
  status counts when ``stable``). Its score is the latent score (``score_metric="latent"``) or
  the FD-SAT4 score (``"fd"``: ``fd_score``; an older record's ``score``).
- Seeds are resampled jointly (cluster bootstrap): one resample of the seeds is used for every
  generator, critic and learning rate. Within each resample, each (generator, critic) takes
  the learning rate whose seeds' mean score is best.
- C*(Q): :mod:`qlsgan_tf.study.optimum` on the mean-score-vs-log-critic curve of each quantum
  generator; censored at a grid edge.
- G*(Q): where the classical generators' best score (same latent size, linear in log
  capacity) first reaches the quantum generator's best score, in the same resample; censored
  outside the classical range.
- A generator with no converged run gets no C* or G*, is left out of the fits and listed in
  ``excluded`` with the reason.
- Law verdicts: :func:`qlsgan_tf.study.fits.compare_laws` with each point's interval and
  censoring; the power of the verdict at the measured noise by :mod:`qlsgan_tf.study.power`.
"""
import collections
import math

import numpy as np
from scipy import stats

from qlsgan_tf.study import fits, optimum

LEVEL = 0.95
POWER_REPS = 100
#: Seed resamples on which the whole chain (C* for every Q, then the verdict) is repeated.
FIT_BOOT = 100
_CODES = {-1: "low", 0: None, 1: "high"}


def most_stable_critic(scores_by_critic):
    """The grid rule for one generator: the critic budget with the largest share of converged
    seeds, then the lowest mean score over them, then the smallest budget.

    ``scores_by_critic``: ``{critic budget: scores of its runs}``, NaN/inf/None for a run
    without a score. This is the optimum the score plot stars when the analysis gives none.
    """
    def key(critic):
        scores = np.array([math.nan if v is None else v for v in scores_by_critic[critic]],
                          dtype=np.float64)
        ok = np.isfinite(scores)
        share = ok.mean() if scores.size else 0.0
        return (-share, float(scores[ok].mean()) if ok.any() else math.inf, critic)

    if not scores_by_critic:
        raise ValueError("scores_by_critic is empty: no critic to choose")
    return min(scores_by_critic, key=key)


class RunTable:
    """Runs (``tuning.results.RunResult``) as score tables ``[n_lr, n_seeds, n_critics]`` per
    generator; a run recorded without a learning rate counts at ``default_lr``."""

    def __init__(self, runs, metric="latent", default_lr=None):
        self.runs = list(runs)
        self.metric = metric
        self.default_lr = default_lr
        self.seeds = sorted({r.seed for r in self.runs})
        self.lrs = sorted({self.learning_rate(r) for r in self.runs})
        self.by_generator = collections.defaultdict(list)
        for run in self.runs:
            self.by_generator[run.generator].append(run)

    def learning_rate(self, run):
        return run.learning_rate if run.learning_rate is not None else (self.default_lr or 0.0)

    def generators(self, kind):
        labels = [g for g, rs in self.by_generator.items() if rs[0].kind == kind]
        return sorted(labels, key=lambda g: (self.info(g)["latent_dim"],
                                             self.info(g)["generator_capacity"], g))

    def info(self, generator):
        run = self.by_generator[generator][0]
        keys = ("kind", "latent_dim", "generator_capacity", "n_qubits", "n_layers")
        return {k: getattr(run, k) for k in keys}

    def critics(self, generator):
        return sorted({r.critic_budget for r in self.by_generator[generator]})

    def table(self, generator):
        """(critic budgets, scores ``[n_lr, n_seeds, n_critics]`` with NaN)."""
        critics = self.critics(generator)
        tab = np.full((len(self.lrs), len(self.seeds), len(critics)), np.nan)
        for run in self.by_generator[generator]:
            tab[self.lrs.index(self.learning_rate(run)), self.seeds.index(run.seed),
                critics.index(run.critic_budget)] = run.metric_score(self.metric)
        return critics, tab

    def status_counts(self, generator=None):
        runs = self.runs if generator is None else self.by_generator[generator]
        return dict(collections.Counter(r.status for r in runs))


def best_lr_curves(tab, weights):
    """Mean score per critic at the best learning rate, per resample: ``[B, n_critics]``,
    and the index of that learning rate (NaN curve / -1 where no run is valid)."""
    means = optimum.seed_means(tab, weights)  # [n_lr, B, n_c]
    filled = np.where(np.isfinite(means), means, np.inf)
    best = np.argmin(filled, axis=0)
    curve = np.min(filled, axis=0)
    valid = np.isfinite(curve)
    return np.where(valid, curve, np.nan), np.where(valid, best, -1)


def _best_score(critics, curves):
    """Best score over critics, NaN when none is valid: ``[..., n_c] -> [...]``: the minimum
    of the local parabola in log capacity (as for C*), the edge's mean when censored."""
    x = np.log(np.asarray(critics, dtype=np.float64))
    return optimum.vertex_and_value(x, curves)[3]


def crossing(x, scores, target):
    """Log capacity where a score curve ``[..., n]`` (linear in ``x``) first falls to ``target``.

    Returns ``(x_star, censored)``: censored -1 when the smallest valid capacity already
    reaches the target, +1 when none does (x_star is then that edge); NaN without valid points.
    """
    valid = np.isfinite(scores)
    reach = valid & (scores <= target[..., None])
    any_valid, any_reach = valid.any(axis=-1), reach.any(axis=-1)
    first = np.argmax(reach, axis=-1)
    left, _ = optimum._neighbour_indices(valid)
    prev = np.take_along_axis(left, first[..., None], -1)[..., 0]
    n = scores.shape[-1]
    last_valid = n - 1 - np.argmax(np.flip(valid, -1), axis=-1)
    p = np.clip(prev, 0, n - 1)
    s0 = np.take_along_axis(scores, p[..., None], -1)[..., 0]
    s1 = np.take_along_axis(scores, first[..., None], -1)[..., 0]
    with np.errstate(invalid="ignore", divide="ignore"):
        frac = np.clip((s0 - target) / (s0 - s1), 0.0, 1.0)
    inner = x[p] + frac * (x[first] - x[p])
    cens = np.where(~any_reach, 1, np.where(prev < 0, -1, 0))
    x_star = np.where(cens == 1, x[last_valid], np.where(cens == -1, x[first], inner))
    return np.where(any_valid, x_star, np.nan), np.where(any_valid, cens, 0)


def _json(value):
    if value is None:
        return None
    value = float(value)
    return value if math.isfinite(value) else None


def _interval_of(x_point, cens, boot, n_seeds, caps):
    """(value, [low, high], censored) of a log-capacity estimate in capacity units."""
    if not np.isfinite(x_point):
        return None, [None, None], None
    x = np.log(caps)
    x_range = (x.min(), x.max())
    if cens != 0:
        edge = float(caps[np.argmin(np.abs(x - x_point))])
        return edge, ([0.0, edge] if cens < 0 else [edge, None]), _CODES[int(cens)]
    lo, hi = optimum.interval(np.float64(x_point), boot, LEVEL,
                              optimum.widening(n_seeds, LEVEL), x_range)
    return float(np.exp(x_point)), [float(np.exp(lo)), float(np.exp(hi))], None


def _generator_curves(table, weights):
    """Per generator: critics, best-learning-rate curves ``[B+1, n_c]`` (row 0: all seeds),
    the learning rate chosen per critic on all seeds, and the number of converged runs."""
    out = {}
    for g in table.by_generator:
        critics, tab = table.table(g)
        curves, lr_idx = best_lr_curves(tab, weights)
        out[g] = {"critics": critics, "curves": curves, "n_valid": int(np.isfinite(tab).sum()),
                  "lr": [table.lrs[i] if i >= 0 else None for i in lr_idx[0]]}
    return out


def _excluded(table, curves):
    rows = []
    for g in table.generators("quantum") + table.generators("classical"):
        if curves[g]["n_valid"] == 0:
            counts = ", ".join(f"{n} {s}" for s, n in sorted(table.status_counts(g).items()))
            rows.append({"generator": g, "kind": table.info(g)["kind"],
                         "reason": f"no converged run ({counts})"})
    return rows


def _classical_rows(table, curves, n_seeds):
    """Per latent size: the classical generators with a converged run, by capacity."""
    rows = collections.defaultdict(list)
    for g in table.generators("classical"):
        c = curves[g]
        if c["n_valid"] == 0:
            continue
        best = _best_score(c["critics"], c["curves"])
        i = int(np.nanargmin(c["curves"][0]))
        info = table.info(g)
        rows[info["latent_dim"]].append({
            "generator": g, "generator_capacity": info["generator_capacity"],
            "best_critic_capacity": c["critics"][i], "learning_rate": c["lr"][i],
            "score": float(best[0]), "score_ci": percentile_ci(best[1:]),
            "n_converged": c["n_valid"], "status_counts": table.status_counts(g),
            "_best": best})
    del n_seeds
    return rows


def percentile_ci(values, level=LEVEL):
    """Percentile interval ``[low, high]`` of the finite ``values`` ([None, None] if none)."""
    values = np.asarray(values, dtype=np.float64)
    values = values[np.isfinite(values)]
    if values.size == 0:
        return [None, None]
    tail = 50.0 * (1.0 - level)
    return [float(v) for v in np.percentile(values, [tail, 100.0 - tail])]


def _critic_star(c, n_seeds):
    x = np.log(np.asarray(c["critics"], dtype=np.float64))
    out = optimum.estimate_from_means(x, c["curves"][0], c["curves"][1:], n_seeds, LEVEL)
    return optimum.from_estimate(c["critics"], out, c["n_valid"], n_seeds, LEVEL)


def _generator_star(rows, best_q, n_seeds):
    """G*(Q) for one quantum generator from the classical rows of its latent size."""
    if not rows:
        return {"generator_star": None, "generator_star_ci": [None, None],
                "generator_star_censored": None, "classical_tried": [],
                "generator_star_reason": "no classical generator of this latent size converged"}
    caps = np.array([r["generator_capacity"] for r in rows], dtype=np.float64)
    x = np.log(caps)
    scores = np.stack([r["_best"] for r in rows], axis=-1)  # [B+1, n_cls]
    x_star, cens = crossing(x, scores, best_q)
    value, ci, censored = _interval_of(x_star[0], cens[0], x_star[1:], n_seeds, caps)
    return {"generator_star": value, "generator_star_ci": ci,
            "generator_star_censored": censored,
            "generator_star_log_sd": _json(np.nanstd(x_star[1:])) if np.isfinite(
                x_star[1:]).sum() > 1 else None,
            "classical_tried": [int(c) for c in caps]}


def _quantum_entry(table, g, c, classical, n_seeds):
    info = table.info(g)
    est = _critic_star(c, n_seeds)
    best = _best_score(c["critics"], c["curves"])
    entry = {
        "generator": g, "q_capacity": info["generator_capacity"], "n_qubits": info["n_qubits"],
        "n_layers": info["n_layers"], "latent_dim": info["latent_dim"],
        "critic_star": est.value, "critic_star_ci": [_json(v) for v in est.ci],
        "critic_star_censored": est.censored, "critic_star_log_sd": _json(est.log_sd),
        "critic_grid_best": c["critics"][est.index] if est.index is not None else None,
        "learning_rate": c["lr"][est.index] if est.index is not None else None,
        "n_converged": c["n_valid"], "status_counts": table.status_counts(g),
        "score": _json(best[0]), "score_ci": percentile_ci(best[1:]),
        "scores_by_critic": {str(k): _json(v) for k, v in zip(c["critics"], c["curves"][0])},
    }
    entry["other_score"] = (other_metric_score(table, g, entry["critic_grid_best"],
                                               entry["learning_rate"])
                            if est.index is not None else None)
    entry.update(_generator_star(classical.get(info["latent_dim"], []), best, n_seeds))
    x = np.log(np.asarray(c["critics"], dtype=np.float64))
    boot_x, _, boot_cens = optimum.optimum_from_means(x, c["curves"][1:FIT_BOOT + 1])
    entry["_boot"] = (boot_x, boot_cens)
    return entry


def critic_optimum(runs, generator, config, n_boot=200, seed=0):
    """(critic capacities, :class:`optimum.OptimumEstimate`) of one generator's runs: the C*
    estimate the report gives, on whatever critics those runs have (grid and refinements)."""
    table = RunTable([r for r in runs if r.generator == generator],
                     getattr(config, "score_metric", "latent"), config.learning_rate)
    if not table.runs:
        raise ValueError(f"no runs of generator {generator!r}")
    n_seeds = len(table.seeds)
    weights = np.vstack([np.ones((1, n_seeds)), optimum.bootstrap_weights(
        n_seeds, n_boot, np.random.default_rng(seed))])
    curves = _generator_curves(table, weights)[generator]
    return curves["critics"], _critic_star(curves, n_seeds)


def other_metric_score(table, generator, critic, lr):
    """Mean of the *other* score (FD-SAT4 when the latent score decides, and vice versa) over
    the converged seeds of one configuration, so that the report shows both."""
    other = "fd" if table.metric == "latent" else "latent"
    values = []
    for run in table.by_generator[generator]:
        if run.critic_budget != critic or (lr is not None and table.learning_rate(run) != lr):
            continue
        value = run.metric_score(other)
        if math.isfinite(value):
            values.append(value)
    return {"metric": other, "value": float(np.mean(values)) if values else None}


def _law_points(entries, value_key, ci_key, cens_key):
    pts = [e for e in entries if e[value_key] is not None]
    q = [float(e["q_capacity"]) for e in pts]
    y = [float(e[value_key]) for e in pts]
    cens = [e[cens_key] for e in pts]
    ci = [[float(e[ci_key][0]), float(e[ci_key][1])] if c is None else [v, v]
          for e, v, c in zip(pts, y, cens)]
    return q, y, ci, cens


def _compare(entries, value_key, ci_key, cens_key):
    q, y, ci, cens = _law_points(entries, value_key, ci_key, cens_key)
    if not q:
        comparison = fits.LawComparison("insufficient data", "insufficient", None, {}, 0, 0)
    else:
        comparison = fits.compare_laws(q, y, y_ci=ci, censored=cens)
    out = dict(comparison.to_dict(), points=[q, y], points_ci=ci, censored=cens)
    return out, comparison



def cluster_verdicts(entries):
    """The verdict on C*(Q) repeated on seed resamples, all Q from the same resample.

    Returns ``{"n": resamples, "verdicts": {verdict: fraction}, "tau_ci": [low, high]}``:
    how stable the verdict is when the seeds, shared by every point, are redrawn together.
    """
    pts = [e for e in entries if e["critic_star"] is not None]
    if not pts:
        return {"n": 0, "verdicts": {}, "tau_ci": [None, None]}
    q = np.array([float(e["q_capacity"]) for e in pts])
    xs = np.stack([e["_boot"][0] for e in pts], axis=-1)  # [B, n_points]
    cens = np.stack([e["_boot"][1] for e in pts], axis=-1)
    counts, taus = collections.Counter(), []
    for x_row, c_row in zip(xs, cens):
        ok = np.isfinite(x_row)
        comparison = fits.compare_laws(q[ok], np.exp(x_row[ok]),
                                       censored=[_CODES[int(c)] for c in c_row[ok]],
                                       _with_ci=False) if ok.sum() else None
        counts[comparison.verdict if comparison else "insufficient data"] += 1
        if comparison is not None and comparison.trend is not None:
            taus.append(comparison.trend.tau)
    n = int(xs.shape[0])
    return {"n": n, "verdicts": {v: counts[v] / n for v in fits.VERDICTS if counts[v]},
            "tau_ci": percentile_ci(taus)}


def measured_noise(entries):
    """The noise of log C*: median over the uncensored C* of ``log(high / low) / (2 z)``.

    The interval is the seed bootstrap's, widened for few seeds: the raw bootstrap spread
    (``critic_star_log_sd``) underestimates the true spread of C* with a handful of seeds (in
    simulation, 0.23 against 0.33 with 5 seeds), the widened interval matches it (0.34).
    """
    z = stats.norm.ppf(0.5 * (1.0 + LEVEL))
    sds = [math.log(e["critic_star_ci"][1] / e["critic_star_ci"][0]) / (2.0 * z)
           for e in entries if e["critic_star"] is not None and e["critic_star_censored"] is None
           and None not in e["critic_star_ci"] and e["critic_star_ci"][0] > 0]
    return float(np.median(sds)) if sds else None


def power_at_design(q, critic_grid, n_seeds, sigma, seed=0, n_rep=POWER_REPS):
    """Verdict probabilities at the design and measured noise, and a design reaching 80 %."""
    from qlsgan_tf.study import power

    q = sorted({float(v) for v in q})
    why = ("fewer than 4 Q values" if len(q) < 4 else "fewer than 3 critic capacities"
           if len(critic_grid) < 3 else "fewer than 2 seeds" if n_seeds < 2
           else "no uncensored C* to measure the noise" if sigma is None else None)
    if why:
        return {"computed": False, "reason": why}
    sigma = max(float(sigma), 0.01)
    res = power.simulate_power(q, critic_grid, n_seeds, sigma, n_rep=n_rep, seed=seed)
    out = dict(res.to_dict(), computed=True)
    if res.power["exponential"] < power.TARGET_POWER:
        out["design_suggestion"] = power.design_for_power(q, critic_grid, n_seeds, sigma,
                                                          n_rep=n_rep, seed=seed)
    return out


def analyse(runs, config, n_boot=None, seed=0, with_power=True, power_reps=None):
    """The study's answers: (JSON-ready dict, {"critic": LawComparison,
    "classical_generator": LawComparison}); see the module docstring for the rules."""
    metric = getattr(config, "score_metric", "latent")
    table = RunTable(runs, metric, config.learning_rate)
    n_boot = int(n_boot or config.n_boot)
    n_seeds = len(table.seeds)
    weights = np.vstack([np.ones((1, n_seeds)), optimum.bootstrap_weights(
        n_seeds, n_boot, np.random.default_rng(seed))])
    curves = _generator_curves(table, weights)
    excluded = _excluded(table, curves)
    classical = _classical_rows(table, curves, n_seeds)
    quantum = [_quantum_entry(table, g, curves[g], classical, n_seeds)
               for g in table.generators("quantum") if curves[g]["n_valid"] > 0]
    quantum.sort(key=lambda e: (e["q_capacity"], e["generator"]))
    result = {
        "score_metric": metric, "n_runs": len(table.runs),
        "status_counts": table.status_counts(),
        "n_converged_runs": sum(r.status == "converged" for r in table.runs),
        "n_stable_runs": sum(r.stable for r in table.runs),
        "seeds": table.seeds, "learning_rates": table.lrs, "n_boot": n_boot,
        "design": {"q": sorted({int(table.info(g)["generator_capacity"])
                                for g in table.generators("quantum")}),
                   "critic_capacities": list(config.critic_capacities),
                   "classical_capacities": list(config.classical_capacities),
                   "n_seeds": n_seeds, "learning_rates": table.lrs},
        "quantum": quantum, "excluded": excluded,
        "classical": {str(d): [{k: v for k, v in r.items() if k != "_best"} for r in rows]
                      for d, rows in classical.items()},
        "fits": {}, "decision_rules": dict(fits.RULES),
    }
    comparisons = {}
    for key, fields in (("critic", ("critic_star", "critic_star_ci", "critic_star_censored")),
                        ("classical_generator", ("generator_star", "generator_star_ci",
                                                 "generator_star_censored"))):
        result["fits"][key], comparisons[key] = _compare(quantum, *fields)
    result["fits"]["critic"]["cluster_bootstrap"] = cluster_verdicts(quantum)
    for e in quantum:
        e.pop("_boot")
    sigma = measured_noise(quantum)
    result["noise"] = {"critic_log_sd": sigma}
    if with_power:
        result["power"] = power_at_design(result["design"]["q"], list(config.critic_capacities),
                                          n_seeds, sigma, seed=seed,
                                          n_rep=power_reps or POWER_REPS)
    return result, comparisons
