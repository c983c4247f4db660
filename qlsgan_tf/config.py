"""Settings declared once: each field's type, default, bounds, choices and help (TensorFlow-free).

A configuration is a tree of dataclasses; a *setting* is a field made by ``setting(...)``,
which keeps its declaration (a ``Setting``) in the field's metadata, and a field whose type is
a dataclass is a *section* of the tree. Everything else is derived from the declarations:

- ``settings_of(cls)``: the settings of a tree, each with its path and its public name (the
  flag, the JSON key and the name every error message starts with);
- ``check(cls, values)``: every value validated and normalised (types, bounds, choices,
  non-empty and distinct lists), one ``ValueError`` per problem naming the setting;
- ``flatten(obj)`` / ``split(cls, flat)``: a tree as one flat dict of public names (the JSON
  form) and back into the keyword arguments of each section;
- ``cli.settings_flags`` defines the absl flags of a tree from the same declarations.

Adding a setting is one ``setting(...)`` field in the section that reads it
(``docs/architecture.md``, "Adding a setting").
"""
import dataclasses
import typing
from typing import Any, Callable, Dict, Iterator, Optional, Sequence, Tuple

from qlsgan_tf.validation import check_choice, check_finite_float, check_int

ALWAYS, NEVER, IF_CHANGED = "always", "never", "if_changed"
"""How a setting enters a study's fingerprint (``study.presets.StudyConfig.fingerprint``):
always; never (budgets and presentation: how much, not what, is computed); or only when it
differs from its default (a setting added after studies were recorded: they keep theirs)."""


@dataclasses.dataclass(frozen=True)
class Setting:
    """The declaration of one setting (kept in its dataclass field's metadata).

    - ``help``: one sentence for ``--help`` and the docs.
    - ``kind``: the value's type (``int``, ``float``, ``str``, ``bool``), or of a list's
      entries when ``many``; ``None`` for a value the section checks itself.
    - ``minimum``, ``maximum``: inclusive bounds (``exclusive_minimum``: strict lower bound).
    - ``choices``: the allowed values of a ``str`` setting.
    - ``sort``: a list kept sorted (a grid of capacities).
    - ``name``: the public name when it is not the field's; ``flag``: the flag's name when it
      is not the public name (``--score`` sets ``score_metric``).
    - ``cli``: whether the user sets it (one flag); ``fingerprint``: ``ALWAYS``, ``NEVER``
      or ``IF_CHANGED``; ``parse``: how the flag reads a list entry of a composite kind
      (``"3x2"`` -> ``(3, 2)``).
    """

    help: str
    kind: Optional[type] = None
    many: bool = False
    minimum: Optional[float] = None
    maximum: Optional[float] = None
    exclusive_minimum: bool = False
    choices: Optional[Tuple[str, ...]] = None
    sort: bool = False
    name: Optional[str] = None
    flag: Optional[str] = None
    cli: bool = True
    fingerprint: str = ALWAYS
    parse: Optional[Callable[[str], Any]] = None


@dataclasses.dataclass(frozen=True)
class Entry:
    """One setting of a tree: its ``path`` of field names, public ``name``, ``field`` and
    declaration ``spec``."""

    path: Tuple[str, ...]
    name: str
    field: Any
    spec: Setting

    @property
    def default(self) -> Any:
        """The declared default (a list's factory called)."""
        if self.field.default_factory is not dataclasses.MISSING:
            return self.field.default_factory()
        return self.field.default

    @property
    def flag(self) -> str:
        """The flag that sets it (without ``--``)."""
        return self.spec.flag or self.name


def setting(default: Any, help: str, **declaration: Any) -> Any:  # noqa: A002
    """A dataclass field declaring a setting: ``default``, ``help`` and the ``Setting``
    keywords (``minimum=1``, ``maximum=...``, ``choices=(...)``, ``kind=...``).

    The kind is inferred from the default when not given (the entries' kind for a list);
    a list default is stored as a tuple and the field gets a factory."""
    many = isinstance(default, (list, tuple))
    if "kind" not in declaration:
        sample = default[0] if many and default else default
        declaration["kind"] = type(sample) if many or sample is not None else None
    spec = Setting(help=help, many=many, **declaration)
    if spec.fingerprint not in (ALWAYS, NEVER, IF_CHANGED):
        raise ValueError(f"fingerprint must be one of {(ALWAYS, NEVER, IF_CHANGED)}, got "
                         f"{spec.fingerprint!r}")
    metadata = {"setting": spec}
    if many:
        frozen = tuple(default)
        return dataclasses.field(default_factory=lambda: type(default)(frozen),
                                 metadata=metadata)
    return dataclasses.field(default=default, metadata=metadata)


def _section_type(cls: type, field: Any) -> Optional[type]:
    hint = typing.get_type_hints(cls).get(field.name)
    return hint if isinstance(hint, type) and dataclasses.is_dataclass(hint) else None


