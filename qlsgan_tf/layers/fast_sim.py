"""Exact statevector simulation of the style circuits in TensorFlow ops (``backend="fast"``).

:func:`style_expectations` computes exactly what TFQ's ``Expectation`` computes for
``circuits.style_circuit`` (same angles in circuit order, same readout, same qubit order: qubit 0
is the most significant bit of the state index, as in cirq). The ansatz is a
``constants.Ansatz``: for the gates of ``"bel"`` and ``"simple"`` it runs closed-form kernels
(:data:`KERNELS`, chosen by the ansatz's gates, not its name), so that one forward + gradient pass
costs a few dense batched kernels instead of one simulator call per circuit and gate; any other
ansatz is simulated gate by gate (the layered simulator of :func:`layered_expectations`), exact
as well. Gradients come from TensorFlow autodiff through these ops.

Why it is fast (each measured, see ``benchmarks/README.md``):

* the four rotations ``RY RZ RY RZ`` of a qubit in a layer are one SU(2) matrix built in closed
  form from the per-row angles;
* each ring edge ``CRY(q -> q+1)`` is merged with the target's fused rotation into a
  block-diagonal step (rotation on the control=0 half, ``RY . rotation`` on the control=1 half),
  and ``chain`` consecutive edges are merged into one block acting on ``chain + 1`` qubits;
* the qubit order of the state rotates along the ring, so every step is one batched matmul on the
  leading axes plus one 2-D transpose (no strided slicing in differentiated code);
* the first layer acts on ``|0...0>`` and is built by growing a product-like state qubit by qubit;
* the ``"simple"`` ansatz (RY + CZ) keeps the state real and runs in float32 arithmetic; its CZ
  ring is one constant sign vector;
* the final RY layer of ``"bel"`` is folded into the readout
  (``RY^+ Z RY = cos Z - sin X``, ``RY^+ X RY = sin Z + cos X``);
* ``<Z_q>`` and ``<X_q>`` of all qubits come from the reduced density matrices of windows of up
  to four qubits (one batched matmul each) and one constant linear map;
* inside a caller's graph (Keras ``fit``, any ``tf.function``) the ops are traced inline; eager
  calls run one cached ``tf.function`` per circuit shape.

XLA (``jit_compile=True``) is opt-in: on the CPUs measured it made forward + gradient no faster
and took seconds to compile (``benchmarks/README.md``). Gradients use autodiff by default;
``gradient="adjoint"`` recomputes the states backwards instead of storing them (less memory, no
faster: ``benchmarks/README.md``).
"""
from __future__ import annotations

from typing import Any, Callable, Dict, List, Optional, Tuple, Union

import numpy as np
import tensorflow as tf

from qlsgan_tf.constants import Ansatz
from qlsgan_tf.layers import circuits
from qlsgan_tf.validation import check_choice, check_int

#: Default ring edges merged into one block step (a block acts on ``chain + 1`` qubits).
DEFAULT_CHAIN = 2
#: Gradients of the ring steps of ``"bel"``: ``"autodiff"`` (TensorFlow stores each step's
#: state) or ``"adjoint"`` (recomputes them backwards).
GRADIENTS = ("autodiff", "adjoint")
#: Largest qubit window whose reduced density matrix gives ``<Z>``/``<X>`` in one matmul.
READOUT_WINDOW = 4


