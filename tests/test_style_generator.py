"""StyleQuantumGenerator against references that do not use TFQ.

The main reference is a batched numpy statevector simulator written here from the gate
definitions (RY = exp(-i t Y/2), RZ = exp(-i t Z/2), CRY = controlled RY, CZ) and the ansatz
descriptions of layers.circuits; a hand-built cirq circuit (cirq.Simulator /
cirq.DensityMatrixSimulator) is the second.
"""
import os
import re

import cirq
import numpy as np
import pytest
import tensorflow as tf

from qlsgan_tf.layers import StyleQuantumGenerator

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

I2 = np.eye(2)
PAULI_Y = np.array([[0, -1j], [1j, 0]])
PAULI_Z = np.diag([1.0, -1.0])


# ---------------------------------------------------------------- numpy reference
def _ry(t):
    """RY(t) = exp(-i t Y / 2) for a batch of angles: [B, 2, 2]."""
    t = np.asarray(t, dtype=np.float64)[:, None, None]
    return np.cos(t / 2) * I2 - 1j * np.sin(t / 2) * PAULI_Y


def _rz(t):
    t = np.asarray(t, dtype=np.float64)[:, None, None]
    return np.cos(t / 2) * I2 - 1j * np.sin(t / 2) * PAULI_Z


def _apply(psi, u, axis):
    """Apply batched 2x2 ``u`` [B,2,2] on tensor axis ``axis`` of psi [B, 2, ..., 2]."""
    psi = np.moveaxis(psi, axis, 1)
    psi = np.einsum("bij,bj...->bi...", u, psi)
    return np.moveaxis(psi, 1, axis)


def _apply_1q(psi, u, q):
    return _apply(psi, u, q + 1)


def _apply_cry(psi, theta, c, t):
    psi = psi.copy()
    sel = [slice(None)] * psi.ndim
    sel[c + 1] = 1  # control = 1 half
    sub = psi[tuple(sel)]
    axis = t + 1 if t < c else t  # the control axis is gone from ``sub``
    psi[tuple(sel)] = _apply(sub, _ry(theta), axis)
    return psi


def _apply_cz(psi, a, b):
    psi = psi.copy()
    sel = [slice(None)] * psi.ndim
    sel[a + 1] = 1
    sel[b + 1] = 1
    psi[tuple(sel)] *= -1
    return psi


def reference_state(angles, n, layers, ansatz):
    """Final states [B, 2, ..., 2] of the ansatz for angles [B, n_angles], circuit order."""
    angles = np.asarray(angles, dtype=np.float64)
    batch = angles.shape[0]
    psi = np.zeros((batch,) + (2,) * n, dtype=np.complex128)
    psi[(slice(None),) + (0,) * n] = 1.0
    cols = iter(angles.T)
    ring = [(q, q + 1) for q in range(n - 1)] + [(n - 1, 0)]
    for _ in range(layers):
        if ansatz == "bel":
            for q in range(n):
                for gate in (_ry, _rz, _ry, _rz):
                    psi = _apply_1q(psi, gate(next(cols)), q)
            for c, t in ring:
                psi = _apply_cry(psi, next(cols), c, t)
        else:
            for q in range(n):
                psi = _apply_1q(psi, _ry(next(cols)), q)
            for a, b in ring:
                psi = _apply_cz(psi, a, b)
    if ansatz == "bel":
        for q in range(n):
            psi = _apply_1q(psi, _ry(next(cols)), q)
    assert next(cols, None) is None, "too many angles"
    return psi


def expectations_of_state(psi, n, readout):
    """<Z_0..Z_{n-1}> (then <X_0..X_{n-1}> for "xz") of states [B, 2, ..., 2]."""
    batch = psi.shape[0]
    out = []
    for q in range(n):
        v = np.moveaxis(psi, q + 1, 1).reshape(batch, 2, -1)
        out.append(np.sum(np.abs(v[:, 0]) ** 2 - np.abs(v[:, 1]) ** 2, axis=1))
    if readout == "xz":
        for q in range(n):
            v = np.moveaxis(psi, q + 1, 1).reshape(batch, 2, -1)
            out.append(2 * np.real(np.sum(np.conj(v[:, 0]) * v[:, 1], axis=1)))
    return np.stack(out, axis=1)


