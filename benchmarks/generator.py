"""Forward and forward+gradient time of the style quantum generator per backend.

Backends, measured side by side (interleaved round by round, so machine noise hits all alike):

* ``tfq-raw``: ``tfq.layers.Expectation`` + ``Adjoint`` on the same cirq circuit, with the style
  angle map ``angles = scale * z[:, g % latent_dim] + bias`` written inline (the baseline);
* ``layer-tfq``: ``StyleQuantumGenerator(..., backend="tfq")``;
* ``layer-fast``: ``StyleQuantumGenerator(..., backend="fast")`` (``qlsgan_tf.layers.fast_sim``);
* ``fast-xla`` (opt-in, not in the default set): ``fast_sim.style_expectations(...,
  jit_compile=True)`` with the angle map inline, to show what XLA buys and what it costs to compile.

Each measurement is one ``tf.function`` call: ``forward`` returns the outputs, ``grad`` also
returns the gradient of ``sum(outputs * cotangent)`` with respect to scale, bias and ``z``. The
first call (trace + XLA compile + first run) is reported as ``compile_s`` and excluded; the
times are medians over ``--repeats`` rounds. Results go to a table on stdout and to JSON with
each backend's ratio to ``tfq-raw`` (``speedup`` = raw time / backend time).

    python benchmarks/generator.py                     # full grid (slow: minutes)
    python benchmarks/generator.py --quick             # small CI-size subset
    python benchmarks/generator.py --n 5,10 --layers 2,4 --batch 128 --readout xz
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

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

REPO = pathlib.Path(__file__).resolve().parents[1]
DEFAULT_OUT = REPO / "benchmarks" / "results" / "generator.json"
BACKENDS = ("tfq-raw", "layer-tfq", "layer-fast")
OPTIONAL_BACKENDS = ("fast-xla",)


def _int_list(text):
    try:
        values = [int(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected comma-separated integers, got {text!r}") from None
    if not values or min(values) < 1:
        raise argparse.ArgumentTypeError(f"expected positive integers, got {text!r}")
    return values


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=_int_list, default=[3, 5, 8, 10, 12],
                        help="qubit counts (comma-separated)")
    parser.add_argument("--layers", type=_int_list, default=[1, 2, 4], help="layer counts")
    parser.add_argument("--batch", type=_int_list, default=[64, 128], help="batch sizes")
    parser.add_argument("--ansatz", choices=("bel", "simple"), default="bel")
    parser.add_argument("--readout", choices=("z", "xz"), default="xz")
    parser.add_argument("--backends", default=",".join(BACKENDS),
                        help=f"comma-separated subset of {BACKENDS + OPTIONAL_BACKENDS}")
    parser.add_argument("--repeats", type=int, default=9, help="timed rounds (median reported)")
    parser.add_argument("--warmup", type=int, default=2, help="untimed rounds after the first")
    parser.add_argument("--quick", action="store_true",
                        help="CI-size subset: n in {3,5}, L in {1,2}, batch 64, 3 repeats")
    parser.add_argument("--out", type=pathlib.Path, default=DEFAULT_OUT, help="JSON output")
    args = parser.parse_args(argv)
    if args.quick:
        args.n, args.layers, args.batch, args.repeats, args.warmup = [3, 5], [1, 2], [64], 3, 1
    args.backends = [b.strip() for b in args.backends.split(",") if b.strip()]
    unknown = sorted(set(args.backends) - set(BACKENDS + OPTIONAL_BACKENDS))
    if unknown:
        parser.error(f"--backends: unknown {unknown}; choose from {BACKENDS + OPTIONAL_BACKENDS}")
    if args.repeats < 1:
        parser.error(f"--repeats must be >= 1, got {args.repeats}")
    return args


def make_raw_tfq(n, n_layers, ansatz, readout, latent_dim, scale, bias):
    """The baseline: TFQ Expectation + Adjoint on the circuit, with the angle map inline."""
    import tensorflow_quantum as tfq

    from qlsgan_tf.layers import circuits

    qubits = circuits.make_qubits(n)
    symbols = circuits.angle_symbols(circuits.n_angles(n, n_layers, ansatz))
    program = tfq.convert_to_tensor([circuits.style_circuit(qubits, n_layers, ansatz, symbols)])
    operators = tfq.convert_to_tensor([circuits.readout_operators(qubits, readout)])
    names = tf.constant([str(s) for s in symbols])
    index = tf.constant(circuits.noise_index(len(symbols), latent_dim))
    expectation = tfq.layers.Expectation(differentiator=tfq.differentiators.Adjoint())
    variables = [tf.Variable(scale), tf.Variable(bias)]

    def model(z):
        angles = variables[0] * tf.gather(z, index, axis=1) + variables[1]
        batch = tf.shape(z)[0]
        return expectation(tf.tile(program, [batch]), symbol_names=names, symbol_values=angles,
                           operators=tf.tile(operators, [batch, 1]))

    return model, variables


def make_fast_xla(n, n_layers, ansatz, readout, latent_dim, scale, bias):
    """The fast simulator compiled with XLA, with the angle map inline."""
    from qlsgan_tf.layers import circuits, fast_sim

    index = tf.constant(circuits.noise_index(scale.shape[0], latent_dim))
    variables = [tf.Variable(scale), tf.Variable(bias)]

    def model(z):
        angles = variables[0] * tf.gather(z, index, axis=1) + variables[1]
        return fast_sim.style_expectations(angles, n, n_layers, ansatz, readout,
                                           jit_compile=True)

    return model, variables


def make_layer(n, n_layers, ansatz, readout, latent_dim, scale, bias, backend):
    from qlsgan_tf.layers import StyleQuantumGenerator

    layer = StyleQuantumGenerator(n, n_layers, noise_dim=latent_dim, ansatz=ansatz,
                                  readout=readout, backend=backend)
    layer.build([None, latent_dim])
    layer.style_scale.assign(scale)
    layer.style_bias.assign(bias)
    return layer, [layer.style_scale, layer.style_bias]


def timed_functions(model, variables, z, cotangent):
    """``forward`` and ``grad`` tf.functions of one backend."""

    @tf.function
    def forward(z):
        return model(z)

    @tf.function
    def grad(z):
        with tf.GradientTape() as tape:
            tape.watch(z)
            out = model(z)
            loss = tf.reduce_sum(out * cotangent)
        return out, tape.gradient(loss, variables + [z])

    return {"forward": forward, "grad": grad}


def _call(fn, z):
    start = time.perf_counter()
    out = fn(z)
    # Materialise every output so asynchronous work is inside the timing.
    tf.nest.map_structure(lambda t: t.numpy(), out)
    return time.perf_counter() - start, out


def bench_point(n, n_layers, batch, ansatz, readout, backends, repeats, warmup, seed=0):
    """Times every backend at one (n, L, batch), interleaved; checks they agree."""
    from qlsgan_tf.layers import circuits

    rng = np.random.default_rng(seed)
    count = circuits.n_angles(n, n_layers, ansatz)
    latent_dim = n
    scale = rng.uniform(-1.0, 1.0, count).astype(np.float32)
    bias = rng.uniform(-np.pi, np.pi, count).astype(np.float32)
    z = tf.constant(rng.uniform(-1.0, 1.0, (batch, latent_dim)).astype(np.float32))
    cotangent = tf.constant(rng.normal(size=(batch, circuits.output_dim(n, readout)))
                            .astype(np.float32))
    fns, compile_s, outputs, errors = {}, {}, {}, {}
    for backend in backends:
        try:
            if backend == "tfq-raw":
                model, variables = make_raw_tfq(n, n_layers, ansatz, readout, latent_dim,
                                                scale, bias)
            elif backend == "fast-xla":
                model, variables = make_fast_xla(n, n_layers, ansatz, readout, latent_dim,
                                                 scale, bias)
            else:
                model, variables = make_layer(n, n_layers, ansatz, readout, latent_dim, scale,
                                              bias, backend.split("-")[1])
            fns[backend] = timed_functions(model, variables, z, cotangent)
            for kind, fn in fns[backend].items():
                seconds, out = _call(fn, z)
                compile_s[(backend, kind)] = seconds
                if kind == "grad":
                    outputs[backend] = out
        except Exception as err:  # noqa: BLE001 - report the backend as unavailable
            errors[backend] = f"{type(err).__name__}: {err}"
            fns.pop(backend, None)
    times = {key: [] for key in compile_s if key[0] in fns}
    for round_index in range(warmup + repeats):
        for backend, kinds in fns.items():
            for kind, fn in kinds.items():
                # One untimed call first: a call right after another backend's (after TFQ's
                # large allocations were freed) runs measurably slower than in steady use,
                # where the same function is called again and again.
                _call(fn, z)
                seconds, _ = _call(fn, z)
                if round_index >= warmup:
                    times[(backend, kind)].append(seconds)
    # Agreement with the baseline (outputs and gradients), as a sanity check of the timing.
    agreement = {}
    if "tfq-raw" in outputs:
        ref_out, ref_grads = outputs["tfq-raw"]
        for backend, (out, grads) in outputs.items():
            if backend == "tfq-raw":
                continue
            diffs = [float(np.max(np.abs(out.numpy() - ref_out.numpy())))]
            for g, rg in zip(grads, ref_grads):
                g, rg = g.numpy(), rg.numpy()
                diffs.append(float(np.max(np.abs(g - rg) / np.maximum(1.0, np.abs(rg)))))
            agreement[backend] = {"max_abs_output_diff": diffs[0],
                                  "max_rel_grad_diff": max(diffs[1:])}
    result = {"n_qubits": n, "n_layers": n_layers, "batch": batch, "ansatz": ansatz,
              "readout": readout, "n_angles": count, "backends": {}, "unavailable": errors,
              "agreement": agreement}
    for backend in fns:
        entry = {}
        for kind in ("forward", "grad"):
            samples = times[(backend, kind)]
            entry[f"{kind}_ms"] = 1e3 * statistics.median(samples)
            entry[f"{kind}_ms_min"] = 1e3 * min(samples)
            entry[f"{kind}_first_call_s"] = compile_s[(backend, kind)]
        result["backends"][backend] = entry
    base = result["backends"].get("tfq-raw")
    if base:
        for entry in result["backends"].values():
            for kind in ("forward", "grad"):
                entry[f"{kind}_speedup"] = base[f"{kind}_ms"] / entry[f"{kind}_ms"]
    return result


def format_table(results):
    header = (f"{'n':>3} {'L':>2} {'batch':>5}  {'backend':<11} {'fwd ms':>8} {'fwd+grad ms':>11}"
              f" {'x raw (f)':>9} {'x raw (f+g)':>11} {'1st call s':>10}")
    lines = [header, "-" * len(header)]
    for r in results:
        for backend, e in r["backends"].items():
            lines.append(
                f"{r['n_qubits']:>3} {r['n_layers']:>2} {r['batch']:>5}  {backend:<11}"
                f" {e['forward_ms']:>8.2f} {e['grad_ms']:>11.2f}"
                f" {e.get('forward_speedup', float('nan')):>9.1f}"
                f" {e.get('grad_speedup', float('nan')):>11.1f}"
                f" {e['grad_first_call_s']:>10.2f}")
        for backend, err in r["unavailable"].items():
            lines.append(f"{r['n_qubits']:>3} {r['n_layers']:>2} {r['batch']:>5}  {backend:<11}"
                         f" unavailable: {err.splitlines()[0][:80]}")
    return "\n".join(lines)


def main(argv=None):
    args = parse_args(argv)
    load_before = os.getloadavg()
    results = []
    points = [(n, L, b) for n in args.n for L in args.layers for b in args.batch]
    for i, (n, n_layers, batch) in enumerate(points, 1):
        print(f"[{i}/{len(points)}] n={n} L={n_layers} batch={batch} ...", file=sys.stderr,
              flush=True)
        results.append(bench_point(n, n_layers, batch, args.ansatz, args.readout,
                                   args.backends, args.repeats, args.warmup))
    load_after = os.getloadavg()
    print(format_table(results))
    print(f"1-min load average: {load_before[0]:.1f} at start, {load_after[0]:.1f} at end "
          f"({os.cpu_count()} CPUs); ratios are only comparable within one run.")
    payload = {
        "benchmark": "style generator forward and forward+gradient",
        "machine": {"platform": platform.platform(), "processor": platform.processor(),
                    "cpu_count": os.cpu_count(), "tensorflow": tf.__version__,
                    "load_average_start": load_before, "load_average_end": load_after},
        "settings": {"repeats": args.repeats, "warmup": args.warmup,
                     "ansatz": args.ansatz, "readout": args.readout,
                     "timing": "median of interleaved rounds; first call reported separately"},
        "results": results,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(payload, indent=2))
    print(f"wrote {args.out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
