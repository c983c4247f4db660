"""``qlsgan study``: run (or resume) the capacity-scaling study and write its report.

Rerunning the same command continues where it stopped (finished runs are kept, never
repeated); Ctrl-C stops cleanly. Distributed: start one chief and N workers with the same
command and KerasTuner's variables KERASTUNER_TUNER_ID (chief, tuner0, tuner1, ...),
KERASTUNER_ORACLE_IP and KERASTUNER_ORACLE_PORT, all writing to one shared --out.
"""
from typing import Any, Dict, Sequence

from absl import flags

from qlsgan_tf import interrupts
from qlsgan_tf.cli import settings_flags
from qlsgan_tf.cli.common import UsageError, clear_errors
from qlsgan_tf.study import presets

FLAGS = flags.FLAGS
# The command's own flags; every study setting's flag is generated from its declaration
# (``study.presets.StudyConfig``, ``tuning.settings.TrainingSettings``) below.
flags.DEFINE_enum("preset", "quick", list(presets.PRESETS),
                  "Study size: smoke (tests, ~1 min), quick (the demo, <15 min on 2 CPU "
                  "cores), paper (the full grid, 10 seeds, full SAT-4); the other flags "
                  "override its settings.")
flags.DEFINE_string("data", None, "SAT-4 data: .mat, Kaggle CSV, a directory with either, or a "
                    "cache from `qlsgan convert-data`. Default: the bundled 70-patch sample.")
flags.DEFINE_string("out", None, "Study directory (created; an existing one is resumed).")
flags.DEFINE_integer("verbose", 1, "0: quiet; 1: progress bar over runs.")
flags.DEFINE_string("pilot", None, "With --dry_run: a finished study directory whose fitted "
                    "score surface is the world the design's power is simulated in (default: "
                    "the bundled quick study's fitted world).")
flags.DEFINE_boolean("dry_run", False, "Print the grid and the estimated time (measured on "
                     "this machine), then exit without training.")
COMMAND_FLAGS = ("preset", "data", "out", "verbose", "pilot", "dry_run")
"""The flags that are not study settings (every other flag sets one)."""


_PRESET_VALUES = {name: presets.make_config(name).to_dict() for name in presets.PRESETS}


def _preset_values(entry):
    """What ``--help`` says a setting's default is: its value, or each preset's."""
    shown = {name: settings_flags.describe(values[entry.name])
             for name, values in _PRESET_VALUES.items()}
    if len(set(shown.values())) == 1:
        return next(iter(shown.values()))
    return "the preset's: " + ", ".join(f"{name} {value}" for name, value in shown.items())


SETTINGS = settings_flags.define(presets.StudyConfig, __name__, default_text=_preset_values)
"""The settings' flags (``qlsgan_tf.config.Entry`` records), one per user-settable setting."""


def overrides_from_flags() -> Dict[str, Any]:
    """The study settings the user gave on the command line."""
    return settings_flags.given(SETTINGS)


def _flag_error(err):
    """A setting's ``ValueError`` as a usage error naming the flag that set it."""
    return settings_flags.flag_error(err, SETTINGS)


def main(argv: Sequence[str]) -> None:
    """Runs `qlsgan study` (flags parsed by absl; ``argv[1:]`` are the positional arguments)."""
    interrupted = (f"finished runs are kept in {FLAGS.out}/runs. Rerun the same command to "
                   "resume.")
    with clear_errors("study", interrupted=interrupted), interrupts.handle_signals():
        if len(argv) > 1:
            raise UsageError(f"unexpected arguments: {' '.join(argv[1:])}")
        if not FLAGS.out:
            raise UsageError("--out is required (the study directory)")
        from qlsgan_tf import data as data_lib
        from qlsgan_tf.study import presets, runner

        overrides = overrides_from_flags()
        vaes = [v.strip() for v in overrides.get("vae", "").split(",") if v.strip()]
        if len(vaes) > 1:
            overrides["vae"] = vaes[0]
        try:
            config = presets.make_config(FLAGS.preset, **overrides)
        except ValueError as err:  # before any work: the flag named, nothing written
            raise _flag_error(err) from None
        data_path = FLAGS.data or str(data_lib.sample_path())
        print(f"qlsgan study: preset {config.preset}, {config.n_runs()} training runs"
              + (f" (+ up to {config.n_refine_runs()} adaptive)" if config.refine_rounds else "")
              + ", "
              f"data {data_path}, out {FLAGS.out} (role: {runner.role()})", flush=True)
        if FLAGS.pilot and not FLAGS.dry_run:
            raise UsageError("--pilot names the world --dry_run simulates power in; give "
                             "--dry_run too")
        if FLAGS.dry_run:
            _dry_run(config, data_path, data_lib)
            return
        if len(vaes) > 1:
            compared = runner.run_vae_comparison(config, vaes, data_path, FLAGS.out,
                                                 verbose=FLAGS.verbose)
            interrupts.check_stop()
            for name, path in compared.items():
                print(f"{name.replace('_', ' ')}: {path}")
            return
        paths = runner.run_study(config, data_path, FLAGS.out, verbose=FLAGS.verbose)
        interrupts.check_stop()  # a signal during the report: the report is whole, say so
        if paths:
            print(f"report: {paths['report']}")
            print(f"results: {paths['results']}  trials: {paths['trials']}")


def _dry_run(config, data_path, data_lib):
    """Grid size and estimated time, without preparing or training anything."""
    import pathlib

    from qlsgan_tf.study import pilot, runner, store

    world = pilot.world_for(FLAGS.pilot)  # a bad --pilot is named before any work
    train = data_lib.load_sat4(data_path, split="train", max_images=config.max_images or None)
    n_reference = len(train.images) * (8 if config.augment else 1)
    done = store.ResultStore(pathlib.Path(FLAGS.out)).keys()
    print(f"grid: {len(config.generator_labels())} generators x "
          f"{len(config.critic_capacities)} critics x {len(config.seeds)} seeds x "
          f"{len(config.learning_rates)} learning rates ({len(done)} runs already finished); "
          f"{n_reference} real latents per epoch")
    if config.refine_rounds:
        print(f"adaptive critic search: up to {config.n_refine_runs()} more runs "
              f"({config.refine_rounds} rounds x {config.refine_points} critics for the "
              f"{config.refine_kinds} generators; not in the estimate below)")
    print(runner.describe_estimate(runner.estimate(config, n_reference, done)))
    _print_power(config, *world)


def _print_power(config, world, source):
    """The primary verdict's power at this design, simulated in the pilot's fitted world."""
    from qlsgan_tf.analysis import surface
    from qlsgan_tf.study import analysis, report

    q = [spec.capacity for spec in config.generator_specs() if spec.kind == "quantum"]
    if len(set(q)) < surface.MIN_Q:
        print(f"power: not simulated (needs >= {surface.MIN_Q} Q values for a verdict; this "
              f"design has {len(set(q))})")
        return
    world = world.redesign(q, config.critic_capacities, len(config.seeds))
    print(f"power of this design, simulated in {source}, moved onto this design's Q, "
          "critics and seeds:")
    power = analysis.power_of(world, candidates=analysis.design_candidates(config))
    for line in report.power_lines(power):
        print(line)
