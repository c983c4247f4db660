"""``qlsgan report OUT``: (re)write a study's report from its directory.

Works on a finished or a partial study (the report then says PARTIAL); writes
``results.json``, ``trials.csv``, ``report.md`` and ``plots/*.png`` atomically.
"""
from absl import flags

from qlsgan_tf import interrupts
from qlsgan_tf.cli.common import UsageError, clear_errors

FLAGS = flags.FLAGS
flags.DEFINE_integer("n_boot", None, "Bootstrap resamples (default: the study's).",
                     lower_bound=10)
flags.DEFINE_enum("score", None, ["latent", "fd"], "Score that decides the optima: the latent "
                  "distance or FD-SAT4 (default: the study's, latent).")


def main(argv):
    """Runs `qlsgan report` (flags parsed by absl; ``argv[1:]`` are the positional arguments)."""
    with clear_errors("report"), interrupts.handle_signals():
        if len(argv) != 2:
            raise UsageError("usage: qlsgan report OUT (one study directory)")
        from qlsgan_tf.study import report

        paths = report.write_report(argv[1], n_boot=FLAGS.n_boot, score_metric=FLAGS.score)
        interrupts.check_stop()  # Ctrl-C/SIGTERM: the report is finished first (seconds)
        for name in ("report", "results", "trials"):
            print(f"{name}: {paths[name]}")
        print(f"plots: {len(paths) - 3} PNG files in {argv[1]}/plots")