def style_expectations(angles: Any, n_qubits: int, n_layers: int,
                       ansatz: Union[str, Ansatz] = "bel", readout: str = "z",
                       jit_compile: Optional[bool] = False, *, chain: int = DEFAULT_CHAIN,
                       gradient: str = "autodiff") -> tf.Tensor:
    """Exact expectation values of the style circuit for a batch of angle vectors.

    Args:
        angles: float32 ``[batch, n_angles]``, the rotation angles in circuit order
            (``circuits.gate_list``).
        n_qubits: number of qubits ``n >= 2``.
        n_layers: number of layers ``L >= 1``.
        ansatz: a name of ``constants.ANSATZE`` or a ``constants.Ansatz``.
        readout: ``"z"`` -> ``[batch, n]`` of ``<Z_q>``; ``"xz"`` -> ``[batch, 2 n]`` of
            ``<Z_0..Z_{n-1}>`` then ``<X_0..X_{n-1}>``.
        jit_compile: compile with XLA (``None`` is ``False``).
        chain: ring edges of ``"bel"`` merged into one block step (a block acts on ``chain + 1``
            qubits; ``simple`` applies its RY layers ``chain + 1`` qubits at a time). Every value
            gives the same results; it trades matmul size against their number. (An ansatz
            without a kernel ignores it, as it does ``gradient``.)
        gradient: ``"autodiff"`` or ``"adjoint"`` (ring steps of ``"bel"`` recomputed
            backwards instead of stored).

    Returns:
        float32 tensor ``[batch, output_dim]``, differentiable with respect to ``angles``.

    >>> angles = tf.zeros([3, circuits.n_angles(4, 2, "bel")])
    >>> style_expectations(angles, 4, 2, "bel", "xz").shape
    TensorShape([3, 8])
    """
    n, n_layers = circuits.check_size(n_qubits, n_layers)
    ansatz = circuits.get_ansatz(ansatz)
    circuits.check_readout(readout)
    chain = check_int("chain", chain, 1)
    check_choice("gradient", gradient, GRADIENTS)
    count = circuits.n_angles(n, n_layers, ansatz)
    angles = tf.convert_to_tensor(angles)
    if angles.dtype != tf.float32:
        raise TypeError(f"angles must be float32, got {angles.dtype.name}.")
    if angles.shape.rank is not None and angles.shape.rank != 2:
        raise ValueError(f"angles must have shape [batch, {count}], got {angles.shape}.")
    if angles.shape[-1] is not None and angles.shape[-1] != count:
        raise ValueError(f"angles must have {count} columns for n_qubits={n}, "
                         f"n_layers={n_layers}, ansatz={ansatz.name!r}; got "
                         f"{angles.shape[-1]}.")
    if not jit_compile and not tf.executing_eagerly():
        # Inside a caller's graph (a Keras train step, a tf.function): trace the ops inline, so
        # the caller's tape differentiates them once, without a nested function's extra
        # forward/backward graphs (which made tracing several times slower).
        return _simulator(ansatz, chain, gradient)(angles, n, n_layers, readout)
    return _compiled(n, n_layers, ansatz, readout, bool(jit_compile), chain, gradient)(angles)


_FUNCTIONS: Dict[Tuple, tf.types.experimental.GenericFunction] = {}


def _structure(ansatz: Ansatz) -> Tuple[Tuple[str, ...], str, Tuple[str, ...]]:
    """The gates of an ansatz, which choose its kernel: (rotations, ring, final)."""
    return ansatz.rotations, ansatz.ring, ansatz.final


def _simulator(ansatz: Ansatz, chain: int, gradient: str) -> Callable[..., tf.Tensor]:
    """``sim(angles, n, n_layers, readout)`` of ``ansatz`` with these settings."""
    kernel = KERNELS.get(_structure(ansatz))
    if kernel == "bel":
        return lambda a, n, n_layers, readout: _simulate_bel(a, n, n_layers, readout, chain,
                                                             gradient)
    if kernel == "simple":
        return lambda a, n, n_layers, readout: _simulate_simple(a, n, n_layers, readout, chain)
    return lambda a, n, n_layers, readout: _layered(tf.transpose(a), n, n_layers, ansatz,
                                                    readout, None, unroll=True)


def _compiled(n, n_layers, ansatz, readout, jit_compile, chain, gradient):
    """One cached ``tf.function`` per circuit shape and setting (XLA-compiled on request)."""
    key = (n, n_layers, _structure(ansatz), readout, jit_compile, chain, gradient,
           READOUT_WINDOW)
    if key not in _FUNCTIONS:
        sim = _simulator(ansatz, chain, gradient)

        def run(angles):
            return sim(angles, n, n_layers, readout)

        # ``setdefault`` is atomic: two threads building the same key both get the first one
        # stored (no lock; an entry never changes once stored).
        _FUNCTIONS.setdefault(key, tf.function(
            run, jit_compile=jit_compile, autograph=False, reduce_retracing=True,
            input_signature=[tf.TensorSpec([None, circuits.n_angles(n, n_layers, ansatz)],
                                           tf.float32)]))
    return _FUNCTIONS[key]


# ----------------------------------------------------------------------------------------------
# The closed-form kernels, by the gates they simulate (rotations, ring, final); an ansatz with
# other gates is simulated gate by gate.

KERNELS: Dict[Tuple[Tuple[str, ...], str, Tuple[str, ...]], str] = {
    (("ry", "rz", "ry", "rz"), "cry", ("ry",)): "bel",
    (("ry",), "cz", ()): "simple",
}


# ----------------------------------------------------------------------------------------------
# "bel": RY RZ RY RZ per qubit, CRY ring, final RY.


