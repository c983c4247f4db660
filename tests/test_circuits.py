"""Circuit builders of the style generator, checked against the ansätze of layers.circuits.

The reference unitaries here are written from the gate definitions (RY = exp(-i t Y/2), ...)
with numpy Kronecker products, independently of ``gate_list``.
"""
import cirq
import numpy as np
import pytest
import sympy

from qlsgan_tf.layers import circuits

I2 = np.eye(2)
P0 = np.diag([1.0, 0.0])
P1 = np.diag([0.0, 1.0])
Y = np.array([[0, -1j], [1j, 0]])
Z = np.diag([1.0, -1.0])


def ry(t):
    return np.cos(t / 2) * I2 - 1j * np.sin(t / 2) * Y


def rz(t):
    return np.cos(t / 2) * I2 - 1j * np.sin(t / 2) * Z


def on(n, ops):
    """Kronecker product with ``ops[q]`` on qubit q (qubit 0 most significant, as cirq)."""
    out = np.ones((1, 1))
    for q in range(n):
        out = np.kron(out, ops.get(q, I2))
    return out


def cry(n, c, t, theta):
    return on(n, {c: P0}) + on(n, {c: P1, t: ry(theta)})


def cz(n, a, b):
    return on(n, {}) - 2 * on(n, {a: P1, b: P1})


def reference_unitary(n, layers, ansatz, angles):
    """The ansatz pseudo-code of layers.circuits, transcribed literally."""
    u = np.eye(2 ** n, dtype=complex)
    it = iter(angles)
    ring = [(q, q + 1) for q in range(n - 1)] + [(n - 1, 0)]
    for _ in range(layers):
        if ansatz == "bel":
            for q in range(n):
                for gate in (ry, rz, ry, rz):
                    u = on(n, {q: gate(next(it))}) @ u
            for c, t in ring:
                u = cry(n, c, t, next(it)) @ u
        else:
            for q in range(n):
                u = on(n, {q: ry(next(it))}) @ u
            for a, b in ring:
                u = cz(n, a, b) @ u
    if ansatz == "bel":
        for q in range(n):
            u = on(n, {q: ry(next(it))}) @ u
    assert next(it, None) is None
    return u


def test_gate_list_bel_n3_l1_literal():
    g = circuits.gate_list(3, 1, "bel")
    expected = []
    k = 0
    for q in range(3):
        for name in ("ry", "rz", "ry", "rz"):
            expected.append((name, (q,), k))
            k += 1
    for c, t in [(0, 1), (1, 2), (2, 0)]:
        expected.append(("cry", (c, t), k))
        k += 1
    for q in range(3):
        expected.append(("ry", (q,), k))
        k += 1
    assert [tuple(x) for x in g] == expected
    assert k == circuits.n_angles(3, 1, "bel") == 18


def test_gate_list_simple_n3_l2_literal():
    g = circuits.gate_list(3, 2, "simple")
    one = lambda k0: [("ry", (0,), k0), ("ry", (1,), k0 + 1), ("ry", (2,), k0 + 2),  # noqa: E731
                      ("cz", (0, 1), None), ("cz", (1, 2), None), ("cz", (2, 0), None)]
    assert [tuple(x) for x in g] == one(0) + one(3)


@pytest.mark.parametrize("n,layers", [(2, 1), (3, 2), (4, 1), (5, 3)])
def test_n_angles(n, layers):
    assert circuits.n_angles(n, layers, "bel") == n * (5 * layers + 1)
    assert circuits.n_angles(n, layers, "simple") == n * layers
    for ansatz in circuits.ANSATZE:
        idx = [g.angle_index for g in circuits.gate_list(n, layers, ansatz)
               if g.angle_index is not None]
        assert idx == list(range(circuits.n_angles(n, layers, ansatz)))


