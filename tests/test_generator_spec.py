"""GeneratorSpec: one label format, the readout rule, and capacity equal to the built model's."""
import subprocess
import sys

import pytest

from qlsgan_tf.constants import output_dim
from qlsgan_tf.models import capacity as capacity_lib
from qlsgan_tf.training.spec import GeneratorSpec, noise_width


@pytest.mark.parametrize("label, readout, depth", [
    ("q3x2", "z", 1), ("q2x10", "xz", 1), ("c300@3", "z", 1), ("c1200@6", "xz", 2),
    ("c15@2", "z", 0),
])
def test_label_round_trip(label, readout, depth):
    spec = GeneratorSpec.parse(label, readout=readout, generator_depth=depth)
    assert spec.label == label
    assert GeneratorSpec.parse(spec.label, readout=readout, generator_depth=depth) == spec


def test_labels_decode_to_sizes_and_capacities():
    q = GeneratorSpec.parse("q3x2")
    assert (q.kind, q.n_qubits, q.n_layers, q.noise_dim, q.output_dim) == ("quantum", 3, 2, 3, 3)
    assert q.capacity == 2 * 3 * (5 * 2 + 1)  # a scale and a bias per angle, n (5L + 1) angles
    assert GeneratorSpec.parse("q3x2", ansatz="simple").capacity == 2 * 3 * 2
    xz = GeneratorSpec.parse("q3x2", readout="xz")
    assert (xz.noise_dim, xz.output_dim) == (3, 6)
    c = GeneratorSpec.parse("c300@6", readout="xz", generator_depth=1)
    assert (c.kind, c.noise_dim, c.output_dim, c.budget) == ("classical", 3, 6, 300)
    assert c.hidden_units == tuple(capacity_lib.units_for_capacity(300, 3, 6, 1))
    assert abs(c.capacity - 300) / 300 < 0.1  # the nearest reachable count of that shape


@pytest.mark.parametrize("label", ["x3", "q3", "c300", "q3x2 ", "c-1@3", "", None, 32])
def test_unknown_labels_are_refused(label):
    with pytest.raises(ValueError, match="unknown generator label"):
        GeneratorSpec.parse(label)


def test_readout_rule():
    for n in (2, 3, 5):
        for readout in ("z", "xz"):
            assert noise_width(output_dim(n, readout), readout) == n
    with pytest.raises(ValueError, match="readout must be one of"):
        noise_width(4, "y")
    with pytest.raises(ValueError, match="readout must be one of"):
        GeneratorSpec.quantum(3, 1, readout="y")


def test_inconsistent_specs_are_refused():
    with pytest.raises(ValueError, match="has output_dim 3, got 6"):
        GeneratorSpec("quantum", n_qubits=3, n_layers=1, output_dim=6)
    with pytest.raises(ValueError, match="classical"):
        GeneratorSpec("quantum", n_qubits=3, n_layers=1, hidden_units=(4,))
    with pytest.raises(ValueError, match="n_layers must be a positive integer"):
        GeneratorSpec.quantum(3, 0)
    with pytest.raises(ValueError, match="output_dim must be a positive integer"):
        GeneratorSpec.classical(0, (4,))
    with pytest.raises(ValueError, match="kind must be one of"):
        GeneratorSpec("analog")


def test_a_classical_generator_given_by_widths_is_named_by_its_capacity():
    spec = GeneratorSpec.classical(3, (8, 4), noise_dim=5)
    assert spec.budget is None and spec.capacity == 5 * 8 + 8 + 8 * 4 + 4 + 4 * 3 + 3
    assert spec.label == f"c{spec.capacity}@3"


@pytest.mark.parametrize("spec", [
    GeneratorSpec.quantum(2, 2), GeneratorSpec.quantum(2, 1, readout="xz"),
    GeneratorSpec.quantum(3, 1, ansatz="simple"), GeneratorSpec.parse("c60@2"),
    GeneratorSpec.classical(4, (6, 3), noise_dim=2),
])
def test_build_has_the_specs_capacity_and_sizes(spec):
    import numpy as np

    model = spec.build(backend="fast")
    out = model(np.zeros((5, spec.noise_dim), np.float32))
    assert out.shape == (5, spec.output_dim)
    assert model.count_params() == spec.capacity


def test_pack_config_is_what_the_packed_trainer_reads():
    from qlsgan_tf.training.packed import initial_weights

    for spec in (GeneratorSpec.quantum(2, 2), GeneratorSpec.parse("c60@2")):
        g_weights, _ = initial_weights(spec.pack_config(), (4,), spec.output_dim, 0)
        assert sum(w.size for w in g_weights) == spec.capacity


def test_spec_and_labels_import_without_tensorflow():
    code = ("import sys; from qlsgan_tf.training.spec import GeneratorSpec; "
            "s = GeneratorSpec.parse('c300@3'); s.capacity; s.label; "
            "assert 'tensorflow' not in sys.modules, 'tensorflow imported'")
    subprocess.run([sys.executable, "-c", code], check=True)
