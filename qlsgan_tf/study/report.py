"""The study report: ``results.json``, ``trials.csv``, ``report.md`` and PNG plots.

Everything is recomputed from the study directory (``study.json``, ``prepared.json``,
``runs/*.json``, ``samples/*.npy``), so ``qlsgan report OUT`` works on any finished or
partial study, and reports are written atomically (a reader never sees half a file).
"""
import csv
import datetime
import io
import math
import pathlib
from typing import Any, Dict, List, Mapping, Optional

import numpy as np

from qlsgan_tf import jsoncodec
from qlsgan_tf.fsutil import StrPath, file_lock
from qlsgan_tf.study import analysis as analysis_lib
from qlsgan_tf.study import prepare as prepare_lib
from qlsgan_tf.study import records
from qlsgan_tf.study import store as store_lib

CSV_FIELDS = (
    "generator", "kind", "n_qubits", "n_layers", "latent_dim", "generator_capacity",
    "critic_budget", "critic_params", "critic_units", "seed", "learning_rate", "status",
    "stable", "failed", "failure_reason", "score", "latent_floor", "fd_score", "final_fd",
    "fd_std_last_k", "final_kid", "latent_fd", "epochs_run", "search_round",
    "time_s", "time_per_epoch_s",
)


def write_report(out_dir: StrPath, n_boot: Optional[int] = None,
                 score_metric: Optional[str] = None) -> Dict[str, pathlib.Path]:
    """Analyses the study in ``out_dir`` and writes the report files; returns their paths.

    ``score_metric`` ("latent" or "fd") overrides the study's choice of the score that decides
    the optima (it changes no run, only the analysis). One report at a time per directory
    (``OUT/.report.lock``), the runs read under it; a report made from more runs than are
    read now is kept, not replaced (its paths are returned).
    """
    out = pathlib.Path(out_dir)
    store_lib.ResultStore(out).load_config()  # "not a study directory" before any write
    with file_lock(out / ".report.lock"):
        return _write_report(out, n_boot, score_metric)


def _newer_report(out: pathlib.Path, n_runs: int) -> Optional[Dict[str, pathlib.Path]]:
    """The paths of the report in ``out`` when it was made from more than ``n_runs`` runs."""
    try:
        existing = store_lib.read_json(out / "results.json")
        made_from = int(existing["analysis"]["n_runs"])
    except (OSError, ValueError, KeyError, TypeError):
        return None
    if made_from <= n_runs:
        return None
    paths = {name: out / file for name, file in (("results", "results.json"),
                                                  ("trials", "trials.csv"),
                                                  ("report", "report.md"))}
    paths.update({k: out / v for k, v in (existing.get("plots") or {}).items()})
    return paths


def _write_report(out: pathlib.Path, n_boot: Optional[int], score_metric: Optional[str]
                  ) -> Dict[str, pathlib.Path]:
    store = store_lib.ResultStore(out)
    config = store.load_config()
    if score_metric is not None:
        config = config.replace(score_metric=score_metric)
    runs = records.load_runs(store)  # each file checked: a bad one is named
    if not runs:
        raise ValueError(f"{out}: no finished runs yet; nothing to report")
    kept = _newer_report(out, len(runs))
    if kept is not None:
        return kept
    prepared_path = out / "prepared.json"
    prepared = prepare_lib.portable(records.load_prepared(prepared_path))
    result, fit = analysis_lib.analyse(runs, config, n_boot=n_boot)
    expected = config.n_runs()
    grid = set(config.critic_capacities)
    result["complete"] = sum(r.critic_budget in grid for r in runs) >= expected
    result["expected_runs"] = expected
    result["refinement_runs"] = sum(r.search_round > 0 for r in runs)

    plots = _write_plots(out, runs, result, fit, prepared, config.score_metric)
    results = {
        "generated": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "config": config.to_dict(),
        "prepared": prepared,
        "analysis": result,
        "plots": {k: str(v.relative_to(out)) for k, v in plots.items()},
        "total_run_time_s": float(sum(r.time_s for r in runs)),
    }
    paths = {
        "results": store_lib.atomic_write_json(out / "results.json", results),
        "trials": store_lib.atomic_write_text(out / "trials.csv", _trials_csv(runs)),
        "report": store_lib.atomic_write_text(
            out / "report.md", _markdown(config, prepared, result, plots, out, runs)),
    }
    paths.update(plots)
    return paths


