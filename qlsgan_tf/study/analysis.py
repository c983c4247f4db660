"""From recorded runs to the study's answers: the knee C*(Q), its law, G*(Q), the power.

Pure numpy/scipy over the run records (``tuning.results.RunResult``; no TensorFlow), so
``qlsgan report`` can re-analyse a study directory anywhere. The statistics live in
:mod:`qlsgan_tf.analysis`; this module turns runs into its tables and its answers into the
report's record. The method is ``docs/method.md``; in short:

- A run counts only when it converged (``RunResult.metric_score``). Its score is the latent
  score (``score_metric="latent"``) or FD-SAT4 (``"fd"``).
- Learning rate is a nuisance: each (generator, critic) cell uses the learning rate whose
  counted seeds have the lowest mean score (chosen once, on all seeds).
- **Primary endpoint** (fixed in ``docs/method.md`` before any data): the law of the knee
  C*(Q) of the score surface, on the study's score and VAE, from one joint fit of every
  counted run of every quantum generator (:func:`qlsgan_tf.analysis.fit_surface`).
- Everything else is **exploratory** and its p-values are Holm-adjusted together: the law of
  the argmin of the mean score (a diagnostic: on a plateau it is chosen by noise), the law of
  G*(Q), and the knee law on the other score.
- G*(Q): the smallest classical generator whose converged plateau (its own fitted surface
  over its critics) reaches the quantum generator's plateau, interpolated in log capacity;
  censored outside the classical range; interval from joint seed resamples.
- Power: simulated from the fitted surface itself (:func:`qlsgan_tf.analysis.simulate_power`),
  with the knee law replaced by planted laws.
"""
import collections
import dataclasses
import math
import warnings
from typing import Any, Dict, Iterable, List, Mapping, Optional, Sequence, Tuple

import numpy as np

from qlsgan_tf import analysis as stats_lib
from qlsgan_tf.analysis import argmin, surface, twostage
from qlsgan_tf.analysis.power import POWER_INTERVAL, TARGET_POWER
from qlsgan_tf.constants import METRICS, SCORE_METRICS, quantum_capacity
from qlsgan_tf.convergence import is_converged
from qlsgan_tf.tuning.results import RunResult

LEVEL = 0.95
#: Replicates per planted law in the report's power (Monte-Carlo error <= 0.05 at 100).
POWER_REPS = 100
#: Fitted-world draws the power's interval spreads over (the fit's sampling distribution).
POWER_WORLDS = 20
#: Replicates per candidate design when searching for one that reaches 80 %.
DESIGN_REPS = 20
#: Joint seed resamples for the G* intervals (each refits the quantum and classical surfaces).
G_BOOT = 30
#: Deepest circuit a suggested design may use (the step cost grows with L; 20 layers of 3
#: qubits train in a fraction of a second per run).
MAX_DESIGN_LAYERS = 20
#: Largest critic a suggested design may use on the quick preset's budget.
MAX_DESIGN_CRITIC = 300_000
#: Most runs (per learning rate) a suggested design may take: 10x the paper preset's grid.
MAX_DESIGN_RUNS = 20_000
PRIMARY = ("the law of the knee C*(Q) of the score surface (score: {metric}; the study's "
           "VAE), from one joint fit of all counted runs")
_CODES = {-1: "low", 0: None, 1: "high"}
#: The primary decision rule, in the order its steps are taken.
RULES = surface.RULES


