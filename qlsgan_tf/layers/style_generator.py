"""The style-based quantum generator as a serializable Keras layer on TensorFlow Quantum.

Every rotation angle of the circuit is an affine function of the input noise (the "style" map of
Bravo-Prieto et al. 2021): ``theta_g = style_scale[g] * z[:, g mod noise_dim] + style_bias[g]``
for gate index ``g`` in circuit order; the output is a vector of qubit expectation values. The
circuits themselves live in :mod:`qlsgan_tf.layers.circuits`.
"""
from __future__ import annotations

from typing import Any, Callable, Dict, List, Optional, Union

import cirq
import numpy as np
import tensorflow as tf
import tensorflow_quantum as tfq
from tensorflow_quantum.core.serialize import serializer

from qlsgan_tf.compat import renamed_noise_dim
from qlsgan_tf.constants import BACKENDS, Ansatz
from qlsgan_tf.layers import circuits, fast_sim
from qlsgan_tf.validation import check_choice, check_int, check_probability

# Differentiators that can be rebuilt from a config (name -> class, config attributes).
_DIFFERENTIATORS = {
    "adjoint": (tfq.differentiators.Adjoint, ()),
    "parameter_shift": (tfq.differentiators.ParameterShift, ()),
    "forward_difference": (tfq.differentiators.ForwardDifference,
                           ("error_order", "grid_spacing")),
    "central_difference": (tfq.differentiators.CentralDifference,
                           ("error_order", "grid_spacing")),
}


def _default_initializer():
    """Uniform in [-0.15, 0.15]; a fresh instance per weight (Keras 2.15 reuses the values of
    an unseeded initializer instance that is called twice)."""
    return tf.keras.initializers.RandomUniform(minval=-0.15, maxval=0.15)


def _ingest_differentiator(differentiator):
    """Return a serializable spec ``{"class_name", "config"}`` or None, plus a custom instance.

    Known differentiators are stored as a spec and a fresh instance is built for the layer's op
    (TFQ allows one op per differentiator instance); unknown subclasses are used as given.
    """
    if differentiator is None:
        return None, None
    if isinstance(differentiator, str):
        if differentiator not in _DIFFERENTIATORS:
            raise ValueError(f"differentiator must be one of {tuple(_DIFFERENTIATORS)} or a "
                             f"tfq.differentiators.Differentiator, got {differentiator!r}.")
        return {"class_name": differentiator, "config": {}}, None
    if isinstance(differentiator, dict):
        name = differentiator.get("class_name")
        if name not in _DIFFERENTIATORS:
            raise ValueError(f"differentiator config names an unknown differentiator: "
                             f"{differentiator!r}.")
        return {"class_name": name, "config": dict(differentiator.get("config", {}))}, None
    if not isinstance(differentiator, tfq.differentiators.Differentiator):
        raise TypeError("differentiator must be a tfq.differentiators.Differentiator, a name "
                        f"in {tuple(_DIFFERENTIATORS)} or None, got {differentiator!r}.")
    for name, (cls, attrs) in _DIFFERENTIATORS.items():
        if type(differentiator) is cls:  # noqa: E721 - exact class, subclasses may add state
            return {"class_name": name,
                    "config": {a: getattr(differentiator, a) for a in attrs}}, None
    return None, differentiator