def _trials_csv(runs):
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=CSV_FIELDS, extrasaction="ignore")
    writer.writeheader()
    for run in runs:
        row = run.to_dict()
        row["critic_units"] = "-".join(str(u) for u in run.critic_units)
        writer.writerow(jsoncodec.encode(row))
    return buf.getvalue()


def _write_plots(out, runs, result, fit, prepared, metric="latent"):
    from qlsgan_tf.study import plots

    plot_dir = out / "plots"
    plot_dir.mkdir(parents=True, exist_ok=True)
    floor = prepared.get("floor", {}).get("fd")
    paths: Dict[str, pathlib.Path] = {}
    trajectories = [{
        "label": f"{r.generator} c{r.critic_budget} s{r.seed}",
        "epochs": [p[0] for p in r.fd_history],
        "fd": [p[1] for p in r.fd_history],
        "failed": r.status != "converged",
    } for r in runs if r.fd_history]
    if trajectories:
        paths["fid_trajectories"] = plots.plot_fid_trajectories(
            trajectories, plot_dir / "fid_trajectories.png", floor=floor)
    ylabel = (f"{'latent' if metric == 'latent' else 'FD-SAT4'} score of converged runs "
              "(lower is better)")
    if fit is not None and result["quantum"]:
        paths["score_surface"] = plots.plot_surface(
            analysis_lib.surface_panels(result, fit, runs, metric),
            plot_dir / "score_surface.png", ylabel=ylabel)
    rows = [{"q_capacity": r.generator_capacity, "critic_budget": r.critic_budget,
             "score": r.metric_score(metric), "seed": r.seed,
             "stable": r.status == "converged", "generator": r.generator}
            for r in runs if r.kind == "quantum"]
    if rows:
        paths["score_vs_critic"] = plots.plot_score_vs_critic_capacity(
            rows, plot_dir / "score_vs_critic_capacity.png", optima={}, ylabel=ylabel)
    knees = [e for e in result["quantum"] if e["critic_star"] is not None]
    if knees:
        paths["critic_scaling"] = plots.plot_scaling(
            [float(e["q_capacity"]) for e in knees],
            np.array([e["critic_star"] for e in knees], dtype=float),
            analysis_lib.knee_laws(result, fit), plot_dir / "critic_scaling.png",
            ylabel="knee critic capacity C*(Q)",
            y_ci=np.array([_bounded(e["critic_star_ci"], e["critic_star"]) for e in knees]),
            censored=[e["critic_star_censored"] for e in knees])
    g_fit = next((r for r in result["exploratory"] if r["key"] == "classical_generator"), None)
    if g_fit and g_fit["points"][0]:
        q, y = g_fit["points"]
        ci = np.array([_bounded(pair, y_) for pair, y_ in zip(g_fit["points_ci"], y)])
        paths["classical_generator_scaling"] = plots.plot_scaling(
            list(q), np.asarray(y), None, plot_dir / "classical_generator_scaling.png",
            ylabel="matching classical generator capacity G*(Q) (exploratory)", y_ci=ci,
            censored=g_fit["censored"])
    paths.update(_sample_grids(out, plot_dir, result, plots))
    return paths


def _bounded(pair, value):
    """An interval with its open ends closed at the point itself (for error bars)."""
    lo, hi = pair if pair else (None, None)
    lo = value if lo is None or not math.isfinite(lo) or lo <= 0 else min(lo, value)
    hi = value if hi is None or not math.isfinite(hi) else max(hi, value)
    return [lo, hi]


