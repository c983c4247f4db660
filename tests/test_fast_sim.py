"""The fast TensorFlow-ops simulator equals TFQ (Expectation + Adjoint) and a numpy statevector.

References:
* TFQ's ``tfq.layers.Expectation`` with the ``Adjoint`` differentiator on the cirq circuit of
  ``circuits.style_circuit`` (outputs and gradients w.r.t. the angles);
* an independent float64 numpy statevector simulation written here, gate by gate from
  ``circuits.gate_list`` (outputs, and gradients by central finite differences).
Gradients are compared relative to ``max(1, |g|)``. TFQ's float32 adjoint gradients are themselves
only accurate to 1e-5..5e-5 against float64 finite differences (measured on these cases, where the
fast simulator is within 5e-7), so the comparison with TFQ allows 1e-4 and the comparison with the
float64 reference holds the fast simulator to 1e-5.
"""
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402
import pytest  # noqa: E402
import tensorflow as tf  # noqa: E402
import tensorflow_quantum as tfq  # noqa: E402

from qlsgan_tf.constants import ANSATZE, Ansatz  # noqa: E402
from qlsgan_tf.layers import circuits, fast_sim  # noqa: E402

#: Ansätze without a closed-form kernel (simulated gate by gate), unregistered: what adding
#: one to ``constants.ANSATZE`` asks of the simulators, checked here against TFQ.
UNREGISTERED = [Ansatz("rx-rz-cz", ("rx", "rz"), "cz", ("ry",)),
                Ansatz("ry-cry", ("ry",), "cry"),
                Ansatz("ry-rz-cry-rx", ("ry", "rz"), "cry", ("rx", "rz"))]
#: Every registered ansatz (by name) and the unregistered ones above.
ALL_ANSATZE = [*ANSATZE, *UNREGISTERED]


def _id(ansatz):
    return ansatz if isinstance(ansatz, str) else ansatz.name


CASES = [(2, 1), (2, 3), (3, 2), (4, 1), (5, 2)]
OUT_TOL = 1e-5
GRAD_TOL = 1e-5  # against float64 finite differences
TFQ_GRAD_TOL = 1e-4  # what TFQ's own float32 adjoint achieves


# ---------------------------------------------------------------------------------------------
# References


def numpy_expectations(angles, n, n_layers, ansatz, readout):
    """Float64 statevector simulation, gate by gate, qubit 0 = most significant bit (cirq)."""
    angles = np.asarray(angles, np.float64)
    gates = circuits.gate_list(n, n_layers, ansatz)
    out = []
    for row in angles:
        psi = np.zeros([2] * n, np.complex128)
        psi[(0,) * n] = 1.0
        for gate in gates:
            theta = None if gate.angle_index is None else row[gate.angle_index]
            if gate.name in ("ry", "rz", "rx"):
                c, s = np.cos(theta / 2), np.sin(theta / 2)
                u = {"ry": np.array([[c, -s], [s, c]]),
                     "rx": np.array([[c, -1j * s], [-1j * s, c]]),
                     "rz": np.diag([np.exp(-0.5j * theta), np.exp(0.5j * theta)])}[gate.name]
                q = gate.qubits[0]
                psi = np.moveaxis(np.tensordot(u, psi, axes=([1], [q])), 0, q)
            elif gate.name == "cry":
                control, target = gate.qubits
                c, s = np.cos(theta / 2), np.sin(theta / 2)
                u = np.array([[c, -s], [s, c]])
                psi = np.moveaxis(psi, (control, target), (0, 1)).copy()
                psi[1] = np.tensordot(u, psi[1], axes=([1], [0]))
                psi = np.moveaxis(psi, (0, 1), (control, target))
            elif gate.name == "cz":
                a, b = gate.qubits
                psi = np.moveaxis(psi, (a, b), (0, 1)).copy()
                psi[1, 1] *= -1
                psi = np.moveaxis(psi, (0, 1), (a, b))
        z, x = [], []
        for q in range(n):
            moved = np.moveaxis(psi, q, 0)
            z.append(np.sum(np.abs(moved[0]) ** 2) - np.sum(np.abs(moved[1]) ** 2))
            x.append(2 * np.real(np.vdot(moved[0], moved[1])))
        out.append(z + (x if readout == "xz" else []))
    return np.array(out)


