"""A generator as plain data: what to build, its capacity, its output size and its study label.

``GeneratorSpec`` is frozen and TensorFlow-free (``build()`` imports Keras when called), so
the CLI, the study and the benchmarks describe generators the same way and import it cheaply.
One label names a generator in the study, in run keys and in reports:

- ``q{n}x{L}``: the style-based quantum generator of ``n`` qubits and ``L`` layers;
- ``c{budget}@{D}``: a classical MLP generator of about ``budget`` trainable parameters and
  output (VAE latent) size ``D``, its hidden widths from ``models.units_for_capacity``.

The readout fixes the sizes (``constants.output_dim``): a quantum generator reads ``<Z>`` of
each qubit (``"z"``: ``n`` latents) or ``<Z>`` then ``<X>`` (``"xz"``: ``2n``), and takes
``n`` noise values (its capacity is ``constants.quantum_capacity``); a classical
generator of output ``D`` takes as many noise values as the quantum generator of that latent
size (``D`` or ``D / 2``), so both see the same noise width.

>>> GeneratorSpec.parse("q3x2").output_dim
3
>>> GeneratorSpec.parse("q3x2", readout="xz").output_dim
6
>>> GeneratorSpec.parse("c300@3").label
'c300@3'
"""
from __future__ import annotations

import dataclasses
import re
from typing import Any, Dict, Optional, Sequence, Tuple, overload

from qlsgan_tf import constants
from qlsgan_tf.models import capacity as capacity_lib

QUANTUM, CLASSICAL = "quantum", "classical"
KINDS = (QUANTUM, CLASSICAL)
_LABEL = re.compile(r"^(?:q(?P<n>\d+)x(?P<layers>\d+)|c(?P<budget>\d+)@(?P<dim>\d+))$")


def _check_readout(readout: str) -> str:
    if readout not in constants.READOUTS:
        raise ValueError(f"readout must be one of {constants.READOUTS}, got {readout!r}.")
    return readout


def noise_width(output_dim: int, readout: str) -> int:
    """Noise values of a generator of ``output_dim`` latents: the qubits of the quantum
    generator of that size, the inverse of ``constants.output_dim`` (``D`` for ``"z"``,
    ``D // 2`` for ``"xz"``)."""
    return int(output_dim) // constants.output_dim(1, _check_readout(readout))


def quantum_label(n_qubits: int, n_layers: int) -> str:
    """The label of the quantum generator of ``n_qubits`` and ``n_layers``."""
    return f"q{int(n_qubits)}x{int(n_layers)}"


def classical_label(budget: int, output_dim: int) -> str:
    """The label of the classical generator of a parameter budget and an output size."""
    return f"c{int(budget)}@{int(output_dim)}"


@overload
def _positive(name: str, value: Any) -> int: ...


@overload
def _positive(name: str, value: Any, allow_none: bool) -> Optional[int]: ...


def _positive(name: str, value: Any, allow_none: bool = False) -> Optional[int]:
    if value is None and allow_none:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{name} must be a positive integer, got {value!r}")
    return value