def _fused_rotations(a, b, c, d):
    """``RZ(d) RY(c) RZ(b) RY(a)`` in closed form as ``(alpha, beta)``.

    The product is the SU(2) matrix ``[[alpha, -conj(beta)], [beta, conj(alpha)]]``; inputs are
    angle tensors of one shape, outputs complex64 tensors of that shape.
    """
    ca, sa = tf.cos(0.5 * a), tf.sin(0.5 * a)
    cc, sc = tf.cos(0.5 * c), tf.sin(0.5 * c)
    p, m = 0.5 * (b + d), 0.5 * (b - d)
    cp, sp, cm, sm = tf.cos(p), tf.sin(p), tf.cos(m), tf.sin(m)
    cca, ssa, sca, csa = cc * ca, sc * sa, sc * ca, cc * sa
    alpha = tf.complex(cca * cp - ssa * cm, -cca * sp - ssa * sm)
    beta = tf.complex(sca * cm + csa * cp, csa * sp - sca * sm)
    return alpha, beta


def _su2(alpha, beta):
    """``[..., 2, 2]`` matrices ``[[alpha, -conj(beta)], [beta, conj(alpha)]]``."""
    top = tf.stack([alpha, -tf.math.conj(beta)], axis=-1)
    bottom = tf.stack([beta, tf.math.conj(alpha)], axis=-1)
    return tf.stack([top, bottom], axis=-2)


def _simulate_bel(angles, n, n_layers, readout, chain, gradient):
    # Shapes use -1 for the batch axis so that every reshape has a constant shape.
    per_layer = 5 * n
    body, final = tf.split(angles, [n_layers * per_layer, n], axis=1)
    rot, cry = tf.split(tf.reshape(body, [-1, n_layers, per_layer]), [4 * n, n], axis=2)
    a, b, c, d = tf.unstack(tf.reshape(rot, [-1, n_layers * n, 4]), axis=2)
    alpha, beta = _fused_rotations(a, b, c, d)  # [batch, L*n], (layer, qubit) order

    # Edge e of layer l (control e, target e+1 mod n) applies, to its target, the fused rotation
    # that comes next in (layer, qubit) order: the rotations shifted by one, identity at the end.
    alpha0, alpha = tf.split(alpha, [1, n_layers * n - 1], axis=1)
    beta0, beta = tf.split(beta, [1, n_layers * n - 1], axis=1)
    alpha = tf.concat([alpha, tf.ones_like(alpha0)], axis=1)
    beta = tf.concat([beta, tf.zeros_like(beta0)], axis=1)
    half = 0.5 * tf.reshape(cry, [-1, n_layers * n])
    ct = tf.complex(tf.cos(half), tf.zeros_like(half))
    st = tf.complex(tf.sin(half), tf.zeros_like(half))
    # Control=1 half, again SU(2): RY(theta) @ rotation for the edges q -> q+1 (the target's
    # rotation precedes the CRY), rotation @ RY(theta) for the wrap edge n-1 -> 0 (the next
    # layer's rotation of qubit 0 follows it).
    chain_a = ct * alpha - st * beta
    chain_b = st * alpha + ct * beta
    wrap_a = ct * alpha - st * tf.math.conj(beta)
    wrap_b = ct * beta + st * tf.math.conj(alpha)

    def per_edge(chain_value, wrap_value):
        chain_value, _ = tf.split(tf.reshape(chain_value, [-1, n_layers, n]), [n - 1, 1], 2)
        _, wrap_value = tf.split(tf.reshape(wrap_value, [-1, n_layers, n]), [n - 1, 1], 2)
        return tf.reshape(tf.concat([chain_value, wrap_value], 2), [-1, n_layers * n])

    alpha1, beta1 = per_edge(chain_a, wrap_a), per_edge(chain_b, wrap_b)
    # Column 0 of every edge block, [batch, edges, control, target]: SU(2) column 0 is
    # (alpha, beta).
    columns = tf.stack([tf.stack([alpha, beta], axis=2), tf.stack([alpha1, beta1], axis=2)],
                       axis=2)
    # Edge blocks [batch, edges, control, 2, 2].
    blocks = tf.stack([_su2(alpha, beta), _su2(alpha1, beta1)], axis=2)

    # Layer 0 acts on |0...0>: grow the state qubit by qubit, each edge appending its target as
    # column 0 of its block (the target starts in |0>).
    growth, _ = tf.split(columns, [n - 1, n_layers * n - n + 1], axis=1)
    state = tf.concat([alpha0, beta0], axis=1)  # qubit 0: RZ RY RZ RY |0>
    for e, column in enumerate(tf.unstack(growth, axis=1)):
        state = tf.reshape(state, [-1, 2 ** e, 2, 1]) * tf.expand_dims(column, 1)
    # Now the qubit order is 0..n-1; put control n-1 first for the rotating ring.
    state = tf.transpose(tf.reshape(state, [-1, 2 ** (n - 1), 2]), [0, 2, 1])
    _, ring = tf.split(blocks, [n - 1, n_layers * n - n + 1], axis=1)
    state = _ring_steps(state, ring, n, chain, gradient)
    # After all (L-1) n + 1 remaining edges the qubit order is 0..n-1 again.
    z, x = _pauli_zx(tf.reshape(state, [-1, 2 ** n]), n, complex_state=True)
    # Fold the final RY(phi) layer into the observables.
    cphi, sphi = tf.cos(final), tf.sin(final)
    z, x = cphi * z - sphi * x, sphi * z + cphi * x
    return z if readout == "z" else tf.concat([z, x], axis=1)


