"""``qlsgan study``: run (or resume) the capacity-scaling study and write its report.

Rerunning the same command continues where it stopped (finished runs are kept, never
repeated); Ctrl-C stops cleanly. Distributed: start one chief and N workers with the same
command and KerasTuner's variables KERASTUNER_TUNER_ID (chief, tuner0, tuner1, ...),
KERASTUNER_ORACLE_IP and KERASTUNER_ORACLE_PORT, all writing to one shared --out.
"""
from absl import flags

from qlsgan_tf import interrupts
from qlsgan_tf.cli.common import UsageError, clear_errors

FLAGS = flags.FLAGS
flags.DEFINE_enum("preset", "quick", ["smoke", "quick", "paper"],
                  "Study size: smoke (tests, ~1 min), quick (the demo, <15 min on 2 CPU "
                  "cores), paper (the full grid, 5 seeds, full SAT-4).")
flags.DEFINE_string("data", None, "SAT-4 data: .mat, Kaggle CSV, a directory with either, or a "
                    "cache from `qlsgan convert-data`. Default: the bundled 70-patch sample.")
flags.DEFINE_string("out", None, "Study directory (created; an existing one is resumed).")
flags.DEFINE_string("vae", None, "nominal, tuned, or the directory of a VAE saved by "
                    "`qlsgan train-vae` (default: the preset's); two of them separated by a "
                    "comma (nominal,tuned) run the study once per VAE and compare them.")
flags.DEFINE_string("feature_net", None, "FD-SAT4 feature network: bundled, train (learn it "
                    "from --data, kept in OUT/feature_net), or the directory of one written by "
                    "`qlsgan train-feature-net` (default: the preset's).")
flags.DEFINE_list("quantum_grid", None, "Quantum generators as NxL pairs, e.g. 3x1,3x2,4x1.")
flags.DEFINE_list("critic_capacities", None, "Critic parameter budgets, e.g. 30,150,800.")
flags.DEFINE_list("classical_capacities", None, "Classical generator parameter budgets.")
flags.DEFINE_list("seeds", None, "Seeds, e.g. 0,1,2.")
flags.DEFINE_integer("epochs", None, "Training epochs per run.", lower_bound=1)
flags.DEFINE_integer("steps_per_epoch", None, "Generator steps per epoch (0: one pass).",
                     lower_bound=0)
flags.DEFINE_integer("batch_size", None, "Batch size.", lower_bound=1)
flags.DEFINE_integer("n_critic", None, "Critic updates per generator update.", lower_bound=1)
flags.DEFINE_integer("fid_every", None, "Evaluate FD-SAT4 every N epochs.", lower_bound=1)
flags.DEFINE_integer("k_last", None, "Score the last K FD-SAT4 evaluations.", lower_bound=1)
flags.DEFINE_integer("max_images", None, "Use at most N images per split (0: all).",
                     lower_bound=0)
flags.DEFINE_enum("ansatz", None, ["bel", "simple"], "Quantum circuit ansatz.")
flags.DEFINE_enum("readout", None, ["z", "xz"], "Quantum readout (latent size n or 2n).")
flags.DEFINE_enum("backend", None, ["fast", "tfq"], "Quantum simulation backend.")
flags.DEFINE_enum("loss", None, ["wgan-gp", "bce"], "GAN loss.")
flags.DEFINE_enum("tuner", None, ["grid"], "KerasTuner oracle: grid (every generator once; a "
                  "Bayesian oracle would starve the weak generators the study must measure).")
flags.DEFINE_list("learning_rates", None, "Adam learning rates, each (generator, critic) "
                  "trained at every one, e.g. 5e-4,1e-3,2e-3.")
flags.DEFINE_integer("pack", None, "Runs trained at once in one compiled step: 0 chooses from "
                     "the configuration, 1 trains one run at a time.", lower_bound=0)
flags.DEFINE_integer("lanes", None, "Packs trained at the same time, each in a thread of its "
                     "own (0: one per core, at most 2).", lower_bound=0)
flags.DEFINE_integer("max_epochs", None, "Runs still improving after --epochs train on up to "
                     "this many epochs (0: no extension).", lower_bound=0)
