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

import numpy as np

from qlsgan_tf.study import analysis as analysis_lib
from qlsgan_tf.study import records
from qlsgan_tf.study import store as store_lib

CSV_FIELDS = (
    "generator", "kind", "n_qubits", "n_layers", "latent_dim", "generator_capacity",
    "critic_capacity", "critic_params", "critic_units", "seed", "stable", "failed",
    "failure_reason", "score", "final_fd", "fd_std_last_k", "final_kid", "latent_fd",
    "epochs_run",
    "time_s", "time_per_epoch_s",
)


def write_report(out_dir, n_boot=None):
    """Analyses the study in ``out_dir`` and writes the report files; returns their paths."""
    out = pathlib.Path(out_dir)
    store = store_lib.ResultStore(out)
    config = store.load_config()
    runs = records.load_runs(store)  # each file checked: a bad one is named
    if not runs:
        raise ValueError(f"{out}: no finished runs yet; nothing to report")
    prepared_path = out / "prepared.json"
    prepared = records.load_prepared(prepared_path)
    result, comparisons = analysis_lib.analyse(runs, config, n_boot=n_boot)
    expected = config.n_runs()
    result["complete"] = len(runs) >= expected
    result["expected_runs"] = expected

    plots = _write_plots(out, runs, result, comparisons, prepared)
    results = {
        "generated": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "config": config.to_dict(),
        "prepared": prepared,
        "analysis": result,
        "plots": {k: str(v.relative_to(out)) for k, v in plots.items()},
        "total_run_time_s": float(sum(r.get("time_s", 0.0) for r in runs)),
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
        row = dict(run)
        row["critic_units"] = "-".join(str(u) for u in run.get("critic_units", []))
        writer.writerow(row)
    return buf.getvalue()


def _write_plots(out, runs, result, comparisons, prepared):
    from qlsgan_tf.study import plots  # pylint: disable=import-outside-toplevel

    plot_dir = out / "plots"
    plot_dir.mkdir(parents=True, exist_ok=True)
    floor = prepared.get("floor", {}).get("fd")
    paths = {}
    trajectories = [{
        "label": f"{r['generator']} c{r['critic_capacity']} s{r['seed']}",
        "epochs": [p[0] for p in r.get("fd_history", [])],
        "fd": [p[1] for p in r.get("fd_history", [])],
        "failed": not r.get("stable", False),
    } for r in runs if r.get("fd_history")]
    if trajectories:
        paths["fid_trajectories"] = plots.plot_fid_trajectories(
            trajectories, plot_dir / "fid_trajectories.png", floor=floor)
    rows = [{"q_capacity": r["generator_capacity"], "critic_capacity": r["critic_capacity"],
             "score": r["score"], "seed": r["seed"], "stable": r["stable"],
             "generator": r["generator"]}
            for r in runs if r["kind"] == "quantum"]
    if rows:
        paths["score_vs_critic"] = plots.plot_score_vs_critic_capacity(
            rows, plot_dir / "score_vs_critic_capacity.png",
            optima={e["generator"]: e["critic_star"] for e in result["quantum"]})
    for key, ylabel, fname in (
        ("critic", "optimal critic capacity C*(Q)", "critic_scaling.png"),
        ("classical_generator", "matching classical generator capacity G*(Q)",
         "classical_generator_scaling.png"),
    ):
        comparison = comparisons.get(key)
        if comparison is None:
            continue
        q, y = result["fits"][key]["points"]
        paths[f"{key}_scaling"] = plots.plot_scaling(
            np.asarray(q), np.asarray(y), comparison, plot_dir / fname, ylabel=ylabel,
            y_err=_y_err(result, key))
    paths.update(_sample_grids(out, plot_dir, result, plots))
    return paths


def _y_err(result, key):
    """Asymmetric error bars [[below], [above]] from the bootstrap CIs, or None."""
    field, star = (("critic_star_ci", "critic_star") if key == "critic"
                   else ("generator_star_ci", "generator_star"))
    rows = [e for e in result["quantum"] if e[star] is not None]
    if not rows or any(None in e[field] for e in rows):
        return None
    below = [max(0.0, e[star] - e[field][0]) for e in rows]
    above = [max(0.0, e[field][1] - e[star]) for e in rows]
    return np.array([below, above])


def _sample_grids(out, plot_dir, result, plots):
    """Sample grids of the best hybrid and of the classical generator matched to it."""
    paths = {}
    finite = [e for e in result["quantum"] if math.isfinite(e["fd"])]
    if not finite:
        return paths
    best = min(finite, key=lambda e: e["fd"])
    choices = [("best_hybrid", best["generator"], best["critic_star"],
                f"best hybrid {best['generator']} (Q={best['q_capacity']}), "
                f"critic {best['critic_star']}")]
    if best["generator_star"] is not None:
        rows = result["classical"].get(str(best["latent_dim"]), [])
        match = next((r for r in rows if r["generator_capacity"] == best["generator_star"]), None)
        if match:
            choices.append(("matched_classical", match["generator"],
                            match["best_critic_capacity"],
                            f"matched classical {match['generator']}, "
                            f"critic {match['best_critic_capacity']}"))
    for name, generator, critic, title in choices:
        files = [out / "samples" / f"{store_lib.run_key(generator, critic, seed)}.npy"
                 for seed in result["seeds"]]
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


def _ci(pair):
    if not pair or None in pair:
        return "–"
    return f"[{_fmt(float(pair[0]))}, {_fmt(float(pair[1]))}]"


def _markdown(config, prepared, result, plots, out, runs):
    lines = [
        "# Capacity study of a latent style-based QGAN on SAT-4",
        "",
        f"Preset `{config.preset}`; {result['n_runs']} of {result['expected_runs']} training runs "
        f"finished ({'complete' if result['complete'] else 'PARTIAL: rerun the study to finish'})"
        f", {result['n_stable_runs']} trained stably; seeds {result['seeds']}.",
        "",
        "## Set-up",
        "",
    ]
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
        lines.append(f"- FD-SAT4 feature network: {fnet.get('feature_dim')}-d features, test "
                     f"accuracy {_fmt(fnet.get('test_accuracy'))} on {fnet.get('data')}; "
                     "Fréchet distance and KID are computed on its features, "
                     f"{config.n_fid_samples} generated samples per evaluation.")
    floor = prepared.get("floor", {})
    if floor:
        lines.append(f"- Real-vs-real floor (train vs test split, same features): FD-SAT4 "
                     f"{_fmt(floor.get('fd'))}, KID {_fmt(floor.get('kid'))}. Generated "
                     "FD-SAT4 values are only meaningful relative to this floor.")
    for dim, base in sorted(prepared.get("baselines", {}).items()):
        lines.append(
            f"- Bounds with this VAE (latent {dim}): decoded uniform random latents score "
            f"FD-SAT4 {_fmt(base['random_latents']['fd'])} (a generator that learned nothing), "
            f"decoded real latents {_fmt(base['reconstructions']['fd'])} (a perfect latent "
            "generator). When the two are close, FD-SAT4 cannot rank generators on this data; "
            "the latent Fréchet distance (generated vs real latents, per run in trials.csv) "
            "measures the GAN directly.")
    lines += [
        f"- Generators: style-based quantum circuits, ansatz `{config.ansatz}`, readout "
        f"`{config.readout}`, backend `{config.backend}`; classical MLP generators "
        f"(depth {config.generator_depth}); critics: MLPs of depth {config.critic_depth} sized "
        "to each parameter budget.",
        f"- Training: {config.loss}, n_critic {config.n_critic}, {config.epochs} epochs, batch "
        f"{config.batch_size}, Adam {config.learning_rate} (β = 0.5, 0.9), {config.noise} noise.",
        "",
        "## Definitions",
        "",
        "- **Q**: trainable parameters of the quantum generator (2 per rotation angle: the "
        "style scale and bias).",
        f"- **Optimal training**: stable (no NaN/inf; relative std of the last {config.k_last} "
        f"FD-SAT4 evaluations ≤ {config.max_fid_rel_std}; critic-loss oscillation ≤ "
        f"{config.max_loss_oscillation}) with low and stable FD-SAT4; the score is the mean of "
        f"the last {config.k_last} FD-SAT4 values + {config.std_penalty} × their std.",
        "- **C\\*(Q)**: the critic capacity whose runs (over seeds) are most often stable and "
        "then score best; CI from bootstrap over seeds.",
        "- **G\\*(Q)**: the smallest classical generator capacity which, with its own optimal "
        "critic, reaches the quantum generator's FD-SAT4 band (bootstrap 95% upper end).",
        "",
        "## Results",
        "",
        "| n | L | Q | C*(Q) | C* 95% CI | FD-SAT4 | FD band | latent FD | stable | G*(Q) "
        "| G* 95% CI |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for e in result["quantum"]:
        g_star = (_fmt(e["generator_star"]) if e["generator_star"] is not None
                  else f"> {max(e['classical_tried'])}" if e["classical_tried"] else "–")
        lines.append(
            f"| {e['n_qubits']} | {e['n_layers']} | {e['q_capacity']} | {e['critic_star']} | "
            f"{_ci(e['critic_star_ci'])} | {_fmt(e['fd'])} | {_ci(e['fd_band'])} | "
            f"{_fmt(e.get('latent_fd'))} | "
            f"{_fmt(e['stable_fraction'], 2)} | {g_star} | {_ci(e['generator_star_ci'])} |")
    lines += ["", "### Classical generators (each with its own optimal critic)", "",
              "| latent | capacity | best critic | FD-SAT4 | latent FD | stable |",
              "|---|---|---|---|---|---|"]
    for dim, rows in sorted(result["classical"].items()):
        for r in rows:
            lines.append(f"| {dim} | {r['generator_capacity']} | {r['best_critic_capacity']} | "
                         f"{_fmt(r['fd'])} | {_fmt(r.get('latent_fd'))} | "
                         f"{_fmt(r['stable_fraction'], 2)} |")
    lines += ["", "## Scaling laws", ""]
    for key, title in (("critic", "Optimal critic capacity C*(Q)"),
                       ("classical_generator", "Matching classical generator capacity G*(Q)")):
        fit = result["fits"][key]
        lines += [f"### {title}", "", f"**Verdict:** {fit['verdict']}", ""]
        laws = fit.get("fits")
        if laws:
            lines += [f"| law | parameters | 95% CI | R² (log y) | {fit.get('criterion', 'AIC')} "
                      "| ΔAIC |",
                      "|---|---|---|---|---|---|"]
            for law in _law_rows(laws):
                lines.append(law)
            lines.append("")
    if plots:
        lines += ["## Plots", ""]
        for name, path in plots.items():
            lines.append(f"- {name.replace('_', ' ')}: ![{name}]({path.relative_to(out)})")
    lines += [
        "", "## Caveats", "",
        "- FD-SAT4 uses a small feature network trained by this project (no Inception weights "
        "offline, and none of the papers documents its FID network); compare values only "
        "within this study and against the floor above.",
        "- With few seeds the optimal capacities are noisy; read the verdicts with their CIs. "
        "A verdict of 'do not distinguish' is a result, not a failure.",
        "",
    ]
    return "\n".join(lines)


def _law_rows(laws):
    items = laws.values() if isinstance(laws, dict) else laws
    rows = []
    for law in items:
        params = ", ".join(f"{k} = {_fmt(v)}" for k, v in law.get("params", {}).items())
        cis = ", ".join(f"{k} {_ci(v)}" for k, v in law.get("ci", {}).items())
        rows.append(f"| {law.get('name')} | {params} | {cis} | {_fmt(law.get('r2'))} | "
                    f"{_fmt(_first(law.get('aicc'), law.get('aic')))} | "
                    f"{_fmt(law.get('delta_aic'))} |")
    return rows


def _first(*values):
    return next((v for v in values if v is not None), None)