def reference_angles(z, scale, bias):
    """theta_g = scale_g * z[:, g mod latent_dim] + bias_g, written out per gate."""
    z = np.asarray(z, dtype=np.float64)
    latent = z.shape[1]
    return np.stack([scale[g] * z[:, g % latent] + bias[g] for g in range(len(scale))], axis=1)


def reference_outputs(z, scale, bias, n, layers, ansatz, readout):
    psi = reference_state(reference_angles(z, scale, bias), n, layers, ansatz)
    return expectations_of_state(psi, n, readout)


def count_angles(n, layers, ansatz):
    return n * (5 * layers + 1) if ansatz == "bel" else n * layers


# ---------------------------------------------------------------- helpers
def make_layer(n, layers, ansatz="bel", readout="z", latent_dim=None, seed=0, batch=5, **kw):
    """A built layer with random weights in [-1.5, 1.5] and noise z in [-1, 1]."""
    latent = latent_dim or n
    layer = StyleQuantumGenerator(n, layers, noise_dim=latent_dim, ansatz=ansatz,
                                  readout=readout, **kw)
    layer.build((None, latent))
    rng = np.random.default_rng(seed)
    g = count_angles(n, layers, ansatz)
    scale, bias = rng.uniform(-1.5, 1.5, g), rng.uniform(-1.5, 1.5, g)
    layer.set_weights([scale.astype(np.float32), bias.astype(np.float32)])
    z = rng.uniform(-1, 1, (batch, latent)).astype(np.float32)
    # The reference gets exactly the float32 values the layer holds.
    return layer, z, scale.astype(np.float32).astype(np.float64), \
        bias.astype(np.float32).astype(np.float64)


CASES = [(2, 1, None), (3, 2, None), (4, 1, 3), (5, 2, 7)]


# ---------------------------------------------------------------- outputs
@pytest.mark.parametrize("ansatz", ["bel", "simple"])
@pytest.mark.parametrize("readout", ["z", "xz"])
@pytest.mark.parametrize("n,layers,latent_dim", CASES)
def test_outputs_match_numpy_reference(n, layers, latent_dim, ansatz, readout):
    layer, z, scale, bias = make_layer(n, layers, ansatz, readout, latent_dim, seed=n + layers)
    got = layer(z).numpy()
    want = reference_outputs(z, scale, bias, n, layers, ansatz, readout)
    assert got.shape == (5, n * (2 if readout == "xz" else 1)) and got.dtype == np.float32
    np.testing.assert_allclose(got, want, atol=1e-5)


def _hand_built_cirq_circuit(qubits, layers, ansatz, angles, noise=None):
    """The ansatz transcribed again with cirq gates, independent of qlsgan_tf.layers.circuits."""
    n = len(qubits)
    it = iter(angles)
    ops = []

    def add(op):
        ops.append(op)
        if noise is not None:
            ops.extend(cirq.depolarize(noise).on(q) for q in op.qubits)

    ring = [(q, (q + 1) % n) for q in range(n)]
    for _ in range(layers):
        if ansatz == "bel":
            for q in qubits:
                for gate in (cirq.ry, cirq.rz, cirq.ry, cirq.rz):
                    add(gate(next(it)).on(q))
            for c, t in ring:
                add(cirq.ControlledGate(cirq.Ry(rads=next(it))).on(qubits[c], qubits[t]))
        else:
            for q in qubits:
                add(cirq.ry(next(it)).on(q))
            for a, b in ring:
                add(cirq.CZ(qubits[a], qubits[b]))
    if ansatz == "bel":
        for q in qubits:
            add(cirq.ry(next(it)).on(q))
    return cirq.Circuit(ops)


