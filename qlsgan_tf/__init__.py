"""qlsgan_tf: latent style-based quantum GANs as TensorFlow/Keras components.

Rooms (imports only point downwards): ``cli`` -> ``study`` -> ``tuning`` -> ``training`` ->
``metrics`` / ``models`` / ``layers`` -> ``data``. Importing the package applies the one
compatibility shim (``qlsgan_tf.compat``) that lets tensorflow-gan 2.1.0 import on
Python 3.11; the rooms themselves are imported lazily so that ``import qlsgan_tf`` is cheap.
"""
from qlsgan_tf import compat as _compat

_compat.apply()

__version__ = "0.1.0"