def test_noise_index_and_style_angles():
    np.testing.assert_array_equal(circuits.noise_index(7, 3), [0, 1, 2, 0, 1, 2, 0])
    assert circuits.noise_index(7, 3).dtype == np.int32
    rng = np.random.default_rng(0)
    z, w, b = rng.normal(size=(4, 3)), rng.normal(size=7), rng.normal(size=7)
    got = circuits.style_angles(z, w, b)
    for row in range(4):
        for g in range(7):
            assert got[row, g] == pytest.approx(w[g] * z[row, g % 3] + b[g])


@pytest.mark.parametrize("ansatz", circuits.ANSATZE)
@pytest.mark.parametrize("n,layers", [(2, 1), (3, 2), (4, 1)])
@pytest.mark.parametrize("decompose", [False, True])
def test_style_circuit_unitary_matches_ansatz_text(ansatz, n, layers, decompose):
    angles = np.random.default_rng(n * 10 + layers).uniform(-np.pi, np.pi,
                                                            circuits.n_angles(n, layers, ansatz))
    qubits = circuits.make_qubits(n, "line")
    c = circuits.style_circuit(qubits, layers, ansatz, list(angles), decompose_cry=decompose)
    got = cirq.unitary(c)
    want = reference_unitary(n, layers, ansatz, angles)
    # cirq.rz is exactly exp(-i t Z/2): no global phase is needed.
    np.testing.assert_allclose(got, want, atol=1e-10)


def test_symbolic_circuit_resolves_and_uses_grid_qubits():
    n, layers = 3, 1
    c = circuits.style_circuit(circuits.make_qubits(n), layers, "bel")
    symbols = sorted(cirq.parameter_names(c), key=lambda s: int(s.split("_")[1]))
    assert symbols == [f"theta_{g}" for g in range(18)]
    assert c.all_qubits() == {cirq.GridQubit(0, q) for q in range(n)}
    angles = np.linspace(-1, 1, 18)
    resolved = cirq.resolve_parameters(c, {f"theta_{g}": a for g, a in enumerate(angles)})
    np.testing.assert_allclose(cirq.unitary(resolved), reference_unitary(n, layers, "bel", angles),
                               atol=1e-10)


def test_noise_channels_follow_every_gate():
    qubits = circuits.make_qubits(3)
    for ansatz in circuits.ANSATZE:
        gates = circuits.gate_list(3, 2, ansatz)
        for decompose in (False, True):
            c = circuits.style_circuit(qubits, 2, ansatz, noise=0.01, decompose_cry=decompose)
            chans = [op for op in c.all_operations()
                     if isinstance(op.gate, cirq.DepolarizingChannel)]
            assert len(chans) == sum(len(g.qubits) for g in gates)
            assert all(op.gate.p == 0.01 for op in chans)
    # On each qubit, a channel directly follows every gate acting on it.
    c = circuits.style_circuit(qubits, 1, "bel", noise=0.1)
    for q in qubits:
        seq = [op for op in c.all_operations() if q in op.qubits]
        assert len(seq) % 2 == 0
        for gate_op, chan in zip(seq[::2], seq[1::2]):
            assert not isinstance(gate_op.gate, cirq.DepolarizingChannel)
            assert chan == cirq.depolarize(0.1).on(q)


def test_readout_operators_order():
    q = circuits.make_qubits(3)
    ops = circuits.readout_operators(q, "xz")
    assert ops == [cirq.Z(q[0]) * 1.0, cirq.Z(q[1]) * 1.0, cirq.Z(q[2]) * 1.0,
                   cirq.X(q[0]) * 1.0, cirq.X(q[1]) * 1.0, cirq.X(q[2]) * 1.0]
    assert circuits.readout_operators(q, "z") == ops[:3]
    assert circuits.output_dim(3, "xz") == 6 and circuits.output_dim(3, "z") == 3


def test_make_qubits():
    assert circuits.make_qubits(2, "line") == [cirq.LineQubit(0), cirq.LineQubit(1)]
    assert circuits.make_qubits(2) == [cirq.GridQubit(0, 0), cirq.GridQubit(0, 1)]