@pytest.mark.parametrize("ansatz", ["bel", "simple"])
def test_outputs_match_cirq_simulator_with_line_qubits(ansatz):
    n, layers = 3, 2
    layer, z, scale, bias = make_layer(n, layers, ansatz, "xz", seed=11, batch=3,
                                       qubit_type="line")
    assert layer.qubits == cirq.LineQubit.range(n)
    got = layer(z).numpy()
    qubits = cirq.LineQubit.range(n)
    observables = [cirq.Z(q) for q in qubits] + [cirq.X(q) for q in qubits]
    for row, angles in enumerate(reference_angles(z, scale, bias)):
        circuit = _hand_built_cirq_circuit(qubits, layers, ansatz, angles)
        state = cirq.Simulator(dtype=np.complex128).simulate(circuit).final_state_vector
        want = [cirq.PauliString(o).expectation_from_state_vector(
            state, {q: i for i, q in enumerate(qubits)}).real for o in observables]
        np.testing.assert_allclose(got[row], want, atol=1e-5)


def test_larger_batch_is_one_circuit_per_row():
    layer, z, scale, bias = make_layer(3, 1, "bel", "xz", latent_dim=2, seed=3, batch=64)
    got = layer(z).numpy()
    np.testing.assert_allclose(got, reference_outputs(z, scale, bias, 3, 1, "bel", "xz"),
                               atol=1e-5)
    # Rows are independent: one row alone gives the same values.
    np.testing.assert_allclose(layer(z[17:18]).numpy()[0], got[17], atol=1e-6)


# ---------------------------------------------------------------- gradients
def _finite_difference(f, x, h=1e-5):
    grad = np.zeros_like(x)
    for i in np.ndindex(x.shape):
        xp, xm = x.copy(), x.copy()
        xp[i] += h
        xm[i] -= h
        grad[i] = (f(xp) - f(xm)) / (2 * h)
    return grad


@pytest.mark.parametrize("n,layers,ansatz,readout,latent_dim,differentiator", [
    (2, 1, "bel", "z", 3, None),
    (3, 2, "bel", "xz", None, None),
    (3, 1, "simple", "xz", 2, None),
    (4, 2, "simple", "z", None, None),
    # The path used with shots and noise (parameter shift on the CRY decomposition), analytic.
    (3, 1, "bel", "xz", None, "parameter_shift"),
])
def test_gradients_match_finite_differences(n, layers, ansatz, readout, latent_dim,
                                            differentiator):
    layer, z, scale, bias = make_layer(n, layers, ansatz, readout, latent_dim, seed=7, batch=3,
                                       differentiator=differentiator)
    out_dim = n * (2 if readout == "xz" else 1)
    weights = np.random.default_rng(1).normal(size=(3, out_dim))  # a generic cotangent
    zt = tf.constant(z)
    with tf.GradientTape() as tape:
        tape.watch(zt)
        loss = tf.reduce_sum(layer(zt) * tf.constant(weights, tf.float32))
    g_scale, g_bias, g_z = (g.numpy() for g in tape.gradient(
        loss, [layer.style_scale, layer.style_bias, zt]))

    def f(s, b, zz):
        return float(np.sum(reference_outputs(zz, s, b, n, layers, ansatz, readout) * weights))

    z64 = z.astype(np.float64)
    fd = {
        "scale": _finite_difference(lambda s: f(s, bias, z64), scale),
        "bias": _finite_difference(lambda b: f(scale, b, z64), bias),
        "z": _finite_difference(lambda zz: f(scale, bias, zz), z64),
    }
    for name, got in (("scale", g_scale), ("bias", g_bias), ("z", g_z)):
        err = np.abs(got - fd[name]) / np.maximum(1.0, np.abs(fd[name]))
        assert err.max() < 1e-3, f"{name}: max relative error {err.max():.2e}"


