"""Nominal vs tuned VAE: one study per VAE, compared run by run (numpy/scipy, no TensorFlow).

The paper stresses that a carefully tuned VAE is crucial. ``qlsgan study --vae nominal,tuned``
runs the same study (grid, seeds, learning rates, feature network) once per VAE, in
``OUT/vae-<name>/``, and this module compares them:

- **Convergence.** Runs are paired by (generator, critic, seed, learning rate); the converged
  fraction of each VAE and McNemar's exact test on the discordant pairs (converged with one VAE
  only), since the pairs share everything but the VAE.
- **Image quality.** Latent scores live in each VAE's own latent space and are not comparable
  across VAEs; FD-SAT4 is (same feature network, same real reference). Paired final FD-SAT4 of
  runs finite in both, Wilcoxon's signed-rank test and the median difference with a bootstrap
  interval over pairs; and each VAE's best converged FD-SAT4 per quantum generator.
- Each VAE's reconstruction error and C*(Q) verdict, from its own report.
"""
import math
import pathlib
from typing import Any, Dict, Mapping

import numpy as np
from scipy import stats

from qlsgan_tf.fsutil import StrPath
from qlsgan_tf.study import analysis, records
from qlsgan_tf.study import store as store_lib

LEVEL = 0.95


def variant_dir(out_dir: StrPath, vae: str) -> pathlib.Path:
    """The study directory of one VAE variant under ``out_dir``."""
    return pathlib.Path(out_dir) / f"vae-{vae}"


def _pair_key(run):
    return (run.generator, run.critic_budget, run.seed, run.learning_rate or 0.0)


def _finite(value):
    return value is not None and math.isfinite(float(value))


def _summary(study_dir):
    store = store_lib.ResultStore(study_dir)
    runs = records.load_runs(store)
    prepared = records.load_prepared(pathlib.Path(study_dir) / "prepared.json")
    results_path = pathlib.Path(study_dir) / "results.json"
    analysis = store_lib.read_json(results_path)["analysis"] if results_path.exists() else {}
    converged = [r for r in runs if r.status == "converged"]
    best_fd: Dict[str, float] = {}
    for run in converged:
        score = run.fd_score
        if run.kind == "quantum" and score is not None and _finite(score):
            best_fd[run.generator] = min(best_fd.get(run.generator, math.inf), score)
    vaes = prepared.get("vaes", {})
    return {
        "dir": str(study_dir), "n_runs": len(runs),
        "n_converged": len(converged),
        "converged_fraction": len(converged) / len(runs) if runs else None,
        "n_stable": sum(r.stable for r in runs),
        "vae": {dim: {k: v.get(k) for k in ("kind", "train_mse", "test_mse", "path")}
                for dim, v in vaes.items()},
        "floor_fd": (prepared.get("floor") or {}).get("fd"),
        "median_final_fd": _median([r.final_fd for r in runs]),
        "best_fd_by_generator": best_fd,
        "critic_verdict": ((analysis.get("primary") or {}).get("verdict")
                           or ((analysis.get("fits") or {}).get("critic") or {}).get("verdict")),
    }, {_pair_key(r): r for r in runs}


def _median(values):
    values = [float(v) for v in values if _finite(v)]
    return float(np.median(values)) if values else None


def _mcnemar(a_runs, b_runs, keys):
    only_a = sum(a_runs[k].status == "converged" and b_runs[k].status != "converged"
                 for k in keys)
    only_b = sum(b_runs[k].status == "converged" and a_runs[k].status != "converged"
                 for k in keys)
    p = stats.binomtest(only_a, only_a + only_b, 0.5).pvalue if only_a + only_b else 1.0
    return {"converged_only_first": int(only_a), "converged_only_second": int(only_b),
            "p_value": float(p)}


def _paired_fd(a_runs, b_runs, keys, seed=0, n_boot=2000):
    pairs = np.array([(a_runs[k].final_fd, b_runs[k].final_fd)
                      for k in keys if _finite(a_runs[k].final_fd)
                      and _finite(b_runs[k].final_fd)]).reshape(-1, 2)
    if len(pairs) < 2:
        return {"n_pairs": int(len(pairs)), "median_difference": None, "ci": [None, None],
                "p_value": None}
    diff = pairs[:, 1] - pairs[:, 0]
    rng = np.random.default_rng(seed)
    boot = np.median(diff[rng.integers(0, len(diff), (n_boot, len(diff)))], axis=1)
    p = stats.wilcoxon(diff).pvalue if np.any(diff != 0) else 1.0
    return {"n_pairs": int(len(diff)), "median_difference": float(np.median(diff)),
            "ci": analysis.percentile_ci(boot, LEVEL), "p_value": float(p)}