_TFQ_CACHE = {}


def tfq_expectations(n, n_layers, ansatz, readout):
    """A function angles -> TFQ expectations (Expectation + Adjoint) on the same circuit."""
    key = (n, n_layers, ansatz, readout)
    if key not in _TFQ_CACHE:
        qubits = circuits.make_qubits(n)
        symbols = circuits.angle_symbols(circuits.n_angles(n, n_layers, ansatz))
        program = tfq.convert_to_tensor(
            [circuits.style_circuit(qubits, n_layers, ansatz, symbols)])
        operators = tfq.convert_to_tensor([circuits.readout_operators(qubits, readout)])
        layer = tfq.layers.Expectation(differentiator=tfq.differentiators.Adjoint())
        names = [str(s) for s in symbols]

        def run(angles):
            batch = tf.shape(angles)[0]
            return layer(tf.tile(program, [batch]), symbol_names=names, symbol_values=angles,
                         operators=tf.tile(operators, [batch, 1]))

        _TFQ_CACHE[key] = run
    return _TFQ_CACHE[key]


def value_and_grad(fn, angles, cotangent):
    angles = tf.constant(angles)
    with tf.GradientTape() as tape:
        tape.watch(angles)
        out = fn(angles)
        loss = tf.reduce_sum(out * cotangent)
    return out.numpy(), tape.gradient(loss, angles).numpy()


def random_angles(n, n_layers, ansatz, batch=4, seed=0):
    rng = np.random.default_rng(seed)
    return rng.uniform(-np.pi, np.pi,
                       (batch, circuits.n_angles(n, n_layers, ansatz))).astype(np.float32)


def assert_grad_close(actual, expected, tol=GRAD_TOL):
    scale = np.maximum(1.0, np.abs(expected))
    worst = np.max(np.abs(actual - expected) / scale)
    assert worst <= tol, f"gradient differs by {worst:.2e} (relative to max(1, |g|))"


# ---------------------------------------------------------------------------------------------
# Equality with TFQ


@pytest.mark.parametrize("ansatz", ALL_ANSATZE, ids=_id)
@pytest.mark.parametrize("readout", ["z", "xz"])
@pytest.mark.parametrize("n,n_layers", CASES)
def test_outputs_and_gradients_equal_tfq(n, n_layers, ansatz, readout):
    angles = random_angles(n, n_layers, ansatz, seed=n * 10 + n_layers)
    dim = circuits.output_dim(n, readout)
    cotangent = tf.constant(np.random.default_rng(1).normal(size=(4, dim)).astype(np.float32))
    out, grad = value_and_grad(
        lambda a: fast_sim.style_expectations(a, n, n_layers, ansatz, readout), angles, cotangent)
    ref_out, ref_grad = value_and_grad(tfq_expectations(n, n_layers, ansatz, readout), angles,
                                       cotangent)
    assert out.shape == (4, dim) and out.dtype == np.float32
    np.testing.assert_allclose(out, ref_out, atol=OUT_TOL, rtol=0)
    assert_grad_close(grad, ref_grad, tol=TFQ_GRAD_TOL)


