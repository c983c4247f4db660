"""Study plots: every function writes a valid PNG that matplotlib reads back, draws what it
was given (checked on the figure's artists and on the PNG's pixels), survives inf/NaN scores
and failed runs, and rejects bad input with one clear error."""
import math
import pathlib
import subprocess
import sys

import numpy as np
import pytest
from matplotlib import image as mpimg

from qlsgan_tf.analysis import twostage as fits
from qlsgan_tf.study import analysis, plots

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def read_png(path, min_height=200, min_width=300):
    """Checks the file is a PNG by its signature and returns matplotlib's decoding of it."""
    path = pathlib.Path(path)
    data = path.read_bytes()
    assert data[:8] == PNG_SIGNATURE
    pixels = mpimg.imread(path)
    assert pixels.ndim == 3 and pixels.shape[2] in (3, 4)
    height, width = pixels.shape[:2]
    assert min_height <= height <= 4000 and min_width <= width <= 4000, pixels.shape
    assert pixels[..., :3].std() > 0.01  # not a blank canvas
    return pixels


# --------------------------------------------------------------------------------------------
# FD-SAT4 trajectories.


def trajectories(n_good=3):
    epochs = np.arange(1, 21)
    runs = [
        dict(label=f"n4_L{i} c{100 * 2**i} s0", epochs=epochs,
             fd=150 * np.exp(-epochs / (3 + i)) + 8 + i, failed=False)
        for i in range(n_good)
    ]
    diverged = 150 * np.exp(-epochs / 4) + 20
    diverged[12:] = np.nan
    diverged[15] = np.inf
    runs.append(dict(label="diverged", epochs=epochs, fd=diverged, failed=True))
    runs.append(dict(label="oscillating", epochs=list(epochs),
                     fd=list(300 + 80 * np.sin(epochs)), failed=True))
    runs.append(dict(label="nan from the start", epochs=[1, 2], fd=[math.nan, math.nan],
                     failed=True))
    return runs


def test_fid_trajectories_writes_png(tmp_path):
    path = tmp_path / "nested" / "fid.png"
    out = plots.plot_fid_trajectories(trajectories(), path, floor=7.5)
    assert out == path and isinstance(out, pathlib.Path)
    read_png(path)
    # str paths work too
    assert plots.plot_fid_trajectories(trajectories(), str(tmp_path / "b.png")).exists()


def test_fid_figure_draws_runs_failures_and_floor():
    runs = trajectories()
    fig = plots.fid_figure(runs, floor=7.5)
    ax = fig.axes[0]
    lines = {line.get_label(): line for line in ax.get_lines()}
    for run in runs[:3]:
        line = lines[run["label"]]
        assert line.get_linestyle() == "-"
        np.testing.assert_allclose(line.get_ydata(), run["fd"])
    failed = [ln for ln in ax.get_lines() if ln.get_linestyle() == "--"]
    assert len(failed) == 3 and all(ln.get_color() == plots.FAILED_COLOR for ln in failed)
    np.testing.assert_allclose(failed[0].get_ydata(), runs[3]["fd"][:12])  # finite part
    assert "failed runs" in lines
    cross = lines["diverged (NaN/inf after this)"]
    assert cross.get_xdata()[0] == 12 and cross.get_ydata()[0] == pytest.approx(runs[3]["fd"][11])
    floor = lines["real-vs-real floor (7.5)"]
    assert list(floor.get_ydata()) == [7.5, 7.5]
    assert ax.get_yscale() == "log"  # 7.5 .. ~380 spans more than LOG_SPAN
    assert "6 runs, 3 failed" in ax.get_title()


def test_fid_figure_linear_axis_and_many_runs():
    runs = [dict(label=f"run {i}", epochs=[1, 2, 3], fd=[30 + i, 20 + i, 15 + i])
            for i in range(plots.MAX_LEGEND_RUNS + 3)]
    ax = plots.fid_figure(runs).axes[0]
    assert ax.get_yscale() == "linear"
    legend = [t.get_text() for t in ax.get_legend().get_texts()]
    assert len(legend) == plots.MAX_LEGEND_RUNS
    assert any("3 more stable runs" in t.get_text() for t in ax.texts)


# --------------------------------------------------------------------------------------------
# Score vs critic capacity.


