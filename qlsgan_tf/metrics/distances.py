"""FD-SAT4 and KID: Fréchet and kernel distances in the SAT-4 feature network's embedding.

Both are computed by TF-GAN (``tfgan.eval.frechet_classifier_distance_from_activations`` and
``kernel_classifier_distance_and_std_from_activations``) on activations of the project's
feature network (:mod:`qlsgan_tf.metrics.feature_net`), never Inception. Call the Fréchet
distance **FD-SAT4** in logs and reports, and always report it with

- the real-vs-real floor (:func:`real_floor`, train vs test split, computed the same way), and
- the feature network's test accuracy and training data (its manifest).

The features are standardized with the training patches' feature mean and std (see
``FeatureNet.features``), so FD-SAT4 is in units of the real feature variance summed over the
``feature_dim`` dimensions.

Small samples (decided here, documented once):

- Fewer than 2 samples on either side is an error: no covariance (FD) and no unbiased
  estimate (KID) exist.
- With ``n <= feature_dim`` samples the sample covariance is singular (rank ``n - 1``), and FD
  is strongly biased upwards. This is a :class:`SmallSampleWarning`, not an error: the bundled
  sample's 20-patch test split is below the default 32 dimensions, and its floor is still worth
  reporting. Compare FDs only at equal sample sizes; prefer KID (unbiased) for few samples.
- KID's standard error comes from splitting the samples into blocks (at most 10, each with about
  ``>= 10`` samples on the smaller side); it is NaN when fewer than 20 samples allow only one
  block.
"""
import dataclasses
import math
import warnings
from typing import Any, Dict, Optional, Tuple

import numpy as np

from qlsgan_tf.data.core import as_images
from qlsgan_tf.validation import check_int, check_samples

MIN_BLOCK = 10
MAX_BLOCKS = 10


class SmallSampleWarning(UserWarning):
    """FD-SAT4 computed from fewer samples than feature dimensions (singular covariance)."""


@dataclasses.dataclass(frozen=True)
class FDResult:
    """FD-SAT4 and KID of two image sets, with the sizes they were computed from."""

    fd: float
    kid: float
    kid_std: float
    n_real: int
    n_fake: int
    feature_dim: int

    def as_dict(self) -> Dict[str, Any]:
        """Plain dict (JSON-ready) of the fields."""
        return dataclasses.asdict(self)

    def __str__(self) -> str:
        return (f"FD-SAT4 {self.fd:.4g}, KID {self.kid:.4g} ± {self.kid_std:.2g} "
                f"(n_real={self.n_real}, n_fake={self.n_fake}, {self.feature_dim}-d features)")


def _tfgan() -> Any:
    from qlsgan_tf.compat import import_tfgan

    return import_tfgan()


def check_activations(real: Any, fake: Any,
                      metric: str = "FD-SAT4") -> Tuple[np.ndarray, np.ndarray]:
    """Validates two activation sets ``[N, D]`` and returns them as float64 arrays."""
    out = [check_samples(name, act, where=metric)
           for name, act in (("real activations", real), ("fake activations", fake))]
    if out[0].shape[1] != out[1].shape[1]:
        raise ValueError(
            f"{metric}: real and fake activations differ in feature dimension: "
            f"{out[0].shape[1]} vs {out[1].shape[1]}")
    return out[0], out[1]


def _warn_small(n_real: int, n_fake: int, dim: int, stacklevel: int) -> None:
    if min(n_real, n_fake) <= dim:
        warnings.warn(
            f"FD-SAT4 from {n_real} real / {n_fake} fake samples with {dim} feature "
            "dimensions: the covariance is singular and FD is strongly biased upwards (compare "
            "only at equal sample sizes, and report KID)", SmallSampleWarning,
            stacklevel=stacklevel + 1)


_GRAPHS: Dict[Tuple[Any, ...], Any] = {}