@pytest.mark.parametrize("ansatz", ALL_ANSATZE, ids=_id)
def test_eager_graph_and_xla_paths_agree(ansatz):
    """Eager calls (a cached tf.function), ops traced inline into a caller's tf.function, and
    the XLA-compiled function give the same outputs and gradients."""
    n, n_layers = 4, 2
    angles = random_angles(n, n_layers, ansatz, seed=3)
    cot = tf.ones([4, 2 * n])

    def eager(a):
        return fast_sim.style_expectations(a, n, n_layers, ansatz, "xz")

    def xla(a):
        return fast_sim.style_expectations(a, n, n_layers, ansatz, "xz", jit_compile=True)

    @tf.function
    def in_graph(a):
        with tf.GradientTape() as tape:
            tape.watch(a)
            out = eager(a)
            loss = tf.reduce_sum(out * cot)
        return out, tape.gradient(loss, a)

    expected = value_and_grad(eager, angles, cot)
    graph_out, graph_grad = in_graph(tf.constant(angles))
    for out, grad in [value_and_grad(xla, angles, cot), (graph_out.numpy(), graph_grad.numpy())]:
        np.testing.assert_allclose(out, expected[0], atol=1e-6)
        np.testing.assert_allclose(grad, expected[1], atol=1e-5)


@pytest.mark.parametrize("chain", [1, 3])
def test_edge_merging_does_not_change_results(chain):
    """Merging 1 or 3 ring edges per block step gives the default (2) results."""
    n, n_layers = 5, 2
    for ansatz in ("bel", "simple"):
        angles = random_angles(n, n_layers, ansatz, seed=4)
        expected = fast_sim.style_expectations(angles, n, n_layers, ansatz, "xz")
        got = fast_sim.style_expectations(angles, n, n_layers, ansatz, "xz", chain=chain)
        np.testing.assert_allclose(got.numpy(), expected.numpy(), atol=1e-6)


@pytest.mark.parametrize("n,n_layers", [(2, 2), (5, 3)])
def test_adjoint_gradient_equals_autodiff(n, n_layers):
    """gradient="adjoint" (state recomputed backwards) gives autodiff's gradients and TFQ's."""
    angles = random_angles(n, n_layers, "bel", seed=6)
    cot = tf.constant(np.random.default_rng(3).normal(size=(4, 2 * n)), tf.float32)

    def run(gradient):
        @tf.function
        def value_and_gradient(a):
            with tf.GradientTape() as tape:
                tape.watch(a)
                out = fast_sim.style_expectations(a, n, n_layers, "bel", "xz",
                                                  gradient=gradient)
                loss = tf.reduce_sum(out * cot)
            return out, tape.gradient(loss, a)
        return [t.numpy() for t in value_and_gradient(tf.constant(angles))]

    expected = run("autodiff")
    out, grad = run("adjoint")
    np.testing.assert_array_equal(out, expected[0])
    assert_grad_close(grad, expected[1], tol=GRAD_TOL)
    _, tfq_grad = value_and_grad(tfq_expectations(n, n_layers, "bel", "xz"), angles, cot)
    assert_grad_close(grad, tfq_grad, tol=TFQ_GRAD_TOL)


# ---------------------------------------------------------------------------------------------
# Independent numpy reference


@pytest.mark.parametrize("ansatz,readout,n,n_layers",
                         [("bel", "xz", 3, 2), ("bel", "z", 7, 1), ("simple", "xz", 5, 3)])
def test_outputs_equal_numpy_statevector(ansatz, readout, n, n_layers):
    angles = random_angles(n, n_layers, ansatz, batch=3, seed=7)
    got = fast_sim.style_expectations(angles, n, n_layers, ansatz, readout).numpy()
    np.testing.assert_allclose(got, numpy_expectations(angles, n, n_layers, ansatz, readout),
                               atol=2e-6, rtol=0)


@pytest.mark.parametrize("ansatz,readout,n,n_layers",
                         [("bel", "xz", 3, 2), ("simple", "xz", 4, 2), ("bel", "z", 2, 1)])
