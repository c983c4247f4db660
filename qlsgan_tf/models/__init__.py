"""Classical models of the study: dense generator/critic with capacity knobs, and the SAT-4 VAE.

- :mod:`~qlsgan_tf.models.capacity`: parameter counts and widths for a parameter budget
  (pure Python/numpy, importing it does not import TensorFlow).
- :mod:`~qlsgan_tf.models.mlp`: :class:`MLPGenerator`, :class:`MLPCritic`.
- :mod:`~qlsgan_tf.models.vae`: :class:`SatVAE`.

The Keras classes are imported on first use, so ``units_for_capacity`` stays cheap.
"""
import importlib

from qlsgan_tf.models.capacity import (
    capacity_grid,
    count_trainable,
    mlp_param_count,
    tapered_widths,
    units_for_capacity,
)

_LAZY = {
    "MLPGenerator": "qlsgan_tf.models.mlp",
    "MLPCritic": "qlsgan_tf.models.mlp",
    "SatVAE": "qlsgan_tf.models.vae",
}

__all__ = ["capacity_grid", "count_trainable", "mlp_param_count", "tapered_widths",
           "units_for_capacity"] + list(_LAZY)


def __getattr__(name):
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__():
    return sorted(__all__)
