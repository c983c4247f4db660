"""Circuits of the style-based quantum generator (pure cirq / numpy / sympy, no TensorFlow).

One source of truth: each ansatz is an :class:`~qlsgan_tf.constants.Ansatz` of the registry
``constants.ANSATZE``; :func:`gate_list` spells it out as a flat list of gates in circuit order,
and both the cirq circuit (:func:`style_circuit`, simulated by TFQ) and the fast TensorFlow
simulator (``fast_sim.py``) are derived from it. Gate conventions are cirq's:
``RY(t) = exp(-i t Y / 2)``, ``RZ(t) = exp(-i t Z / 2)``, ``RX(t) = exp(-i t X / 2)``,
``CRY`` = RY on the target controlled by the control qubit, ``CZ`` = diag(1, 1, 1, -1). All
qubits start in ``|0>``.

Ansatz ``"bel"`` (``n * (5 L + 1)`` angles)::

    for each layer:
        for each qubit q:        RY(q) RZ(q) RY(q) RZ(q)
        for q in 0..n-2:         CRY(control=q, target=q+1)
        CRY(control=n-1, target=0)
    for each qubit q:            RY(q)

Ansatz ``"simple"`` (``n * L`` angles)::

    for each layer:
        for each qubit q:        RY(q)
        CZ on the ring (q, q+1) for q in 0..n-2, then (n-1, 0)

The style map sends noise ``z`` to angles, ``theta_g = scale_g * z[g mod noise_dim] + bias_g``
for gate index ``g`` in circuit order (:func:`noise_index`).
"""
from __future__ import annotations

from typing import Any, List, NamedTuple, Optional, Sequence, Tuple, Union

import cirq
import numpy as np
import sympy

from qlsgan_tf import constants
from qlsgan_tf.constants import ANSATZE, READOUTS, RING_GATES, Ansatz
from qlsgan_tf.validation import check_choice, check_int

QUBIT_TYPES = ("grid", "line")


class Gate(NamedTuple):
    """One gate of an ansatz: ``name`` (``constants.ROTATIONS`` or ``RING_GATES``), the qubit
    indices it acts on (``(control, target)`` for two-qubit gates), and the index of its angle
    in circuit order (``None`` for the fixed ``cz``)."""

    name: str
    qubits: Tuple[int, ...]
    angle_index: Optional[int]


def check_ansatz(ansatz: Union[str, Ansatz]) -> str:
    """The name of a registered ansatz (given by name or as its ``Ansatz``), else ``ValueError``."""
    if isinstance(ansatz, Ansatz):
        if ANSATZE.get(ansatz.name) != ansatz:
            raise ValueError(f"ansatz {ansatz.name!r} is not the one registered under its name in "
                             f"constants.ANSATZE ({tuple(ANSATZE)}); register it there so that "
                             "saved configurations name it.")
        return ansatz.name
    return check_choice("ansatz", ansatz, tuple(ANSATZE))


def get_ansatz(ansatz: Union[str, Ansatz]) -> Ansatz:
    """The :class:`Ansatz` of a registered name, or ``ansatz`` itself when given an object (an
    unregistered one too: the circuit builder and the simulators take any ``Ansatz``)."""
    if isinstance(ansatz, Ansatz):
        return ansatz
    return ANSATZE[check_choice("ansatz", ansatz, tuple(ANSATZE))]


def check_readout(readout: str) -> str:
    """Return ``readout`` if it is a known readout name, else raise ``ValueError``."""
    return check_choice("readout", readout, READOUTS)


def check_size(n_qubits: int, n_layers: int) -> Tuple[int, int]:
    """Validate the circuit size: ``n_qubits >= 2`` (the entangling ring) and ``n_layers >= 1``."""
    return check_int("n_qubits", n_qubits, 2), check_int("n_layers", n_layers, 1)


def gate_list(n_qubits: int, n_layers: int, ansatz: Union[str, Ansatz] = "bel") -> List[Gate]:
    """The gates of ``ansatz`` in circuit order, as :class:`Gate` tuples.

    Angle indices count up from 0 in the order the parameterised gates appear, which is the
    order of the ``style_scale``/``style_bias`` weights and of the ``angles`` the simulators take.
    """
    n, n_layers = check_size(n_qubits, n_layers)
    spec = get_ansatz(ansatz)
    gates: List[Gate] = []
    index = 0

    def add(name: str, *qubits: int) -> None:
        nonlocal index
        if name in RING_GATES and not RING_GATES[name]:
            gates.append(Gate(name, tuple(qubits), None))
            return
        gates.append(Gate(name, tuple(qubits), index))
        index += 1

    for _ in range(n_layers):
        for q in range(n):
            for name in spec.rotations:
                add(name, q)
        for control, target in ring_edges(n):
            add(spec.ring, control, target)
    for q in range(n):
        for name in spec.final:
            add(name, q)
    return gates


def ring_edges(n_qubits: int) -> List[Tuple[int, int]]:
    """The entangling ring ``(0, 1), ..., (n-2, n-1), (n-1, 0)`` as (control, target) pairs."""
    return [(q, q + 1) for q in range(n_qubits - 1)] + [(n_qubits - 1, 0)]


def n_angles(n_qubits: int, n_layers: int, ansatz: Union[str, Ansatz] = "bel") -> int:
    """Number of rotation angles: ``n (5 L + 1)`` for ``"bel"``, ``n L`` for ``"simple"``."""
    n, n_layers = check_size(n_qubits, n_layers)
    return get_ansatz(ansatz).n_angles(n, n_layers)