def score_rows():
    rng = np.random.default_rng(0)
    rows = []
    for q in (36, 72, 144):
        for c in (50, 200, 800, 3200):
            for seed in range(3):
                score = 20 + (math.log(c) - math.log(20 * q)) ** 2 + rng.normal(0, 0.5)
                rows.append(dict(q_capacity=q, critic_budget=c, score=score, seed=seed))
    rows[0]["score"] = math.inf  # q=36, c=50, seed 0 unstable
    rows[1]["score"] = math.nan  # q=36, c=50, seed 1 unstable
    rows[2]["score"] = None  # q=36, c=50: every seed unstable
    flagged = next(r for r in rows if (r["q_capacity"], r["critic_budget"], r["seed"])
                   == (72, 200, 1))
    flagged["stable"] = False  # flagged unstable although its score is finite
    return rows


def expected_means(rows, q):
    out = {}
    for c in sorted({r["critic_budget"] for r in rows if r["q_capacity"] == q}):
        stable = [r["score"] for r in rows if r["q_capacity"] == q and r["critic_budget"] == c
                  and r["score"] is not None and math.isfinite(r["score"])
                  and r.get("stable", True)]
        if stable:
            out[c] = float(np.mean(stable))
    return out


def test_score_vs_critic_capacity_writes_png(tmp_path):
    path = plots.plot_score_vs_critic_capacity(score_rows(), tmp_path / "score.png")
    read_png(path)


def test_score_figure_means_unstable_marks_and_optimum():
    rows = score_rows()
    ax = plots.score_figure(rows).axes[0]
    assert ax.get_xscale() == "log"
    lines = {line.get_label(): line for line in ax.get_lines()}
    for q in (36, 72, 144):
        means = expected_means(rows, q)
        line = lines[f"Q = {q}"]
        np.testing.assert_allclose(line.get_xdata(), list(means))
        np.testing.assert_allclose(line.get_ydata(), list(means.values()))
    crosses = [ln for ln in ax.get_lines() if ln.get_marker() == "x"]
    assert len(crosses) == 2  # (36, 50) with three unstable seeds, (72, 200) with one
    assert sorted(ln.get_xdata()[0] for ln in crosses) == [50, 200]
    assert any(t.get_text() == "3" for t in ax.texts)  # count beside the (36, 50) mark
    stars = [ln for ln in ax.get_lines() if ln.get_marker() == "*"]
    # Scores are a parabola in log capacity around 20 Q: the critic nearest it wins.
    assert [star.get_xdata()[0] for star in stars] == [800, 800, 3200]
    for q, star in zip((36, 72, 144), stars):
        assert star.get_ydata()[0] == pytest.approx(expected_means(rows, q)[star.get_xdata()[0]])
    legend = [t.get_text() for t in ax.get_legend().get_texts()]
    assert "unstable runs (4)" in legend and "chosen critic" in legend


def test_score_figure_stars_the_most_stable_critic_then_the_best_mean():
    # 100: every seed converged, mean 5; 300: the lowest mean but one seed unstable;
    # 1000 and 3000: every seed converged, mean 3 (a tie: the smaller budget).
    scores = {100: [4.0, 6.0], 300: [1.0, math.inf], 1000: [2.0, 4.0], 3000: [3.0, 3.0]}
    rows = [dict(q_capacity=36, critic_budget=c, score=v, seed=seed)
            for c, values in scores.items() for seed, v in enumerate(values)]
    ax = plots.score_figure(rows).axes[0]
    (star,) = [ln for ln in ax.get_lines() if ln.get_marker() == "*"]
    assert (star.get_xdata()[0], star.get_ydata()[0]) == (1000, 3.0)
    assert analysis.most_stable_critic(scores) == 1000


def test_score_figure_given_optima_and_all_unstable_group():
    rows = score_rows() + [dict(q_capacity=300, critic_budget=c, score=math.inf, seed=0)
                           for c in (100, 1000)]
    ax = plots.score_figure(rows, optima={36: 3200, 72: 800, 144: 800, 300: 1000}).axes[0]
    stars = sorted((ln for ln in ax.get_lines() if ln.get_marker() == "*"),
                   key=lambda ln: ln.get_xdata()[0])
    assert [ln.get_xdata()[0] for ln in stars] == [800, 800, 1000, 3200]
    means = expected_means(rows, 36)
    assert stars[3].get_ydata()[0] == pytest.approx(means[3200])
    # Q = 300 had no stable run: its star sits near the top, in axes coordinates.
    assert stars[2].get_ydata()[0] == pytest.approx(0.9)
    shown = stars[2].get_transform().transform((1000.0, 0.9))
    assert shown[1] == pytest.approx(ax.transAxes.transform((0.0, 0.9))[1])