class RunTable:
    """Runs (``tuning.results.RunResult``) as score tables ``[n_lr, n_seeds, n_critics]`` per
    generator; a run recorded without a learning rate counts at ``default_lr``."""

    def __init__(self, runs: Iterable[RunResult], metric: str = "latent",
                 default_lr: Optional[float] = None) -> None:
        self.runs = list(runs)
        self.metric = metric
        self.default_lr = default_lr
        self.seeds = sorted({r.seed for r in self.runs})
        self.lrs = sorted({self.learning_rate(r) for r in self.runs})
        self.by_generator = collections.defaultdict(list)
        for run in self.runs:
            self.by_generator[run.generator].append(run)

    def learning_rate(self, run: RunResult) -> float:
        return run.learning_rate if run.learning_rate is not None else (self.default_lr or 0.0)

    def generators(self, kind: str) -> List[str]:
        labels = [g for g, rs in self.by_generator.items() if rs[0].kind == kind]
        return sorted(labels, key=lambda g: (self.info(g)["latent_dim"],
                                             self.info(g)["generator_capacity"], g))

    def info(self, generator: str) -> Dict[str, Any]:
        run = self.by_generator[generator][0]
        keys = ("kind", "latent_dim", "generator_capacity", "n_qubits", "n_layers")
        return {k: getattr(run, k) for k in keys}

    def critics(self, generator: str) -> List[int]:
        return sorted({r.critic_budget for r in self.by_generator[generator]})

    def table(self, generator: str,
              metric: Optional[str] = None) -> Tuple[List[int], np.ndarray]:
        """(critic budgets, scores ``[n_lr, n_seeds, n_critics]`` with NaN)."""
        critics = self.critics(generator)
        tab = np.full((len(self.lrs), len(self.seeds), len(critics)), np.nan)
        for run in self.by_generator[generator]:
            tab[self.lrs.index(self.learning_rate(run)), self.seeds.index(run.seed),
                critics.index(run.critic_budget)] = run.metric_score(metric or self.metric)
        return critics, tab

    def cells(self, generator: str, metric: Optional[str] = None
              ) -> Tuple[List[int], np.ndarray, List[Optional[float]]]:
        """(critics, scores ``[n_seeds, n_critics]``, learning rate per critic): each cell at
        the learning rate with the lowest mean over its counted seeds (None: no counted run)."""
        critics, tab = self.table(generator, metric)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            means = np.nanmean(tab, axis=1)  # [n_lr, n_c]
        best = np.argmin(np.where(np.isfinite(means), means, np.inf), axis=0)
        scores = tab[best, :, np.arange(len(critics))].T  # [n_seeds, n_c]
        lrs = [self.lrs[b] if np.isfinite(means[b, j]) else None for j, b in enumerate(best)]
        return critics, scores, lrs

    def status_counts(self, generator: Optional[str] = None) -> Dict[str, int]:
        runs = self.runs if generator is None else self.by_generator[generator]
        return dict(collections.Counter(r.status for r in runs))


def most_stable_critic(scores_by_critic: Mapping[Any, Sequence[float]]) -> Any:
    """The grid rule for one generator: the critic budget with the largest share of converged
    seeds, then the lowest mean score over them, then the smallest budget.

    ``scores_by_critic``: ``{critic budget: scores of its runs}``, NaN/inf/None for a run
    without a score. This is the critic the score plot marks when the analysis gives none.
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


def crossing(x: Any, scores: Any, target: Any) -> Tuple[np.ndarray, np.ndarray]:
    """Log capacity where a score curve ``[..., n]`` (linear in ``x``) first falls to ``target``.

    Returns ``(x_star, censored)``: censored -1 when the smallest valid capacity already
    reaches the target, +1 when none does (x_star is then that edge); NaN without valid points.
    """
    x = np.asarray(x, dtype=np.float64)
    scores = np.asarray(scores, dtype=np.float64)
    target = np.asarray(target, dtype=np.float64)
    valid = np.isfinite(scores)
    reach = valid & (scores <= target[..., None])
    any_valid, any_reach = valid.any(axis=-1), reach.any(axis=-1)
    first = np.argmax(reach, axis=-1)
    idx = np.arange(scores.shape[-1])
    # The nearest valid point before `first` (-1 when none).
    before = np.where(valid & (idx < first[..., None]), idx, -1)
    prev = before.max(axis=-1)
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


def percentile_ci(values: Any, level: float = LEVEL) -> List[Any]:
    """Percentile interval ``[low, high]`` of the finite ``values`` ([None, None] if none)."""
    values = np.asarray(values, dtype=np.float64)
    values = values[np.isfinite(values)]
    if values.size == 0:
        return [None, None]
    tail = 50.0 * (1.0 - level)
    return [float(v) for v in np.percentile(values, [tail, 100.0 - tail])]


def holm(p_values: Sequence[Any]) -> List[Optional[float]]:
    """Holm's step-down adjustment of ``p_values`` (None stays None), in the given order."""
    idx = [i for i, p in enumerate(p_values) if p is not None]
    order = sorted(idx, key=lambda i: p_values[i])
    out, running, m = list(p_values), 0.0, len(order)
    for rank, i in enumerate(order):
        running = max(running, min(1.0, (m - rank) * float(p_values[i])))
        out[i] = running
    return out