# ---------------------------------------------------------------- shots and noise
def test_shot_outputs_converge_to_analytic():
    shots = 4000
    layer, z, scale, bias = make_layer(3, 1, "bel", "xz", seed=5, batch=4, repetitions=shots)
    got = layer(z).numpy()
    want = reference_outputs(z, scale, bias, 3, 1, "bel", "xz")
    # Each expectation is a mean of `shots` +-1 outcomes: sigma = sqrt((1 - <P>^2) / shots).
    sigma = np.sqrt(np.maximum(1 - want ** 2, 1e-3) / shots)
    assert np.all(np.abs(got - want) < 4.5 * sigma + 1e-6), np.abs(got - want) / sigma
    # Not accidentally exact: the estimates are averages of finitely many shots.
    assert np.any(got != np.float32(want))
    # More shots -> closer, on average (deterministic in expectation, 40x more shots).
    few, _, _, _ = make_layer(3, 1, "bel", "xz", seed=5, batch=4, repetitions=100)
    assert np.abs(few(z).numpy() - want).mean() > np.abs(got - want).mean()


def test_shot_gradients_converge_to_analytic():
    shots = 20000
    layer, z, scale, bias = make_layer(2, 1, "bel", "z", seed=2, batch=1, repetitions=shots)
    with tf.GradientTape() as tape:
        loss = tf.reduce_sum(layer(z))
    got = tape.gradient(loss, layer.style_bias).numpy()
    want = _finite_difference(
        lambda b: float(np.sum(reference_outputs(z, scale, b, 2, 1, "bel", "z"))), bias)
    # Each component sums at most 8 shifted estimates of 1/2-weighted +-1 means: std < 0.01.
    np.testing.assert_allclose(got, want, atol=0.05)


def test_noise_zero_with_trajectories_equals_analytic():
    layer, z, scale, bias = make_layer(3, 1, "bel", "xz", seed=9, batch=3, noise=0.0,
                                       repetitions=50)
    want = reference_outputs(z, scale, bias, 3, 1, "bel", "xz")
    np.testing.assert_allclose(layer(z).numpy(), want, atol=1e-5)


@pytest.mark.parametrize("ansatz", ["bel", "simple"])
def test_noise_matches_density_matrix_reference(ansatz):
    p, trajectories = 0.03, 4000
    n, layers = 3, 1
    layer, z, scale, bias = make_layer(n, layers, ansatz, "xz", seed=4, batch=2, noise=p,
                                       repetitions=trajectories)
    got = layer(z).numpy()
    qubits = cirq.GridQubit.rect(1, n)
    observables = [cirq.Z(q) for q in qubits] + [cirq.X(q) for q in qubits]
    sim = cirq.DensityMatrixSimulator(dtype=np.complex128)
    noiseless = reference_outputs(z, scale, bias, n, layers, ansatz, "xz")
    for row, angles in enumerate(reference_angles(z, scale, bias)):
        rho = sim.simulate(_hand_built_cirq_circuit(qubits, layers, ansatz, angles, noise=p)
                           ).final_density_matrix
        want = np.array([cirq.PauliString(o).expectation_from_density_matrix(
            rho, {q: i for i, q in enumerate(qubits)}).real for o in observables])
        # Trajectory means of values in [-1, 1]: sigma <= 1 / sqrt(trajectories).
        np.testing.assert_allclose(got[row], want, atol=4.5 / np.sqrt(trajectories))
        # Depolarizing noise shrinks every expectation toward 0.
        assert np.all(np.abs(want) < np.abs(noiseless[row]) + 1e-12)
        assert np.mean(np.abs(got[row])) < np.mean(np.abs(noiseless[row]))


def test_noisy_layer_is_differentiable():
    layer, z, _, _ = make_layer(2, 1, "bel", "z", seed=1, batch=2, noise=0.01, repetitions=200)
    with tf.GradientTape() as tape:
        loss = tf.reduce_sum(layer(z))
    grads = tape.gradient(loss, layer.trainable_weights)
    assert all(g is not None and np.all(np.isfinite(g.numpy())) for g in grads)


