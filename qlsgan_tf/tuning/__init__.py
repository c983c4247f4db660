"""KerasTuner hypermodels: the SAT-4 VAE (``tuning.vae``), the capacity study (``tuning.capacity``).

Submodules import KerasTuner and TensorFlow, so nothing is imported here until a name is used:
``from qlsgan_tf.tuning import tune_vae`` loads ``tuning.vae`` on first access.
"""
import importlib

_LAZY = {
    "SatVAEHyperModel": "qlsgan_tf.tuning.vae",
    "NOMINAL_HYPERPARAMETERS": "qlsgan_tf.tuning.vae",
    "RandomVaeSearch": "qlsgan_tf.tuning.vae",
    "tune_vae": "qlsgan_tf.tuning.vae",
}

__all__ = sorted(_LAZY)


def __getattr__(name):
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(__all__))
