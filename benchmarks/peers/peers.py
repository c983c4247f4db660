"""Peer simulators on the style circuit: forward + gradient time at batch 128.

Runs in the optional ``.venv-peers`` made by ``run.sh`` (no TensorFlow there). For each peer that
imports, it builds the ``"bel"`` style circuit (per layer RY RZ RY RZ per qubit, CRY ring, final RY;
readout <Z_q> then <X_q>), checks its outputs against a float64 numpy statevector written here,
and times forward and forward + gradient of ``sum(outputs * cotangent)`` with respect to the
angles, ``[batch, n_angles]``:

* PennyLane ``lightning.qubit`` with ``diff_method="adjoint"`` (one circuit per batch row, as
  PennyLane's adjoint method does not broadcast);
* tensorcircuit on JAX, ``vmap`` over the batch, ``jit``-compiled (compile time reported).

A peer that is not installed or fails is reported with the reason, never replaced by a guess.
"""
from __future__ import annotations

import argparse
import json
import os
import pathlib
import platform
import statistics
import sys
import time
import traceback

import numpy as np

REPO = pathlib.Path(__file__).resolve().parents[2]


def n_angles(n, n_layers):
    return n * (5 * n_layers + 1)


def gates(n, n_layers):
    """The "bel" gate list in circuit order: (name, qubits, angle index)."""
    out, g = [], 0
    for _ in range(n_layers):
        for q in range(n):
            for name in ("ry", "rz", "ry", "rz"):
                out.append((name, (q,), g))
                g += 1
        for q in range(n):
            out.append(("cry", (q, (q + 1) % n), g))
            g += 1
    for q in range(n):
        out.append(("ry", (q,), g))
        g += 1
    return out


def numpy_reference(angles, n, n_layers):
    """Float64 statevector, qubit 0 = most significant bit; returns [batch, 2n] (Z then X)."""
    result = []
    for row in np.asarray(angles, np.float64):
        psi = np.zeros([2] * n, np.complex128)
        psi[(0,) * n] = 1
        for name, qubits, g in gates(n, n_layers):
            c, s = np.cos(row[g] / 2), np.sin(row[g] / 2)
            ry = np.array([[c, -s], [s, c]])
            if name == "ry" or name == "rz":
                u = ry if name == "ry" else np.diag([np.exp(-0.5j * row[g]), np.exp(0.5j * row[g])])
                psi = np.moveaxis(np.tensordot(u, psi, axes=([1], [qubits[0]])), 0, qubits[0])
            else:
                ctrl, tgt = qubits
                psi = np.moveaxis(psi, (ctrl, tgt), (0, 1)).copy()
                psi[1] = np.tensordot(ry, psi[1], axes=([1], [0]))
                psi = np.moveaxis(psi, (0, 1), (ctrl, tgt))
        z = [np.sum(np.abs(np.moveaxis(psi, q, 0)[0]) ** 2)
             - np.sum(np.abs(np.moveaxis(psi, q, 0)[1]) ** 2) for q in range(n)]
        x = [2 * np.real(np.vdot(np.moveaxis(psi, q, 0)[0], np.moveaxis(psi, q, 0)[1]))
             for q in range(n)]
        result.append(z + x)
    return np.array(result)


# ---------------------------------------------------------------------------------------------


def make_pennylane(n, n_layers):
    import pennylane as qml
    from pennylane import numpy as pnp

    dev = qml.device("lightning.qubit", wires=n)

    @qml.qnode(dev, diff_method="adjoint")
    def circuit(theta):
        for name, qubits, g in gates(n, n_layers):
            if name == "ry":
                qml.RY(theta[g], wires=qubits[0])
            elif name == "rz":
                qml.RZ(theta[g], wires=qubits[0])
            else:
                qml.CRY(theta[g], wires=list(qubits))
        return ([qml.expval(qml.PauliZ(q)) for q in range(n)]
                + [qml.expval(qml.PauliX(q)) for q in range(n)])

    def forward(angles):
        return np.array([np.array(circuit(pnp.array(row, requires_grad=False)))
                         for row in angles])

    def grad(angles, cot):
        grads = []
        for row, c in zip(angles, cot):
            theta = pnp.array(row, requires_grad=True)

            def cost(t, c=c):
                return pnp.sum(pnp.stack(circuit(t)) * c)

            grads.append(np.array(qml.grad(cost)(theta)))
        return np.array(grads)

    return forward, grad, f"pennylane {qml.__version__} lightning.qubit adjoint"