# ---------------------------------------------------------------- weights and circuits
def test_weights_initialisation_and_capacity():
    layer = StyleQuantumGenerator(3, 2)
    layer.build((None, 3))
    assert [w.name.split("/")[-1].split(":")[0] for w in layer.trainable_weights] == \
        ["style_scale", "style_bias"]
    scale, bias = layer.get_weights()
    assert scale.shape == bias.shape == (33,) == (layer.n_angles,)
    assert np.all(np.abs(scale) <= 0.15) and np.all(np.abs(bias) <= 0.15)
    assert not np.allclose(scale, bias)  # one initializer instance per weight
    assert layer.capacity == 66 == layer.count_params()
    assert StyleQuantumGenerator(4, 3, ansatz="simple").capacity == 24
    shared = tf.keras.initializers.RandomUniform(-1.0, 1.0)
    layer = StyleQuantumGenerator(3, 1, scale_initializer=shared, bias_initializer=shared)
    layer.build((None, 3))
    assert not np.allclose(*layer.get_weights())
    layer = StyleQuantumGenerator(3, 1, scale_initializer="ones", bias_initializer="zeros")
    layer.build((None, 3))
    assert np.all(layer.get_weights()[0] == 1) and np.all(layer.get_weights()[1] == 0)


def test_output_dim_and_compute_output_shape():
    layer = StyleQuantumGenerator(4, 1, readout="xz", noise_dim=6)
    assert layer.output_dim == 8 and layer.noise_dim == 6
    assert layer.compute_output_shape((None, 6)).as_list() == [None, 8]
    assert StyleQuantumGenerator(4, 1).output_dim == 4
    model = tf.keras.Sequential([tf.keras.Input((6,)), layer])
    assert model.output_shape == (None, 8)


def test_circuit_and_draw():
    layer = StyleQuantumGenerator(3, 1)
    c = layer.circuit()
    assert len(list(c.all_operations())) == 18
    assert len(cirq.parameter_names(c)) == 18
    text = layer.draw()
    assert "Ry(theta_0)" in text and "Rz(theta_1)" in text and "@" in text
    assert all(f"(0, {q})" in text for q in range(3))
    noisy = StyleQuantumGenerator(3, 1, noise=0.01, repetitions=10).circuit()
    assert any(isinstance(op.gate, cirq.DepolarizingChannel) for op in noisy.all_operations())


def _qasm_state(qasm, n):
    """Simulate the subset of OpenQASM 2.0 that cirq emits here, with numpy (global phase free)."""
    psi = np.zeros((1,) + (2,) * n, dtype=np.complex128)
    psi[(0,) + (0,) * n] = 1

    def val(expr):
        return float(eval(expr, {"pi": np.pi}))  # cirq writes numbers like pi*0.123

    for line in qasm.splitlines():
        m = re.match(r"^(\w+)(?:\(([^)]*)\))?\s+(.+);$", line.strip())
        if not m or m.group(1) in ("qreg", "creg", "include", "OPENQASM"):
            continue
        name, params, args = m.groups()
        p = [val(x) for x in params.split(",")] if params else []
        qs = [int(x) for x in re.findall(r"q\[(\d+)\]", args)]
        if name == "ry":
            psi = _apply_1q(psi, _ry([p[0]]), qs[0])
        elif name == "rz":
            psi = _apply_1q(psi, _rz([p[0]]), qs[0])
        elif name == "u3":
            t, ph, la = p
            c, s = np.cos(t / 2), np.sin(t / 2)
            u = np.array([[c, -np.exp(1j * la) * s],
                          [np.exp(1j * ph) * s, np.exp(1j * (ph + la)) * c]])
            psi = _apply_1q(psi, u[None], qs[0])
        elif name == "cx":
            sel = [slice(None)] * psi.ndim
            sel[qs[0] + 1] = 1
            sub = psi[tuple(sel)].copy()
            axis = qs[1] + 1 if qs[1] < qs[0] else qs[1]
            psi[tuple(sel)] = np.flip(sub, axis=axis)
        elif name == "cz":
            psi = _apply_cz(psi, qs[0], qs[1])
        else:
            raise AssertionError(f"unexpected QASM gate {line!r}")
    return psi