def _sample_grids(out, plot_dir, result, plots):
    """Sample grids of the best hybrid and of the classical generator nearest its G*."""
    paths: Dict[str, pathlib.Path] = {}
    scored = [e for e in result["quantum"] if e["score"] is not None]
    if not scored:
        return paths
    best = min(scored, key=lambda e: e["score"])
    choices = [("best_hybrid", best["generator"], best["critic_grid_best"],
                best.get("learning_rate"),
                f"best hybrid {best['generator']} (Q={best['q_capacity']}), "
                f"critic {best['critic_grid_best']}")]
    rows = result["classical"].get(str(best["latent_dim"]), [])
    if best["generator_star"] is not None and rows:
        match = min(rows, key=lambda r: abs(math.log(r["generator_capacity"])
                                            - math.log(best["generator_star"])))
        choices.append(("matched_classical", match["generator"], match["best_critic_capacity"],
                        match.get("learning_rate"), f"matched classical {match['generator']}, "
                        f"critic {match['best_critic_capacity']}"))
    for name, generator, critic, lr, title in choices:
        # Runs of studies before learning-rate sweeps are keyed without it.
        files = [out / "samples" / f"{store_lib.run_key(generator, critic, seed, rate)}.npy"
                 for seed in result["seeds"] for rate in (lr, None)]
        files = [f for f in files if f.exists()]
        if files:
            images = np.load(files[0])
            paths[name] = plots.plot_image_grid(images, plot_dir / f"samples_{name}.png", title)
    real = out / "samples" / "real.npy"
    if real.exists():
        paths["real"] = plots.plot_image_grid(np.load(real), plot_dir / "samples_real.png",
                                              "real SAT-4 patches")
    return paths


def _fmt(value, digits=3):
    if value is None:
        return "–"
    if isinstance(value, float):
        if not math.isfinite(value):
            return "∞" if value > 0 else ("−∞" if value < 0 else "NaN")
        return f"{value:.{digits}g}"
    return str(value)


def _p(value):
    """A p-value as a reader needs it: tiny ones as a bound."""
    if value is None:
        return "–"
    return "< 0.0001" if value < 1e-4 else f"{value:.2g}"


def _ci(pair):
    if not pair or None in pair:
        return "–"
    return f"[{_fmt(float(pair[0]))}, {_fmt(float(pair[1]))}]"


def _markdown(config, prepared, result, plots, out, runs):
    del runs
    counts = ", ".join(f"{n} {k}" for k, n in sorted(result["status_counts"].items()))
    lines = [
        "# Capacity study of a latent style-based QGAN on SAT-4",
        "",
        f"Preset `{config.preset}`; {result['n_runs'] - result.get('refinement_runs', 0)} of "
        f"{result['expected_runs']} grid training runs finished "
        f"({'complete' if result['complete'] else 'PARTIAL: rerun the study to finish'})"
        + (f" and {result['refinement_runs']} runs of the adaptive critic search"
           if result.get("refinement_runs") else "")
        + f"; {result['n_converged_runs']} converged, {result['n_stable_runs']} stable "
        f"(statuses: {counts}); seeds {result['seeds']}.",
        "",
    ]
    lines += _design_lines(config, result)
    lines += _setup_lines(config, prepared)
    lines += _definition_lines(config, result)
    lines += _result_lines(result)
    lines += _law_lines(result)
    lines += _power_lines(result)
    if plots:
        lines += ["## Plots", ""]
        for name, path in plots.items():
            lines.append(f"- {name.replace('_', ' ')}: ![{name}]({path.relative_to(out)})")
    lines += [
        "", "## Caveats", "",
        "- FD-SAT4 uses a small feature network trained by this project (no Inception weights "
        "offline, and none of the papers documents its FID network); compare values only "
        "within this study and against the floor above.",
        "- Read every C* and G* with its interval and censoring; a verdict of 'increasing, "
        "form undetermined' or 'no increase detected' is a result, with the power above saying "
        "how likely the design was to see more.",
        "",
    ]
    return "\n".join(lines)


def _design_lines(config, result):
    d = result["design"]
    return [
        "## Design", "",
        f"- Quantum capacities Q: {d['q']} ({len(d['q'])} values"
        + (f", a {max(d['q']) / min(d['q']):.3g}x range" if d["q"] else "") + ").",
        f"- Critic capacities: {d['critic_capacities']}; classical generator capacities: "
        f"{d['classical_capacities']}.",
        _refine_line(config),
        f"- Seeds per configuration: {d['n_seeds']}; learning rates: {d['learning_rates']} "
        "(each (generator, critic) cell takes the one with the lowest mean over its counted "
        "seeds, chosen once on all seeds).",
        f"- Score: `{result['score_metric']}` "
        + ("(distance between generated and encoded real latents)"
           if result["score_metric"] == "latent" else "(FD-SAT4)")
        + f"; {result['n_boot']} cluster-bootstrap resamples of the seeds.",
        "",
    ]