def noise_index(n_angles: int, noise_dim: int) -> np.ndarray:
    """Which noise component drives each angle: ``g mod noise_dim`` (int32 ``[n_angles]``)."""
    check_int("n_angles", n_angles, 1)
    check_int("noise_dim", noise_dim, 1)
    return (np.arange(n_angles) % noise_dim).astype(np.int32)


def style_angles(z: Any, scale: Any, bias: Any) -> np.ndarray:
    """The style map in numpy: ``angles[b, g] = scale[g] * z[b, g mod noise_dim] + bias[g]``."""
    z = np.atleast_2d(np.asarray(z))
    scale, bias = np.asarray(scale), np.asarray(bias)
    return scale * z[:, noise_index(scale.shape[0], z.shape[1])] + bias


def make_qubits(n_qubits: int, qubit_type: str = "grid") -> List[cirq.Qid]:
    """Qubits ``0..n-1`` as ``cirq.GridQubit(0, q)`` (``"grid"``) or ``cirq.LineQubit(q)``."""
    n = check_int("n_qubits", n_qubits, 1)
    if qubit_type == "grid":
        return [cirq.GridQubit(0, q) for q in range(n)]
    if qubit_type == "line":
        return [cirq.LineQubit(q) for q in range(n)]
    raise ValueError(f"qubit_type must be one of {QUBIT_TYPES}, got {qubit_type!r}.")


def angle_symbols(n_angles: int, prefix: str = "theta") -> List[sympy.Symbol]:
    """Symbols ``theta_0 .. theta_{n_angles-1}``, one per angle in circuit order."""
    check_int("n_angles", n_angles, 1)
    return [sympy.Symbol(f"{prefix}_{g}") for g in range(n_angles)]


def style_circuit(qubits: Sequence[cirq.Qid], n_layers: int,
                  ansatz: Union[str, Ansatz] = "bel", symbols: Optional[Sequence[Any]] = None,
                  noise: Optional[float] = None,
                  decompose_cry: bool = False) -> cirq.Circuit:
    """The ansatz as a ``cirq.Circuit`` on ``qubits``.

    Args:
        qubits: the ``n_qubits`` qubits, in order.
        n_layers: number of layers ``L``.
        ansatz: a name of ``constants.ANSATZE`` or an :class:`~qlsgan_tf.constants.Ansatz`.
        symbols: one angle per parameterised gate in circuit order (sympy symbols or numbers);
            ``None`` uses :func:`angle_symbols`.
        noise: if given, a single-qubit ``cirq.depolarize(noise)`` channel follows every gate on
            each qubit the gate acts on.
        decompose_cry: write each ``CRY(t)`` as the equal unitary
            ``CNOT, RY(-t/2), CNOT, RY(t/2)`` on the target. TFQ's ``ParameterShift`` applies
            the two-term shift rule to a controlled rotation, whose generator has three
            eigenvalues, and returns wrong gradients for it; on this form the rule is exact.
            Noise channels still follow the whole ``CRY`` block, not its parts.
    """
    qubits = list(qubits)
    gates = gate_list(len(qubits), n_layers, ansatz)
    count = n_angles(len(qubits), n_layers, ansatz)
    if symbols is None:
        symbols = angle_symbols(count)
    symbols = list(symbols)
    if len(symbols) != count:
        raise ValueError(f"symbols must hold {count} angles for this circuit, "
                         f"got {len(symbols)}.")
    if noise is not None:
        noise = float(noise)
        if not 0.0 <= noise <= 1.0:
            raise ValueError(f"noise must be a probability in [0, 1], got {noise}.")
    ops: List[cirq.Operation] = []
    for gate in gates:
        qs = [qubits[i] for i in gate.qubits]
        theta = None if gate.angle_index is None else symbols[gate.angle_index]
        if gate.name == "cz":
            ops.append(cirq.CZ(qs[0], qs[1]))
        elif theta is None:  # pragma: no cover - gate_list gives every rotation an angle
            raise AssertionError(f"{gate.name} gate without an angle")
        elif gate.name == "ry":
            ops.append(cirq.ry(theta).on(qs[0]))
        elif gate.name == "rz":
            ops.append(cirq.rz(theta).on(qs[0]))
        elif gate.name == "rx":
            ops.append(cirq.rx(theta).on(qs[0]))
        elif gate.name == "cry" and decompose_cry:
            ops += [cirq.CNOT(qs[0], qs[1]), cirq.ry(-theta / 2).on(qs[1]),
                    cirq.CNOT(qs[0], qs[1]), cirq.ry(theta / 2).on(qs[1])]
        elif gate.name == "cry":
            ops.append(cirq.ry(theta).on(qs[1]).controlled_by(qs[0]))
        else:  # pragma: no cover - gate_list only emits the names above
            raise AssertionError(gate.name)
        if noise is not None:
            ops.extend(cirq.depolarize(noise).on(q) for q in qs)
    return cirq.Circuit(ops)


def readout_operators(qubits: Sequence[cirq.Qid], readout: str = "z") -> List[cirq.PauliString]:
    """Observables of the readout: ``Z_0..Z_{n-1}`` (``"z"``), then ``X_0..X_{n-1}`` (``"xz"``)."""
    check_readout(readout)
    ops = [cirq.Z(q) * 1.0 for q in qubits]
    if readout == "xz":
        ops += [cirq.X(q) * 1.0 for q in qubits]
    return ops


def output_dim(n_qubits: int, readout: str = "z") -> int:
    """Length of the readout vector: ``n`` for ``"z"``, ``2 n`` for ``"xz"``."""
    return constants.output_dim(n_qubits, check_readout(readout))