@dataclasses.dataclass(frozen=True)
class GeneratorSpec:
    """A quantum or classical generator of the study, described without building it.

    Prefer the constructors :meth:`quantum`, :meth:`classical`, :meth:`sized` and
    :meth:`parse`. Fields:

    - ``kind``: ``"quantum"`` or ``"classical"``.
    - ``n_qubits``, ``n_layers``, ``ansatz`` (quantum).
    - ``readout``: ``"z"`` or ``"xz"``; sets a quantum generator's output size and a
      classical one's noise width (module docstring).
    - ``hidden_units`` (classical): the MLP's hidden widths.
    - ``noise_dim``: noise values per sample (``n_qubits`` for a quantum generator).
    - ``output_dim``: latents per sample (the VAE latent size).
    - ``budget`` (classical, optional): the parameter budget the widths were sized for; the
      label names it (else the realised capacity).
    """

    kind: str
    n_qubits: Optional[int] = None
    n_layers: Optional[int] = None
    ansatz: str = "bel"
    readout: str = "z"
    hidden_units: Tuple[int, ...] = ()
    noise_dim: Optional[int] = None
    output_dim: Optional[int] = None
    budget: Optional[int] = None

    def __post_init__(self) -> None:
        _check_readout(self.readout)
        if self.kind == QUANTUM:
            n = _positive("n_qubits", self.n_qubits)
            _positive("n_layers", self.n_layers)
            if self.hidden_units or self.budget is not None:
                raise ValueError("hidden_units and budget describe a classical generator")
            output_dim = constants.output_dim(n, self.readout)
            for name, value in (("noise_dim", n), ("output_dim", output_dim)):
                given = getattr(self, name)
                if given is not None and given != value:
                    raise ValueError(f"a {n}-qubit generator with readout {self.readout!r} has "
                                     f"{name} {value}, got {given}")
                object.__setattr__(self, name, value)
        elif self.kind == CLASSICAL:
            if self.n_qubits is not None or self.n_layers is not None:
                raise ValueError("n_qubits and n_layers describe a quantum generator")
            output_dim = _positive("output_dim", self.output_dim)
            units = tuple(self.hidden_units)
            for unit in units:
                _positive("hidden_units entries", unit)
            object.__setattr__(self, "hidden_units", units)
            if self.noise_dim is None:
                object.__setattr__(self, "noise_dim", noise_width(output_dim, self.readout))
            _positive("noise_dim", self.noise_dim)
            _positive("budget", self.budget, allow_none=True)
        else:
            raise ValueError(f"kind must be one of {', '.join(KINDS)}; got {self.kind!r}")

    # ------------------------------------------------------------------ constructors
    @classmethod
    def quantum(cls, n_qubits: int, n_layers: int, ansatz: str = "bel", readout: str = "z"
                ) -> GeneratorSpec:
        """The style-based quantum generator (noise width ``n_qubits``)."""
        return cls(QUANTUM, n_qubits=n_qubits, n_layers=n_layers, ansatz=ansatz,
                   readout=readout)

    @classmethod
    def classical(cls, output_dim: int, hidden_units: Sequence[int],
                  noise_dim: Optional[int] = None, readout: str = "z",
                  budget: Optional[int] = None) -> GeneratorSpec:
        """An MLP generator of the given hidden widths (noise width from ``readout`` unless
        given)."""
        return cls(CLASSICAL, hidden_units=tuple(hidden_units), noise_dim=noise_dim,
                   output_dim=output_dim, readout=readout, budget=budget)

    @classmethod
    def sized(cls, budget: int, output_dim: int, depth: int, readout: str = "z"
              ) -> GeneratorSpec:
        """The classical generator of ``depth`` hidden layers nearest ``budget`` parameters."""
        budget, output_dim = _positive("budget", budget), _positive("output_dim", output_dim)
        noise_dim = noise_width(output_dim, readout)
        units = capacity_lib.units_for_capacity(budget, noise_dim, output_dim, depth)
        return cls.classical(output_dim, units, noise_dim, readout=readout, budget=budget)

    @classmethod
    def parse(cls, label: str, *, ansatz: str = "bel", readout: str = "z",
              generator_depth: int = 1) -> GeneratorSpec:
        """The generator a label names (module docstring); ``ansatz``, ``readout`` and
        ``generator_depth`` are the study's settings that the label does not carry."""
        match = _LABEL.match(label) if isinstance(label, str) else None
        if not match:
            raise ValueError(f"unknown generator label {label!r} (expected q<n>x<L> or "
                             "c<params>@<D>)")
        if match["n"] is not None:
            return cls.quantum(int(match["n"]), int(match["layers"]), ansatz, readout)
        return cls.sized(int(match["budget"]), int(match["dim"]), generator_depth, readout)

    # ------------------------------------------------------------------ derived
    @property
    def latent_dim(self) -> int:
        """Latents per sample (``output_dim``, always set once constructed)."""
        assert self.output_dim is not None
        return self.output_dim

    @property
    def label(self) -> str:
        """``q{n}x{L}`` or ``c{budget}@{D}`` (a classical generator given by its widths is
        named by its realised capacity)."""
        if self.kind == QUANTUM:
            return quantum_label(*self._quantum_shape())
        assert self.output_dim is not None  # set by __post_init__
        return classical_label(self.budget if self.budget is not None else self.capacity,
                               self.output_dim)

    @property
    def capacity(self) -> int:
        """Trainable parameters: a scale and a bias per rotation angle (quantum), the MLP's
        weights and biases (classical)."""
        if self.kind == QUANTUM:
            return constants.quantum_capacity(*self._quantum_shape(), self.ansatz)
        assert self.noise_dim is not None and self.output_dim is not None  # by __post_init__
        return capacity_lib.mlp_param_count(self.noise_dim, self.hidden_units, self.output_dim)

    def _quantum_shape(self) -> Tuple[int, int]:
        """``(n_qubits, n_layers)`` of a quantum spec (``__post_init__`` checked both)."""
        assert self.n_qubits is not None and self.n_layers is not None
        return self.n_qubits, self.n_layers

    def build(self, backend: str = "fast", name: Optional[str] = None) -> Any:
        """The Keras generator, noise ``[batch, noise_dim]`` -> latents ``[batch, output_dim]``.

        ``backend`` ("fast" or "tfq") is the quantum layer's simulator; it changes no weight
        and no output.
        """
        if self.kind == QUANTUM:
            import tensorflow as tf

            from qlsgan_tf.layers import StyleQuantumGenerator

            layer = StyleQuantumGenerator(*self._quantum_shape(), ansatz=self.ansatz,
                                          readout=self.readout, backend=backend)
            return tf.keras.Sequential([tf.keras.Input((self.noise_dim,)), layer],
                                       name=name or "quantum_generator")
        from qlsgan_tf.models import MLPGenerator

        kwargs = {"name": name} if name else {}
        return MLPGenerator(self.output_dim, hidden_units=self.hidden_units,
                            noise_dim=self.noise_dim, **kwargs)

    def pack_config(self) -> Dict[str, Any]:
        """The generator dict of ``training.PackedLatentGAN``."""
        if self.kind == QUANTUM:
            return {"kind": QUANTUM, "n_qubits": self.n_qubits, "n_layers": self.n_layers,
                    "ansatz": self.ansatz, "readout": self.readout, "noise_dim": self.noise_dim}
        return {"kind": CLASSICAL, "units": self.hidden_units, "noise_dim": self.noise_dim,
                "output_dim": self.output_dim}