@pytest.mark.parametrize("ansatz", ["bel", "simple"])
def test_to_qasm_simulates_to_layer_outputs(ansatz):
    layer, z, _, _ = make_layer(3, 1, ansatz, "xz", latent_dim=2, seed=8, batch=1)
    qasm = layer.to_qasm(z[0])
    assert qasm.lstrip().startswith("//") and "OPENQASM 2.0;" in qasm and "qreg q[3];" in qasm
    want = expectations_of_state(_qasm_state(qasm, 3), 3, "xz")
    np.testing.assert_allclose(layer(z).numpy(), want, atol=1e-5)
    assert layer.to_qasm(z) == qasm  # [1, latent_dim] accepted too


# ---------------------------------------------------------------- serialization and training
def test_config_round_trip():
    layer = StyleQuantumGenerator(3, 2, noise_dim=4, ansatz="simple", readout="xz",
                                  differentiator="parameter_shift",
                                  repetitions=64, noise=0.02, qubit_type="line", name="gen")
    config = layer.get_config()
    assert config["differentiator"] == {"class_name": "parameter_shift", "config": {}}
    clone = StyleQuantumGenerator.from_config(config)
    assert clone.get_config() == config
    assert tf.keras.utils.get_registered_name(StyleQuantumGenerator) == \
        "qlsgan_tf>StyleQuantumGenerator"
    import tensorflow_quantum as tfq
    fd = StyleQuantumGenerator(2, 1, differentiator=tfq.differentiators.ForwardDifference(
        error_order=2, grid_spacing=0.01))
    assert fd.get_config()["differentiator"] == {
        "class_name": "forward_difference", "config": {"error_order": 2, "grid_spacing": 0.01}}
    fast = StyleQuantumGenerator(3, 1, backend="fast")
    assert StyleQuantumGenerator.from_config(fast.get_config()).backend == "fast"
    from qlsgan_tf.constants import SIMPLE
    by_object = StyleQuantumGenerator(3, 2, ansatz=SIMPLE)  # kept by name
    assert by_object.get_config()["ansatz"] == "simple"
    assert by_object.circuit() == StyleQuantumGenerator(3, 2, ansatz="simple").circuit()


def _model(layer, latent):
    return tf.keras.Sequential([tf.keras.Input((latent,)), layer, tf.keras.layers.Dense(2)])


@pytest.mark.parametrize("fmt", ["keras", "savedmodel"])
def test_save_and_reload_give_identical_outputs(tmp_path, fmt):
    layer, z, _, _ = make_layer(3, 2, "bel", "xz", latent_dim=4, seed=12, batch=6)
    model = _model(layer, 4)
    before = model(z).numpy()
    path = str(tmp_path / ("m.keras" if fmt == "keras" else "saved"))
    model.save(path)
    loaded = tf.keras.models.load_model(path)
    reloaded_layer = loaded.layers[0]
    assert isinstance(reloaded_layer, StyleQuantumGenerator)
    assert reloaded_layer.get_config() == layer.get_config()
    np.testing.assert_array_equal(loaded(z).numpy(), before)
    for a, b in zip(loaded.get_weights(), model.get_weights()):
        np.testing.assert_array_equal(a, b)
    if fmt == "savedmodel":  # the raw SavedModel signature, without Keras
        raw = tf.saved_model.load(path)
        fn = raw.signatures["serving_default"]
        out = list(fn(tf.constant(z)).values())[0].numpy()
        np.testing.assert_allclose(out, before, atol=1e-6)