class TFQExecutor:
    """Expectation values of a symbolic circuit with TFQ's differentiable ops.

    Args:
        circuit: the symbolic ``cirq.Circuit`` to simulate (with noise channels if ``noisy``).
        operators: the readout observables, one output column each.
        symbols: the circuit's symbols, in the order of the angles' columns.
        differentiator: the ``tfq.differentiators.Differentiator`` whose op this executor uses
            (TFQ allows one op per instance).
        repetitions: shots per expectation, or Monte-Carlo trajectories when ``noisy``;
            ``None`` for analytic expectations.
        noisy: simulate with TFQ's noisy (trajectory) expectation op.

    Calling it maps angles ``[batch, len(symbols)]`` to ``[batch, len(operators)]``.
    """

    def __init__(self, circuit: cirq.Circuit, operators: List[cirq.PauliString],
                 symbols: List[Any], differentiator: Any, repetitions: Optional[int] = None,
                 noisy: bool = False) -> None:
        # Serialized with TFQ's serializer in plain Python (not tfq.convert_to_tensor +
        # .numpy()), so that the layer also builds inside graphs: TF-GAN's estimator.
        self._circuit_proto = np.array(
            [serializer.serialize_circuit(circuit).SerializeToString()], dtype=object)
        self._operator_proto = np.array(
            [[serializer.serialize_paulisum(op).SerializeToString() for op in operators]],
            dtype=object)
        self._symbol_names = np.array([str(s) for s in symbols])
        self.repetitions = repetitions
        # The differentiable TFQ ops are used directly rather than through
        # tfq.layers.Expectation: that layer's call() has a Keras initializer as a default
        # argument, which SavedModel cannot encode, so a model holding it cannot be saved.
        if noisy:
            self._op = differentiator.generate_differentiable_op(sampled_op=tfq.noise.expectation)
        elif repetitions is not None:
            self._op = differentiator.generate_differentiable_op(
                sampled_op=tfq.get_sampled_expectation_op())
        else:
            self._op = differentiator.generate_differentiable_op(
                analytic_op=tfq.get_expectation_op())

    def __call__(self, angles: tf.Tensor) -> tf.Tensor:
        batch = tf.shape(angles)[0]
        programs = tf.tile(tf.constant(self._circuit_proto), [batch])
        operators = tf.tile(tf.constant(self._operator_proto), [batch, 1])
        args = [programs, tf.constant(self._symbol_names), angles, operators]
        if self.repetitions is not None:  # shots, or noisy trajectories
            args.append(tf.fill(tf.shape(operators), tf.constant(self.repetitions)))
        return self._op(*args)


class FastExecutor:
    """Exact noiseless expectation values with :func:`fast_sim.style_expectations`."""

    def __init__(self, n_qubits: int, n_layers: int, ansatz: str, readout: str) -> None:
        self.n_qubits, self.n_layers = n_qubits, n_layers
        self.ansatz, self.readout = ansatz, readout

    def __call__(self, angles: tf.Tensor) -> tf.Tensor:
        return fast_sim.style_expectations(angles, self.n_qubits, self.n_layers, self.ansatz,
                                           self.readout)