def _ring_steps(state, blocks, n, chain, gradient):
    """Apply consecutive ring edges, ``chain`` at a time, rotating the qubit order.

    ``state`` has the control of the first edge as its leading qubit; ``blocks`` is
    ``[batch, edges, control(2), 2, 2]``. Returns the state with the qubit order rotated by the
    number of edges.
    """
    edges = blocks.shape[1]
    k = max(1, min(chain, n - 1))
    full, rest = divmod(edges, k)
    groups = []
    if full:
        # All full groups at once: [batch, groups, k, control, 2, 2] -> [batch, groups, ...].
        main, tail = tf.split(blocks, [full * k, rest], axis=1)
        main = tf.reshape(main, [-1, full, k, 2, 2, 2])
        merged = _chain_block(tf.unstack(main, axis=2))  # [batch, full, 2, 2^k, 2^k]
        groups += [(k, g) for g in tf.unstack(merged, axis=1)]
    else:
        tail = blocks
    if rest:
        groups.append((rest, _chain_block(tf.unstack(tail, axis=1))))
    ks, merged_blocks = [g[0] for g in groups], [g[1] for g in groups]
    if gradient == "adjoint":
        return _apply_groups_adjoint(state, merged_blocks, ks, n)
    return _apply_groups(state, merged_blocks, ks, n)


def _apply_groups(state, blocks, ks, n):
    """Apply merged blocks (``[batch, 2, 2^k, 2^k]`` each) in turn, rotating the qubit order."""
    for k, block in zip(ks, blocks):
        # Leading qubits: control, then the k targets; one matmul per control value.
        state = tf.reshape(state, [-1, 2 ** k, 2 ** (n - 1 - k)])
        state = tf.matmul(tf.reshape(block, [-1, 2 ** k, 2 ** k]), state)
        # Rotate: the first k qubits go to the end, the last target leads.
        state = tf.transpose(tf.reshape(state, [-1, 2 ** k, 2 ** (n - k)]), [0, 2, 1])
    return state


def _apply_groups_adjoint(state, blocks, ks, n):
    """:func:`_apply_groups` with an adjoint-method gradient (``gradient="adjoint"``).

    The backward pass walks the steps in reverse, recomputing each earlier state with the
    inverse (conjugate-transposed) block instead of storing it: memory O(batch 2^n) instead of
    O(steps batch 2^n), for one extra matmul and transpose per step.
    """

    @tf.custom_gradient
    def apply(state, *blocks):
        final = _apply_groups(state, blocks, ks, n)

        def grad(d_final):
            psi, lam, d_blocks = final, d_final, []
            for k, block in reversed(list(zip(ks, blocks))):
                dim, rest = 2 ** k, 2 ** (n - 1 - k)
                psi, lam = [tf.reshape(tf.transpose(tf.reshape(t, [-1, 2 ** (n - k), dim]),
                                                    [0, 2, 1]), [-1, dim, rest])
                            for t in (psi, lam)]
                matrix = tf.reshape(block, [-1, dim, dim])
                psi = tf.matmul(matrix, psi, adjoint_a=True)  # the state before this step
                d_blocks.append(tf.reshape(tf.matmul(lam, psi, adjoint_b=True),
                                           tf.shape(block)))
                lam = tf.matmul(matrix, lam, adjoint_a=True)
            return [tf.reshape(lam, tf.shape(state))] + d_blocks[::-1]

        return final, grad

    return apply(state, *blocks)