def test_trains_inside_sequential_with_fit():
    tf.keras.utils.set_random_seed(0)
    model = tf.keras.Sequential([tf.keras.Input((2,)),
                                 StyleQuantumGenerator(2, 1, readout="xz")])
    model.compile(optimizer=tf.keras.optimizers.Adam(0.1), loss="mse")
    z = np.random.default_rng(0).uniform(-1, 1, (64, 2)).astype(np.float32)
    target = np.tile(np.array([[0.6, -0.4, 0.3, 0.5]], np.float32), (64, 1))
    first = model.evaluate(z, target, verbose=0)
    history = model.fit(z, target, epochs=25, batch_size=32, verbose=0)
    last = history.history["loss"][-1]
    assert last < 0.2 * first, (first, last)


# ---------------------------------------------------------------- input checks
@pytest.mark.parametrize("kwargs,err,match", [
    (dict(n_qubits=1, n_layers=1), ValueError, "n_qubits must be an int >= 2"),
    (dict(n_qubits=3, n_layers=0), ValueError, "n_layers must be a positive int"),
    (dict(n_qubits=3.5, n_layers=1), TypeError, "n_qubits must be an int"),
    (dict(n_qubits=3, n_layers=1, noise_dim=0), ValueError, "noise_dim"),
    (dict(n_qubits=3, n_layers=1, noise_dim="4"), TypeError, "noise_dim"),
    (dict(n_qubits=3, n_layers=1, ansatz="hea"), ValueError, "ansatz must be one of"),
    (dict(n_qubits=3, n_layers=1, readout="y"), ValueError, "readout must be one of"),
    (dict(n_qubits=3, n_layers=1, backend="qsim"), ValueError, "backend must be one of"),
    (dict(n_qubits=3, n_layers=1, qubit_type="hex"), ValueError, "qubit_type must be one of"),
    (dict(n_qubits=3, n_layers=1, repetitions=0), ValueError, "repetitions must be a positive"),
    (dict(n_qubits=3, n_layers=1, repetitions=10.5), TypeError, "repetitions must be"),
    (dict(n_qubits=3, n_layers=1, repetitions=True), TypeError, "repetitions must be"),
    (dict(n_qubits=3, n_layers=1, noise=-0.1, repetitions=10), ValueError, "noise must be a"),
    (dict(n_qubits=3, n_layers=1, noise=1.5, repetitions=10), ValueError, "noise must be a"),
    (dict(n_qubits=3, n_layers=1, noise="high", repetitions=10), TypeError, "noise must be"),
    (dict(n_qubits=3, n_layers=1, noise=0.01), ValueError, "noise requires repetitions"),
    (dict(n_qubits=3, n_layers=1, backend="fast", repetitions=10), ValueError,
     "backend='fast'.*repetitions"),
    (dict(n_qubits=3, n_layers=1, backend="fast", noise=0.1, repetitions=10), ValueError,
     "backend='fast'"),
    (dict(n_qubits=3, n_layers=1, backend="fast", differentiator="adjoint"), ValueError,
     "differentiator must be None"),
    (dict(n_qubits=3, n_layers=1, repetitions=10, differentiator="adjoint"), ValueError,
     "Adjoint differentiator needs analytic"),
    (dict(n_qubits=3, n_layers=1, differentiator="magic"), ValueError,
     "differentiator must be one of"),
    (dict(n_qubits=3, n_layers=1, differentiator=3), TypeError, "differentiator must be"),
])
def test_constructor_errors(kwargs, err, match):
    with pytest.raises(err, match=match):
        StyleQuantumGenerator(**kwargs)