def _graph(name: str, dim: int, max_block_size: Optional[int] = None) -> Any:
    """TF-GAN's activation metric as one cached ``tf.function`` (float64 ``[N, dim]`` inputs).

    A study evaluates FD-SAT4 and KID thousands of times; run eagerly, TF-GAN's ops (KID's
    ``map_fn`` over blocks above all) cost tens of milliseconds of dispatch per call, traced
    once they cost a few (numbers in ``benchmarks/README.md``). Same ops, same values.
    """
    key = (name, dim, max_block_size)
    graph = _GRAPHS.get(key)
    if graph is None:
        # Threads may make the same untraced function at once: the first
        # stored is kept (``setdefault`` is atomic), the others are dropped untraced.
        graph = _GRAPHS.setdefault(key, _make_graph(name, dim, max_block_size))
    return graph


def _make_graph(name: str, dim: int, max_block_size: Optional[int]) -> Any:
    """Traces TF-GAN's metric ``name`` ("fd" or "kid") for ``[N, dim]`` activations."""
    import tensorflow as tf

    tfgan = _tfgan()
    spec = [tf.TensorSpec([None, dim], tf.float64)] * 2  # KID needs the static dim
    if name == "fd":
        def metric(real: Any, fake: Any) -> Any:
            return tfgan.eval.frechet_classifier_distance_from_activations(real, fake)
    else:
        def metric(real: Any, fake: Any) -> Any:
            return tfgan.eval.kernel_classifier_distance_and_std_from_activations(
                real, fake, max_block_size=max_block_size)
    return tf.function(metric, input_signature=spec, autograph=False)


def _fd(real: np.ndarray, fake: np.ndarray) -> float:
    fd = _graph("fd", real.shape[1])(real, fake)
    # Tiny negative values are round-off of identical sets.
    return max(float(fd), 0.0)


def frechet_distance_from_activations(real_activations: Any, fake_activations: Any) -> float:
    """FD-SAT4 of two activation sets ``[N, D]`` (TF-GAN's Fréchet classifier distance).

    ``|mu_r - mu_f|^2 + Tr(S_r + S_f - 2 (S_r S_f)^(1/2))`` with sample means and unbiased
    sample covariances. Warns (:class:`SmallSampleWarning`) when a side has ``N <= D``.
    """
    real, fake = check_activations(real_activations, fake_activations, "FD-SAT4")
    _warn_small(len(real), len(fake), real.shape[1], stacklevel=2)
    return _fd(real, fake)