def make_tensorcircuit(n, n_layers):
    import jax
    import jax.numpy as jnp

    if not hasattr(np, "ComplexWarning"):  # tensorcircuit 0.12 predates numpy 2.0
        np.ComplexWarning = np.exceptions.ComplexWarning
    import tensorcircuit as tc

    tc.set_backend("jax")
    tc.set_dtype("complex64")

    def expectations(theta):
        c = tc.Circuit(n)
        for name, qubits, g in gates(n, n_layers):
            if name == "ry":
                c.ry(qubits[0], theta=theta[g])
            elif name == "rz":
                c.rz(qubits[0], theta=theta[g])
            else:
                c.cry(qubits[0], qubits[1], theta=theta[g])
        z = [jnp.real(c.expectation_ps(z=[q])) for q in range(n)]
        x = [jnp.real(c.expectation_ps(x=[q])) for q in range(n)]
        return jnp.stack(z + x)

    batched = jax.jit(jax.vmap(expectations))

    @jax.jit
    def value_and_grad(angles, cot):
        def loss(a):
            return jnp.sum(jax.vmap(expectations)(a) * cot)
        return jax.value_and_grad(loss)(angles)

    def forward(angles):
        return np.asarray(batched(jnp.asarray(angles)))

    def grad(angles, cot):
        _, g = value_and_grad(jnp.asarray(angles), jnp.asarray(cot))
        return np.asarray(g)

    return forward, grad, f"tensorcircuit {tc.__version__} jax {jax.__version__} (vmap+jit)"


PEERS = {"pennylane-lightning": make_pennylane, "tensorcircuit-jax": make_tensorcircuit}


def time_calls(fn, args, repeats, budget_s):
    samples, start = [], time.perf_counter()
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn(*args)
        samples.append(time.perf_counter() - t0)
        if time.perf_counter() - start > budget_s and len(samples) >= 2:
            break
    return 1e3 * statistics.median(samples), len(samples)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--points", default="5x2,10x4", help="n x L points, comma-separated")
    parser.add_argument("--batch", type=int, default=128)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--budget-s", type=float, default=60.0,
                        help="time budget per peer and point for the timed repeats")
    parser.add_argument("--peers", default=",".join(PEERS),
                        help=f"comma-separated subset of {tuple(PEERS)}")
    parser.add_argument("--install-status", type=pathlib.Path, default=None)
    parser.add_argument("--out", type=pathlib.Path,
                        default=REPO / "benchmarks" / "results" / "peers.json")
    args = parser.parse_args(argv)
    points = [tuple(int(v) for v in p.split("x")) for p in args.points.split(",")]
    peers = [p.strip() for p in args.peers.split(",") if p.strip()]
    unknown = sorted(set(peers) - set(PEERS))
    if unknown:
        parser.error(f"--peers: unknown {unknown}; choose from {tuple(PEERS)}")
    install = (args.install_status.read_text().splitlines()
               if args.install_status and args.install_status.exists() else [])
    results, unavailable = [], {}
    rng = np.random.default_rng(0)
    for peer in peers:
        make = PEERS[peer]
        for n, n_layers in points:
            angles = rng.uniform(-np.pi, np.pi, (args.batch, n_angles(n, n_layers)))
            angles = angles.astype(np.float32)
            cot = rng.normal(size=(args.batch, 2 * n)).astype(np.float32)
            try:
                t0 = time.perf_counter()
                forward, grad, version = make(n, n_layers)
                first = forward(angles)
                grad(angles, cot)
                first_call_s = time.perf_counter() - t0
                check = float(np.max(np.abs(first[:2] - numpy_reference(angles[:2], n,
                                                                          n_layers))))
                fwd_ms, k1 = time_calls(forward, (angles,), args.repeats, args.budget_s)
                grad_ms, k2 = time_calls(grad, (angles, cot), args.repeats, args.budget_s)
            except ImportError as err:
                unavailable[peer] = f"not installed: {err}"
                print(f"{peer}: not installed ({err})", flush=True)
                break
            except Exception as err:  # noqa: BLE001 - report the failure instead of a number
                unavailable[peer] = f"failed: {type(err).__name__}: {err}"
                print(f"{peer}: failed at n={n} L={n_layers}:\n{traceback.format_exc()}",
                      flush=True)
                break
            entry = {"peer": peer, "version": version, "n_qubits": n, "n_layers": n_layers,
                     "batch": args.batch, "forward_ms": fwd_ms, "grad_ms": grad_ms,
                     "repeats": min(k1, k2), "first_call_s": first_call_s,
                     "max_abs_diff_vs_numpy": check}
            results.append(entry)
            print(f"{peer:<20} n={n:>2} L={n_layers} batch={args.batch}: forward "
                  f"{fwd_ms:9.1f} ms  forward+grad {grad_ms:9.1f} ms  first call "
                  f"{first_call_s:6.1f} s  |diff vs numpy| {check:.1e}  ({version})",
                  flush=True)
    for peer, why in unavailable.items():
        print(f"{peer}: {why}")
    payload = {"machine": {"platform": platform.platform(), "cpu_count": os.cpu_count(),
                           "python": sys.version.split()[0]},
               "install": install, "results": results, "unavailable": unavailable}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(payload, indent=2))
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
