"""Loading user-supplied Keras models without running code from them.

Keras' ``load_model`` falls back to its legacy HDF5/SavedModel loaders for any file that is
not a ``.keras`` zip, whatever its name, and those loaders rebuild ``Lambda`` layers from
marshalled Python bytecode: opening such a file runs its payload. :func:`load_keras_model`
accepts only the ``.keras`` zip format (checked by content: zip magic, ``config.json`` and
``metadata.json``) and loads it with ``safe_mode=True``, which refuses ``Lambda`` bytecode.
"""
import os
import stat
import zipfile

ZIP_MAGIC = b"PK\x03\x04"
REQUIRED_ENTRIES = ("config.json", "metadata.json")


def check_keras_zip(path):
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
            names = set(archive.namelist())
    except (zipfile.BadZipFile, OSError) as err:
        raise ValueError(f"{path}: corrupt or truncated .keras archive ({err})") from None
    missing = [name for name in REQUIRED_ENTRIES if name not in names]
    if missing:
        raise ValueError(f"{path}: not a Keras .keras model archive (no "
                         f"{', '.join(missing)})")


def load_keras_model(path, expected_type=None, custom_objects=None):
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
    try:
        model = tf.keras.saving.load_model(path, custom_objects=custom_objects, compile=True,
                                           safe_mode=True)
    except (OSError, ValueError, KeyError, TypeError, AttributeError,
            zipfile.BadZipFile) as err:
        raise ValueError(f"{path}: not a readable Keras model ({err})") from None
    if expected_type is not None and not isinstance(model, expected_type):
        names = expected_type.__name__ if isinstance(expected_type, type) else " or ".join(
            t.__name__ for t in expected_type)
        raise ValueError(f"{path} holds a {type(model).__name__}, not a {names}")
    return model