def _refine_line(config):
    if not getattr(config, "refine_rounds", 0):
        return "- Adaptive critic search: off (the knees are read from the critic grid alone)."
    return (f"- Adaptive critic search: {config.refine_rounds} round(s) of "
            f"{config.refine_points} critic capacities for the {config.refine_kinds} "
            "generators after their grid, on the grid's even log spacing: whole grid steps "
            "beyond a censored knee, or log midpoints around a bracketed one (`study.search`); "
            "the critics each generator was trained with are listed below.")


def _setup_lines(config, prepared):
    lines = ["## Set-up", ""]
    data = prepared.get("data", {})
    if data:
        lines.append(f"- Data: `{data.get('path')}` — {data.get('n_train')} training and "
                     f"{data.get('n_test')} test patches; real reference set "
                     f"{data.get('n_reference')} patches"
                     + (" (8 dihedral flips/rotations of each training patch: aerial patches "
                        "have no canonical orientation)" if config.augment else "") + ".")
    for dim, vae in sorted(prepared.get("vaes", {}).items()):
        lines.append(f"- VAE (latent {dim}, {vae.get('kind', config.vae)}): reconstruction MSE "
                     f"train {_fmt(vae.get('train_mse'))}, test {_fmt(vae.get('test_mse'))} "
                     f"(pixels in [-1, 1]); `{vae.get('path')}`.")
    fnet = prepared.get("feature_net", {})
    if fnet:
        lines.append(f"- FD-SAT4 feature network ({fnet.get('source', 'bundled')}): "
                     f"{fnet.get('feature_dim')}-d features, test accuracy "
                     f"{_fmt(fnet.get('test_accuracy'))} on {fnet.get('data')}; "
                     f"{config.n_fid_samples} generated samples per evaluation.")
    floor = prepared.get("floor", {})
    if floor:
        sizes = (f" at {floor.get('n_real')} real vs {floor.get('n_fake')} samples, the sizes of "
                 "a generator evaluation" if floor.get("n_fake") else "")
        lines.append(f"- Real-vs-real floor{sizes}: FD-SAT4 {_fmt(floor.get('fd'))}, KID "
                     f"{_fmt(floor.get('kid'))}. Generated FD-SAT4 values are only meaningful "
                     "relative to this floor.")
    for dim, base in sorted(prepared.get("baselines", {}).items()):
        lines.append(
            f"- Bounds with this VAE (latent {dim}): decoded uniform random latents score "
            f"FD-SAT4 {_fmt(base['random_latents']['fd'])} (a generator that learned nothing), "
            f"decoded held-out real latents {_fmt(base['reconstructions']['fd'])} (a perfect "
            "latent generator).")
    lines += [
        f"- Generators: style-based quantum circuits, ansatz `{config.ansatz}`, readout "
        f"`{config.readout}` (the exact TF-ops simulator, runs trained in packs); classical "
        f"MLP generators (depth {config.generator_depth}); critics: MLPs of depth "
        f"{config.critic_depth} sized to each parameter budget.",
        f"- Training: {config.loss}, n_critic {config.n_critic}, {config.epochs} epochs, batch "
        f"{config.batch_size}, Adam (β = 0.5, 0.9), {config.noise} noise.", ""]
    return lines


def _definition_lines(config, result):
    del config
    primary = result["primary"]
    tol = primary.get("tolerance")
    lines = [
        "## Definitions", "",
        "- **Q**: trainable parameters of the quantum generator (2 per rotation angle).",
        "- **Converged run**: finite scores, no significant upward trend, no oscillation, and "
        "no significant downward trend over its last evaluations (judged relative to the "
        "finite-sample floor); only converged runs count. Not converged, diverging, "
        "unstable and failed runs never count (`docs/method.md`).",
        "- **Score surface**: the expected converged score of generator Q as a function of "
        "log critic capacity, fitted jointly for all Q: a per-Q level and depth, a saturating "
        "shape, and a knee location that follows the law under test (`qlsgan_tf.analysis`).",
        "- **C\\*(Q), the knee**: the smallest critic capacity at which the fitted expected "
        "score comes within "
        + (f"{tol:.0%} " if tol is not None else "the tolerance ")
        + "of its plateau: where training becomes stable with a low, stable score — and not "
        "more. 95% intervals from a cluster bootstrap over seeds; `≥`/`≤` bounds when the "
        "knee lies beyond the critics tried.",
        "- **argmin** (diagnostic only): the minimiser of a local parabola of the mean score "
        "around the best critic. On a plateau it is chosen by noise; it is shown, not tested.",
        "- **G\\*(Q)** (exploratory): the smallest classical generator capacity whose own "
        "converged plateau reaches the quantum generator's plateau, interpolated in log "
        "capacity; censored outside the classical range.",
        "", "## Primary endpoint and decision rule (fixed before the data)", "",
        f"Primary endpoint: {primary['endpoint']}. Every other verdict below is exploratory, "
        "its p-value Holm-adjusted with the others.", ""]
    rules = primary.get("rules") or {}
    if rules:
        lines += ["| rule | condition and verdict |", "|---|---|"]
        lines += [f"| `{k}` | {v} |" for k, v in rules.items()]
    return lines + [""]