def test_score_figure_all_runs_unstable_does_not_crash(tmp_path):
    rows = [dict(q_capacity=36, critic_budget=c, score=math.inf, seed=s)
            for c in (50, 500) for s in range(2)]
    read_png(plots.plot_score_vs_critic_capacity(rows, tmp_path / "unstable.png"))


# --------------------------------------------------------------------------------------------
# Scaling.


Q = np.array([36.0, 72.0, 108.0, 144.0, 216.0, 288.0])
Y = 50.0 * np.exp(0.02 * Q) * np.exp(np.random.default_rng(3).normal(0.0, 0.15, Q.size))


def test_scaling_writes_png(tmp_path):
    comparison = fits.compare_laws(Q, Y)
    err = np.stack([0.2 * Y, 0.3 * Y])
    path = plots.plot_scaling(Q, Y, comparison, tmp_path / "scaling.png",
                              ylabel="optimal critic capacity C*(Q)", y_err=err)
    read_png(path)


def test_scaling_figure_draws_fits_and_verdict():
    comparison = fits.compare_laws(Q, Y)
    ax = plots.scaling_figure(Q, Y, comparison, "C*(Q)", y_ci=np.stack([Y / 1.5, Y * 2.0])).axes[0]
    assert ax.get_yscale() == "log"
    assert comparison.verdict in ax.get_title().replace("\n", " ")
    curves = [ln for ln in ax.get_lines() if len(ln.get_xdata()) == 300]
    assert len(curves) == len(comparison.fits) == 3
    for line, fit in zip(curves, comparison.fits.values()):
        assert line.get_label().startswith(fit.label + ":")
        assert f"ΔAICc = {fit.delta_aicc:.1f}" in line.get_label()
        expected = fit.predict(line.get_xdata())
        ok = expected > 0
        np.testing.assert_allclose(np.asarray(line.get_ydata())[ok], expected[ok], rtol=1e-12)
        assert line.get_linestyle() == ("-" if fit is comparison.best else "--")
    # Error bars from absolute bounds: the bar of each point spans exactly [lo, hi].
    bars = ax.containers[0].lines[2][0].get_segments()
    for (x0, lo), (_, hi) in bars:
        i = int(np.flatnonzero(Q == x0)[0])
        assert lo == pytest.approx(Y[i] / 1.5) and hi == pytest.approx(Y[i] * 2.0)


def test_scaling_with_compare_laws_and_censored_points(tmp_path):
    cens = [None] * (Q.size - 1) + ["high"]
    comparison = fits.compare_laws(Q, Y, censored=cens)
    ax = plots.scaling_figure(Q, Y, comparison, "C*(Q)", censored=cens,
                               y_ci=np.stack([Y / 1.5, Y * 1.5])).axes[0]
    assert comparison.verdict in ax.get_title()
    labels = [ln.get_label() for ln in ax.get_lines()]
    up = next(ln for ln in ax.get_lines() if ln.get_label() == "censored: at or above")
    assert up.get_marker() == "^" and list(up.get_xdata()) == [Q[-1]]
    for fit in comparison.fits.values():
        assert any(lab.startswith(fit.label + ":") and f"ΔAICc = {fit.delta_aicc:.1f}" in lab
                   for lab in labels)
    bars = ax.containers[0].lines[2][0].get_segments()
    assert len(bars) == Q.size - 1  # no error bar on the censored point
    with pytest.raises(ValueError, match="censored must list"):
        plots.plot_scaling(Q, Y, None, tmp_path / "x.png", ylabel="C*", censored=["up"] * Q.size)
    assert not (tmp_path / "x.png").exists()


def test_scaling_without_a_fit(tmp_path):
    few = fits.compare_laws(Q[:2], Y[:2])
    ax = plots.scaling_figure(Q[:2], Y[:2], few, "G*(Q)").axes[0]
    assert "insufficient data" in ax.get_title()
    assert len(ax.get_lines()) == 1  # the points only
    read_png(plots.plot_scaling(Q, Y, None, tmp_path / "points.png", ylabel="G*(Q)",
                                y_err=0.1 * Y))


