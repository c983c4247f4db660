"""TF-free analysis of the capacity study: the knee C*(Q) from one joint surface fit.

:func:`fit_surface` fits every generator's score-vs-critic curve at once with the knee location
following the law under test; :func:`simulate_power` and :func:`design_for_power` simulate
from the fitted world. numpy/scipy only: importing this package never imports TensorFlow.
"""
from qlsgan_tf.analysis.power import World, design_for_power, power_interval, simulate_power
from qlsgan_tf.analysis.surface import (
    DELTA_AIC,
    MIN_CRITICS,
    MIN_Q,
    RULES,
    SENSITIVITY_TOLERANCES,
    TOLERANCE,
    TREND_ALPHA,
    VERDICTS,
    KneeEstimate,
    LawResult,
    SurfaceFit,
    TrendResult,
    fit_surface,
)

__all__ = [
    "DELTA_AIC",
    "KneeEstimate",
    "LawResult",
    "MIN_CRITICS",
    "MIN_Q",
    "RULES",
    "SENSITIVITY_TOLERANCES",
    "SurfaceFit",
    "TOLERANCE",
    "TREND_ALPHA",
    "TrendResult",
    "VERDICTS",
    "World",
    "design_for_power",
    "fit_surface",
    "power_interval",
    "simulate_power",
]