@pytest.mark.parametrize("call,err,match", [
    (lambda: circuits.gate_list(1, 1), ValueError, "n_qubits must be an int >= 2"),
    (lambda: circuits.gate_list(3, 0), ValueError, "n_layers must be a positive int"),
    (lambda: circuits.gate_list(3.0, 1), TypeError, "n_qubits must be an int"),
    (lambda: circuits.gate_list(3, True), TypeError, "n_layers must be a positive int"),
    (lambda: circuits.n_angles(3, 1, "qaoa"), ValueError, "ansatz must be one of"),
    (lambda: circuits.readout_operators(circuits.make_qubits(2), "y"), ValueError,
     "readout must be one of"),
    (lambda: circuits.make_qubits(2, "hex"), ValueError, "qubit_type must be one of"),
    (lambda: circuits.noise_index(5, 0), ValueError, "noise_dim must be a positive int"),
    (lambda: circuits.style_circuit(circuits.make_qubits(2), 1, "simple", [sympy.Symbol("a")]),
     ValueError, "symbols must hold 2 angles"),
    (lambda: circuits.style_circuit(circuits.make_qubits(2), 1, "simple", noise=1.5),
     ValueError, "noise must be a probability"),
])
def test_bad_arguments(call, err, match):
    with pytest.raises(err, match=match):
        call()


@pytest.mark.parametrize("n, n_layers", [(2, 1), (3, 2), (5, 3)])
def test_constants_formulas_count_the_built_circuits(n, n_layers):
    """The TF-free formulas of ``qlsgan_tf.constants`` agree with the circuits themselves."""
    from qlsgan_tf import constants

    for ansatz in constants.ANSATZE:
        angles = [g for g in circuits.gate_list(n, n_layers, ansatz) if g.angle_index is not None]
        assert constants.n_angles(n, n_layers, ansatz) == len(angles)
        assert constants.quantum_capacity(n, n_layers, ansatz) == 2 * len(angles)
    qubits = circuits.make_qubits(n, "grid")
    for readout in constants.READOUTS:
        assert constants.output_dim(n, readout) == len(circuits.readout_operators(qubits, readout))


def test_ansatz_registry_and_objects():
    """The registry's entries describe the two ansätze; an ``Ansatz`` object is taken wherever a
    name is, and only a registered one where a configuration must name it."""
    from qlsgan_tf import constants
    from qlsgan_tf.constants import Ansatz

    assert list(constants.ANSATZE) == ["bel", "simple"]
    assert circuits.get_ansatz("bel") is constants.BEL
    assert (constants.BEL.angles_per_layer, constants.BEL.final_angles) == (5, 1)
    assert (constants.SIMPLE.angles_per_layer, constants.SIMPLE.final_angles) == (1, 0)
    assert constants.SIMPLE.real and not constants.BEL.real
    assert constants.BEL.zero_layer_is_identity and not constants.SIMPLE.zero_layer_is_identity
    assert circuits.check_ansatz(constants.SIMPLE) == "simple"
    assert circuits.gate_list(3, 2, constants.BEL) == circuits.gate_list(3, 2, "bel")
    other = Ansatz("rx-cz", ("rx",), "cz", ("ry",))
    ops = list(circuits.style_circuit(circuits.make_qubits(3), 2, other).all_operations())
    assert circuits.n_angles(3, 2, other) == len(ops) - 2 * 3 == 9  # minus the CZ gates
    with pytest.raises(ValueError, match="not the one registered"):
        circuits.check_ansatz(other)
    with pytest.raises(ValueError, match="ansatz must be one of"):
        constants.get_ansatz("qaoa")


@pytest.mark.parametrize("kwargs,match", [
    (dict(name=""), "name must be a non-empty string"),
    (dict(rotations=("ry", "h")), "rotations must be a tuple of"),
    (dict(final=["ry"]), "final must be a tuple of"),
    (dict(ring="cnot"), "ring must be one of"),
])
def test_bad_ansatz(kwargs, match):
    from qlsgan_tf.constants import Ansatz

    args = dict(name="x", rotations=("ry",), ring="cz", final=())
    args.update(kwargs)
    with pytest.raises(ValueError, match=match):
        Ansatz(**args)
