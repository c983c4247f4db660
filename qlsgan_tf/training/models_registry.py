"""Imports every module that registers a Keras class of this package, so that the model-file
allowlist (``qlsgan_tf.safe_load``) knows them before a file is read."""
import qlsgan_tf.layers  # noqa: F401
import qlsgan_tf.models  # noqa: F401
import qlsgan_tf.training.hybrid  # noqa: F401
import qlsgan_tf.training.latent_gan  # noqa: F401