def test_call_errors():
    layer = StyleQuantumGenerator(3, 1)
    with pytest.raises(ValueError, match="rank 2"):
        layer(tf.zeros([2, 3, 1]))
    with pytest.raises(ValueError, match="rank 2"):
        StyleQuantumGenerator(3, 1)(tf.zeros([3]))
    with pytest.raises(ValueError, match="noise_dim=3"):
        StyleQuantumGenerator(3, 1)(tf.zeros([2, 4]))
    with pytest.raises(TypeError, match="floating-point noise, got dtype int32"):
        StyleQuantumGenerator(3, 1)(tf.zeros([2, 3], tf.int32))
    layer = StyleQuantumGenerator(3, 1)
    layer(tf.zeros([2, 3]))
    with pytest.raises(ValueError, match="noise_dim=3"):
        layer(tf.zeros([2, 5]))
    with pytest.raises(tf.errors.InvalidArgumentError, match="NaN or Inf"):
        layer(tf.constant([[0.0, np.nan, 0.0]]))
    with pytest.raises(tf.errors.InvalidArgumentError, match="NaN or Inf"):
        tf.function(layer)(tf.constant([[0.0, 0.0, np.inf]]))  # graph mode too
    with pytest.raises(ValueError, match="noise_dim=3"):
        tf.keras.Sequential([tf.keras.Input((4,)), StyleQuantumGenerator(3, 1)])
    # float64 noise is accepted (cast like any Keras layer's input).
    assert layer(tf.zeros([2, 3], tf.float64)).dtype == tf.float32


def test_qasm_and_config_errors():
    layer = StyleQuantumGenerator(3, 1)
    with pytest.raises(ValueError, match="no weights yet"):
        layer.to_qasm(np.zeros(3))
    layer.build((None, 3))
    with pytest.raises(ValueError, match=r"shape \(3,\)"):
        layer.to_qasm(np.zeros(4))

    import tensorflow_quantum as tfq

    class MyShift(tfq.differentiators.ParameterShift):
        pass

    custom = StyleQuantumGenerator(2, 1, differentiator=MyShift())
    custom(tf.zeros([1, 2]))  # usable
    with pytest.raises(ValueError, match="cannot serialize the custom differentiator"):
        custom.get_config()


# ---------------------------------------------------------------- executors
def test_fast_backend_runs_the_fast_executor_and_matches_reference():
    from qlsgan_tf.layers.style_generator import FastExecutor

    for ansatz in ("bel", "simple"):
        layer, z, scale, bias = make_layer(3, 2, ansatz, "xz", latent_dim=4, seed=21,
                                           backend="fast")
        assert isinstance(layer._executor, FastExecutor)
        want = reference_outputs(z, scale, bias, 3, 2, ansatz, "xz")
        np.testing.assert_allclose(layer(z).numpy(), want, atol=1e-5)


def test_tfq_executor_uses_the_differentiator_it_is_given():
    """The executor alone, outside the layer: TFQ's op built by the injected differentiator."""
    import tensorflow_quantum as tfq

    from qlsgan_tf.layers import circuits
    from qlsgan_tf.layers.style_generator import TFQExecutor

    qubits = circuits.make_qubits(2, "grid")
    symbols = circuits.angle_symbols(circuits.n_angles(2, 1, "simple"))
    circuit = circuits.style_circuit(qubits, 1, "simple", symbols)

    # A coarse forward difference: its gradient is told apart from the exact one.
    executor = TFQExecutor(circuit, circuits.readout_operators(qubits, "z"), symbols,
                           tfq.differentiators.ForwardDifference(grid_spacing=0.5))
    a = np.array([[0.3, -0.7]])
    angles = tf.constant(a, tf.float32)
    with tf.GradientTape() as tape:
        tape.watch(angles)
        out = executor(angles)
        total = tf.reduce_sum(out)
    grads = tape.gradient(total, angles).numpy()
    # simple ansatz, one layer: RY(a0) RY(a1), then CZ (diagonal) -> <Z_q> = cos(a_q).
    np.testing.assert_allclose(out.numpy(), np.cos(a), atol=1e-5)
    np.testing.assert_allclose(grads, (np.cos(a + 0.5) - np.cos(a)) / 0.5, atol=1e-4)
    assert not np.allclose(grads, -np.sin(a), atol=1e-2)