def test_surface_figure_draws_data_fit_and_knees(tmp_path):
    critics = np.array([30.0, 120.0, 480.0, 1920.0, 7680.0])
    curve_x = np.geomspace(20, 10000, 50)
    panels = [{"label": f"q3x{i}", "critics": critics,
               "means": 0.2 * (1 + 0.05 * (critics / 300) ** -1.5),
               "seed_scores": np.full((3, critics.size), 0.21),
               "curve_x": curve_x, "curve_y": 0.2 * (1 + 0.05 * (curve_x / 300) ** -1.5),
               "knee": 300.0, "knee_ci": [200.0, 450.0] if i else [7680.0, None],
               "censored": None if i else "high"} for i in range(3)]
    fig = plots.surface_figure(panels)
    assert len(fig.axes) == 3
    ax = fig.axes[1]
    assert ax.get_xscale() == "log"
    knee = [ln for ln in ax.get_lines() if list(ln.get_xdata()) == [300.0, 300.0]]
    assert knee and knee[0].get_linestyle() == "-"
    assert "censored high" in fig.axes[0].get_title()
    read_png(plots.plot_surface(panels, tmp_path / "surface.png"))
    with pytest.raises(ValueError, match="panels must be"):
        plots.surface_figure([])


# --------------------------------------------------------------------------------------------
# Image grids.


def test_image_grid_blocks_show_rgb_and_false_colour(tmp_path):
    images = np.full((6, 28, 28, 4), 128, np.uint8)
    images[0] = (255, 0, 0, 0)  # pure red, no NIR: red in RGB, green in (NIR, R, G)
    images[1] = (0, 0, 0, 255)  # NIR only: black in RGB, red in false colour
    pixels = read_png(plots.plot_image_grid(images, tmp_path / "grid.png", "test patches"))
    rgb = pixels[..., :3]
    red = np.all(np.abs(rgb - (1, 0, 0)) < 0.02, axis=-1)
    green = np.all(np.abs(rgb - (0, 1, 0)) < 0.02, axis=-1)
    rows_red = np.flatnonzero(red.any(axis=1))
    rows_green = np.flatnonzero(green.any(axis=1))
    # Two red tiles: one in the top (RGB) block, one in the bottom (false-colour) block, and
    # the only green tile is in the bottom block, level with the lower red one.
    top, bottom = rows_red[rows_red < rows_green.min()], rows_red[rows_red >= rows_green.min()]
    assert top.size > 20 and bottom.size > 20
    assert red.sum() == pytest.approx(2 * green.sum(), rel=0.1)
    assert bottom.min() == rows_green.min() and bottom.max() == rows_green.max()


def test_image_grid_float_and_uint8_agree(tmp_path):
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (10, 28, 28, 4), dtype=np.uint8)
    as_float = (images.astype(np.float32) / 127.5 - 1.0).astype(np.float32)
    a = read_png(plots.plot_image_grid(images, tmp_path / "u8.png", "grid", ncols=5))
    b = read_png(plots.plot_image_grid(as_float, tmp_path / "f.png", "grid", ncols=5))
    assert a.shape == b.shape
    assert np.abs(a - b).max() <= 1.5 / 255


def test_image_grid_single_patch(tmp_path):
    path = plots.plot_image_grid(np.zeros((1, 28, 28, 4), np.float32), tmp_path / "one.png",
                                 "one")
    pixels = read_png(path, min_height=100, min_width=100)  # two 28-px tiles shown >= 2x
    grey = np.all(np.abs(pixels[..., :3] - 0.5) < 0.01, axis=-1)  # float 0 is mid-grey
    assert grey.any(axis=1).sum() >= 2 * 56 and grey.any(axis=0).sum() >= 56


# --------------------------------------------------------------------------------------------
# Bad input and the import contract.

GOOD_RUN = dict(label="a", epochs=[1, 2], fd=[3.0, 2.0], failed=False)
GOOD_ROW = dict(q_capacity=36, critic_budget=100, score=1.0, seed=0)
IMAGES = np.zeros((2, 28, 28, 4), np.uint8)