def settings_of(cls: type, path: Tuple[str, ...] = ()) -> Iterator[Entry]:
    """Every setting of the tree rooted at the dataclass ``cls``, depth first in
    declaration order."""
    for field in dataclasses.fields(cls):
        section = _section_type(cls, field)
        if section is not None:
            yield from settings_of(section, path + (field.name,))
        elif "setting" in field.metadata:
            spec = field.metadata["setting"]
            yield Entry(path + (field.name,), spec.name or field.name, field, spec)


def entries_by_name(cls: type) -> Dict[str, Entry]:
    """``{public name: Entry}`` of a tree (a repeated name is a declaration error)."""
    out: Dict[str, Entry] = {}
    for entry in settings_of(cls):
        if entry.name in out:
            raise TypeError(f"{cls.__name__}: two settings named {entry.name!r}")
        out[entry.name] = entry
    return out


def _check_one(name: str, value: Any, spec: Setting) -> Any:
    """One value (a scalar, or a list's entry) against its declaration."""
    if spec.kind is bool:
        if not isinstance(value, bool):
            raise ValueError(f"{name} must be true or false, got {value!r}")
        return value
    if spec.kind is int:
        if spec.many:  # an entry: one message with both bounds
            return check_int(name, value, _int(spec.minimum), _int(spec.maximum))
        # the upper bound first (before anything is sized by it), then the lower one
        value = check_int(name, value, None, _int(spec.maximum))
        return check_int(name, value, _int(spec.minimum), None)
    if spec.kind is float:
        return check_finite_float(name, value, spec.minimum, spec.maximum,
                                  exclusive_minimum=spec.exclusive_minimum)
    if spec.kind is str:
        if spec.choices is not None:
            return check_choice(name, value, spec.choices)
        if not isinstance(value, str) or not value:
            raise ValueError(f"{name} must be a non-empty string, got {value!r}")
    return value


def _int(bound: Optional[float]) -> Optional[int]:
    return None if bound is None else int(bound)


def check_value(entry: Entry, value: Any) -> Any:
    """``value`` of ``entry`` validated and normalised (lists as lists, sorted if declared)."""
    name, spec = entry.name, entry.spec
    if not spec.many:
        return _check_one(name, value, spec)
    if not isinstance(value, (list, tuple)):
        raise ValueError(f"{name} must be a list, got {value!r}")
    if not value:
        raise ValueError(f"{name} is empty")
    values = [_check_one(f"{name} entry", v, spec) for v in value]
    # entries of a composite kind (spec.kind None) are the section's to check
    if spec.kind is not None and len(set(values)) != len(values):
        raise ValueError(f"{name} has repeated values: {list(value)}")
    return sorted(values) if spec.sort else values


def check(cls: type, values: Dict[str, Any]) -> Dict[str, Any]:
    """``values`` (field name -> value, the settings of the section ``cls`` only) checked
    in declaration order; returns the normalised values."""
    out = dict(values)
    for field in dataclasses.fields(cls):
        if "setting" in field.metadata and field.name in out:
            spec = field.metadata["setting"]
            entry = Entry((field.name,), spec.name or field.name, field, spec)
            out[field.name] = check_value(entry, out[field.name])
    return out


def jsonable(value: Any) -> Any:
    """Tuples as lists, recursively (the JSON form)."""
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    return value


def get(obj: Any, path: Sequence[str]) -> Any:
    """The value at ``path`` of a tree."""
    for name in path:
        obj = getattr(obj, name)
    return obj


def flatten(obj: Any) -> Dict[str, Any]:
    """``{public name: value}`` of every setting of the tree ``obj``, JSON-ready."""
    return {entry.name: jsonable(get(obj, entry.path)) for entry in settings_of(type(obj))}


def split(cls: type, flat: Dict[str, Any]) -> Tuple[Dict[str, Any], Dict[str, Dict[str, Any]]]:
    """A flat ``{public name: value}`` as (the root's field values, {section field: its field
    values}); ``ValueError`` naming the settings the tree does not have."""
    entries = entries_by_name(cls)
    unknown = sorted(set(flat) - set(entries))
    if unknown:
        raise ValueError(f"unknown study settings: {', '.join(unknown)}")
    root: Dict[str, Any] = {}
    sections: Dict[str, Dict[str, Any]] = {}
    for name, value in flat.items():
        path = entries[name].path
        if len(path) == 1:
            root[path[0]] = value
        elif len(path) == 2:
            sections.setdefault(path[0], {})[path[1]] = value
        else:  # pragma: no cover - the trees are two levels deep
            raise TypeError(f"setting {name}: sections nest one level, got {'.'.join(path)}")
    return root, sections


def defaults(cls: type) -> Dict[str, Any]:
    """``{public name: default}`` of a tree, JSON-ready."""
    return {entry.name: jsonable(entry.default) for entry in settings_of(cls)}


def fingerprinted(cls: type, flat: Dict[str, Any]) -> Dict[str, Any]:
    """The part of a flat form that identifies results (``Setting.fingerprint``)."""
    entries = entries_by_name(cls)
    out = {}
    for name, value in flat.items():
        mode = entries[name].spec.fingerprint
        if mode == ALWAYS or (mode == IF_CHANGED and value != jsonable(entries[name].default)):
            out[name] = value
    return out