def test_gradient_equals_finite_differences_of_numpy_reference(ansatz, readout, n, n_layers):
    angles = random_angles(n, n_layers, ansatz, batch=2, seed=11)
    cot = np.random.default_rng(2).normal(size=(2, circuits.output_dim(n, readout)))
    _, grad = value_and_grad(
        lambda a: fast_sim.style_expectations(a, n, n_layers, ansatz, readout), angles,
        tf.constant(cot, tf.float32))
    eps = 1e-6
    fd = np.zeros(angles.shape)
    base = angles.astype(np.float64)
    for g in range(angles.shape[1]):
        shift = np.zeros_like(base)
        shift[:, g] = eps
        up = numpy_expectations(base + shift, n, n_layers, ansatz, readout)
        down = numpy_expectations(base - shift, n, n_layers, ansatz, readout)
        fd[:, g] = np.sum((up - down) * cot, axis=1) / (2 * eps)
    assert_grad_close(grad, fd, tol=GRAD_TOL)


def test_output_is_physical_at_larger_n():
    """n=9 (three readout windows): expectations stay in [-1, 1] and match numpy."""
    angles = random_angles(9, 1, "bel", batch=2, seed=5)
    got = fast_sim.style_expectations(angles, 9, 1, "bel", "xz").numpy()
    assert np.all(np.abs(got) <= 1 + 1e-6)
    np.testing.assert_allclose(got, numpy_expectations(angles, 9, 1, "bel", "xz"), atol=2e-6)


# ---------------------------------------------------------------------------------------------
# Bad inputs


@pytest.mark.parametrize("kwargs,error,match", [
    (dict(n_qubits=1), ValueError, "n_qubits"),
    (dict(n_layers=0), ValueError, "n_layers"),
    (dict(n_qubits=2.5), TypeError, "n_qubits"),
    (dict(ansatz="hea"), ValueError, "ansatz"),
    (dict(readout="y"), ValueError, "readout"),
    (dict(chain=0), ValueError, "chain must be a positive int"),
    (dict(gradient="backprop"), ValueError, "gradient must be one of"),
])
def test_bad_arguments(kwargs, error, match):
    args = dict(n_qubits=3, n_layers=1, ansatz="bel", readout="z")
    args.update(kwargs)
    with pytest.raises(error, match=match):
        fast_sim.style_expectations(tf.zeros([1, 18]), **args)


def test_bad_angles():
    with pytest.raises(TypeError, match="float32"):
        fast_sim.style_expectations(tf.zeros([2, 18], tf.float64), 3, 1)
    with pytest.raises(ValueError, match="18 columns"):
        fast_sim.style_expectations(tf.zeros([2, 17]), 3, 1)
    with pytest.raises(ValueError, match="shape"):
        fast_sim.style_expectations(tf.zeros([18]), 3, 1)


# ---------------------------------------------------------------------------------------------
# Through the Keras layer: backend="fast" equals backend="tfq"


def _layer_pair(n, n_layers, ansatz, readout, latent_dim):
    from qlsgan_tf.layers import StyleQuantumGenerator

    layers = {}
    for backend in ("tfq", "fast"):
        layer = StyleQuantumGenerator(n, n_layers, noise_dim=latent_dim, ansatz=ansatz,
                                      readout=readout, backend=backend)
        layer.build([None, latent_dim])
        layers[backend] = layer
    rng = np.random.default_rng(n + n_layers)
    count = layers["tfq"].n_angles
    scale = rng.uniform(-1.5, 1.5, count).astype(np.float32)  # larger than the default init
    bias = rng.uniform(-np.pi, np.pi, count).astype(np.float32)
    for layer in layers.values():
        layer.style_scale.assign(scale)
        layer.style_bias.assign(bias)
    return layers


@pytest.mark.parametrize("ansatz,readout,n,n_layers,latent_dim",
                         [("bel", "xz", 3, 2, 3), ("bel", "z", 2, 1, 5),
                          ("simple", "xz", 5, 2, 4), ("simple", "z", 4, 3, 4)])