@pytest.mark.parametrize(
    "call, error, message",
    [
        (lambda p: plots.plot_fid_trajectories([], p), ValueError, "trajectories is empty"),
        (lambda p: plots.plot_fid_trajectories(GOOD_RUN, p), TypeError, "list of dicts"),
        (lambda p: plots.plot_fid_trajectories([dict(label="a", epochs=[1])], p), ValueError,
         r"trajectories\[0\] has no 'fd'"),
        (lambda p: plots.plot_fid_trajectories([dict(GOOD_RUN, fd=[1.0])], p), ValueError,
         "2 epochs but 1 fd values"),
        (lambda p: plots.plot_fid_trajectories([dict(GOOD_RUN, epochs=[1, np.nan])], p),
         ValueError, r"epochs'\] contains NaN"),
        (lambda p: plots.plot_fid_trajectories([GOOD_RUN], p, floor="low"), TypeError,
         "floor must be a number"),
        (lambda p: plots.plot_fid_trajectories([GOOD_RUN], p.with_suffix(".jpg")), ValueError,
         "must name a .png file"),
        (lambda p: plots.plot_score_vs_critic_capacity([], p), ValueError, "rows is empty"),
        (lambda p: plots.plot_score_vs_critic_capacity([dict(GOOD_ROW, critic_budget=0)], p),
         ValueError, r"critic_budget'\] must be a positive number"),
        (lambda p: plots.plot_score_vs_critic_capacity(
            [{k: v for k, v in GOOD_ROW.items() if k != "seed"}], p), ValueError,
         "has no 'seed'"),
        (lambda p: plots.plot_score_vs_critic_capacity([dict(GOOD_ROW, score="x")], p),
         TypeError, r"score'\] must be a number"),
        (lambda p: plots.plot_score_vs_critic_capacity([GOOD_ROW], p, optima=[1]), TypeError,
         "optima must map"),
        (lambda p: plots.plot_scaling(Q, -Y, None, p, "y"), ValueError, "y must be positive"),
        (lambda p: plots.plot_scaling(Q, Y[:-1], None, p, "y"), ValueError, "same length"),
        (lambda p: plots.plot_scaling(Q, Y, None, p, "y", y_err=np.ones((3, 6))), ValueError,
         r"y_err must have shape \(6,\) or \(2, 6\)"),
        (lambda p: plots.plot_scaling(Q, Y, None, p, "y", y_err=-np.ones(6)), ValueError,
         "non-negative"),
        (lambda p: plots.plot_scaling(Q, Y, None, p, "y", y_err=Y, y_ci=np.stack([Y, Y])),
         ValueError, "not both"),
        (lambda p: plots.plot_scaling(Q, Y, None, p, "y", y_ci=np.stack([Y * 2, Y * 3])),
         ValueError, "must bracket y"),
        (lambda p: plots.plot_scaling(Q, Y, {"verdict": "x"}, p, "y"), TypeError,
         "law comparison"),
        (lambda p: plots.plot_image_grid(IMAGES[..., :3], p, "t"), ValueError,
         "must have 4 bands .* got 3"),
        (lambda p: plots.plot_image_grid(IMAGES[0], p, "t"), ValueError, r"shape \[N, 28, 28, 4\]"),
        (lambda p: plots.plot_image_grid(IMAGES[:0], p, "t"), ValueError, "images is empty"),
        (lambda p: plots.plot_image_grid(IMAGES.astype(np.int32), p, "t"), TypeError,
         "uint8 .* or float"),
        (lambda p: plots.plot_image_grid(IMAGES.astype(np.float32) + 2.0, p, "t"), ValueError,
         r"must lie in \[-1, 1\]"),
        (lambda p: plots.plot_image_grid(np.full((1, 28, 28, 4), np.nan), p, "t"), ValueError,
         "NaN"),
        (lambda p: plots.plot_image_grid(IMAGES, p, "t", ncols=0), ValueError, "ncols"),
        (lambda p: plots.plot_image_grid(IMAGES, 42, "t"), TypeError, "path must be a str"),
    ],
)
def test_bad_input_gives_one_clear_error_and_no_file(tmp_path, call, error, message):
    path = tmp_path / "out.png"
    with pytest.raises(error, match=message):
        call(path)
    assert not path.exists()


def test_analysis_and_plots_do_not_import_tensorflow_or_pyplot():
    code = ("import sys, qlsgan_tf.analysis, qlsgan_tf.study.plots; "
            "print('tensorflow' in sys.modules, 'matplotlib.pyplot' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True)
    assert out.stdout.split() == ["False", "False"]
