"""Classical dense generator and critic with a capacity knob (their hidden widths).

The classical baseline generator maps noise to VAE latents; the critic scores latents with one
linear logit (WGAN-GP critic, or the logit of a non-saturating GAN). Hidden widths usually come
from :func:`qlsgan_tf.models.units_for_capacity` so that a capacity grid can be swept.
"""
import numbers
from typing import Any, Dict, Optional, Sequence

import tensorflow as tf

from qlsgan_tf.compat import renamed_noise_dim
from qlsgan_tf.models.capacity import count_trainable
from qlsgan_tf.validation import check_int, check_probability

__all__ = ["MLPGenerator", "MLPCritic"]


def _ingest_units(hidden_units, allow_empty=True):
    if isinstance(hidden_units, numbers.Integral) and not isinstance(hidden_units, bool):
        hidden_units = (hidden_units,)
    try:
        units = tuple(hidden_units)
    except TypeError:
        raise TypeError(
            f"hidden_units must be a sequence of positive ints, got {hidden_units!r}.") from None
    for w in units:
        check_int("hidden_units entry", w, 1)
    if not units and not allow_empty:
        raise ValueError("hidden_units must not be empty.")
    return tuple(int(w) for w in units)


def _ingest_dim(name, value, allow_none=False):
    if value is None and allow_none:
        return None
    return check_int(name, value, 1)


def _ingest_activation(name, value):
    try:
        tf.keras.activations.get(value)
    except (ValueError, TypeError):
        raise ValueError(f"{name} is not a Keras activation: {value!r}.") from None
    if not (value is None or isinstance(value, str)):
        raise TypeError(f"{name} must be an activation name (str) or None, got {value!r}.")
    return value


class _DenseStack(tf.keras.Model):
    """Shared body: hidden Dense layers (+ optional dropout) and one output Dense layer."""

    def __init__(self, hidden_units: Sequence[int], out_units: int, input_dim: Optional[int],
                 activation: Any, output_activation: Any, dropout: float,
                 **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.hidden_units = hidden_units
        self.activation = activation
        self.hidden_layers = []
        for i, width in enumerate(hidden_units):
            self.hidden_layers.append(
                tf.keras.layers.Dense(width, activation=activation, name=f"hidden_{i}"))
            if dropout > 0:
                self.hidden_layers.append(
                    tf.keras.layers.Dropout(dropout, name=f"dropout_{i}"))
        self.output_layer = tf.keras.layers.Dense(
            out_units, activation=output_activation, name="output")
        self._input_dim = input_dim
        if input_dim is not None:
            self.build((None, input_dim))

    def build(self, input_shape: Any) -> None:
        input_shape = tf.TensorShape(input_shape)
        if input_shape.rank != 2 or input_shape[-1] is None:
            raise ValueError(
                f"{type(self).__name__} expects inputs [batch, features], got {input_shape}.")
        if self._input_dim is not None and input_shape[-1] != self._input_dim:
            raise ValueError(
                f"{type(self).__name__} was made for {self._input_dim} input features, got "
                f"input shape {input_shape}.")
        self._input_dim = int(input_shape[-1])
        super().build(input_shape)

    def call(self, inputs: Any, training: Optional[bool] = None) -> tf.Tensor:
        x = tf.convert_to_tensor(inputs)
        if not x.dtype.is_floating:
            raise TypeError(f"{type(self).__name__} expects float inputs, got {x.dtype.name}.")
        if x.shape.rank != 2 or x.shape[-1] != self._input_dim:
            raise ValueError(
                f"{type(self).__name__} expects inputs [batch, {self._input_dim}], "
                f"got shape {x.shape}.")
        for layer in self.hidden_layers:
            x = layer(x, training=training)
        return self.output_layer(x)

    @property
    def input_dim(self) -> Optional[int]:
        """Number of input features (None until built)."""
        return self._input_dim

    @property
    def capacity(self) -> int:
        """Number of trainable parameters (the model must be built)."""
        return count_trainable(self)


@tf.keras.utils.register_keras_serializable(package="qlsgan_tf")
class MLPGenerator(_DenseStack):
    """Dense generator: noise ``[batch, noise_dim]`` -> latents ``[batch, output_dim]``.

    Args:
        output_dim: number of generated values (the VAE latent dimension).
        hidden_units: hidden widths; ``()`` gives a single affine map.
        noise_dim: noise dimension; None builds lazily on the first call.
        activation: hidden activation (Keras name).
        output_activation: output activation; ``"tanh"`` matches the bounded VAE latent
            (the quantum generator's output range [-1, 1]).

    >>> gen = MLPGenerator(10, hidden_units=(64,), noise_dim=10)
    >>> gen.capacity
    1354
    """

    def __init__(self, output_dim: int, hidden_units: Sequence[int] = (64,),
                 noise_dim: Optional[int] = None, activation: Any = "leaky_relu",
                 output_activation: Any = "tanh", **kwargs: Any) -> None:
        output_dim = _ingest_dim("output_dim", output_dim)
        hidden_units = _ingest_units(hidden_units)
        noise_dim = _ingest_dim("noise_dim", noise_dim, allow_none=True)
        activation = _ingest_activation("activation", activation)
        output_activation = _ingest_activation("output_activation", output_activation)
        self.output_dim = output_dim
        self.output_activation = output_activation
        super().__init__(hidden_units, output_dim, noise_dim, activation, output_activation,
                         0.0, **kwargs)

    @property
    def noise_dim(self) -> Optional[int]:
        """Noise dimension (None until built)."""
        return self._input_dim

    def get_config(self) -> Dict[str, Any]:
        return {
            "name": self.name,
            "output_dim": self.output_dim,
            "hidden_units": list(self.hidden_units),
            "noise_dim": self._input_dim,
            "activation": self.activation,
            "output_activation": self.output_activation,
        }

    @classmethod
    def from_config(cls, config: Dict[str, Any]) -> Any:
        return cls(**renamed_noise_dim(config))


@tf.keras.utils.register_keras_serializable(package="qlsgan_tf")
class MLPCritic(_DenseStack):
    """Dense critic: ``[batch, input_dim]`` -> one linear logit ``[batch, 1]``.

    Args:
        hidden_units: hidden widths; the sibling study's critic is ``(512, 256)``; ``()`` gives
            a linear critic.
        activation: hidden activation (Keras name).
        dropout: dropout rate after each hidden layer, in [0, 1).
        input_dim: number of input features; None builds lazily on the first call.

    >>> MLPCritic((512, 256), input_dim=10).capacity
    137217
    """

    def __init__(self, hidden_units: Sequence[int] = (512, 256), activation: Any = "leaky_relu",
                 dropout: float = 0.0, input_dim: Optional[int] = None, **kwargs: Any) -> None:
        hidden_units = _ingest_units(hidden_units)
        activation = _ingest_activation("activation", activation)
        self.dropout = check_probability("dropout", dropout, open_high=True)
        input_dim = _ingest_dim("input_dim", input_dim, allow_none=True)
        super().__init__(hidden_units, 1, input_dim, activation, None, self.dropout, **kwargs)

    def get_config(self) -> Dict[str, Any]:
        return {
            "name": self.name,
            "hidden_units": list(self.hidden_units),
            "activation": self.activation,
            "dropout": self.dropout,
            "input_dim": self._input_dim,
        }

    @classmethod
    def from_config(cls, config: Dict[str, Any]) -> Any:
        return cls(**config)
