"""absl flags generated from a configuration tree (``qlsgan_tf.config``): one flag per setting.

``define(cls, module_name, ...)`` defines a flag for every user-settable setting of the tree
``cls`` (its ``Setting``: kind, choices and help; lists as comma-separated flags) and returns
their ``Entry`` records; ``given(entries)`` reads back the values the user gave, as the
settings' own types; ``flag_error(err, entries)`` turns a setting's ``ValueError`` into a usage
error naming the flag. Bounds are the tree's to check (one message style for the flags, the
Python API and ``study.json``), unless a command asks absl to enforce them (``bounds=True``:
a command that builds no configuration tree).
"""
from typing import Any, Callable, Dict, Iterable, List, Optional

from absl import flags

from qlsgan_tf import config as config_lib
from qlsgan_tf.cli.common import UsageError

FLAGS = flags.FLAGS


def describe(value: Any) -> str:
    """A setting's value as its flag writes it (lists comma-separated, pairs as NxL)."""
    if isinstance(value, (list, tuple)):
        if value and isinstance(value[0], (list, tuple)):
            return ",".join("x".join(str(v) for v in pair) for pair in value)
        return ",".join(describe(v) for v in value)
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def define(cls: type, module_name: str, *, names: Optional[Iterable[str]] = None,
           defaults: Optional[Dict[str, Any]] = None,
           default_text: Optional[Callable[[config_lib.Entry], str]] = None,
           bounds: bool = False) -> List[config_lib.Entry]:
    """Defines the flags of the settings of ``cls`` (only ``names`` when given).

    ``defaults``: flag defaults by setting name (others default to None: "not given");
    ``default_text(entry)``: what ``--help`` says the default is (the flag's default when
    not given); ``bounds``: absl enforces the declared bounds.
    """
    wanted = None if names is None else set(names)
    entries = [e for e in config_lib.settings_of(cls)
               if e.spec.cli and (wanted is None or e.name in wanted)]
    missing = sorted((wanted or set()) - {e.name for e in entries})
    if missing:
        raise TypeError(f"{cls.__name__} has no user-settable settings {missing}")
    defaults = defaults or {}
    for entry in entries:
        default = defaults.get(entry.name)
        shown = default_text(entry) if default_text else describe(default)
        help_text = f"{entry.spec.help} (default: {shown})" if default_text else entry.spec.help
        _define_one(entry, default, help_text, module_name, bounds)
    return entries


def _define_one(entry: config_lib.Entry, default: Any, help_text: str, module_name: str,
                bounds: bool) -> None:
    spec, flag = entry.spec, entry.flag
    common: Dict[str, Any] = dict(flag_values=FLAGS, module_name=module_name)
    limits: Dict[str, Any] = {}
    if bounds:
        limits = dict(lower_bound=spec.minimum, upper_bound=spec.maximum)
    if spec.many:
        flags.DEFINE_list(flag, None if default is None else [describe(v) for v in default],
                          help_text, **common)
    elif spec.kind is bool:
        flags.DEFINE_boolean(flag, default, help_text, **common)
    elif spec.kind is int:
        flags.DEFINE_integer(flag, default, help_text, **limits, **common)
    elif spec.kind is float:
        flags.DEFINE_float(flag, default, help_text, **limits, **common)
    elif spec.choices is not None:
        flags.DEFINE_enum(flag, default, list(spec.choices), help_text, **common)
    else:
        flags.DEFINE_string(flag, default, help_text, **common)


def _entry_value(entry: config_lib.Entry, text: str) -> Any:
    spec = entry.spec
    if spec.parse is not None:
        return spec.parse(text)
    return spec.kind(text) if spec.kind in (int, float) else text


def _parse_list(entry: config_lib.Entry, texts: List[str]) -> List[Any]:
    try:
        return [_entry_value(entry, t) for t in texts]
    except ValueError as err:
        kind = {int: "integers", float: "numbers"}.get(entry.spec.kind or str)
        if kind is None:  # a composite entry: its parser's message says what it takes
            raise UsageError(f"--{entry.flag}: {err}") from None
        raise UsageError(f"--{entry.flag} takes {kind} separated by commas; got "
                         f"{','.join(texts)}") from None


def given(entries: Iterable[config_lib.Entry]) -> Dict[str, Any]:
    """``{setting name: value}`` of the flags the user gave (a flag left at None is not
    given), lists parsed into their entries' kind."""
    out = {}
    for entry in entries:
        value = getattr(FLAGS, entry.flag)
        if value is None:
            continue
        out[entry.name] = _parse_list(entry, value) if entry.spec.many else value
    return out


def flag_error(err: Exception, entries: Iterable[config_lib.Entry]) -> UsageError:
    """A setting's ``ValueError`` as a usage error naming the flag that sets it (every
    setting's message starts with the setting's name)."""
    message = str(err)
    for entry in sorted(entries, key=lambda e: len(e.name), reverse=True):
        rest = message[len(entry.name):len(entry.name) + 1]
        if message.startswith(entry.name) and not (rest.isalnum() or rest == "_"):
            return UsageError(f"--{entry.flag}: {message}")
    return UsageError(message)
