"""Capacity (trainable parameter count) of dense networks, and widths for a parameter budget.

The capacity study sweeps critics and classical generators over a grid of parameter budgets,
from tens of parameters up to the sibling study's D->512->256->1 critic. These helpers turn a
budget into hidden widths with an exact integer search, so the achieved capacity is the closest
one reachable with the requested shape.

Shape of the hidden widths: with ``depth`` hidden layers and ``taper`` t, the widths are
``w_i = max(min_units, round(base / t**i))`` for i = 0..depth-1, i.e. a fixed width ratio between
consecutive layers (t = 2 gives 512 -> 256, the sibling critic's shape; t = 1 a constant width).
Only ``base`` is searched. Capacity is strictly increasing in ``base`` (the first width is ``base``
itself and the others never shrink), so a bisection finds the two bases around the target and the
closer of the two is the best width with that shape.
"""
import math
from typing import Any, List, Optional, Sequence, Tuple

import numpy as np

from qlsgan_tf.validation import check_finite_float, check_int

__all__ = [
    "mlp_param_count",
    "units_for_capacity",
    "capacity_grid",
    "count_trainable",
    "tapered_widths",
]

DEFAULT_TAPER = 2.0


def mlp_param_count(in_dim: int, hidden_units: Sequence[int], out_dim: int) -> int:
    """Trainable parameters of dense layers with biases: in_dim -> hidden_units... -> out_dim.

    >>> mlp_param_count(10, (512, 256), 1)
    137217
    """
    in_dim = check_int("in_dim", in_dim, 1)
    out_dim = check_int("out_dim", out_dim, 1)
    hidden = tuple(check_int("hidden_units entry", w, 1) for w in hidden_units)
    sizes = (in_dim,) + hidden + (out_dim,)
    return int(sum((a + 1) * b for a, b in zip(sizes[:-1], sizes[1:])))


def tapered_widths(base: float, depth: int, taper: float = DEFAULT_TAPER,
                   min_units: int = 1) -> Tuple[int, ...]:
    """Hidden widths ``max(min_units, round(base / taper**i))`` for i in 0..depth-1."""
    return tuple(max(min_units, int(round(base / taper**i))) for i in range(depth))


def units_for_capacity(target_params: int, in_dim: int, out_dim: int, depth: int,
                       min_units: int = 1, max_units: Optional[int] = None,
                       taper: float = DEFAULT_TAPER) -> Tuple[int, ...]:
    """Hidden widths whose dense-network capacity is as close as possible to ``target_params``.

    Args:
        target_params: the parameter budget (int >= 1).
        in_dim: input dimension of the network.
        out_dim: output dimension (1 for a critic's logit, the latent dimension for a generator).
        depth: number of hidden layers; 0 is the linear model in_dim -> out_dim.
        min_units: smallest hidden width allowed (also the floor of the tapered layers).
        max_units: largest first-layer width allowed (None: unbounded).
        taper: width ratio between consecutive hidden layers (>= 1), see the module docstring.

    Returns:
        A tuple of ``depth`` ints. Ties between two widths go to the smaller network.

    Raises:
        ValueError: the target is below the smallest capacity of that shape (the message gives
            the minimum) or above the largest allowed by ``max_units`` (it gives the maximum).

    >>> units_for_capacity(137217, 10, 1, depth=2)
    (512, 256)
    """
    target = check_int("target_params", target_params, 1)
    in_dim = check_int("in_dim", in_dim, 1)
    out_dim = check_int("out_dim", out_dim, 1)
    depth = check_int("depth", depth, 0)
    min_units = check_int("min_units", min_units, 1)
    if max_units is not None:
        max_units = check_int("max_units", max_units, 1)
        if max_units < min_units:
            raise ValueError(f"max_units ({max_units}) must be >= min_units ({min_units}).")
    taper = check_finite_float("taper", taper, 1.0)

    def count(base):
        return mlp_param_count(in_dim, tapered_widths(base, depth, taper, min_units), out_dim)

    smallest = count(min_units)
    if target < smallest:
        raise ValueError(
            f"target_params={target} is below the minimum capacity {smallest} of a network "
            f"{in_dim} -> {depth} hidden layer(s) of >= {min_units} unit(s) -> {out_dim}; "
            "use a smaller depth or a larger budget.")
    if depth == 0:
        return ()
    if max_units is not None and target > count(max_units):
        raise ValueError(
            f"target_params={target} is above the maximum capacity {count(max_units)} reachable "
            f"with max_units={max_units} at depth {depth}; raise max_units or the depth.")

    return tapered_widths(_closest_base(count, target, min_units, max_units), depth, taper,
                          min_units)


def _closest_base(count, target, min_units, max_units):
    """The first-layer width whose ``count`` is closest to ``target`` (ties: the smaller), by
    bisection: ``lo`` has count <= target, ``hi`` count >= target (doubled while unbounded)."""
    lo = min_units
    hi = max_units if max_units is not None else max(min_units + 1, 2)
    while max_units is None and count(hi) < target:
        lo, hi = hi, hi * 2
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if count(mid) <= target:
            lo = mid
        else:
            hi = mid
    return min((lo, hi), key=lambda b: (abs(count(b) - target), b))


def capacity_grid(min_params: int, max_params: int, n: int) -> List[int]:
    """``n`` distinct integers log-spaced from ``min_params`` to ``max_params`` (both included).

    >>> capacity_grid(10, 1000, 3)
    [10, 100, 1000]
    """
    min_params = check_int("min_params", min_params, 1)
    max_params = check_int("max_params", max_params, 1)
    n = check_int("n", n, 1)
    if max_params < min_params:
        raise ValueError(f"max_params ({max_params}) must be >= min_params ({min_params}).")
    if n == 1:
        if min_params != max_params:
            raise ValueError("n=1 needs min_params == max_params; use n >= 2 for a range.")
        return [min_params]
    grid = sorted({int(round(v)) for v in np.geomspace(min_params, max_params, n)})
    if len(grid) < n:
        raise ValueError(
            f"{n} log-spaced integers between {min_params} and {max_params} are not all "
            f"distinct (only {len(grid)} are); widen the range or lower n.")
    return grid


def count_trainable(model: Any) -> int:
    """Number of trainable scalars of a built Keras layer or model."""
    if not getattr(model, "built", False):
        raise ValueError(
            f"{type(model).__name__} {getattr(model, 'name', '')!r} is not built, so its "
            "capacity is unknown; give its input dimension or call it on data first.")
    return int(sum(math.prod(int(d) for d in w.shape) for w in model.trainable_weights))