def _json(value):
    if value is None:
        return None
    value = float(value)
    return value if math.isfinite(value) else None


# ---------------------------------------------------------------- tables for the surface fit
@dataclasses.dataclass(frozen=True)
class _Surface:
    """The tables of one kind of generator, ready for :func:`qlsgan_tf.analysis.fit_surface`:
    per generator its capacity, critics, scores ``[n_seeds, n_critics]`` and the learning
    rate of each cell."""

    labels: list
    capacity: list
    critics: list
    scores: list
    lrs: list

    @classmethod
    def of(cls, table, labels, metric=None):
        cells = [table.cells(g, metric) for g in labels]
        return cls(list(labels), [float(table.info(g)["generator_capacity"]) for g in labels],
                   [[float(c) for c in critics] for critics, _, _ in cells],
                   [scores for _, scores, _ in cells], [lrs for _, _, lrs in cells])

    def resampled(self, seeds):
        """The same tables with seed rows ``seeds`` (one draw shared by every table)."""
        return dataclasses.replace(self, scores=[s[seeds] for s in self.scores])

    def fit(self, *, seed=0, n_boot=0):
        return stats_lib.fit_surface(self.capacity, self.critics, self.scores, seed=seed,
                                     n_boot=n_boot)


def _plateaus(fit):
    return np.asarray(fit.plateaus, dtype=np.float64)


# ---------------------------------------------------------------- per generator
def _argmin(critics, scores, seed):
    """The argmin of the mean score (diagnostic) with its seed-bootstrap interval."""
    est = argmin.estimate_optimum(critics, scores, seed=seed, n_boot=200, level=LEVEL)
    return {"argmin_critic": est.value, "argmin_ci": [_json(v) for v in est.ci],
            "argmin_censored": est.censored}


def _quantum_entry(table, surface, i, fit, seed):
    g = surface.labels[i]
    info = table.info(g)
    critics, scores = surface.critics[i], surface.scores[i]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        means = np.nanmean(scores, axis=0)
    knee = fit.knees[i]
    ok = np.isfinite(means)
    best = int(np.nanargmin(np.where(ok, means, np.inf)))
    entry = {
        "generator": g, "q_capacity": info["generator_capacity"], "n_qubits": info["n_qubits"],
        "n_layers": info["n_layers"], "latent_dim": info["latent_dim"],
        "critic_star": _json(knee.value), "critic_star_ci": [_json(v) for v in knee.ci],
        "critic_star_censored": knee.censored,
        "plateau": _json(_plateaus(fit)[i]),
        "critics": [int(c) for c in critics],
        "critic_grid_best": int(critics[best]),
        "learning_rate": surface.lrs[i][best],
        "n_converged": int(np.isfinite(scores).sum()), "status_counts": table.status_counts(g),
        "score": _json(means[best]),
        "scores_by_critic": {str(int(c)): _json(v) for c, v in zip(critics, means)},
        "runs_by_critic": {str(int(c)): int(n) for c, n in
                           zip(critics, np.isfinite(scores).sum(axis=0))},
    }
    entry.update(_argmin(critics, scores, seed))
    entry["other_score"] = other_metric_score(table, g, entry["critic_grid_best"],
                                              entry["learning_rate"])
    return entry


