"""The project's one JSON form of non-finite numbers (TensorFlow-free).

JSON has no inf or NaN. Every file this project writes (run records, ``study.json``,
``prepared.json``, ``results.json``, ``metrics.json``) encodes them as the strings ``"inf"``,
``"-inf"`` and ``"nan"``: strict JSON that any reader parses, and that keeps +inf (a run that
blew up), -inf and NaN (nothing measured) apart. ``None`` stays ``null`` and means "no
value" (a run without a score). :func:`decode` restores the strings, and also reads the bare
``NaN``/``Infinity`` tokens that Python's ``json`` writes by default.

>>> dumps({"fd": float("inf"), "score": None})
'{"fd": "inf", "score": null}'
>>> loads('{"fd": "inf", "old": NaN}')
{'fd': inf, 'old': nan}
"""
import json
import math
from typing import Any

NONFINITE = {"inf": math.inf, "-inf": -math.inf, "nan": math.nan}


def encode(obj: Any) -> Any:
    """``obj`` with non-finite floats as strings, tuples as lists, NumPy scalars and arrays
    as Python values (anything with ``tolist``/``item``)."""
    if isinstance(obj, float):
        if math.isfinite(obj):
            return obj
        return "nan" if math.isnan(obj) else ("inf" if obj > 0 else "-inf")
    if isinstance(obj, dict):
        return {k: encode(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [encode(v) for v in obj]
    if isinstance(obj, (str, int, bool)) or obj is None:
        return obj
    if hasattr(obj, "tolist") and callable(obj.tolist):  # numpy arrays and scalars
        return encode(obj.tolist())
    if hasattr(obj, "item") and callable(obj.item):
        return encode(obj.item())
    return obj


def decode(obj: Any) -> Any:
    """Inverse of :func:`encode`: the strings ``"inf"``, ``"-inf"``, ``"nan"`` become floats."""
    if isinstance(obj, str):
        return NONFINITE.get(obj, obj)
    if isinstance(obj, dict):
        return {k: decode(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [decode(v) for v in obj]
    return obj


def dumps(obj: Any, **kwargs: Any) -> str:
    """Strict JSON text of ``obj`` (``allow_nan=False`` after :func:`encode`)."""
    return json.dumps(encode(obj), allow_nan=False, **kwargs)


def loads(text: str | bytes) -> Any:
    """Python value of JSON text written by :func:`dumps` (or with bare NaN/Infinity)."""
    return decode(json.loads(text))
