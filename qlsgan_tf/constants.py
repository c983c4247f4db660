"""Names, registries and circuit formulas shared by the layers, the trainers, the study and the CLI.

TensorFlow-free and free of third-party imports, so that the CLI and configuration code can use
them without loading TensorFlow, TFQ or cirq. ``layers.circuits`` builds the circuits these
formulas count; ``layers.fast_sim`` simulates them.

The circuit ansätze live in one registry, :data:`ANSATZE` (name -> :class:`Ansatz`): adding one is
one :class:`Ansatz` entry there (and its test against the TFQ circuit, which the tests run for
every registered ansatz). The study's scores live in another, :data:`METRICS` (name ->
:class:`Metric`); :data:`SCORE_METRICS` are their names.
"""
import dataclasses
import importlib
from typing import Any, Callable, Dict, Mapping, Tuple, Type, TypeVar, Union

ROTATIONS = ("rx", "ry", "rz")
"""One-qubit rotations an ansatz may apply, each with one angle (cirq's ``rx``, ``ry``, ``rz``)."""
RING_GATES = {"cry": True, "cz": False}
"""Two-qubit gates of an ansatz's entangling ring, and whether each takes an angle."""


@dataclasses.dataclass(frozen=True)
class Ansatz:
    """A style-circuit ansatz, in the way TFQ's ``PQC`` takes its circuit: as an object.

    Every layer applies ``rotations`` (in order) to each qubit ``0..n-1`` in turn, then ``ring``
    on the edges ``(0, 1), (1, 2), ..., (n-2, n-1), (n-1, 0)`` (control, target); after the
    ``L`` layers, ``final`` is applied to each qubit. Angles are numbered in that order (the
    circuit order of ``layers.circuits.gate_list``). The TFQ circuit builder, both fast
    simulators and the capacity formula read this description; ``layers.fast_sim`` uses a
    closed-form kernel where it has one for the gates, and simulates any other ansatz gate by
    gate.

    Attributes:
        name: the configuration name (``--ansatz``, ``StyleQuantumGenerator(ansatz=...)``).
        rotations: the rotations of each qubit in a layer, names from :data:`ROTATIONS`.
        ring: the entangling gate of each ring edge, a name from :data:`RING_GATES`.
        final: rotations applied to each qubit after the last layer.
        description: one line for help texts and reports.
    """

    name: str
    rotations: Tuple[str, ...]
    ring: str
    final: Tuple[str, ...] = ()
    description: str = ""

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name:
            raise ValueError(f"Ansatz name must be a non-empty string, got {self.name!r}.")
        for field, names in (("rotations", self.rotations), ("final", self.final)):
            if not isinstance(names, tuple) or any(g not in ROTATIONS for g in names):
                raise ValueError(f"Ansatz {field} must be a tuple of {ROTATIONS}, got {names!r}.")
        if self.ring not in RING_GATES:
            raise ValueError(f"Ansatz ring must be one of {tuple(RING_GATES)}, got {self.ring!r}.")

    @property
    def angles_per_layer(self) -> int:
        """Angles per qubit per layer: its rotations, plus one if the ring gate takes an angle."""
        return len(self.rotations) + int(RING_GATES[self.ring])

    @property
    def final_angles(self) -> int:
        """Angles per qubit after the layers."""
        return len(self.final)

    @property
    def real(self) -> bool:
        """True when every gate is a real matrix (RY, CRY, CZ): the state stays real."""
        return all(g == "ry" for g in self.rotations + self.final) and self.ring in ("cry", "cz")

    @property
    def zero_layer_is_identity(self) -> bool:
        """True when a layer whose angles are all zero is the identity (its ring gate takes an
        angle): a shallower circuit is then the deeper one with zero angles in its extra layers
        (how a pack of circuits of several depths pads them)."""
        return RING_GATES[self.ring]

    def n_angles(self, n_qubits: int, n_layers: int) -> int:
        """Rotation angles of the circuit of ``n_qubits`` qubits and ``n_layers`` layers."""
        return n_qubits * (self.angles_per_layer * n_layers + self.final_angles)


