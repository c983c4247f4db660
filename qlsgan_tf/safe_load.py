"""Loading user-supplied Keras models without running code from them.

Keras' ``load_model`` falls back to its legacy HDF5/SavedModel loaders for any file that is
not a ``.keras`` zip, whatever its name, and those loaders rebuild ``Lambda`` layers from
marshalled Python bytecode: opening such a file runs its payload. :func:`load_keras_model`
accepts only the ``.keras`` zip format (checked by content: zip magic, ``config.json`` and
``metadata.json``) and loads it with ``safe_mode=True``, which refuses ``Lambda`` bytecode.

Keras 2.15's safe mode does not look at the ``module`` a config names: Keras imports it
before refusing anything, so a ``config.json`` naming any installed module runs that
module's import-time code. So before Keras sees a ``config.json``, every ``module``,
``class_name`` and ``registered_name`` in it is checked against an allowlist (Keras' own
classes and this package's registered ones, :func:`check_config`). The archive's members are
counted and their sizes bounded before anything is extracted (:func:`check_keras_zip`), and
whatever Keras extracts or stages while loading or saving goes to a private directory removed
on every exit (:func:`keras_temp_dir`).
"""
import contextlib
import json
import os
import pathlib
import shutil
import stat
import tempfile
import threading
import zipfile
from typing import Any, Iterator, Mapping, Optional, Union

ZIP_MAGIC = b"PK\x03\x04"
REQUIRED_ENTRIES = ("config.json", "metadata.json")
MAX_MEMBERS = 1000
MAX_CONFIG_BYTES = 16 * 2**20  # config.json and metadata.json
# Uncompressed members may total at most max(MIN_CONTENT_BYTES, CONTENT_RATIO x the file):
# Keras stores members uncompressed, so a model's content is about its file's size, while a
# "zip bomb" (a zero-filled member) is hundreds of times its file.
MIN_CONTENT_BYTES = 64 * 2**20
CONTENT_RATIO = 4
# Keras' serialization markers (not classes).
SPECIAL_CLASS_NAMES = frozenset({"__tuple__", "__numpy__", "__tensor__", "__bytes__",
                                 "__typespec__", "__ellipsis__", "__slice__",
                                 "__passive_serialization__", "function",
                                 "__lambda__"})  # a Lambda's bytecode: safe mode refuses it
REFUSED_CLASS_NAMES: frozenset = frozenset()
KERAS_API_MODULES = ("layers", "models", "optimizers", "optimizers.schedules", "losses",
                     "metrics", "initializers", "regularizers", "constraints", "activations")
_temp_lock = threading.RLock()


def check_keras_zip(path: Union[str, "os.PathLike[str]"]) -> None:
    """Raises ``ValueError`` (naming ``path``) unless it is a regular ``.keras`` zip file."""
    path = os.fspath(path)
    try:
        info = os.stat(path)
    except FileNotFoundError:
        raise FileNotFoundError(f"{path}: no such file") from None
    if not stat.S_ISREG(info.st_mode):
        raise ValueError(f"{path}: not a regular file; expected a Keras .keras model file")
    if not path.endswith(".keras"):
        raise ValueError(f"{path}: not a .keras file; only the Keras v3 .keras format is "
                         "loaded (legacy HDF5 and SavedModel files can run code when opened)")
    try:
        with open(path, "rb") as handle:
            magic = handle.read(len(ZIP_MAGIC))
    except PermissionError:
        raise PermissionError(f"{path}: permission denied (unreadable)") from None
    if magic != ZIP_MAGIC:
        raise ValueError(f"{path}: not a Keras .keras zip archive (legacy HDF5 or another "
                         "format); refusing to load it: such files can run code when opened. "
                         "Re-save the model with model.save('name.keras')")
    try:
        with zipfile.ZipFile(path) as archive:
            infos = archive.infolist()
            names = {member.filename for member in infos}
    except (zipfile.BadZipFile, OSError) as err:
        raise ValueError(f"{path}: corrupt or truncated .keras archive ({err})") from None
    missing = [name for name in REQUIRED_ENTRIES if name not in names]
    if missing:
        raise ValueError(f"{path}: not a Keras .keras model archive (no "
                         f"{', '.join(missing)})")
    _check_members(path, infos, info.st_size)