def other_metric_score(table: RunTable, generator: str, critic: float,
                       lr: Optional[float]) -> Dict[str, Any]:
    """Mean of the *other* score (FD-SAT4 when the latent score decides, and vice versa) over
    the converged seeds of one configuration, so that the report shows both."""
    other = other_metric(table.metric)
    values = []
    for run in table.by_generator[generator]:
        if run.critic_budget != critic or (lr is not None and table.learning_rate(run) != lr):
            continue
        value = run.metric_score(other)
        if math.isfinite(value):
            values.append(value)
    return {"metric": other, "value": float(np.mean(values)) if values else None}


def _excluded(table):
    rows = []
    for g in table.generators("quantum") + table.generators("classical"):
        if not any(is_converged(r.status) and math.isfinite(r.metric_score(table.metric))
                   for r in table.by_generator[g]):
            counts = ", ".join(f"{n} {s}" for s, n in sorted(table.status_counts(g).items()))
            rows.append({"generator": g, "kind": table.info(g)["kind"],
                         "reason": f"no converged run ({counts})"})
    return rows


def _counted(table, kind):
    return [g for g in table.generators(kind)
            if any(math.isfinite(r.metric_score(table.metric)) for r in table.by_generator[g])]


# ---------------------------------------------------------------- G*: matched plateaus
def _classical(table):
    """Per latent size: the surface of its classical generators with a counted run."""
    by_dim = collections.defaultdict(list)
    for g in _counted(table, "classical"):
        by_dim[table.info(g)["latent_dim"]].append(g)
    return {d: _Surface.of(table, labels) for d, labels in by_dim.items()}


def _g_star(q_plateaus, q_dims, classical_fits, classical):
    """G* per quantum generator: (log G*, censoring code) where the classical plateau first
    reaches the quantum plateau, interpolated in log capacity."""
    x_out, c_out = np.full(len(q_plateaus), np.nan), np.zeros(len(q_plateaus), dtype=int)
    for i, (p, d) in enumerate(zip(q_plateaus, q_dims)):
        if d not in classical or not np.isfinite(p):
            continue
        x = np.log(np.asarray(classical[d].capacity))
        x_star, cens = crossing(x, _plateaus(classical_fits[d]), np.float64(p))
        x_out[i], c_out[i] = x_star, cens
    return x_out, c_out


def _generator_stars(table, quantum, q_fit, entries, seed):
    """Adds G*(Q) (value, interval, censoring) to each quantum entry."""
    classical = _classical(table)
    dims = [e["latent_dim"] for e in entries]
    fits_c = {d: s.fit(seed=seed) for d, s in classical.items()}
    x0, c0 = _g_star(_plateaus(q_fit), dims, fits_c, classical)
    rng = np.random.default_rng(seed)
    n_seeds = len(table.seeds)
    boot = []
    for b in range(G_BOOT if n_seeds > 1 else 0):
        draw = rng.integers(0, n_seeds, n_seeds)
        qf = quantum.resampled(draw).fit(seed=seed + b)
        cf = {d: s.resampled(draw).fit(seed=seed + b) for d, s in classical.items()}
        boot.append(_g_star(_plateaus(qf), dims, cf, classical)[0])
    draws = np.array(boot).reshape(-1, len(entries))
    for i, e in enumerate(entries):
        d = e["latent_dim"]
        e["classical_tried"] = ([int(c) for c in classical[d].capacity] if d in classical
                                else [])
        if not np.isfinite(x0[i]):
            e.update(generator_star=None, generator_star_ci=[None, None],
                     generator_star_censored=None,
                     generator_star_reason="no classical generator of this latent size "
                                           "converged")
            continue
        cens = _CODES[int(c0[i])]
        value = float(np.exp(x0[i]))
        ci: List[Optional[float]]
        if cens == "low":
            ci = [0.0, value]
        elif cens == "high":
            ci = [value, None]
        else:
            ci = [_json(np.exp(v)) for v in percentile_ci(draws[:, i])] if draws.size else [
                None, None]
        e.update(generator_star=value, generator_star_ci=ci, generator_star_censored=cens)