flags.DEFINE_integer("max_trials", None, "Trial budget (0: the whole grid).", lower_bound=0)
flags.DEFINE_boolean("augment", None, "Dihedral augmentation of the real patches.")
flags.DEFINE_enum("score", None, ["latent", "fd"], "Score that decides the optima: the latent "
                  "distance (default) or FD-SAT4; the report shows both.")
flags.DEFINE_integer("refine_rounds", None, "Rounds of the adaptive critic search after "
                     "each generator's grid (0 = off): each adds --refine_points critic "
                     "capacities around its best critic, or beyond a censored edge.")
flags.DEFINE_integer("refine_points", None, "Critic capacities per generator and round of the "
                     "adaptive critic search.")
flags.DEFINE_enum("refine_kinds", None, ["quantum", "classical", "all"], "Generators the "
                  "adaptive critic search refines.")
flags.DEFINE_integer("refine_max_critic", None, "Largest critic the adaptive search may "
                     "suggest (0 = one grid step above the largest grid critic).")
flags.DEFINE_integer("verbose", 1, "0: quiet; 1: progress bar over runs.")
flags.DEFINE_string("pilot", None, "With --dry_run: a finished study directory whose fitted "
                    "score surface is the world the design's power is simulated in (default: "
                    "the bundled quick study's fitted world).")
flags.DEFINE_boolean("dry_run", False, "Print the grid and the estimated time (measured on "
                     "this machine), then exit without training.")


_SCALAR_FLAGS = ("epochs", "steps_per_epoch", "batch_size", "n_critic", "fid_every", "k_last",
                 "max_images", "ansatz", "readout", "backend", "loss", "tuner", "max_trials",
                 "augment", "vae", "pack", "lanes", "max_epochs", "feature_net", "refine_rounds",
                 "refine_points", "refine_kinds", "refine_max_critic")
# Setting -> flag, for the settings whose flag has another name or takes a list.
_FLAG_OF = dict({name: name for name in _SCALAR_FLAGS + (
    "critic_capacities", "classical_capacities", "seeds", "learning_rates", "quantum_grid")},
    score_metric="score")


def _ints(name, values):
    try:
        return [int(v) for v in values]
    except ValueError:
        raise UsageError(
            f"--{name} takes integers separated by commas; got {','.join(values)}") from None


def _grid(values):
    pairs = []
    for item in values:
        parts = item.lower().split("x")
        if len(parts) != 2 or not all(p.isdigit() for p in parts):
            raise UsageError(f"--quantum_grid takes NxL pairs such as 3x2; got {item!r}")
        pairs.append((int(parts[0]), int(parts[1])))
    return pairs


def overrides_from_flags():
    """The study settings the user gave on the command line."""
    out = {}
    for name in _SCALAR_FLAGS:
        value = getattr(FLAGS, name)
        if value is not None:
            out[name] = value
    for name in ("critic_capacities", "classical_capacities", "seeds"):
        if getattr(FLAGS, name) is not None:
            out[name] = _ints(name, getattr(FLAGS, name))
    if FLAGS.learning_rates is not None:
        try:
            out["learning_rates"] = [float(v) for v in FLAGS.learning_rates]
        except ValueError:
            raise UsageError("--learning_rates takes numbers separated by commas; got "
                             f"{','.join(FLAGS.learning_rates)}") from None
    if FLAGS.quantum_grid is not None:
        out["quantum_grid"] = _grid(FLAGS.quantum_grid)
    if FLAGS.score is not None:
        out["score_metric"] = FLAGS.score
    return out


def _flag_error(err):
    """A setting's ``ValueError`` as a usage error naming the flag that set it (every
    setting's message starts with the setting's name)."""
    message = str(err)
    for name in sorted(_FLAG_OF, key=len, reverse=True):
        rest = message[len(name):len(name) + 1]
        if message.startswith(name) and not (rest.isalnum() or rest == "_"):
            return UsageError(f"--{_FLAG_OF[name]}: {message}")
    return UsageError(message)


def main(argv):
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
            paths = runner.run_vae_comparison(config, vaes, data_path, FLAGS.out,
                                              verbose=FLAGS.verbose)
            interrupts.check_stop()
            for name, path in paths.items():
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