def compare(dirs: Mapping[str, StrPath]) -> Dict[str, Any]:
    """Compares the studies in ``dirs`` ({vae name: study directory}, two of them; the
    differences are second minus first). Returns a JSON-ready dict."""
    if len(dirs) != 2:
        raise ValueError(f"compare two VAE variants; got {list(dirs)}")
    (name_a, dir_a), (name_b, dir_b) = dirs.items()
    sum_a, runs_a = _summary(dir_a)
    sum_b, runs_b = _summary(dir_b)
    keys = sorted(set(runs_a) & set(runs_b))
    return {"variants": [name_a, name_b], "summaries": {name_a: sum_a, name_b: sum_b},
            "n_paired_runs": len(keys), "convergence": _mcnemar(runs_a, runs_b, keys),
            "final_fd": _paired_fd(runs_a, runs_b, keys), "level": LEVEL}


def _fmt(value, spec=".3g"):
    return "—" if value is None else format(value, spec)


def markdown(result: Mapping[str, Any]) -> str:
    """The comparison as a short Markdown report."""
    a, b = result["variants"]
    sa, sb = result["summaries"][a], result["summaries"][b]
    conv, fd = result["convergence"], result["final_fd"]
    lines = [f"# VAE comparison: {a} vs {b}", "",
             "The same study (grid, seeds, learning rates, feature network) with each VAE; "
             f"runs paired by generator, critic, seed and learning rate ({result['n_paired_runs']}"
             " pairs). Latent scores live in each VAE's latent space and are not compared; "
             "FD-SAT4 is.", "",
             f"| | {a} | {b} |", "|---|---|---|"]

    def row(title, key, spec=".3g"):
        lines.append(f"| {title} | {_fmt(sa[key], spec)} | {_fmt(sb[key], spec)} |")

    for dim in sorted(set(sa["vae"]) | set(sb["vae"])):
        va, vb = sa["vae"].get(dim, {}), sb["vae"].get(dim, {})
        lines.append(f"| VAE test MSE (latent {dim}) | {_fmt(va.get('test_mse'))} | "
                     f"{_fmt(vb.get('test_mse'))} |")
    row("runs", "n_runs", "d")
    row("converged runs", "n_converged", "d")
    row("converged fraction", "converged_fraction", ".0%")
    row("stable runs", "n_stable", "d")
    row("median final FD-SAT4 (all runs)", "median_final_fd")
    row("real-vs-real FD-SAT4 floor", "floor_fd")
    lines.append(f"| C*(Q) verdict | {sa['critic_verdict'] or '—'} | "
                 f"{sb['critic_verdict'] or '—'} |")
    gens = sorted(set(sa["best_fd_by_generator"]) | set(sb["best_fd_by_generator"]))
    for g in gens:
        lines.append(f"| best converged FD-SAT4, `{g}` | "
                     f"{_fmt(sa['best_fd_by_generator'].get(g))} | "
                     f"{_fmt(sb['best_fd_by_generator'].get(g))} |")
    p_conv, p_fd = analysis.holm([conv["p_value"], fd["p_value"]])
    lines += ["", "Exploratory (each study's primary endpoint is its own C*(Q) knee law); "
              "p-values Holm-adjusted over this comparison's two tests.", "",
              f"- Convergence: {conv['converged_only_first']} pairs converged with {a} only, "
              f"{conv['converged_only_second']} with {b} only; McNemar's exact test "
              f"p = {_fmt(conv['p_value'])} (Holm {_fmt(p_conv)}).",
              f"- Final FD-SAT4, {b} minus {a}: median {_fmt(fd['median_difference'])} "
              f"[{_fmt(fd['ci'][0])}, {_fmt(fd['ci'][1])}] ({result['level']:.0%} bootstrap "
              f"over {fd['n_pairs']} pairs); Wilcoxon signed-rank p = {_fmt(fd['p_value'])} "
              f"(Holm {_fmt(p_fd)}).",
              f"- Per-VAE reports: `{sa['dir']}/report.md`, `{sb['dir']}/report.md`.", ""]
    return "\n".join(lines)


def write_comparison(out_dir: StrPath, dirs: Mapping[str, StrPath]) -> Dict[str, pathlib.Path]:
    """Writes ``vae_comparison.json`` and ``vae_comparison.md`` in ``out_dir``; their paths."""
    out = pathlib.Path(out_dir)
    result = compare(dirs)
    return {"vae_comparison": store_lib.atomic_write_text(out / "vae_comparison.md",
                                                          markdown(result)),
            "vae_comparison_json": store_lib.atomic_write_json(out / "vae_comparison.json",
                                                               result)}