def _check_members(path, infos, archive_bytes):
    """Member count, names and uncompressed sizes (from the zip's directory; ``zipfile``
    never reads more than a member's declared size) checked before anything is read."""
    if len(infos) > MAX_MEMBERS:
        raise ValueError(f"{path}: {len(infos)} members in the archive (at most {MAX_MEMBERS}); "
                         "not a Keras model file")
    limit = max(MIN_CONTENT_BYTES, CONTENT_RATIO * archive_bytes)
    total = 0
    for member in infos:
        name = member.filename
        if name.startswith(("/", "\\")) or ".." in pathlib.PurePosixPath(name).parts \
                or ":" in name:
            raise ValueError(f"{path}: archive member {name[:80]!r} leads outside the archive")
        if name in REQUIRED_ENTRIES and member.file_size > MAX_CONFIG_BYTES:
            raise ValueError(f"{path}: {name} is {member.file_size} bytes (at most "
                             f"{MAX_CONFIG_BYTES}); not a Keras model file")
        total += member.file_size
    if total > limit:
        raise ValueError(f"{path}: its members hold {total} bytes uncompressed, more than "
                         f"{limit} for a {archive_bytes}-byte file; refusing to extract it")


def _allowed_names():
    """(Keras class names, {module: class names} of this package's registered classes,
    registered names). The package's classes register when their modules are imported: the
    callers (``training.run_dir``, ``training.vae_fit``) import them, so that this top-level
    module imports no room."""
    import tensorflow as tf

    keras_names = {"Sequential", "Functional", "Model"}
    for dotted in KERAS_API_MODULES:
        module = tf.keras
        for part in dotted.split("."):
            module = getattr(module, part)
        keras_names.update(n for n in dir(module) if not n.startswith("_"))
    registered = dict(tf.keras.utils.get_custom_objects())
    ours: dict[str, set[str]] = {}
    for name, obj in registered.items():
        if name.startswith("qlsgan_tf>") and isinstance(obj, type):
            ours.setdefault(obj.__module__, set()).add(obj.__name__)
    return keras_names - REFUSED_CLASS_NAMES, ours, set(registered)


def _keras_module(module):
    return module == "keras" or (module.startswith("keras.") and module.replace(
        ".", "").replace("_", "").isalnum())


def _check_object(obj, allowed, where):
    keras_names, ours, registered = allowed
    module, name = obj.get("module"), obj.get("class_name")
    reg = obj.get("registered_name")
    if not isinstance(name, str) or name in REFUSED_CLASS_NAMES:
        raise ValueError(f"{where}: class {str(name)[:80]!r} is not allowed in a model file")
    if module is not None and not isinstance(module, str):
        raise ValueError(f"{where}: module {str(module)[:80]!r} is not a module name")
    if module in ours:
        ok = name in ours[module] and (reg is None or reg in registered)
    elif module is None or _keras_module(module):
        ok = (name in keras_names or name in SPECIAL_CLASS_NAMES
              or (reg is not None and reg in registered))
        if name == "function":
            ok = module is not None and _keras_module(module) \
                and isinstance(obj.get("config"), str) and not obj["config"].startswith("_")
        if reg is not None and reg not in registered and reg not in keras_names \
                and reg != name and name != "function":
            ok = False
    else:
        ok = False
    if not ok:
        raise ValueError(f"{where}: {str(module)[:80]!r}.{name[:80]!r} is neither one of "
                         "Keras' classes nor one registered by qlsgan_tf; refusing to load a "
                         "model file that names other code")


