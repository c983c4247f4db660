"""Argument checks shared by the whole package (TensorFlow-free).

One contract, in the style of TFQ's ``PQC``: a value of the wrong type raises
:class:`ArgumentTypeError` (a ``TypeError``, and a ``ValueError`` too, so that callers that
catch invalid arguments as ``ValueError`` see both kinds), a value of the right type outside its
domain raises ``ValueError``; every message starts with the argument's name and ends with the
value given (``"n_qubits must be an int >= 2, got 1."``).
Every check returns the value in its canonical Python type (``int``, ``float``), so that NumPy
scalars are accepted and never stored.
"""
import math
import numbers
from typing import TYPE_CHECKING, Any, Collection, Optional, TypeVar

if TYPE_CHECKING:  # numpy is imported lazily at run time
    import numpy as np

T = TypeVar("T")


class ArgumentTypeError(TypeError, ValueError):
    """An argument of the wrong type (a ``TypeError`` that is also a ``ValueError``)."""


def check_int(name: str, value: Any, minimum: Optional[int] = None,
              maximum: Optional[int] = None) -> int:
    """``value`` as an ``int`` (``bool`` is not an int here), within ``[minimum, maximum]``."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise ArgumentTypeError(f"{name} must be {_int_kind(minimum, maximum)}, got {value!r}.")
    value = int(value)
    if (minimum is not None and value < minimum) or (maximum is not None and value > maximum):
        raise ValueError(f"{name} must be {_int_kind(minimum, maximum)}, got {value}.")
    return value


def check_optional_int(name: str, value: Any, minimum: Optional[int] = None) -> Optional[int]:
    """``None`` or :func:`check_int`."""
    return None if value is None else check_int(name, value, minimum)


def check_finite_float(name: str, value: Any, minimum: Optional[float] = None,
                       maximum: Optional[float] = None, *, exclusive_minimum: bool = False
                       ) -> float:
    """``value`` (any real number but ``bool``) as a finite ``float`` within the bounds.

    ``exclusive_minimum`` makes the lower bound strict (``> minimum``).
    """
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise ArgumentTypeError(f"{name} must be a number, got {value!r}.")
    value = float(value)
    low_ok = minimum is None or (value > minimum if exclusive_minimum else value >= minimum)
    if not math.isfinite(value) or not low_ok or (maximum is not None and value > maximum):
        low = "" if minimum is None else (f" > {minimum}" if exclusive_minimum
                                          else f" >= {minimum}")
        high = "" if maximum is None else f" <= {maximum}"
        joint = " and" if low and high else ""
        raise ValueError(f"{name} must be a finite number{low}{joint}{high}, got {value!r}.")
    return value


def check_probability(name: str, value: Any, *, open_low: bool = False,
                      open_high: bool = False) -> float:
    """``value`` as a ``float`` in ``[0, 1]`` (ends excluded with ``open_low``/``open_high``)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise ArgumentTypeError(f"{name} must be a number in {_interval(open_low, open_high)}, "
                        f"got {value!r}.")
    value = float(value)
    if not (0.0 < value if open_low else 0.0 <= value) or not (
            value < 1.0 if open_high else value <= 1.0):
        raise ValueError(f"{name} must be a number in {_interval(open_low, open_high)}, "
                         f"got {value!r}.")
    return value


def check_choice(name: str, value: T, choices: Collection[Any]) -> T:
    """``value`` if it is one of ``choices``, else ``ValueError`` listing them."""
    try:
        known = value in choices
    except TypeError:  # an unhashable value asked of a set or dict
        known = False
    if not known:
        raise ValueError(f"{name} must be one of {tuple(choices)}, got {value!r}.")
    return value


def _int_kind(minimum: Optional[int], maximum: Optional[int]) -> str:
    if minimum is not None and maximum is not None:
        return f"an int in [{minimum}, {maximum}]"
    if minimum == 1:
        return "a positive int"
    if minimum == 0:
        return "a non-negative int"
    if minimum is not None:
        return f"an int >= {minimum}"
    return "an int" if maximum is None else f"an int <= {maximum}"


def _interval(open_low: bool, open_high: bool) -> str:
    return f"{'(' if open_low else '['}0, 1{')' if open_high else ']'}"


def check_samples(name: str, value: Any, *, where: str, max_dim: Optional[int] = None
                  ) -> "np.ndarray":
    """A sample set ``[N, d]`` (activations, latents) as a float64 NumPy array.

    At least 2 finite samples of ``1..max_dim`` (any, when ``None``) dimensions; messages start
    with ``"{where}: {name}"``, e.g. ``"FD-SAT4: real activations"``.
    """
    import numpy as np  # deferred: the scalar checks above stay import-free

    prefix = f"{where}: {name}"
    arr = np.asarray(value)
    if not (np.issubdtype(arr.dtype, np.floating) or np.issubdtype(arr.dtype, np.integer)):
        raise ArgumentTypeError(f"{prefix} must be numeric; got dtype {arr.dtype}")
    if arr.ndim != 2:
        raise ValueError(f"{prefix} must have shape [N, d]; got shape {arr.shape}")
    if arr.shape[0] < 2:
        raise ValueError(f"{prefix} has {arr.shape[0]} sample(s); at least 2 are needed")
    dim = arr.shape[1]
    if dim < 1 or (max_dim is not None and dim > max_dim):
        expected = "at least 1" if max_dim is None else f"1 to {max_dim}"
        raise ValueError(f"{prefix} has dimension {dim}; expected {expected}")
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{prefix} contain NaN or inf values")
    return arr.astype(np.float64)
