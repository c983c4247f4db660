"""estimate_optimum on planted score tables: coverage, censoring, robustness, errors."""
import math

import numpy as np
import pytest

from qlsgan_tf.analysis.argmin import OptimumEstimate, estimate_optimum, optimum_from_means

GRID = np.array([30, 100, 300, 1000, 3000, 10000, 30000])


def planted_table(rng, log2_cstar, n_seeds=5, noise=0.15, nan_rate=0.1):
    """Unimodal valley in log2 C, a per-seed offset, per-run noise and NaN (unstable) runs."""
    base = 1.0 + 0.15 * (np.log2(GRID) - log2_cstar) ** 2
    table = (base * (1.0 + 0.1 * rng.normal(size=(n_seeds, 1)))
             * (1.0 + noise * rng.normal(size=(n_seeds, GRID.size))))
    table[rng.random(table.shape) < nan_rate] = np.nan
    return table


@pytest.mark.parametrize("n_seeds", [3, 5])
def test_interval_covers_the_planted_optimum(n_seeds):
    rng = np.random.default_rng(n_seeds)
    hits, errors = 0, []
    reps = 200
    for rep in range(reps):
        truth = rng.uniform(np.log2(100), np.log2(10000))
        est = estimate_optimum(GRID, planted_table(rng, truth, n_seeds), seed=rep, n_boot=300)
        assert est.censored is None
        lo, hi = np.log2(est.ci)
        hits += lo <= truth <= hi
        errors.append(abs(np.log2(est.value) - truth))
    assert hits / reps >= 0.90
    # Continuous, not snapped to the grid: far below the half grid step (0.8 in log2).
    assert np.median(errors) < 0.25


@pytest.mark.parametrize("log2_cstar,side", [(np.log2(30) - 2.0, "low"),
                                             (np.log2(30000) + 2.0, "high")])
def test_out_of_grid_optimum_is_censored(log2_cstar, side):
    rng = np.random.default_rng(0)
    flagged = 0
    for rep in range(100):
        est = estimate_optimum(GRID, planted_table(rng, log2_cstar), seed=rep, n_boot=100)
        if est.censored == side:
            flagged += 1
            edge = GRID[0] if side == "low" else GRID[-1]
            assert est.value == edge
            assert est.ci == ((0.0, edge) if side == "low" else (edge, math.inf))
    assert flagged >= 95


def test_vertex_of_an_exact_parabola():
    x = np.log(GRID)
    means = (x - np.log(700.0)) ** 2
    x_hat, best, cens = optimum_from_means(x, means)
    assert np.exp(x_hat) == pytest.approx(700.0) and GRID[best] == 1000 and cens == 0
    est = estimate_optimum(GRID, np.stack([means, means + 0.01]))
    assert est.value == pytest.approx(700.0) and est.censored is None


def test_invalid_capacities_are_skipped_and_the_edge_is_the_valid_edge():
    x = np.log(GRID)
    means = (x - np.log(700.0)) ** 2
    means[[2, 4]] = np.nan  # the neighbours of the best point are invalid: the next ones serve
    x_hat, best, _ = optimum_from_means(x, means)
    assert GRID[best] == 1000 and np.log(100) <= x_hat <= np.log(10000)
    table = np.tile((x - np.log(5.0)) ** 2, (3, 1))
    table[:, 0] = np.nan  # the smallest critic never ran stably; the best valid one is 100
    est = estimate_optimum(GRID, table)
    assert est.censored == "low" and est.value == 100


def test_resamples_without_a_valid_capacity_do_not_break_it():
    table = np.full((4, GRID.size), np.nan)
    table[0] = (np.log(GRID) - np.log(1000.0)) ** 2 + 1.0  # one seed has all the valid runs
    est = estimate_optimum(GRID, table, n_boot=200)
    assert est.value == pytest.approx(1000.0, rel=0.05)
    assert 0 < est.n_boot < 200  # resamples without seed 0 are dropped, not argmin'd over NaN


def test_nothing_valid_gives_no_optimum():
    est = estimate_optimum(GRID, np.full((3, GRID.size), np.nan))
    assert isinstance(est, OptimumEstimate)
    assert est.value is None and est.index is None and est.n_valid == 0
    assert all(math.isnan(v) for v in est.ci)
    assert est.to_dict()["value"] is None


def test_deterministic_for_a_seed():
    table = planted_table(np.random.default_rng(3), 9.0)
    assert estimate_optimum(GRID, table, seed=4) == estimate_optimum(GRID, table, seed=4)


@pytest.mark.parametrize("caps,scores,match", [
    ([30, 10, 100], np.ones((2, 3)), "strictly increasing"),
    ([0, 10, 100], np.ones((2, 3)), "positive"),
    ([10, 100], np.ones((2, 3)), r"shape \[n_seeds, 2\]"),
    ([10, 100, 1000], np.full((2, 3), np.inf), "inf"),
])
def test_bad_inputs(caps, scores, match):
    with pytest.raises(ValueError, match=match):
        estimate_optimum(caps, scores)


def test_bad_options():
    with pytest.raises(ValueError, match="n_boot"):
        estimate_optimum(GRID[:3], np.ones((2, 3)), n_boot=0)
    with pytest.raises(ValueError, match="level"):
        estimate_optimum(GRID[:3], np.ones((2, 3)), level=1.5)
    with pytest.raises(TypeError, match="numeric"):
        estimate_optimum(GRID[:3], [["a", "b", "c"]])


def test_suggest_capacities_extends_censored_and_refines_bracketed_optima():
    from qlsgan_tf.analysis.argmin import suggest_capacities

    table = np.tile((np.log(GRID) - np.log(5.0)) ** 2, (3, 1))
    low = estimate_optimum(GRID, table)
    assert low.censored == "low"
    # One grid step (x 30/100 in capacity) below the smallest critic.
    assert suggest_capacities(GRID, low) == [9]
    high = estimate_optimum(GRID, np.tile((np.log(GRID) - np.log(1e6)) ** 2, (3, 1)))
    assert suggest_capacities(GRID, high, n=2) == [90000, 270000]
    inner = estimate_optimum(GRID, np.tile((np.log(GRID) - np.log(700.0)) ** 2, (3, 1)))
    new = suggest_capacities(GRID, inner, n=2)
    assert len(new) == 2 and all(300 < c < 3000 and c not in GRID for c in new)
    assert suggest_capacities(GRID, estimate_optimum(GRID, np.full((2, GRID.size), np.nan))) == []
    with pytest.raises(ValueError, match="n must be"):
        suggest_capacities(GRID, inner, n=0)
