"""Reading a capacity study's TensorBoard logs: every run's curves, from Python or the UI.

A study writes one TensorBoard directory per training run under ``OUT/logs/`` (losses,
latent and FD-SAT4 scores, image grids, and the HParams dashboard's record of generator and
critic capacities). This script runs the tiny ``smoke`` study when ``--study`` is not given,
then reads the logs with TensorBoard's own event reader and prints the last value of each
scalar per run. For the dashboards: ``tensorboard --logdir OUT/logs``.

    python examples/read_study_in_tensorboard.py --study demo-out
"""
import argparse
import pathlib
import subprocess
import sys
import tempfile

from tensorboard.backend.event_processing import event_multiplexer


def run_smoke_study(out):
    """``qlsgan study --preset smoke --out OUT`` in a child process (seconds to a minute)."""
    cmd = [sys.executable, "-m", "qlsgan_tf.cli.main", "study", "--preset", "smoke",
           "--out", str(out)]
    subprocess.run(cmd, check=True)


def last_scalars(logdir):
    """{run: {tag: (step, value)}} for every run under ``logdir`` (TensorBoard's reader)."""
    mux = event_multiplexer.EventMultiplexer(size_guidance={"scalars": 0, "tensors": 0})
    mux.AddRunsFromDirectory(str(logdir))
    mux.Reload()
    table = {}
    for run, tags in sorted(mux.Runs().items()):
        values = {}
        for tag in tags.get("scalars", []):
            event = mux.Scalars(run, tag)[-1]
            values[tag] = (event.step, event.value)
        for tag in tags.get("tensors", []):
            events = mux.Tensors(run, tag)
            if events and events[-1].tensor_proto.dtype in (1, 2):  # float, double scalars
                import tensorflow as tf  # noqa: PLC0415 (only for decoding tensor events)

                value = tf.make_ndarray(events[-1].tensor_proto)
                if value.shape == ():
                    values[tag] = (events[-1].step, float(value))
        if values:
            table[run] = values
    return table


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--study", default=None,
                        help="a study directory (default: run the smoke study first)")
    parser.add_argument("--max_runs", type=int, default=6, help="runs to print")
    args = parser.parse_args(argv)

    out = pathlib.Path(args.study or tempfile.mkdtemp(prefix="qlsgan-smoke-"))
    if args.study is None:
        run_smoke_study(out)
    logdir = out / "logs"
    if not logdir.is_dir():
        raise SystemExit(f"{logdir} does not exist: is {out} a study directory?")
    table = last_scalars(logdir)
    for run in list(table)[: args.max_runs]:
        print(run)
        for tag, (step, value) in sorted(table[run].items()):
            print(f"  {tag:<32} step {step:>5}  {value:.4g}")
    print(f"{len(table)} TensorBoard runs with scalars; view them with: "
          f"tensorboard --logdir {logdir}")
    if not table:
        raise SystemExit("no scalars found")
    return table


if __name__ == "__main__":
    main()