def _chain_block(group):
    """The product of consecutive ring edges, block-diagonal in the first control.

    ``group`` holds ``k`` edge blocks ``[..., control(2), 2, 2]``; edge j has control ``c + j``
    and target ``c + j + 1``. The result ``[..., 2, 2^k, 2^k]`` acts on targets ``c+1..c+k``
    for each value of control ``c``.
    """
    block = group[0]
    lead = block.shape[1:-3]  # extra leading axes (the groups), kept as they are
    for edge in group[1:]:
        dim = block.shape[-1]
        # Rows of `block` are (control c, earlier targets r, last target c' = this edge's
        # control); the new rows append the edge's target t', the new columns its input t.
        rows = tf.unstack(tf.reshape(block, [-1, dim, 2, dim]), axis=2)  # per c'
        edge_c = tf.unstack(tf.reshape(edge, [-1, 1, 2, 2, 2]), axis=2)  # per c'
        parts = [tf.reshape(r, [-1, dim, 1, dim, 1]) * tf.expand_dims(e, 3)
                 for r, e in zip(rows, edge_c)]
        block = tf.reshape(tf.stack(parts, axis=2), [-1, *lead, 2, 2 * dim, 2 * dim])
    return block


# ----------------------------------------------------------------------------------------------
# "simple": RY per qubit, CZ ring (a real circuit).


def _cz_ring_signs(n):
    """Diagonal of the CZ ring, ``(-1)^(sum_q x_q x_{q+1})`` over basis states (qubit 0 = MSB)."""
    index = np.arange(2 ** n)
    bits = (index[:, None] >> (n - 1 - np.arange(n))[None, :]) & 1
    parity = sum(bits[:, q] & bits[:, (q + 1) % n] for q in range(n)) % 2
    return (1 - 2 * parity).astype(np.float32)


def _simulate_simple(angles, n, n_layers, readout, chain):
    half = 0.5 * tf.reshape(angles, [-1, n_layers, n])
    cos, sin = tf.cos(half), tf.sin(half)
    signs = tf.constant(_cz_ring_signs(n))
    cos_layers, sin_layers = tf.unstack(cos, axis=1), tf.unstack(sin, axis=1)

    # Layer 0 on |0...0> is a product state of RY(theta)|0> = (cos, sin).
    cols = tf.unstack(tf.stack([cos_layers[0], sin_layers[0]], axis=2), axis=1)
    state = cols[0]
    for q in range(1, n):
        state = tf.reshape(tf.expand_dims(state, 2) * tf.expand_dims(cols[q], 1),
                           [-1, 2 ** (q + 1)])
    width = max(1, min(chain + 1, n))
    for layer in range(1, n_layers):
        state = state * signs
        # RY on every qubit, `width` qubits per block (their Kronecker product), rotating the
        # qubit order back to 0..n-1 over the layer.
        rys = tf.unstack(_ry_matrices(cos_layers[layer], sin_layers[layer]), axis=1)
        for start in range(0, n, width):
            group = rys[start:start + width]
            k = len(group)
            block = group[0]
            for ry in group[1:]:
                dim = block.shape[-1]
                block = tf.reshape(tf.reshape(block, [-1, dim, 1, dim, 1])
                                   * tf.reshape(ry, [-1, 1, 2, 1, 2]), [-1, 2 * dim, 2 * dim])
            state = tf.matmul(block, tf.reshape(state, [-1, 2 ** k, 2 ** (n - k)]))
            state = tf.reshape(tf.transpose(state, [0, 2, 1]), [-1, 2 ** n])
    if readout == "z":
        # The last CZ ring is diagonal: it leaves every <Z_q> unchanged.
        return _pauli_z(state, n)
    z, x = _pauli_zx(state * signs, n, complex_state=False)
    return tf.concat([z, x], axis=1)


def _ry_matrices(cos, sin):
    """``RY`` matrices ``[..., 2, 2]`` from ``cos(theta/2)``, ``sin(theta/2)``."""
    return tf.stack([tf.stack([cos, -sin], axis=-1), tf.stack([sin, cos], axis=-1)], axis=-2)


# ----------------------------------------------------------------------------------------------
# Readout.


def _readout_map(n: int) -> np.ndarray:
    """Constant map from the flattened window ``Re(rho)``s to ``<Z_0..Z_{n-1}, X_0..X_{n-1}>``."""
    rows = sum(4 ** w for _, w in _windows(n))
    out = np.zeros((rows, 2 * n), np.float32)
    offset = 0
    for start, w in _windows(n):
        dim = 2 ** w
        for j in range(w):
            bit = 1 << (w - 1 - j)  # window qubit j is the j-th most significant bit
            for i in range(dim):
                out[offset + i * dim + i, start + j] = -1.0 if i & bit else 1.0
                # <X> = sum_i rho[i, i ^ bit] (rho is Hermitian: its real part is symmetric).
                out[offset + i * dim + (i ^ bit), n + start + j] = 1.0
        offset += dim * dim
    return out