# ---------------------------------------------------------------- verdicts
def _point_law(entries, value_key, ci_key, cens_key):
    """The exploratory law comparison of per-Q points (argmin or G*)."""
    pts = [e for e in entries if e.get(value_key) is not None and e[value_key] > 0]
    q = [float(e["q_capacity"]) for e in pts]
    y = [float(e[value_key]) for e in pts]
    cens = [e[cens_key] for e in pts]
    ci = [[float(e[ci_key][0]), float(e[ci_key][1])]
          if c is None and None not in e[ci_key] and e[ci_key][0] > 0 else [v, v]
          for e, v, c in zip(pts, y, cens)]
    if not q:
        return {"verdict": "insufficient data", "p_value": None, "points": [[], []],
                "points_ci": [], "censored": []}
    comparison = twostage.compare_laws(q, y, y_ci=ci, censored=cens)
    out = comparison.to_dict()
    out.update(points=[q, y], points_ci=ci, censored=cens,
               p_value=None if comparison.trend is None else _json(comparison.trend.p_value))
    return out


def _surface_record(fit, with_sensitivity=False):
    record = fit.to_dict()
    record["laws"] = {k: v for k, v in record["laws"].items() if k != "free"}
    record["rules"] = dict(RULES)
    if with_sensitivity:
        record["sensitivity"] = {str(t): v for t, v in fit.sensitivity.items()}
    record["p_value"] = None if fit.trend is None or fit.trend.p_value is None else _json(
        fit.trend.p_value)
    return record


def _exploratory(result, table, entries, seed):
    """The exploratory verdicts, their p-values Holm-adjusted together."""
    rows = [dict(_point_law(entries, "argmin_critic", "argmin_ci", "argmin_censored"),
                 name="argmin of the mean score vs Q (diagnostic)", key="argmin"),
            dict(_point_law(entries, "generator_star", "generator_star_ci",
                            "generator_star_censored"),
                 name="matching classical generator capacity G*(Q)", key="classical_generator")]
    other = other_metric(table.metric)
    labels = [e["generator"] for e in entries]
    other_fit = _Surface.of(table, labels, other).fit(seed=seed) if labels else None
    if other_fit is not None:
        rows.append(dict(_surface_record(other_fit), name=f"knee law of C*(Q) on the "
                         f"{_score_name(other)}", key="other_score"))
    for row, adjusted in zip(rows, holm([r["p_value"] for r in rows])):
        row["p_holm"] = adjusted
    result["exploratory"] = rows


def primary_endpoint(metric: str) -> str:
    """The primary endpoint's wording for a study scored by ``metric``."""
    return PRIMARY.format(metric=METRICS[metric].label)


def other_metric(metric: str) -> str:
    """The score shown beside the deciding one: the first other metric of the registry
    (FD-SAT4 when the latent score decides, and vice versa)."""
    return next(m for m in SCORE_METRICS if m != metric)


def _score_name(metric: str) -> str:
    """``"latent score"``, ``"FD-SAT4 score"``: the metric's label as a score."""
    label = METRICS[metric].label
    return label if label.endswith("score") else f"{label} score"