def _star(value, ci, censored):
    if value is None:
        return "–", "–"
    if censored == "low":
        return f"≤ {_fmt(value)}", "censored low"
    if censored == "high":
        return f"≥ {_fmt(value)}", "censored high"
    return _fmt(value), _ci(ci)


def _result_lines(result):
    other = "FD-SAT4" if result["score_metric"] == "latent" else "latent score"
    lines = ["## Results", "",
             "| n | L | Q | converged | plateau | best mean score | "
             f"{other} there | C\\*(Q) knee | knee 95% CI | argmin (diagnostic) | "
             "G\\*(Q) (exploratory) |", "|---|---|---|---|---|---|---|---|---|---|---|"]
    for e in result["quantum"]:
        c_val, c_ci = _star(e["critic_star"], e["critic_star_ci"], e["critic_star_censored"])
        a_val, a_ci = _star(e["argmin_critic"], e["argmin_ci"], e["argmin_censored"])
        g_val, g_ci = _star(e.get("generator_star"), e.get("generator_star_ci"),
                            e.get("generator_star_censored"))
        n_runs = sum(e["status_counts"].values())
        lines.append(f"| {e['n_qubits']} | {e['n_layers']} | {e['q_capacity']} | "
                     f"{e['n_converged']}/{n_runs} | {_fmt(e['plateau'])} | "
                     f"{_fmt(e['score'])} | "
                     f"{_fmt((e.get('other_score') or {}).get('value'))} | "
                     f"{c_val} | {c_ci} | {a_val} {a_ci} | {g_val} {g_ci} |")
    lines += ["", "Mean score by critic capacity (counted runs in brackets; best learning rate "
              "per cell; every critic each quantum generator was trained with, the adaptive "
              "search's included):", ""]
    lines += [f"- `{e['generator']}`: " + ", ".join(
        f"{c}: {_fmt(v)} ({e['runs_by_critic'].get(c, 0)})"
        for c, v in sorted(e["scores_by_critic"].items(), key=lambda kv: int(kv[0])))
        for e in result["quantum"]]
    if result["excluded"]:
        lines += ["", "### Excluded generators (no counted run, left out of the fits)", ""]
        lines += [f"- `{r['generator']}` ({r['kind']}): {r['reason']}"
                  for r in result["excluded"]]
    lines += ["", "### Classical generators (each at its own plateau)", "",
              "| latent | capacity | plateau | knee | best critic | best mean score | "
              "converged |", "|---|---|---|---|---|---|---|"]
    for dim, rows in sorted(result["classical"].items()):
        for r in rows:
            knee, _ = _star(r["critic_star"], None, r["critic_star_censored"])
            lines.append(f"| {dim} | {r['generator_capacity']} | {_fmt(r['plateau'])} | "
                         f"{knee} | {r['best_critic_capacity']} | {_fmt(r['score'])} | "
                         f"{r['n_converged']} |")
    return lines + [""]