BEL = Ansatz("bel", ("ry", "rz", "ry", "rz"), "cry", ("ry",),
             "RY RZ RY RZ per qubit and a CRY ring per layer, a final RY layer")
SIMPLE = Ansatz("simple", ("ry",), "cz", (), "RY per qubit and a CZ ring per layer")

ANSATZE: Dict[str, Ansatz] = {a.name: a for a in (BEL, SIMPLE)}
"""The style-circuit ansätze by name (``layers.circuits``); ``list(ANSATZE)`` are the names the
CLI and the study's settings offer."""


Registered = TypeVar("Registered")


def registered(registry: Mapping[str, Registered], value: Any, kind: Type[Registered],
               what: str) -> Registered:
    """The entry of ``registry`` named by ``value``, or ``value`` itself when it is a ``kind``
    already; a ``ValueError`` naming ``what`` and the choices otherwise. The one lookup of
    every registry (ansätze, metrics, losses)."""
    if isinstance(value, kind):
        return value
    try:
        return registry[value]
    except (KeyError, TypeError):
        raise ValueError(f"{what} must be one of {tuple(registry)}, got {value!r}.") from None


def get_ansatz(ansatz: Union[str, Ansatz]) -> Ansatz:
    """The registered :class:`Ansatz` of a name, or ``ansatz`` itself when given an object."""
    return registered(ANSATZE, ansatz, Ansatz, "ansatz")


@dataclasses.dataclass(frozen=True)
class Metric:
    """A score the study can decide its optima by, in the manner of TF-GAN's eval functions.

    Attributes:
        name: the configuration name (``score_metric``, ``--score``).
        label: its name in the report's tables, columns and axes (``"FD-SAT4"``).
        field: the ``tuning.results.RunResult`` field that holds a run's score by it
            (``RunResult.metric_score`` reads it).
        compute: ``"module:function"`` of the function that measures it (imported on demand by
            :meth:`function`, so that this module stays free of TensorFlow).
        direction: ``"lower"`` (a distance: lower is better) or ``"higher"``.
        description: one line for help texts and reports.
    """

    name: str
    label: str
    field: str
    compute: str
    direction: str = "lower"
    description: str = ""

    def __post_init__(self) -> None:
        for attr in ("name", "label", "field"):
            if not isinstance(getattr(self, attr), str) or not getattr(self, attr):
                raise ValueError(f"Metric {attr} must be a non-empty string, got "
                                 f"{getattr(self, attr)!r}.")
        if not isinstance(self.compute, str) or self.compute.count(":") != 1:
            raise ValueError(f"Metric compute must be 'module:function', got {self.compute!r}.")
        if self.direction not in DIRECTIONS:
            raise ValueError(f"Metric direction must be one of {DIRECTIONS}, got "
                             f"{self.direction!r}.")

    @property
    def lower_is_better(self) -> bool:
        """True for a distance."""
        return self.direction == "lower"

    def function(self) -> Callable[..., Any]:
        """The function that measures the metric (imports its module)."""
        return _resolve(self.compute)


DIRECTIONS = ("lower", "higher")
"""Which way a :class:`Metric` improves."""
METRICS: Dict[str, Metric] = {m.name: m for m in (
    Metric("latent", "latent score", "score", "qlsgan_tf.metrics.latent_score:latent_distances",
           description="distance of generated to encoded real latents (docs/method.md §1)"),
    Metric("fd", "FD-SAT4", "fd_score",
           "qlsgan_tf.metrics.distances:fd_sat4_from_activations",
           description="Fréchet distance of decoded images in the SAT-4 feature network"),
)}
"""The scores of a run by name: the latent score (the study's default) and FD-SAT4."""
SCORE_METRICS: Tuple[str, ...] = tuple(METRICS)
"""The names of :data:`METRICS`: what ``score_metric`` and ``--score`` offer."""


