"""Quantum circuits as Keras layers: the style-based quantum generator.

``circuits`` holds the ansätze (pure cirq/numpy); ``style_generator`` the Keras layer on TFQ;
``fast_sim`` an exact TensorFlow-ops simulator the layer uses with ``backend="fast"``.
Importing this package registers :class:`StyleQuantumGenerator` as Keras serializable, so models
containing it load with ``tf.keras.models.load_model``.
"""
from qlsgan_tf.layers import circuits
from qlsgan_tf.layers.style_generator import StyleQuantumGenerator

__all__ = ["StyleQuantumGenerator", "circuits"]