def _law_lines(result):
    primary = result["primary"]
    lines = ["## The primary verdict: the law of the knee C\\*(Q)", "",
             f"**Verdict: {primary['verdict']}**"
             + (f" (rule `{primary['rule']}`)" if primary.get("rule") else "") + "."]
    trend = primary.get("trend") or {}
    if trend.get("p_value") is not None:
        lines += ["", "Trend test (Kendall's τ of the knees vs Q, its size checked on flat "
                  f"planted surfaces): τ = {_fmt(trend.get('statistic'))}, one-sided p = "
                  f"{_p(trend.get('p_value'))}."]
    laws = primary.get("laws") or {}
    if laws:
        lines += ["", "| law of the knee | parameters | 95% CI | AIC | ΔAIC |",
                  "|---|---|---|---|---|"]
        for name, law in laws.items():
            params = ", ".join(f"{k} = {_fmt(v)}" for k, v in (law.get("params") or {}).items())
            cis = ", ".join(f"{k} {_ci(v)}" for k, v in (law.get("ci") or {}).items())
            lines.append(f"| {name} | {params} | {cis or '–'} | {_fmt(law.get('aic'))} | "
                         f"{_fmt(law.get('delta'))} |")
    sens = primary.get("sensitivity") or {}
    if sens:
        lines += ["", "Sensitivity to the knee's tolerance (the verdict at other tolerances, "
                  "not a separate test): " + "; ".join(
                      f"{float(t):.0%}: {v}" for t, v in sens.items()) + "."]
    lines += ["", "### Exploratory verdicts (Holm-adjusted p-values)", "",
              "| quantity | verdict | trend p | Holm-adjusted p |", "|---|---|---|---|"]
    for row in result["exploratory"]:
        lines.append(f"| {row['name']} | {row['verdict']} | {_p(row['p_value'])} | "
                     f"{_p(row['p_holm'])} |")
    return lines + [""]


def _power_lines(result):
    return ["## Power of this design", ""] + power_lines(result.get("power")) + [""]


def power_lines(power: Optional[Mapping[str, Any]]) -> List[str]:
    """The power paragraph and table (also printed by ``qlsgan study --dry_run``)."""
    lines: List[str] = []
    if not power or not power.get("computed"):
        why = power.get("reason") if power else "not computed"
        return [f"Not computed: {why}."]
    rates = power["rates"]
    verdicts = sorted({v for r in rates.values() for v in r})
    lines += [f"Simulated from a fitted score surface (its shape, per-Q levels, seed- and "
              "run-level noise from its residuals, the same design and pattern of uncounted "
              "runs), with the knee law replaced by a planted law rising "
              f"{power['rise']:g}-fold over the Q range (flat: none), each replicate analysed "
              f"as the study was; {power['n_rep']} replicates per law, each from a surface "
              "drawn from the fit's sampling distribution, Monte-Carlo error ≤ "
              f"{power['mc_error']:.2f}.", ""]
    right = power.get("power") or {}
    if right:
        level = power.get("interval_level", 0.8)
        lines += ["**Power** (the right verdict for each planted law, with its "
                  f"{level:.0%} interval over the worlds the data allow): " + "; ".join(
                      f"{law}: {v['right']:.0%} [{v['interval'][0]:.0%}, "
                      f"{v['interval'][1]:.0%}]" for law, v in right.items())
                  + " (for flat: no increase detected). The interval's calibration on "
                  "planted surfaces is in `benchmarks/README.md`; read the point value as a "
                  "guide only where the interval is narrow.", ""]
    lines += ["| planted law | " + " | ".join(verdicts) + " |",
              "|---|" + "---|" * len(verdicts)]
    for truth, probs in rates.items():
        lines.append(f"| {truth} | " + " | ".join(f"{probs.get(v, 0.0):.0%}" for v in verdicts)
                     + " |")
    design = power.get("design")
    if design:
        lines += ["", _design_text(design)]
    return lines


def _design(entry):
    q, c = entry["q"], entry["critics"]
    return (f"{len(q)} Q ({_fmt(min(q))}–{_fmt(max(q))}) x {len(c)} critics "
            f"({_fmt(min(c))}–{_fmt(max(c))}) x {entry['n_seeds']} seeds "
            f"({entry['runs']} runs per learning rate)")


def _design_text(design):
    tried = "; ".join(f"{_design(e)}: {e['power']:.0%}" for e in design.get("evaluated", []))
    best = design.get("design")
    n_rep = design.get("n_rep")
    return ("Designs tried, cheapest first (feasible ones: n fixed, depths the simulator "
            "takes, the critic range the budget allows"
            + (f"; {n_rep} replicates each, ± {0.5 / n_rep ** 0.5:.0%}" if n_rep else "")
            + f"): {tried}. "
            + (f"**{_design(best)}** would reach {best['power']:.0%}." if best
               else "None of these reaches 80 %."))
