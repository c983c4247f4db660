"""From recorded runs to the study's answers: C*(Q), G*(Q), their uncertainty, the fits.

Pure numpy over the run dicts written by ``study.trial`` (no TensorFlow), so ``qlsgan
report`` can re-analyse a study directory anywhere.

Rules (also written into the report):
- A configuration (generator, critic capacity) is ranked by the fraction of its seeds that
  trained stably (higher first), then by the mean optimality score of its stable seeds
  (lower first). The optimal critic capacity C*(Q) is the best-ranked critic of generator Q.
- Uncertainty: the seeds are resampled with replacement (the same resample for every
  configuration, since seeds are shared) and C*(Q) is re-chosen; the spread of these
  bootstrap choices is C*'s confidence interval and feeds the fits.
- The quantum generator's FD-SAT4 is the mean over seeds of its C* configuration's final
  FD (mean of the last K evaluations); its band is the bootstrap 95% interval. The matching
  classical capacity G*(Q) is the smallest classical generator (same latent size, each with
  its own optimal critic) whose FD-SAT4 is at or below the band's upper end. When none
  is, G*(Q) is censored (> the largest tried) and left out of the fit.
"""
import collections
import math

import numpy as np


def _stable(run):
    return bool(run.get("stable")) and math.isfinite(float(run.get("score", math.inf)))


class RunTable:
    """Runs indexed by generator label, critic capacity and seed."""

    def __init__(self, runs):
        self.runs = list(runs)
        self.by_config = collections.defaultdict(dict)
        for run in self.runs:
            self.by_config[(run["generator"], int(run["critic_capacity"]))][int(run["seed"])] = run
        self.seeds = sorted({int(r["seed"]) for r in self.runs})

    def generators(self, kind):
        labels = {g for g, _ in self.by_config if self.info(g)["kind"] == kind}
        return sorted(labels, key=lambda g: (self.info(g)["latent_dim"],
                                             self.info(g)["generator_capacity"]))

    def critics(self, generator):
        return sorted(c for g, c in self.by_config if g == generator)

    def info(self, generator):
        run = next(r for (g, _), seeds in self.by_config.items() if g == generator
                   for r in seeds.values())
        keys = ("kind", "latent_dim", "generator_capacity", "n_qubits", "n_layers")
        return {k: run.get(k) for k in keys}

    def config_stats(self, generator, critic, seeds=None):
        """(stable fraction, mean score of stable seeds, mean final FD of stable seeds)."""
        runs = self.by_config[(generator, critic)]
        seeds = self.seeds if seeds is None else seeds
        chosen = [runs[s] for s in seeds if s in runs]
        if not chosen:
            return 0.0, math.inf, math.inf
        stable = [r for r in chosen if _stable(r)]
        frac = len(stable) / len(chosen)
        if not stable:
            return frac, math.inf, math.inf
        return (frac, float(np.mean([r["score"] for r in stable])),
                float(np.mean([r["final_fd"] for r in stable])))

    def mean_of(self, generator, critic, field):
        """Mean of a run field over the stable seeds of one configuration (inf if none)."""
        values = [float(r[field]) for r in self.by_config[(generator, critic)].values()
                  if _stable(r) and r.get(field) is not None]
        return float(np.mean(values)) if values else math.inf

    def best_critic(self, generator, seeds=None):
        """(critic capacity, stats) of the best-ranked configuration of ``generator``."""
        best = None
        for critic in self.critics(generator):
            stats = self.config_stats(generator, critic, seeds)
            key = (-stats[0], stats[1], critic)
            if best is None or key < best[0]:
                best = (key, critic, stats)
        return best[1], best[2]


def _bootstrap_seed_sets(seeds, n_boot, rng):
    seeds = np.asarray(seeds)
    return [list(rng.choice(seeds, size=len(seeds), replace=True)) for _ in range(n_boot)]