def analyse(runs: Sequence[RunResult], config: Any, n_boot: Optional[int] = None, seed: int = 0,
            with_power: bool = True, power_reps: Optional[int] = None
            ) -> Tuple[Dict[str, Any], Any]:
    """The study's answers as a JSON-ready dict, and the fitted surface (None when no quantum
    generator has a counted run); see the module docstring for the rules."""
    metric = getattr(config, "score_metric", "latent")
    table = RunTable(runs, metric, config.learning_rate)
    n_boot = int(n_boot or config.n_boot)
    quantum = _Surface.of(table, _counted(table, "quantum"))
    fit = quantum.fit(seed=seed, n_boot=n_boot) if quantum.labels else None
    entries = ([_quantum_entry(table, quantum, i, fit, seed) for i in range(len(quantum.labels))]
               if fit is not None else [])
    result = {
        "score_metric": metric, "n_runs": len(table.runs),
        "status_counts": table.status_counts(),
        "n_converged_runs": sum(is_converged(r.status) for r in table.runs),
        "n_stable_runs": sum(r.stable for r in table.runs),
        "seeds": table.seeds, "learning_rates": table.lrs, "n_boot": n_boot,
        "design": {"q": sorted({int(table.info(g)["generator_capacity"])
                                for g in table.generators("quantum")}),
                   "critic_capacities": list(config.critic_capacities),
                   "classical_capacities": list(config.classical_capacities),
                   "n_seeds": len(table.seeds), "learning_rates": table.lrs},
        "quantum": entries, "excluded": _excluded(table),
        "primary": {"endpoint": primary_endpoint(metric), "verdict": "insufficient data",
                    "p_value": None},
    }
    if fit is not None:
        result["primary"].update(_surface_record(fit, with_sensitivity=True))
        _generator_stars(table, quantum, fit, entries, seed)
    classical = _classical(table)
    result["classical"] = {str(d): _classical_rows(s, seed) for d, s in classical.items()}
    _exploratory(result, table, entries, seed)
    if with_power:
        result["power"] = power_of(fit, n_rep=power_reps or POWER_REPS, seed=seed,
                                   candidates=design_candidates(config))
    return result, fit


def _classical_rows(surface, seed):
    fit = surface.fit(seed=seed)
    rows = []
    for i, g in enumerate(surface.labels):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            means = np.nanmean(surface.scores[i], axis=0)
        best = int(np.nanargmin(np.where(np.isfinite(means), means, np.inf)))
        rows.append({"generator": g, "generator_capacity": int(surface.capacity[i]),
                     "plateau": _json(_plateaus(fit)[i]), "critic_star": _json(fit.knees[i].value),
                     "critic_star_censored": fit.knees[i].censored,
                     "best_critic_capacity": int(surface.critics[i][best]),
                     "learning_rate": surface.lrs[i][best], "score": _json(means[best]),
                     "n_converged": int(np.isfinite(surface.scores[i]).sum())})
    return rows


def design_candidates(config: Any) -> Dict[str, Any]:
    """Feasible designs for :func:`qlsgan_tf.analysis.design_for_power`: the circuit width n
    fixed (Q is not confounded with the latent size): the study's depths or twice as many
    from 1 to twice the deepest (at most ``MAX_DESIGN_LAYERS``); its critics or two more
    even log steps (at most ``MAX_DESIGN_CRITIC``); 1, 2 and 3 times the seeds."""
    widths = sorted({n for n, _ in config.quantum_grid})
    depths = sorted({layers for _, layers in config.quantum_grid})
    n = widths[0]

    def q_of(layers):
        return [float(quantum_capacity(n, L, config.ansatz)) for L in layers]

    more = sorted(set(np.unique(np.round(np.geomspace(
        1, min(MAX_DESIGN_LAYERS, 2 * max(depths)), 2 * len(depths))).astype(int)).tolist()))
    crit = sorted(config.critic_capacities)
    x = np.log(np.asarray(crit, dtype=np.float64))
    step = float(np.mean(np.diff(x))) if x.size > 1 else math.log(4.0)
    wider = np.exp(np.arange(x[0], math.log(MAX_DESIGN_CRITIC) + 1e-9, step))
    q_sets = _distinct([q_of(depths), q_of(more)])
    critic_sets = _distinct([[float(c) for c in crit],
                             [float(round(c)) for c in wider[: len(crit) + 2]]])
    k = len(config.seeds)
    return {"seeds": [k, 2 * k, 3 * k], "q_sets": q_sets, "critic_sets": critic_sets,
            "max_runs": MAX_DESIGN_RUNS}


def _distinct(sets):
    out = []
    for values in sets:
        if values not in out:
            out.append(values)
    return out