def _windows(n: int) -> List[Tuple[int, int]]:
    """Qubit windows ``(start, width)`` covering 0..n-1, each at most ``READOUT_WINDOW`` wide."""
    count = -(-n // READOUT_WINDOW)
    widths = [n // count + (1 if i < n % count else 0) for i in range(count)]
    starts = np.cumsum([0] + widths[:-1])
    return [(int(s), int(w)) for s, w in zip(starts, widths)]


def _pauli_z(state, n):
    """``<Z_q>`` ``[batch, n]`` of a real state ``[batch, 2^n]``: probabilities times signs."""
    bits = (np.arange(2 ** n)[:, None] >> (n - 1 - np.arange(n))[None, :]) & 1
    return tf.matmul(tf.square(state), tf.constant((1 - 2 * bits).astype(np.float32)))


def _pauli_zx(state, n, complex_state):
    """``<Z_q>`` and ``<X_q>`` (``[batch, n]`` each) of a state ``[batch, 2^n]`` in qubit order.

    Each window of qubits gives its reduced density matrix ``Re(rho) = A A^T`` (one batched
    matmul, ``A`` the amplitudes with the window's qubits leading, real and imaginary parts side
    by side); one constant matmul then reads all expectations off the ``rho``s.
    """
    rhos = []
    for start, w in _windows(n):
        before, after = 2 ** start, 2 ** (n - start - w)
        if before == 1:
            amps = tf.reshape(state, [-1, 2 ** w, after])
        elif after == 1:
            amps = tf.transpose(tf.reshape(state, [-1, before, 2 ** w]), [0, 2, 1])
        else:
            amps = tf.transpose(tf.reshape(state, [-1, before, 2 ** w, after]), [0, 2, 1, 3])
            amps = tf.reshape(amps, [-1, 2 ** w, before * after])
        if complex_state:
            amps = tf.concat([tf.math.real(amps), tf.math.imag(amps)], axis=2)
        rho = tf.matmul(amps, amps, transpose_b=True)
        rhos.append(tf.reshape(rho, [-1, 4 ** w]))
    values = tf.matmul(tf.concat(rhos, axis=1) if len(rhos) > 1 else rhos[0],
                       tf.constant(_readout_map(n)))
    return tf.split(values, 2, axis=1)


# ----------------------------------------------------------------------------------------------
# Layer by layer, with a per-row layer count: circuits of several depths in one graph.


def layered_expectations(angles: Any, n_qubits: int, max_layers: int,
                         ansatz: Union[str, Ansatz] = "bel", readout: str = "z",
                         layers: Any = None) -> tf.Tensor:
    """:func:`style_expectations` of circuits of up to ``max_layers`` layers, each row with its
    own depth, in one graph (what a pack of generators of several depths shares).

    Args:
        angles: float32 ``[batch, n_angles(n_qubits, max_layers, ansatz)]``: per row, the
            angles of its first ``layers[row]`` layers in circuit order, then the unused
            layers' (zeros where a zero-angle layer is the identity, ``"bel"``; any values
            otherwise, ``"simple"``), then its final rotations (``"bel"``: RY) in the last
            columns.
        n_qubits, ansatz, readout: as in :func:`style_expectations`.
        max_layers: the layers the graph holds.
        layers: int32 ``[batch]``, each row's depth in ``1..max_layers``; ``None``: all
            ``max_layers``. The layers a row does not have leave its state unchanged (zero
            angles where ``Ansatz.zero_layer_is_identity``, else masked), and layers no row has
            are not computed at all (the loop stops at the deepest row), so a pack of shallow
            circuits costs its own depth, whatever ``max_layers`` is.

    Returns:
        float32 ``[batch, output_dim]``: row ``r`` equals ``style_expectations`` of the
        circuit of ``layers[r]`` layers with that row's angles (to float32 rounding).

    The state is kept as real and imaginary float32 arrays with the qubits as leading axes of
    size 2 and the batch last, so that every gate is a few elementwise ops over the batch that
    XLA fuses (measured faster than the batched small matmuls of :func:`style_expectations`
    inside a compiled pack step, ``benchmarks/README.md``). Any ansatz runs here gate by gate.
    """
    n, max_layers = circuits.check_size(n_qubits, max_layers)
    spec = circuits.get_ansatz(ansatz)
    circuits.check_readout(readout)
    count = circuits.n_angles(n, max_layers, spec)
    angles = tf.convert_to_tensor(angles, tf.float32)
    if angles.shape.rank is not None and (angles.shape.rank != 2
                                          or angles.shape[-1] not in (None, count)):
        raise ValueError(f"angles must have shape [batch, {count}], got {angles.shape}.")
    return _layered(tf.transpose(angles), n, max_layers, spec, readout, layers)


def _layered(columns: tf.Tensor, n: int, max_layers: int, spec: Ansatz, readout: str,
             layers: Any, unroll: bool = False) -> tf.Tensor:
    """The layered simulation of angle columns ``[n_angles, batch]`` -> ``[batch, output]``
    (``unroll``: every row has all layers, applied in a Python loop rather than a
    ``tf.while_loop``, whose gradient cannot leave an XLA-compiled function)."""
    re, im = _layered_body(columns, n, max_layers, spec, layers, unroll)
    per_qubit = spec.final_angles
    if per_qubit:
        count = spec.n_angles(n, max_layers)
        cols = tf.unstack(columns[count - n * per_qubit:], num=n * per_qubit)
        for q in range(n):
            for j, name in enumerate(spec.final):
                re, im = _rotation(re, im, q, name, cols[q * per_qubit + j], n)
    z, x = _layered_readout(re, None if spec.real else im, n, want_x=readout == "xz")
    return tf.transpose(z if x is None else tf.concat([z, x], 0))


def _layered_body(columns, n, max_layers, spec, layers, unroll=False):
    """The state ``(re, im)`` after each row's layers (``layered_expectations``' loop)."""
    per_layer = spec.angles_per_layer * n
    body = tf.reshape(columns[:max_layers * per_layer], [max_layers, per_layer, -1])
    batch = tf.shape(columns)[1]
    shape = [2] * n
    re = tf.reshape(tf.concat([tf.ones([1, batch]), tf.zeros([2 ** n - 1, batch])], 0),
                    shape + [batch])  # |0...0>
    complex_state = not spec.real
    im = tf.zeros_like(re) if complex_state else tf.zeros([])
    if layers is None:
        active, top = None, max_layers
    else:
        active = tf.cast(layers, tf.int32)
        top = tf.reduce_max(active)

    def step(layer, re, im):
        layer_cols = tf.unstack(tf.gather(body, layer), num=per_layer)
        new_re, new_im = _layer(re, im if complex_state else None, layer_cols, n, spec)
        if active is not None and not spec.zero_layer_is_identity:
            # A layer whose ring takes no angle (CZ) is no identity even at zero angles: rows
            # this layer is not part of keep their state. (A layer with a CRY ring at zero
            # angles is the identity exactly - cos 0 = 1, sin 0 = 0 - so rows padded with zero
            # angles pass through.)
            keep = layer < active  # [batch]: rows deeper than this layer
            new_re = tf.where(keep, new_re, re)
            if complex_state:
                new_im = tf.where(keep, new_im, im)
        return layer + 1, new_re, (new_im if complex_state else im)

    if unroll:
        for layer in range(max_layers):
            _, re, im = step(layer, re, im)
        return re, im
    # One compiled layer body, run as many times as the deepest row needs (XLA needs the
    # static bound ``maximum_iterations`` to differentiate the loop).
    _, re, im = tf.while_loop(lambda layer, *_: layer < top, step, (tf.constant(0), re, im),
                              maximum_iterations=max_layers)
    return re, im


def _pair(x, q):
    """The two halves of state ``x`` along qubit ``q`` (axis ``q``)."""
    return tf.unstack(x, num=2, axis=q)


def _real_gate(x, q, a, b, c, d, n):
    """The real 2x2 matrix ``[[a, b], [c, d]]`` (entries ``[batch]`` or scalars) on qubit q."""
    del n
    s0, s1 = _pair(x, q)
    return tf.stack([a * s0 + b * s1, c * s0 + d * s1], axis=q)


_FUSED = ("ry", "rz", "ry", "rz")
"""Per-qubit rotations applied as one closed-form SU(2) matrix (:func:`_fused_real`)."""


def _layer(re, im, cols, n, spec):
    """One layer of ``spec``: its rotations on each qubit, then its ring (``im`` None: a real
    state)."""
    i = 0
    for q in range(n):
        if spec.rotations == _FUSED and im is not None:
            re, im = _fused_gate(re, im, q, _fused_real(*cols[i:i + 4]))
            i += 4
            continue
        for name in spec.rotations:
            re, im = _rotation(re, im, q, name, cols[i], n)
            i += 1
    if spec.ring == "cz":
        signs = tf.reshape(tf.constant(_cz_ring_signs(n)), [2] * n + [1])
        return re * signs, (None if im is None else im * signs)
    for control, target in circuits.ring_edges(n):  # "cry"
        theta = cols[i]
        i += 1
        c, s = tf.cos(0.5 * theta), tf.sin(0.5 * theta)
        re = _controlled_ry(re, control, target, c, s)
        im = None if im is None else _controlled_ry(im, control, target, c, s)
    return re, im


def _fused_gate(re, im, q, fused):
    """The SU(2) matrix ``[[alpha, -conj(beta)], [beta, conj(alpha)]]`` on qubit ``q``."""
    ar, ai, br, bi = fused
    r0, r1 = _pair(re, q)
    i0, i1 = _pair(im, q)
    return (tf.stack([ar * r0 - ai * i0 - br * r1 - bi * i1,
                      br * r0 - bi * i0 + ar * r1 + ai * i1], axis=q),
            tf.stack([ar * i0 + ai * r0 - br * i1 + bi * r1,
                      br * i0 + bi * r0 + ar * i1 - ai * r1], axis=q))


def _rotation(re, im, q, name, theta, n):
    """``RY``, ``RZ`` or ``RX`` of angles ``theta [batch]`` on qubit ``q`` (``im`` None: a real
    state, which only ``RY`` keeps real)."""
    c, s = tf.cos(0.5 * theta), tf.sin(0.5 * theta)
    if name == "ry":
        return (_real_gate(re, q, c, -s, s, c, n),
                None if im is None else _real_gate(im, q, c, -s, s, c, n))
    r0, r1 = _pair(re, q)
    i0, i1 = _pair(im, q)
    if name == "rz":  # diag(c - i s, c + i s)
        return (tf.stack([c * r0 + s * i0, c * r1 - s * i1], axis=q),
                tf.stack([c * i0 - s * r0, c * i1 + s * r1], axis=q))
    if name == "rx":  # [[c, -i s], [-i s, c]]
        return (tf.stack([c * r0 + s * i1, c * r1 + s * i0], axis=q),
                tf.stack([c * i0 - s * r1, c * i1 - s * r0], axis=q))
    raise ValueError(f"unknown rotation {name!r}")  # pragma: no cover - Ansatz checks names


def _controlled_ry(x, control, target, c, s):
    """``RY`` (cos, sin of half the angle, ``[batch]``) on ``target`` where ``control`` is 1."""
    off, on = _pair(x, control)
    # Without the control axis, the target's axis shifts down when it came after it.
    t = target if target < control else target - 1
    s0, s1 = _pair(on, t)
    on = tf.stack([c * s0 - s * s1, s * s0 + c * s1], axis=t)
    return tf.stack([off, on], axis=control)


def _fused_real(a, b, c, d):
    """Real and imaginary parts of ``(alpha, beta)`` of :func:`_fused_rotations`."""
    ca, sa = tf.cos(0.5 * a), tf.sin(0.5 * a)
    cc, sc = tf.cos(0.5 * c), tf.sin(0.5 * c)
    p, m = 0.5 * (b + d), 0.5 * (b - d)
    cp, sp, cm, sm = tf.cos(p), tf.sin(p), tf.cos(m), tf.sin(m)
    cca, ssa, sca, csa = cc * ca, sc * sa, sc * ca, cc * sa
    return (cca * cp - ssa * cm, -cca * sp - ssa * sm,
            sca * cm + csa * cp, csa * sp - sca * sm)


def _layered_readout(re, im, n, want_x):
    """``<Z_q>`` (and ``<X_q>`` when ``want_x``), ``[n, batch]`` each, of a batch-last state."""
    prob = tf.square(re) if im is None else tf.square(re) + tf.square(im)
    z, x = [], []
    for q in range(n):
        axes = list(range(n - 1))  # the other qubits (the batch axis is last)
        p0, p1 = _pair(prob, q)
        z.append(tf.reduce_sum(p0 - p1, axis=axes) if axes else p0 - p1)
        if want_x:
            r0, r1 = _pair(re, q)
            overlap = r0 * r1
            if im is not None:
                i0, i1 = _pair(im, q)
                overlap = overlap + i0 * i1
            x.append(2.0 * (tf.reduce_sum(overlap, axis=axes) if axes else overlap))
    return tf.stack(z), (tf.stack(x) if want_x else None)
