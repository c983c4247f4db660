"""The convergence rule's module: statuses, schedule, budget, and its agreement with
``metrics.stability`` and ``tuning.results``."""
import math

import pytest

from qlsgan_tf import constants, convergence
from qlsgan_tf.metrics import stability
from qlsgan_tf.tuning import results


def test_statuses_are_one_vocabulary():
    assert set(convergence.JUDGED_STATUSES) | {convergence.NOT_CONVERGED} == set(
        convergence.STATUSES)
    assert stability.STATUSES == convergence.JUDGED_STATUSES
    assert results.STATUSES == convergence.STATUSES
    assert results.UNSTABLE_STATUSES == convergence.UNSTABLE_STATUSES
    assert [s for s in convergence.STATUSES if convergence.is_converged(s)] == ["converged"]
    assert [s for s in convergence.STATUSES if not convergence.is_stable(s)] == [
        "diverging", "unstable", "failed"]
    assert stability.RunStatus("converged", (), 1.0).converged
    assert not stability.RunStatus("not_converged", (), math.nan).converged


def test_thresholds_are_the_judges_defaults():
    assert stability.DEFAULT_STATUS_K == convergence.DEFAULT_STATUS_K == 8
    plateau = [1.0, 1.02, 0.99, 1.01, 1.0, 0.98, 1.01, 1.0]
    assert stability.run_status(plateau).status == "converged"
    falling = [2.0 - 0.1 * i for i in range(8)]
    assert stability.run_status(falling).status == "improving"
    with pytest.raises(ValueError, match=f"k must be >= {convergence.MIN_STATUS_K}"):
        stability.run_status(plateau, k=convergence.MIN_STATUS_K - 1)


@pytest.mark.parametrize("epochs,status_k,window", [(20, 0, 8), (5, 0, 5), (1, 0, 3), (20, 4, 4)])
def test_status_window(epochs, status_k, window):
    assert convergence.status_window(epochs, status_k) == window


def test_schedule_and_budget():
    due = [e for e in range(1, 16) if convergence.judgement_due(e, 6, 3)]
    assert due == [6, 9, 12, 15]
    fd = [e for e in range(1, 10) if convergence.fd_due(e, 5, 3)]
    assert fd == [3, 5, 6, 8, 9]
    # Only those a judgement can score: the last k_last=2 up to epoch 5 (3, 5), then on.
    assert [e for e in range(1, 10) if convergence.fd_due(e, 5, 3, k_last=2)] == [3, 5, 6, 8, 9]
    assert [e for e in range(1, 10) if convergence.fd_due(e, 5, 3, k_last=1)] == [5, 6, 8, 9]
    assert [e for e in range(1, 15) if convergence.fd_due(e, 12, 2, k_last=3)] == [
        8, 10, 12, 14]
    assert [e for e in range(1, 15) if convergence.latent_due(e, 12, 8)] == list(range(5, 15))
    assert all(convergence.latent_due(e, 12, 8, every_epoch=True) for e in range(1, 15))
    assert convergence.epoch_budget(10, 0) == 10 and convergence.epoch_budget(10, 30) == 30
    assert convergence.settle("improving", final=False) is None
    assert convergence.settle("improving", final=True) == "not_converged"
    assert convergence.settle("diverging", final=False) == "diverging"


def test_metric_registry_names_record_fields():
    assert constants.SCORE_METRICS == ("latent", "fd")
    for metric in constants.METRICS.values():
        assert metric.field in results.RunResult.__dataclass_fields__
        assert callable(metric.function()) and metric.lower_is_better
    with pytest.raises(ValueError, match="metric must be one of"):
        constants.get_metric("kid")
    with pytest.raises(ValueError, match="direction must be one of"):
        constants.Metric("x", "X", "score", "m:f", direction="up")
    with pytest.raises(ValueError, match="compute must be 'module:function'"):
        constants.Metric("x", "X", "score", "m.f")