def get_metric(metric: Union[str, Metric]) -> Metric:
    """The registered :class:`Metric` of a name, or ``metric`` itself when given an object."""
    return registered(METRICS, metric, Metric, "metric")


READOUTS = ("z", "xz")
"""Readouts: ``<Z_q>`` per qubit, or ``<Z_q>`` then ``<X_q>``."""
BACKENDS = ("tfq", "fast")
"""Simulators of ``StyleQuantumGenerator``: TFQ's C++ simulator, or the fast TF simulator."""


def _resolve(path: str) -> Callable[..., Any]:
    module, name = path.split(":")
    return getattr(importlib.import_module(module), name)


@dataclasses.dataclass(frozen=True)
class Loss:
    """A GAN loss by name, in the manner of compare_gan's loss library: the one registry
    entry a new loss needs.

    Attributes:
        name: the configuration name (``loss``, ``--loss``).
        critic: ``"module:function"`` of the critic loss ``fn(real_scores, fake_scores)``.
        generator: ``"module:function"`` of the generator loss ``fn(fake_scores)``.
        penalized: the critic loss adds ``gp_weight`` times the gradient penalty.
        description: one line for help texts.

    Both functions reduce their scores with ``training.losses.score_mean`` (one run or a run
    axis); they are imported on demand (:meth:`functions`), so this module stays free of
    TensorFlow.
    """

    name: str
    critic: str
    generator: str
    penalized: bool
    description: str = ""

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name:
            raise ValueError(f"Loss name must be a non-empty string, got {self.name!r}.")
        for attr in ("critic", "generator"):
            value = getattr(self, attr)
            if not isinstance(value, str) or value.count(":") != 1:
                raise ValueError(f"Loss {attr} must be 'module:function', got {value!r}.")

    def functions(self) -> Tuple[Callable[..., Any], Callable[..., Any]]:
        """The critic and generator loss functions (imports their module)."""
        return _resolve(self.critic), _resolve(self.generator)


LOSSES: Dict[str, Loss] = {loss.name: loss for loss in (
    Loss("wgan-gp", "qlsgan_tf.training.losses:wgan_critic_loss",
         "qlsgan_tf.training.losses:wgan_generator_loss", penalized=True,
         description="Wasserstein loss with gradient penalty (Gulrajani et al. 2017)"),
    Loss("bce", "qlsgan_tf.training.losses:bce_critic_loss",
         "qlsgan_tf.training.losses:bce_generator_loss", penalized=False,
         description="non-saturating binary cross-entropy (Goodfellow et al. 2014)"),
)}
"""GAN losses by name (``training.losses.LOSSES`` holds their functions)."""
NOISES = ("uniform", "normal")
"""Generator noise: uniform in [-1, 1), or standard normal."""


def n_angles(n_qubits: int, n_layers: int, ansatz: Union[str, Ansatz] = "bel") -> int:
    """Rotation angles of the style circuit: ``n (5 L + 1)`` for ``"bel"``, ``n L`` for
    ``"simple"`` (:meth:`Ansatz.n_angles`)."""
    return get_ansatz(ansatz).n_angles(n_qubits, n_layers)


def quantum_capacity(n_qubits: int, n_layers: int, ansatz: Union[str, Ansatz] = "bel") -> int:
    """Trainable parameters of a ``StyleQuantumGenerator``: a scale and a bias per angle."""
    return 2 * n_angles(n_qubits, n_layers, ansatz)


def output_dim(n_qubits: int, readout: str = "z") -> int:
    """Length of the readout vector: ``n`` for ``"z"``, ``2 n`` for ``"xz"``."""
    if readout not in READOUTS:
        raise ValueError(f"readout must be one of {READOUTS}, got {readout!r}.")
    return n_qubits * (2 if readout == "xz" else 1)
