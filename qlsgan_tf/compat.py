"""Compatibility shims for the pinned stack; applied once by ``import qlsgan_tf``.

tensorflow-gan 2.1.0 calls ``inspect.getargspec``, which Python 3.11 removed. We restore
it on top of ``inspect.getfullargspec`` (same first four fields) before anything imports
``tensorflow_gan``. This is the only place the package patches a third-party library.
"""
import collections
import inspect
from types import ModuleType
from typing import Any, Callable

ArgSpec = collections.namedtuple("ArgSpec", ["args", "varargs", "keywords", "defaults"])


def _getargspec(func: Callable[..., Any]) -> ArgSpec:
    """Python < 3.11 ``inspect.getargspec`` built on ``getfullargspec``."""
    spec = inspect.getfullargspec(func)
    return ArgSpec(spec.args, spec.varargs, spec.varkw, spec.defaults)


def apply() -> bool:
    """Installs the shims; idempotent. Returns True when something was installed."""
    if hasattr(inspect, "getargspec"):
        return False
    # typeshed (for 3.11) has no getargspec: restoring the removed attribute is the point.
    inspect.getargspec = _getargspec  # type: ignore[attr-defined]
    return True


def import_tfgan() -> ModuleType:
    """Imports ``tensorflow_gan`` with the shims applied; use this, not a bare import."""
    apply()
    import tensorflow_gan as tfgan

    return tfgan


def renamed_noise_dim(config: dict) -> dict:
    """A saved generator config with the noise width under its current name ``noise_dim``.

    Models saved before the rename store it as ``latent_dim`` (a name now kept for the VAE);
    their ``from_config`` passes the config through here so that old ``.keras`` files load.
    """
    config = dict(config)
    if "latent_dim" in config:
        old = config.pop("latent_dim")
        config.setdefault("noise_dim", old)
    return config