def test_layer_fast_backend_equals_tfq_backend(ansatz, readout, n, n_layers, latent_dim):
    layers = _layer_pair(n, n_layers, ansatz, readout, latent_dim)
    z = tf.constant(np.random.default_rng(9).uniform(-1, 1, (6, latent_dim)), tf.float32)
    cot = tf.constant(np.random.default_rng(10).normal(
        size=(6, circuits.output_dim(n, readout))), tf.float32)
    results = {}
    for backend, layer in layers.items():
        with tf.GradientTape() as tape:
            tape.watch(z)
            out = layer(z)
            loss = tf.reduce_sum(out * cot)
        grads = tape.gradient(loss, [layer.style_scale, layer.style_bias, z])
        results[backend] = out.numpy(), [g.numpy() for g in grads]
    np.testing.assert_allclose(results["fast"][0], results["tfq"][0], atol=OUT_TOL, rtol=0)
    for fast_grad, tfq_grad in zip(results["fast"][1], results["tfq"][1]):
        assert_grad_close(fast_grad, tfq_grad, tol=TFQ_GRAD_TOL)


def test_fast_backend_survives_save_and_reload(tmp_path):
    from qlsgan_tf.layers import StyleQuantumGenerator

    layer = StyleQuantumGenerator(3, 2, noise_dim=3, ansatz="bel", readout="xz",
                                  backend="fast")
    model = tf.keras.Sequential([tf.keras.Input([3]), layer])
    z = tf.constant(np.random.default_rng(0).uniform(-1, 1, (5, 3)), tf.float32)
    expected = model(z).numpy()
    path = str(tmp_path / "fast.keras")
    model.save(path)
    reloaded = tf.keras.models.load_model(path)
    assert reloaded.layers[0].backend == "fast"
    assert reloaded.layers[0].get_config()["backend"] == "fast"
    np.testing.assert_array_equal(reloaded(z).numpy(), expected)
    # The reloaded fast layer still equals TFQ on the same weights.
    tfq_layer = StyleQuantumGenerator(3, 2, noise_dim=3, ansatz="bel", readout="xz")
    tfq_layer.build([None, 3])
    tfq_layer.set_weights(reloaded.layers[0].get_weights())
    np.testing.assert_allclose(tfq_layer(z).numpy(), expected, atol=OUT_TOL)


def test_fast_backend_survives_savedmodel(tmp_path):
    from qlsgan_tf.layers import StyleQuantumGenerator

    model = tf.keras.Sequential([tf.keras.Input([2]),
                                 StyleQuantumGenerator(2, 1, ansatz="simple", readout="xz",
                                                       backend="fast")])
    z = tf.constant(np.random.default_rng(1).uniform(-1, 1, (3, 2)), tf.float32)
    expected = model(z).numpy()
    model.save(str(tmp_path / "saved"), save_format="tf")
    reloaded = tf.keras.models.load_model(str(tmp_path / "saved"))
    assert reloaded.layers[0].backend == "fast"
    np.testing.assert_allclose(reloaded(z).numpy(), expected, atol=1e-7)


def test_fast_backend_trains_in_keras_fit():
    """A few fit steps through the fast layer lower a regression loss (gradients flow)."""
    from qlsgan_tf.layers import StyleQuantumGenerator

    tf.keras.utils.set_random_seed(0)
    model = tf.keras.Sequential([tf.keras.Input([2]),
                                 StyleQuantumGenerator(2, 1, readout="z", backend="fast")])
    model.compile(tf.keras.optimizers.Adam(0.1), "mse")
    z = np.random.default_rng(0).uniform(-1, 1, (32, 2)).astype(np.float32)
    target = np.tile([[0.3, -0.5]], (32, 1)).astype(np.float32)
    history = model.fit(z, target, epochs=15, batch_size=32, verbose=0)
    assert history.history["loss"][-1] < 0.5 * history.history["loss"][0]