@tf.keras.utils.register_keras_serializable(package="qlsgan_tf")
class StyleQuantumGenerator(tf.keras.layers.Layer):
    """Style-based quantum generator: noise ``z`` -> qubit expectation values.

    Each of the ``n_angles`` rotation angles of the ansatz (see :mod:`circuits`) is
    ``theta_g = style_scale[g] * z[:, g mod noise_dim] + style_bias[g]``, computed as one batched
    tensor op; TFQ's expectation ops then simulate one resolved circuit per batch row.

    Args:
        n_qubits: number of qubits ``n >= 2``.
        n_layers: number of layers ``L >= 1``.
        noise_dim: length of the noise vector; defaults to ``n_qubits``.
        ansatz: a name of the registry ``constants.ANSATZE`` (or its registered ``Ansatz``,
            kept by name in ``get_config``): ``"bel"`` (RY RZ RY RZ per qubit + CRY ring per
            layer, final RY layer; ``n (5L+1)`` angles) or ``"simple"`` (RY per qubit + CZ ring
            per layer; ``n L``).
        readout: ``"z"`` -> ``<Z_q>``; ``"xz"`` -> ``<Z_0..Z_{n-1}>`` then ``<X_0..X_{n-1}>``.
        differentiator: a ``tfq.differentiators.Differentiator``, one of the names
            ``"adjoint"``, ``"parameter_shift"``, ``"forward_difference"``,
            ``"central_difference"``, or None: ``Adjoint`` for analytic expectations,
            ``ParameterShift`` with ``repetitions`` or ``noise``.
        repetitions: if given, without ``noise``: number of measurement shots per expectation
            (TFQ's sampled expectation op); with ``noise``: number of Monte-Carlo
            trajectories of TFQ's noisy simulator (required there).
        noise: depolarizing probability ``p``; a single-qubit ``cirq.depolarize(p)`` follows every
            gate on each qubit it acts on, simulated by TFQ's noisy (trajectory) expectation op.
        backend: ``"tfq"`` (TensorFlow Quantum) or ``"fast"`` (the exact TensorFlow-ops
            simulator of :mod:`qlsgan_tf.layers.fast_sim`; no shots, no noise).
        qubit_type: ``"grid"`` (``cirq.GridQubit(0, q)``) or ``"line"`` (``cirq.LineQubit(q)``).
        scale_initializer, bias_initializer: initializers of ``style_scale`` and ``style_bias``;
            default uniform in ``[-0.15, 0.15]``.

    Input shape: ``[batch, noise_dim]``, floating point.
    Output shape: ``[batch, n_qubits]`` (``"z"``) or ``[batch, 2 * n_qubits]`` (``"xz"``),
    float32, in ``[-1, 1]``.

    >>> layer = StyleQuantumGenerator(n_qubits=3, n_layers=2, readout="xz")
    >>> layer(tf.zeros([4, 3])).shape
    TensorShape([4, 6])
    >>> layer.capacity
    66
    """

    def __init__(self, n_qubits: int, n_layers: int, noise_dim: Optional[int] = None,
                 ansatz: Union[str, Ansatz] = "bel", readout: str = "z",
                 differentiator: Any = None, repetitions: Optional[int] = None,
                 noise: Optional[float] = None, backend: str = "tfq", qubit_type: str = "grid",
                 scale_initializer: Any = None, bias_initializer: Any = None,
                 **kwargs: Any) -> None:
        super().__init__(**kwargs)

        # Ingest circuit size and structure.
        self.n_qubits, self.n_layers = circuits.check_size(n_qubits, n_layers)
        self.noise_dim = check_int("noise_dim", self.n_qubits if noise_dim is None
                                    else noise_dim, 1)
        self.ansatz = circuits.check_ansatz(ansatz)
        self.readout = circuits.check_readout(readout)
        self.qubit_type = check_choice("qubit_type", qubit_type, circuits.QUBIT_TYPES)
        self.backend = check_choice("backend", backend, BACKENDS)

        # Ingest repetitions (shots, or noise trajectories) and noise.
        self.repetitions = None if repetitions is None else check_int("repetitions",
                                                                      repetitions, 1)
        if noise is not None:
            noise = check_probability("noise", noise)
            if repetitions is None:
                raise ValueError("noise requires repetitions: TFQ's noisy simulator averages "
                                 "`repetitions` Monte-Carlo trajectories (e.g. "
                                 "repetitions=1000).")
        self.noise = noise

        # Ingest differentiator.
        self._differentiator_spec, self._custom_differentiator = _ingest_differentiator(
            differentiator)
        if backend == "fast":
            if repetitions is not None or noise is not None:
                raise ValueError("backend='fast' is an exact noiseless simulator: it does not "
                                 f"take repetitions ({repetitions!r}) or noise ({noise!r}); "
                                 "use backend='tfq'.")
            if differentiator is not None:
                raise ValueError("backend='fast' computes its own exact gradients: "
                                 f"differentiator must be None, got {differentiator!r}.")
        elif self._sampled and self._differentiator_name() == "adjoint":
            raise ValueError("the Adjoint differentiator needs analytic expectations; it does "
                             "not work with repetitions or noise (use 'parameter_shift').")

        # Ingest initializers (one instance per weight, see _default_initializer).
        self.scale_initializer = (_default_initializer() if scale_initializer is None
                                  else tf.keras.initializers.get(scale_initializer))
        self.bias_initializer = (_default_initializer() if bias_initializer is None
                                 else tf.keras.initializers.get(bias_initializer))
        if self.bias_initializer is self.scale_initializer:
            self.bias_initializer = self.bias_initializer.__class__.from_config(
                self.bias_initializer.get_config())

        self._qubits = circuits.make_qubits(self.n_qubits, self.qubit_type)
        self._symbols = circuits.angle_symbols(self.n_angles)
        self._noise_index = circuits.noise_index(self.n_angles, self.noise_dim)
        self._executor: Optional[Callable[[tf.Tensor], tf.Tensor]] = None

    # ------------------------------------------------------------------ properties
    @property
    def n_angles(self) -> int:
        """Number of rotation angles of the circuit (length of each weight)."""
        return circuits.n_angles(self.n_qubits, self.n_layers, self.ansatz)

    @property
    def output_dim(self) -> int:
        """Length of the output vector: ``n_qubits`` (``"z"``) or ``2 n_qubits`` (``"xz"``)."""
        return circuits.output_dim(self.n_qubits, self.readout)

    @property
    def capacity(self) -> int:
        """Number of trainable parameters: ``style_scale`` and ``style_bias``, ``2 n_angles``."""
        return 2 * self.n_angles

    @property
    def qubits(self) -> List[cirq.Qid]:
        """The qubits of the circuit, in order."""
        return list(self._qubits)

    @property
    def _sampled(self) -> bool:
        return self.repetitions is not None

    def _differentiator_name(self):
        if self._differentiator_spec is not None:
            return self._differentiator_spec["class_name"]
        if self._custom_differentiator is not None:
            return type(self._custom_differentiator).__name__
        return "parameter_shift" if self._sampled else "adjoint"

    def _make_differentiator(self):
        if self._custom_differentiator is not None:
            return self._custom_differentiator  # TFQ: one op per instance, so one per layer
        cls, _ = _DIFFERENTIATORS[self._differentiator_name()]
        config = self._differentiator_spec["config"] if self._differentiator_spec else {}
        return cls(**config)

    # ------------------------------------------------------------------ circuits
    def circuit(self) -> cirq.Circuit:
        """The symbolic circuit the layer simulates (with the depolarizing channels if
        ``noise`` is set); symbol ``theta_g`` is angle ``g`` in circuit order."""
        return circuits.style_circuit(self._qubits, self.n_layers, self.ansatz, self._symbols,
                                      noise=self.noise)

    def executed_circuit(self) -> cirq.Circuit:
        """The circuit handed to TFQ: :meth:`circuit`, with each CRY decomposed into
        CNOT/RY gates when the differentiator is not ``Adjoint`` (TFQ's parameter-shift rule is
        wrong for controlled rotations, see :func:`circuits.style_circuit`). Same unitary."""
        return circuits.style_circuit(self._qubits, self.n_layers, self.ansatz, self._symbols,
                                      noise=self.noise,
                                      decompose_cry=self._differentiator_name() != "adjoint")

    def resolved_circuit(self, z: Any) -> cirq.Circuit:
        """The noiseless circuit with the angles of one noise vector ``z`` (``[noise_dim]``)
        under the current weights."""
        if not self.built:
            raise ValueError("StyleQuantumGenerator has no weights yet: call the layer or "
                             "build it before resolving a circuit.")
        z = np.asarray(z, dtype=np.float64)
        if z.ndim == 2 and z.shape[0] == 1:
            z = z[0]
        if z.shape != (self.noise_dim,):
            raise ValueError(f"z must be one noise vector of shape ({self.noise_dim},), "
                             f"got shape {z.shape}.")
        angles = circuits.style_angles(z, self.style_scale.numpy(), self.style_bias.numpy())[0]
        return circuits.style_circuit(self._qubits, self.n_layers, self.ansatz,
                                      [float(a) for a in angles])

    def to_qasm(self, z: Any) -> str:
        """OpenQASM 2.0 of the circuit resolved for one noise vector ``z`` (noise channels,
        which QASM cannot express, are left out)."""
        return cirq.qasm(self.resolved_circuit(z))

    def draw(self) -> str:
        """Text diagram of the symbolic circuit."""
        return self.circuit().to_text_diagram()

    # ------------------------------------------------------------------ Keras
    def _check_input_shape(self, shape: tf.TensorShape):
        if shape.rank is not None and shape.rank != 2:
            raise ValueError("StyleQuantumGenerator expects noise of rank 2 [batch, noise_dim], "
                             f"got shape {shape}.")
        if shape.rank == 2 and shape[-1] is not None and shape[-1] != self.noise_dim:
            raise ValueError(f"StyleQuantumGenerator expects noise_dim={self.noise_dim} noise "
                             f"components, got input shape {shape}.")

    def build(self, input_shape: Any) -> None:
        self._check_input_shape(tf.TensorShape(input_shape))
        self.style_scale = self.add_weight(
            name="style_scale", shape=[self.n_angles], initializer=self.scale_initializer,
            trainable=True)
        self.style_bias = self.add_weight(
            name="style_bias", shape=[self.n_angles], initializer=self.bias_initializer,
            trainable=True)
        self._executor = self._make_executor()
        super().build(input_shape)

    def _make_executor(self):
        """The simulator of ``backend``: a :class:`TFQExecutor` with this layer's
        differentiator, or a :class:`FastExecutor`."""
        if self.backend == "fast":
            return FastExecutor(self.n_qubits, self.n_layers, self.ansatz, self.readout)
        return TFQExecutor(self.executed_circuit(),
                           circuits.readout_operators(self._qubits, self.readout),
                           self._symbols, self._make_differentiator(),
                           repetitions=self.repetitions, noisy=self.noise is not None)

    def style_angles(self, z: tf.Tensor) -> tf.Tensor:
        """The angles ``[batch, n_angles]`` (circuit order) for noise ``z`` as one batched op."""
        angles = self.style_scale * tf.gather(z, self._noise_index, axis=1) + self.style_bias
        return tf.cast(angles, tf.float32)

    def call(self, inputs: Any) -> tf.Tensor:
        z = tf.convert_to_tensor(inputs)
        if not z.dtype.is_floating:
            raise TypeError(f"StyleQuantumGenerator expects floating-point noise, got dtype "
                            f"{z.dtype.name}.")
        self._check_input_shape(z.shape)
        # An assertion rather than check_numerics, which would also check (and raise on) the
        # gradient flowing back through z; NaN losses are the training callbacks' business.
        finite = tf.debugging.Assert(tf.reduce_all(tf.math.is_finite(z)),
                                     ["StyleQuantumGenerator input z has NaN or Inf values"])
        with tf.control_dependencies([finite]):
            z = tf.cast(tf.identity(z), self.style_scale.dtype)
        if self._executor is None:  # call() without build(): Keras builds first
            raise RuntimeError("StyleQuantumGenerator was called before it was built.")
        out = self._executor(self.style_angles(z))
        out = tf.cast(out, tf.float32)
        out.set_shape([z.shape[0], self.output_dim])
        return out

    def compute_output_shape(self, input_shape: Any) -> tf.TensorShape:
        input_shape = tf.TensorShape(input_shape)
        self._check_input_shape(input_shape)
        return tf.TensorShape([input_shape[0], self.output_dim])

    @classmethod
    def from_config(cls, config: Dict[str, Any]) -> StyleQuantumGenerator:
        """The layer of a config (one saved before the ``latent_dim`` -> ``noise_dim`` rename
        included)."""
        return cls(**renamed_noise_dim(config))

    def get_config(self) -> Dict[str, Any]:
        if self._custom_differentiator is not None:
            raise ValueError("StyleQuantumGenerator cannot serialize the custom differentiator "
                             f"{self._custom_differentiator!r}; pass one of "
                             f"{tuple(_DIFFERENTIATORS)} to make the layer serializable.")
        config = super().get_config()
        config.update({
            "n_qubits": self.n_qubits,
            "n_layers": self.n_layers,
            "noise_dim": self.noise_dim,
            "ansatz": self.ansatz,
            "readout": self.readout,
            "differentiator": (None if self._differentiator_spec is None else {
                "class_name": self._differentiator_spec["class_name"],
                "config": dict(self._differentiator_spec["config"])}),
            "repetitions": self.repetitions,
            "noise": self.noise,
            "backend": self.backend,
            "qubit_type": self.qubit_type,
            "scale_initializer": tf.keras.initializers.serialize(self.scale_initializer),
            "bias_initializer": tf.keras.initializers.serialize(self.bias_initializer),
        })
        return config
