"""``qlsgan report OUT``: (re)write a study's report from its directory.

Works on a finished or a partial study (the report then says PARTIAL); writes
``results.json``, ``trials.csv``, ``report.md`` and ``plots/*.png`` atomically.
"""
from typing import Sequence

from absl import flags

from qlsgan_tf import interrupts
from qlsgan_tf.cli import settings_flags
from qlsgan_tf.cli.common import UsageError, clear_errors
from qlsgan_tf.study import presets

FLAGS = flags.FLAGS
# The study settings a report may change (neither is in the study's fingerprint): flags
# generated from their declarations in ``study.presets.StudyConfig``.
SHARED = settings_flags.define(presets.StudyConfig, __name__, names=("n_boot", "score_metric"),
                               bounds=True, default_text=lambda entry: "the study's")


def main(argv: Sequence[str]) -> None:
    """Runs `qlsgan report` (flags parsed by absl; ``argv[1:]`` are the positional arguments)."""
    with clear_errors("report"), interrupts.handle_signals():
        if len(argv) != 2:
            raise UsageError("usage: qlsgan report OUT (one study directory)")
        from qlsgan_tf.study import report

        variants = _variants(argv[1])
        if variants:  # a VAE comparison (`qlsgan study --vae nominal,tuned`)
            _compare(argv[1], variants)
            return
        paths = report.write_report(argv[1], n_boot=FLAGS.n_boot, score_metric=FLAGS.score)
        interrupts.check_stop()  # Ctrl-C/SIGTERM: the report is finished first (seconds)
        for name in ("report", "results", "trials"):
            print(f"{name}: {paths[name]}")
        print(f"plots: {len(paths) - 3} PNG files in {argv[1]}/plots")


def _variants(out):
    """{VAE name: study directory} of a comparison directory (none for a plain study)."""
    import pathlib

    root = pathlib.Path(out)
    if (root / "study.json").exists() or not root.is_dir():
        return {}
    return {path.name[len("vae-"):]: path for path in sorted(root.glob("vae-*"))
            if (path / "study.json").exists()}


def _compare(out, variants):
    """Each variant's report, then the comparison of the VAEs."""
    from qlsgan_tf.study import report, vae_compare

    if len(variants) != 2:
        raise UsageError(f"{out}: a VAE comparison holds two studies (vae-<name>/), found "
                         f"{len(variants)}")
    for name, directory in variants.items():
        paths = report.write_report(directory, n_boot=FLAGS.n_boot, score_metric=FLAGS.score)
        print(f"{name} report: {paths['report']}")
        interrupts.check_stop()
    for name, path in vae_compare.write_comparison(out, variants).items():
        print(f"{name.replace('_', ' ')}: {path}")