def kid_block_size(n_real: int, n_fake: int) -> int:
    """``max_block_size`` for TF-GAN's KID: up to 10 blocks of >= ~10 samples on each side."""
    n_blocks = max(1, min(MAX_BLOCKS, min(n_real, n_fake) // MIN_BLOCK))
    return int(math.ceil(max(n_real, n_fake) / n_blocks))


def kernel_distance_from_activations(real_activations: Any, fake_activations: Any,
                                     max_block_size: Optional[int] = None
                                     ) -> Tuple[float, float]:
    """KID (unbiased MMD^2, cubic polynomial kernel) and its standard error, from activations.

    Args:
      real_activations, fake_activations: ``[N, D]`` arrays (N >= 2 each).
      max_block_size: TF-GAN's block size; None picks :func:`kid_block_size`. The standard
        error is NaN when only one block is used.

    Returns:
      ``(kid, kid_std)`` as floats.
    """
    real, fake = check_activations(real_activations, fake_activations, "KID")
    if max_block_size is None:
        max_block_size = kid_block_size(len(real), len(fake))
    max_block_size = check_int("KID: max_block_size", max_block_size, 2)
    n_blocks = math.ceil(max(len(real), len(fake)) / max_block_size)
    if min(len(real), len(fake)) // n_blocks < 2:
        raise ValueError(
            f"KID: max_block_size={max_block_size} splits {len(real)} real / {len(fake)} fake "
            f"samples into {n_blocks} blocks, leaving fewer than 2 samples of a side per block")
    kid, std = _graph("kid", real.shape[1], int(max_block_size))(real, fake)
    return float(kid), float(std)


def _fd_sat4(real: Any, fake: Any, max_block_size: Optional[int]) -> "FDResult":
    fd = _fd(real, fake)
    kid, kid_std = kernel_distance_from_activations(real, fake, max_block_size)
    return FDResult(fd=fd, kid=kid, kid_std=kid_std, n_real=len(real), n_fake=len(fake),
                    feature_dim=int(real.shape[1]))


def fd_sat4_from_activations(real_activations: Any, fake_activations: Any,
                             max_block_size: Optional[int] = None,
                             warn: bool = True) -> "FDResult":
    """:class:`FDResult` (FD-SAT4, KID and its std) from two activation sets.

    Use it with cached real activations (``feature_net.features(real_images)``) when the same
    real set is compared with many generated sets. ``warn=False``: no ``SmallSampleWarning``,
    for a caller that evaluates at fixed sizes again and again and reports them itself
    (thread-safe, unlike silencing it with ``warnings.catch_warnings``).
    """
    real, fake = check_activations(real_activations, fake_activations, "FD-SAT4")
    if warn:
        _warn_small(len(real), len(fake), real.shape[1], stacklevel=2)
    return _fd_sat4(real, fake, max_block_size)


_DEFAULT_NET: Dict[str, Any] = {}


def default_feature_net() -> Any:
    """The bundled feature network (loaded once per process; threads asking at once keep the
    first stored, ``setdefault`` being atomic)."""
    net = _DEFAULT_NET.get("bundled")
    if net is None:
        from qlsgan_tf.metrics.feature_net import load_feature_net

        net = _DEFAULT_NET.setdefault("bundled", load_feature_net(None))
    return net


def _activations(images: Any, feature_net: Any, name: str) -> np.ndarray:
    net = default_feature_net() if feature_net is None else feature_net
    if not hasattr(net, "features"):
        raise TypeError(
            f"feature_net must expose features(images); got {type(net).__name__}")
    return net.features(as_images(images, input_range="tanh", name=name))


def _embed_pair(real_images: Any, fake_images: Any, feature_net: Any,
                names: Tuple[str, str] = ("real_images", "fake_images")) -> Tuple[Any, Any]:
    """Validated activations of two image sets, warning once about small samples."""
    real = _activations(real_images, feature_net, names[0])
    fake = _activations(fake_images, feature_net, names[1])
    real, fake = check_activations(real, fake)
    _warn_small(len(real), len(fake), real.shape[1], stacklevel=3)
    return real, fake


def frechet_distance(real_images: Any, fake_images: Any, feature_net: Any = None) -> float:
    """FD-SAT4 of two image sets ``[N, 28, 28, 4]`` in [-1, 1] (None: bundled feature net)."""
    return _fd(*_embed_pair(real_images, fake_images, feature_net))


def kernel_distance(real_images: Any, fake_images: Any, feature_net: Any = None,
                    max_block_size: Optional[int] = None) -> Tuple[float, float]:
    """``(kid, kid_std)`` of two image sets ``[N, 28, 28, 4]`` in [-1, 1]."""
    return kernel_distance_from_activations(
        _activations(real_images, feature_net, "real_images"),
        _activations(fake_images, feature_net, "fake_images"), max_block_size)


def fd_sat4(real_images: Any, fake_images: Any, feature_net: Any = None,
            max_block_size: Optional[int] = None) -> "FDResult":
    """FD-SAT4, KID and KID std of generated vs real images, as an :class:`FDResult`.

    >>> res = fd_sat4(real, fake, load_feature_net())          # doctest: +SKIP
    >>> res.fd, res.kid, res.kid_std                           # doctest: +SKIP
    """
    return _fd_sat4(*_embed_pair(real_images, fake_images, feature_net), max_block_size)


def real_floor(train_images: Any, test_images: Any, feature_net: Any = None,
               max_block_size: Optional[int] = None) -> "FDResult":
    """The real-vs-real floor: :func:`fd_sat4` of the train split against the test split.

    Two samples of the same real distribution do not give FD 0 at finite N; a generator's
    FD-SAT4 is only meaningful next to this floor, computed with the same feature network and
    comparable sample sizes (apply the same augmentation to the real sets as in the run).
    """
    real, fake = _embed_pair(train_images, test_images, feature_net,
                             ("train_images", "test_images"))
    return _fd_sat4(real, fake, max_block_size)