def analyse(runs, config, n_boot=None, seed=0):
    """The study's answers: (JSON-ready dict, {"critic": ScalingComparison or None,
    "classical_generator": ...}); see the module docstring for the rules."""
    from qlsgan_tf.study import fits  # pylint: disable=import-outside-toplevel

    table = RunTable(runs)
    n_boot = int(n_boot or config.n_boot)
    rng = np.random.default_rng(seed)
    boot_sets = _bootstrap_seed_sets(table.seeds, n_boot, rng) if table.seeds else []

    # Classical generators: their own optimal critic and FD, per latent size.
    classical = collections.defaultdict(list)
    for g in table.generators("classical"):
        info = table.info(g)
        critic, (frac, score, fd) = table.best_critic(g)
        boot_fd = [table.best_critic(g, s)[1][2] for s in boot_sets]
        classical[info["latent_dim"]].append({
            "generator": g, "generator_capacity": info["generator_capacity"],
            "best_critic_capacity": critic, "stable_fraction": frac, "score": score,
            "fd": fd, "latent_fd": table.mean_of(g, critic, "latent_fd"), "boot_fd": boot_fd,
        })

    quantum = []
    for g in table.generators("quantum"):
        info = table.info(g)
        critic, (frac, score, fd) = table.best_critic(g)
        boot = [table.best_critic(g, s) for s in boot_sets]
        boot_critic = [b[0] for b in boot]
        boot_fd = np.array([b[1][2] for b in boot], dtype=float)
        finite = boot_fd[np.isfinite(boot_fd)]
        band = ([float(np.percentile(finite, 2.5)), float(np.percentile(finite, 97.5))]
                if finite.size else [math.inf, math.inf])
        entry = {
            "generator": g, "q_capacity": info["generator_capacity"],
            "n_qubits": info["n_qubits"], "n_layers": info["n_layers"],
            "latent_dim": info["latent_dim"],
            "critic_star": critic, "critic_star_ci": _ci(boot_critic),
            "critic_star_boot": boot_critic, "stable_fraction": frac, "score": score,
            "fd": fd, "fd_band": band, "latent_fd": table.mean_of(g, critic, "latent_fd"),
            "scores_by_critic": {
                str(c): table.config_stats(g, c)[1] for c in table.critics(g)
            },
        }
        entry.update(_match_classical(classical.get(info["latent_dim"], []), band, boot_sets))
        quantum.append(entry)

    quantum.sort(key=lambda e: e["q_capacity"])
    result = {
        "n_runs": len(table.runs),
        "n_stable_runs": sum(_stable(r) for r in table.runs),
        "seeds": table.seeds,
        "quantum": quantum,
        "classical": {str(d): [{k: v for k, v in c.items() if k != "boot_fd"} for c in rows]
                      for d, rows in classical.items()},
        "fits": {},
    }
    comparisons = {}
    result["fits"]["critic"], comparisons["critic"] = _fit(
        [e["q_capacity"] for e in quantum], [e["critic_star"] for e in quantum],
        [e["critic_star_boot"] for e in quantum], n_boot, seed, fits)
    matched = [e for e in quantum if e["generator_star"] is not None]
    result["fits"]["classical_generator"], comparisons["classical_generator"] = _fit(
        [e["q_capacity"] for e in matched], [e["generator_star"] for e in matched],
        [e["generator_star_boot"] for e in matched], n_boot, seed, fits)
    for e in quantum:  # keep the JSON small: the bootstrap draws only fed the fits
        e.pop("critic_star_boot")
        e.pop("generator_star_boot")
    return result, comparisons


def _ci(values):
    arr = np.asarray([v for v in values if v is not None and math.isfinite(v)], dtype=float)
    if arr.size == 0:
        return [None, None]
    return [float(np.percentile(arr, 2.5)), float(np.percentile(arr, 97.5))]


def _match_classical(rows, band, boot_sets):
    """G*(Q): smallest classical capacity whose FD-SAT4 reaches the quantum band."""
    rows = sorted(rows, key=lambda r: r["generator_capacity"])
    upper = band[1]

    def first_match(fds):
        for row, fd in zip(rows, fds):
            if math.isfinite(fd) and fd <= upper:
                return row["generator_capacity"]
        return None

    star = first_match([r["fd"] for r in rows])
    boot = [first_match([r["boot_fd"][i] for r in rows]) for i in range(len(boot_sets))]
    boot = [b for b in boot if b is not None]
    return {
        "generator_star": star,
        "generator_star_censored": star is None,
        "generator_star_ci": _ci(boot),
        "generator_star_boot": boot,
        "classical_tried": [r["generator_capacity"] for r in rows],
    }


def _fit(q, y, y_boot, n_boot, seed, fits):
    """Fits the three laws; returns (JSON dict, ScalingComparison or None when unfitted)."""
    points = [[float(v) for v in q], [float(v) for v in y]]
    if not q:
        return {"verdict": "no points to fit", "points": points}, None
    samples = [list(b) for b in y_boot] if all(len(b) for b in y_boot) else None
    comparison = fits.fit_laws(np.asarray(q, float), np.asarray(y, float), y_samples=samples,
                               n_boot=n_boot, seed=seed)
    out = dict(comparison.to_dict(), points=points)
    return out, (comparison if comparison.best is not None else None)
