"""Names and circuit formulas shared by the layers, the trainers, the study and the CLI.

TensorFlow-free and import-free, so that the CLI and configuration code can use them without
loading TensorFlow, TFQ or cirq. ``layers.circuits`` builds the circuits these formulas count.
"""
ANSATZE = ("bel", "simple")
"""Style-circuit ansätze (``layers.circuits``)."""
READOUTS = ("z", "xz")
"""Readouts: ``<Z_q>`` per qubit, or ``<Z_q>`` then ``<X_q>``."""
BACKENDS = ("tfq", "fast")
"""Simulators of ``StyleQuantumGenerator``: TFQ's C++ simulator, or the fast TF simulator."""
LOSSES = ("wgan-gp", "bce")
"""GAN losses (``training.losses``)."""
NOISES = ("uniform", "normal")
"""Generator noise: uniform in [-1, 1), or standard normal."""


def n_angles(n_qubits: int, n_layers: int, ansatz: str = "bel") -> int:
    """Rotation angles of the style circuit: ``n (5 L + 1)`` for ``"bel"``, ``n L`` for
    ``"simple"``."""
    if ansatz not in ANSATZE:
        raise ValueError(f"ansatz must be one of {ANSATZE}, got {ansatz!r}.")
    return n_qubits * (5 * n_layers + 1) if ansatz == "bel" else n_qubits * n_layers


def quantum_capacity(n_qubits: int, n_layers: int, ansatz: str = "bel") -> int:
    """Trainable parameters of a ``StyleQuantumGenerator``: a scale and a bias per angle."""
    return 2 * n_angles(n_qubits, n_layers, ansatz)


def output_dim(n_qubits: int, readout: str = "z") -> int:
    """Length of the readout vector: ``n`` for ``"z"``, ``2 n`` for ``"xz"``."""
    if readout not in READOUTS:
        raise ValueError(f"readout must be one of {READOUTS}, got {readout!r}.")
    return n_qubits * (2 if readout == "xz" else 1)