# ---------------------------------------------------------------------------------------------
# The benchmark script itself (a tiny point, so that it does not rot)


def test_generator_benchmark_runs_and_backends_agree(tmp_path):
    import importlib.util
    import json
    import pathlib

    path = pathlib.Path(__file__).resolve().parents[1] / "benchmarks" / "generator.py"
    if not path.exists():  # e.g. Bazel runfiles hold the package and tests only
        pytest.skip(f"{path} is not part of this test tree")
    spec = importlib.util.spec_from_file_location("bench_generator", path)
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    out = tmp_path / "generator.json"
    assert bench.main(["--n", "2", "--layers", "1", "--batch", "4", "--repeats", "1",
                       "--warmup", "0", "--out", str(out)]) == 0
    (point,) = json.loads(out.read_text())["results"]
    assert set(point["backends"]) == {"tfq-raw", "layer-tfq", "layer-fast"}
    assert point["unavailable"] == {}
    for backend in ("layer-tfq", "layer-fast"):
        assert point["agreement"][backend]["max_abs_output_diff"] < OUT_TOL
        assert point["agreement"][backend]["max_rel_grad_diff"] < TFQ_GRAD_TOL
        assert point["backends"][backend]["grad_speedup"] > 0
    with pytest.raises(SystemExit):
        bench.parse_args(["--backends", "qsim"])


@pytest.mark.parametrize("ansatz", ALL_ANSATZE, ids=_id)
@pytest.mark.parametrize("readout", ["z", "xz"])
def test_layered_circuits_of_several_depths_equal_each_circuit_alone(ansatz, readout):
    """One graph, rows of depth 1, 3 and 2 padded to 4 layers (zero angles in the padding of
    "bel", whose zero-angle layer is the identity; any values for "simple", whose unused
    layers are masked): each row equals its circuit simulated alone (``PackedLatentGAN`` masks
    the gradients of the padding)."""
    n, max_layers, depths = 3, 4, [1, 3, 2]
    rng = np.random.default_rng(5)
    spec = circuits.get_ansatz(ansatz)
    width = circuits.n_angles(n, max_layers, ansatz)
    per_layer = spec.angles_per_layer * n
    final = spec.final_angles * n
    zero_padded = spec.zero_layer_is_identity
    padded = (np.zeros if zero_padded else lambda s: rng.uniform(-3, 3, s))(
        (len(depths), width)).astype(np.float32)
    alone = []
    for row, depth in enumerate(depths):
        own = rng.uniform(-3, 3, circuits.n_angles(n, depth, ansatz)).astype(np.float32)
        padded[row, :depth * per_layer] = own[:depth * per_layer]
        if final:
            padded[row, width - final:] = own[depth * per_layer:]
        alone.append(fast_sim.style_expectations(own[None], n, depth, ansatz, readout)[0])
    angles = tf.constant(padded)
    with tf.GradientTape() as tape:
        tape.watch(angles)
        out = fast_sim.layered_expectations(angles, n, max_layers, ansatz, readout,
                                            layers=tf.constant(depths))
    np.testing.assert_allclose(out.numpy(), np.stack(alone), atol=1e-5)
    grad = tape.gradient(out, angles).numpy()
    assert np.all(np.isfinite(grad)) and np.all(grad[:, :per_layer] != 0)
    if not zero_padded:  # masked layers: no gradient reaches the unused angles
        unused = slice(max_layers * per_layer)  # the layers, not the final rotations
        assert np.all(grad[0, unused][per_layer:] == 0)
        assert np.all(grad[2, unused][2 * per_layer:] == 0)
    layered_once = tf.function(lambda a: fast_sim.layered_expectations(
        a, n, max_layers, ansatz, readout, layers=tf.constant(depths)), jit_compile=True)
    np.testing.assert_allclose(layered_once(angles).numpy(), out.numpy(), atol=1e-5)
