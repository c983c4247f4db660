"""Counter-based random streams: noise as a pure function of (seed, counter, element).

A training run's noise and gradient-penalty interpolation weights are drawn from these
streams, so that the same run gives the same numbers whether it is trained alone
(:class:`~qlsgan_tf.training.LatentGAN`) or inside a pack of runs
(:class:`~qlsgan_tf.training.PackedLatentGAN`), where every run has its own seed and all
runs draw in one batched op. Each value is a hash of (seed, counter, element index): the
"lowbias32" integer mixer (Wellons), a bijection on 32 bits, applied in int64 arithmetic.
"""
from typing import Any, Sequence

import tensorflow as tf

_MASK = 0xFFFFFFFF
_M1 = 0x7FEB352D
_M2 = 0x846CA68B
_GOLDEN = 0x9E3779B9


def _mul32(x: tf.Tensor, c: int) -> tf.Tensor:
    """``x * c mod 2**32`` for int64 ``x`` in [0, 2**32) and a 32-bit constant, overflow-free."""
    lo = tf.bitwise.bitwise_and(x, 0xFFFF)
    hi = tf.bitwise.right_shift(x, 16)
    high_part = tf.bitwise.left_shift(tf.bitwise.bitwise_and(hi * (c & 0xFFFF), 0xFFFF), 16)
    return tf.bitwise.bitwise_and(lo * c + high_part, _MASK)


def _mix32(x: tf.Tensor) -> tf.Tensor:
    x = tf.bitwise.bitwise_xor(x, tf.bitwise.right_shift(x, 16))
    x = _mul32(x, _M1)
    x = tf.bitwise.bitwise_xor(x, tf.bitwise.right_shift(x, 15))
    x = _mul32(x, _M2)
    return tf.bitwise.bitwise_xor(x, tf.bitwise.right_shift(x, 16))


def stream_bits(seeds: Any, counter: Any, n: Any) -> tf.Tensor:
    """24 random bits per element, int64 ``[K, n]``, for run seeds ``[K]`` and one counter."""
    seeds = tf.bitwise.bitwise_and(tf.cast(seeds, tf.int64), _MASK)
    counter = tf.bitwise.bitwise_and(tf.cast(counter, tf.int64), _MASK)
    key = _mix32(tf.bitwise.bitwise_and(_mix32(seeds) + _GOLDEN, _MASK))
    key = _mix32(tf.bitwise.bitwise_and(key + counter, _MASK))
    index = tf.range(tf.cast(n, tf.int64), dtype=tf.int64)
    bits = _mix32(tf.bitwise.bitwise_and(key[:, None] + index[None, :], _MASK))
    return tf.bitwise.right_shift(bits, 8)


def stream_uniform(seeds: Any, counter: Any, shape: Sequence[Any]) -> tf.Tensor:
    """Uniform in [0, 1), float32 ``[K, *shape]``: run ``k`` draws from ``(seeds[k], counter)``."""
    shape = [tf.cast(s, tf.int32) for s in shape]
    size = tf.reduce_prod(tf.stack(shape))
    bits = stream_bits(seeds, counter, size)
    values = tf.cast(bits, tf.float32) * (1.0 / (1 << 24))
    return tf.reshape(values, tf.concat([[tf.shape(bits)[0]], tf.stack(shape)], 0))


def stream_noise(seeds: Any, counter: Any, n: Any, dim: Any, kind: str = "uniform"
                 ) -> tf.Tensor:
    """Generator noise ``[K, n, dim]``: uniform in [-1, 1) or standard normal (Box-Muller)."""
    if kind == "uniform":
        return 2.0 * stream_uniform(seeds, counter, [n, dim]) - 1.0
    if kind != "normal":
        raise ValueError(f"kind must be 'uniform' or 'normal', got {kind!r}.")
    pairs = stream_uniform(seeds, counter, [n, dim, 2])
    u1 = 1.0 - pairs[..., 0]  # in (0, 1]: the logarithm stays finite
    radius = tf.sqrt(-2.0 * tf.math.log(u1))
    return radius * tf.cos(6.283185307179586 * pairs[..., 1])


def step_counter(step: Any, draw: Any, n_critic: int) -> tf.Tensor:
    """Counter of draw ``draw`` in generator step ``step``: critic update ``i`` draws noise
    ``2 i`` and penalty weights ``2 i + 1``; the generator update draws ``2 n_critic``."""
    step = tf.cast(step, tf.int64)
    return step * (2 * int(n_critic) + 1) + tf.cast(draw, tf.int64)


# Counters from here on belong to evaluation draws (generated samples), never to training.
EVAL_COUNTER = 1 << 31