def power_of(fit_or_world: Any, *, n_rep: int = POWER_REPS, seed: int = 0, rise: float = 30.0,
             candidates: Optional[Dict[str, Any]] = None) -> Dict[str, Any]:
    """The primary verdict's power in the world of ``fit_or_world`` (a fit or a pilot's world)
    and, below 80 % for an exponential law, the cheapest of ``candidates`` (keyword arguments
    of :func:`qlsgan_tf.analysis.design_for_power`) that reaches it, as a JSON-ready dict."""
    if fit_or_world is None:
        return {"computed": False, "reason": "no quantum generator has a counted run"}
    try:
        laws = stats_lib.power_interval(fit_or_world, rise=rise, n_rep=n_rep, seed=seed,
                                        n_worlds=min(POWER_WORLDS, n_rep))
    except ValueError as err:  # e.g. an insufficient fit: no surface to simulate from
        return {"computed": False, "reason": str(err)}
    rates = {law: v["rates"] for law, v in laws.items()}
    out = {"computed": True, "rise": rise, "n_rep": n_rep,
           "mc_error": 0.5 / math.sqrt(n_rep), "rates": rates, "target": TARGET_POWER,
           "power": {law: {"right": v["power"], "interval": [float(x) for x in v["interval"]]}
                     for law, v in laws.items()},
           "interval_level": POWER_INTERVAL[1] - POWER_INTERVAL[0]}
    if rates["exponential"].get("exponential", 0.0) < TARGET_POWER:
        design_reps = min(DESIGN_REPS, n_rep)
        out["design"] = dict(stats_lib.design_for_power(fit_or_world, rise=rise,
                                                        n_rep=design_reps, seed=seed,
                                                        **(candidates or {})),
                             n_rep=design_reps)
    return out


# ---------------------------------------------------------------- for the plots
def surface_panels(result: Dict[str, Any], fit: Any, runs: Sequence[RunResult],
                   metric: str) -> List[Dict[str, Any]]:
    """One panel per quantum generator for ``plots.plot_surface``: counted scores, their mean
    per critic, the fitted curve and the knee with its interval."""
    table = RunTable(runs, metric)
    panels = []
    for i, e in enumerate(result["quantum"]):
        critics, scores, _ = table.cells(e["generator"])
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            means = np.nanmean(scores, axis=0)
        # The fitted curve over the critics tried only: no extrapolation is drawn.
        xs = np.exp(np.linspace(math.log(min(critics)), math.log(max(critics)), 120))
        panels.append({"label": f"{e['generator']} (Q = {e['q_capacity']})",
                       "critics": critics, "means": means, "seed_scores": scores,
                       "curve_x": xs, "curve_y": fit.curve(i, xs),
                       "knee": e["critic_star"], "knee_ci": e["critic_star_ci"],
                       "censored": e["critic_star_censored"]})
    return panels


_PREDICT = {
    "exponential": lambda p, q: np.exp(p["a"] + p["b"] * q),
    "power law": lambda p, q: np.exp(p["a"]) * q ** p["b"],
    "linear": lambda p, q: p["a"] + p["b"] * q,
}


class _LawCurve:
    """One fitted knee law in the form ``plots.scaling_figure`` draws."""

    NAMES = {"exponential": "exponential", "power law": "power_law", "linear": "linear"}

    def __init__(self, law):
        self.name, self.label = self.NAMES[law["name"]], law["name"]
        self.params = {k: float(v) for k, v in law["params"].items()}
        self.delta_aicc = float(law["delta"])
        self._predict = _PREDICT[law["name"]]

    def predict(self, q):
        with np.errstate(over="ignore", invalid="ignore"):
            return self._predict(self.params, np.asarray(q, dtype=np.float64))


class _KneeLaws:
    def __init__(self, verdict, fits):
        self.verdict, self.fits = verdict, fits
        self.best = min(fits.values(), key=lambda f: f.delta_aicc) if fits else None


def knee_laws(result: Dict[str, Any], fit: Any) -> Optional["_KneeLaws"]:
    """The primary fit's knee laws for ``plots.plot_scaling`` (None without a fit)."""
    if fit is None:
        return None
    laws = result["primary"].get("laws", {})
    fits = {_LawCurve.NAMES[n]: _LawCurve(laws[n]) for n in _PREDICT if n in laws}
    return _KneeLaws(result["primary"]["verdict"], fits)