def check_config(config: Any, where: str = "config.json") -> None:
    """Raises ``ValueError`` unless every object in a Keras ``config.json`` (parsed) names an
    allowed module and class: Keras' own, or registered by this package."""
    allowed = _allowed_names()
    stack = [config]
    while stack:
        obj = stack.pop()
        if isinstance(obj, dict):
            if "class_name" in obj:
                _check_object(obj, allowed, where)
            stack.extend(obj.values())
        elif isinstance(obj, list):
            stack.extend(obj)


def _read_config(path):
    with zipfile.ZipFile(path) as archive, archive.open("config.json") as handle:
        text = handle.read(MAX_CONFIG_BYTES + 1)
    try:
        return json.loads(text)
    except ValueError as err:
        raise ValueError(f"{path}: corrupt config.json ({str(err)[:200]})") from None


@contextlib.contextmanager
def keras_temp_dir(base: Union[str, "os.PathLike[str]", None] = None) -> Iterator[str]:
    """Within the block, the directories Keras' saving code stages files in (assets of a
    ``.keras`` archive, extracted or about to be zipped) are made in a private directory
    under ``base`` (default: the system's), removed on every exit, a failure included."""
    from keras.src.saving import saving_lib

    private = tempfile.mkdtemp(prefix=".keras-", dir=base)

    def get_temp_dir() -> str:
        return tempfile.mkdtemp(dir=private)

    with _temp_lock:
        previous = saving_lib.get_temp_dir
        saving_lib.get_temp_dir = get_temp_dir
        try:
            yield private
        finally:
            saving_lib.get_temp_dir = previous
            shutil.rmtree(private, ignore_errors=True)


def save_keras_model(model: Any, path: Union[str, "os.PathLike[str]"]) -> pathlib.Path:
    """``model.save(path)`` atomically, Keras' staging directory beside ``path`` and removed
    on every exit (a full disk included)."""
    from qlsgan_tf.fsutil import atomic_write_file

    path = pathlib.Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with keras_temp_dir(path.parent):
        return atomic_write_file(path, model.save)


def load_keras_model(path: Union[str, "os.PathLike[str]"],
                     expected_type: Union[type, tuple[type, ...], None] = None,
                     custom_objects: Optional[Mapping[str, Any]] = None) -> Any:
    """Loads a ``.keras`` model file in safe mode; never a legacy HDF5/SavedModel file.

    Args:
      path: the ``.keras`` file.
      expected_type: a class (or tuple of classes) the model must be an instance of.
      custom_objects: passed to Keras' ``load_model``.

    Raises:
      FileNotFoundError: no file at ``path``.
      ValueError: not a ``.keras`` zip, unreadable by Keras (including ``Lambda`` layers,
        refused by safe mode), or not an ``expected_type``; the message names the file.
    """
    import tensorflow as tf  # here: this module stays importable without TensorFlow

    path = os.fspath(path)
    check_keras_zip(path)
    check_config(_read_config(path), where=f"{path}: config.json")
    try:
        with keras_temp_dir():
            model = tf.keras.saving.load_model(path, custom_objects=custom_objects,
                                               compile=True, safe_mode=True)
    except (OSError, ValueError, KeyError, TypeError, AttributeError,
            zipfile.BadZipFile) as err:
        raise ValueError(f"{path}: not a readable Keras model ({_first_line(err)})") from None
    if expected_type is not None and not isinstance(model, expected_type):
        names = expected_type.__name__ if isinstance(expected_type, type) else " or ".join(
            t.__name__ for t in expected_type)
        raise ValueError(f"{path} holds a {type(model).__name__}, not a {names}")
    return model


def _first_line(err, limit=300):
    """The first line of an error's message, at most ``limit`` characters."""
    text = (str(err).strip() or type(err).__name__).splitlines()[0]
    return text if len(text) <= limit else text[:limit] + "..."
