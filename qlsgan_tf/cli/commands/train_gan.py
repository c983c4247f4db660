"""``qlsgan train-gan DATA --vae DIR --out DIR``: train a latent GAN on VAE-encoded SAT-4 patches.

The real data are the latents of DATA's training patches under the VAE trained by
``qlsgan train-vae`` (its bounded mean, in [-1, 1]). The generator is the style-based quantum
generator (``--generator quantum``: ``--qubits``, ``--layers``, ``--ansatz``, ``--readout``,
``--backend``) or a classical MLP (``--generator classical``: ``--gen_units``); the critic is
an MLP (``--critic_units``). The generator's output must match the VAE latent: ``n`` values
for ``--readout z``, ``2n`` for ``--readout xz``.

Writes into ``--out``: ``checkpoints/``, TensorBoard ``logs/`` (losses, FD-SAT4 and KID,
image grids, HParams), ``history.csv``, ``metrics.json`` (final FD-SAT4/KID, the real-vs-real
floor, capacities, time per epoch), ``samples.png``, ``generator.keras`` and ``hybrid.keras``
(for ``qlsgan sample``).
"""
import math
import pathlib
from typing import TYPE_CHECKING, Sequence

from absl import flags

from qlsgan_tf import config as config_lib
from qlsgan_tf import jsoncodec
from qlsgan_tf.cli import settings_flags
from qlsgan_tf.cli.common import UsageError, clear_errors
from qlsgan_tf.constants import BACKENDS
from qlsgan_tf.tuning.settings import TrainingSettings

if TYPE_CHECKING:  # imported in the functions: --help stays TensorFlow-free
    from qlsgan_tf.training.spec import GeneratorSpec

FLAGS = flags.FLAGS
flags.DEFINE_string("vae", None, "Directory of the VAE trained by `qlsgan train-vae`.")
flags.DEFINE_string("out", None, "Run directory (checkpoints, logs, metrics, samples).")
flags.DEFINE_enum("generator", "quantum", ["quantum", "classical"],
                  "Style-based quantum generator or classical MLP generator.")
flags.DEFINE_integer("qubits", 5, "Qubits n of the quantum generator.", lower_bound=2)
flags.DEFINE_integer("layers", 2, "Layers L of the quantum generator.", lower_bound=1)
flags.DEFINE_list("gen_units", ["64"], "Hidden widths of the classical generator, e.g. 64,64.")
flags.DEFINE_integer("noise_dim", None, "Noise dimension of the classical generator "
                     "(default: the VAE latent dimension). The quantum generator takes "
                     "n_qubits noise values.", lower_bound=1)
flags.DEFINE_list("critic_units", ["64", "32"], "Hidden widths of the critic, e.g. 512,256.")
# The settings a run shares with the study: flags generated from their declarations
# (tuning.settings.TrainingSettings), with this command's defaults where they differ.
SHARED = settings_flags.define(
    TrainingSettings, __name__, bounds=True,
    names=("ansatz", "readout", "epochs", "batch_size", "n_critic", "loss",
           "gp_weight", "noise", "fid_every", "n_fid_samples"),
    defaults=dict(config_lib.defaults(TrainingSettings), epochs=10))
flags.DEFINE_enum("backend", "tfq", list(BACKENDS), "Quantum simulator: TFQ (Adjoint "
                  "gradients) or the exact TF-ops simulator (a study always trains on the "
                  "latter, in packs).")
flags.DEFINE_float("g_lr", 2e-4, "Generator Adam learning rate (betas 0.5, 0.9).")
flags.DEFINE_float("c_lr", 2e-4, "Critic Adam learning rate (betas 0.5, 0.9).")
flags.DEFINE_integer("seed", 0, "Random seed (weights, noise, shuffling).", lower_bound=0)
flags.DEFINE_string("feature_net", None, "Feature-net directory for FD-SAT4 (default: the "
                    "bundled one).")
flags.DEFINE_integer("max_images", None, "Use only the first N training patches.",
                     lower_bound=1)
flags.DEFINE_boolean("overwrite", False, "Reuse an --out directory that already holds a run.")
flags.DEFINE_integer("verbose", 1, "Keras progress: 0 silent, 1 progress bar, 2 one line per "
                     "epoch.", lower_bound=0, upper_bound=2)


def _units(name, values):
    try:
        units = tuple(int(v) for v in values)
    except ValueError:
        raise UsageError(f"--{name} must be comma-separated positive integers, "
                         f"got {','.join(values)!r}") from None
    if not units or any(u < 1 for u in units):
        raise UsageError(f"--{name} must be comma-separated positive integers, "
                         f"got {','.join(values)!r}")
    return units


def _check_flags():
    for name in ("vae", "out"):
        if not getattr(FLAGS, name):
            raise UsageError(f"--{name} DIR is required")
    for name in ("g_lr", "c_lr"):
        if not 0 < getattr(FLAGS, name) < math.inf:
            raise UsageError(f"--{name} must be a finite number > 0, got {getattr(FLAGS, name)}")
    if FLAGS.generator == "quantum":
        if FLAGS["gen_units"].present or FLAGS["noise_dim"].present:
            raise UsageError("--gen_units and --noise_dim apply to --generator classical; the "
                             "quantum generator is sized by --qubits and --layers")
    elif any(FLAGS[name].present for name in ("qubits", "layers", "ansatz", "readout",
                                              "backend")):
        raise UsageError("--qubits/--layers/--ansatz/--readout/--backend apply to "
                         "--generator quantum; size the classical generator with --gen_units")


def generator_spec(latent_dim: int) -> "GeneratorSpec":
    """The ``GeneratorSpec`` the flags describe, checked against the VAE's latent size."""
    from qlsgan_tf.training.spec import GeneratorSpec

    if FLAGS.generator == "classical":
        return GeneratorSpec.classical(latent_dim, _units("gen_units", FLAGS.gen_units),
                                       noise_dim=FLAGS.noise_dim or latent_dim)
    spec = GeneratorSpec.quantum(FLAGS.qubits, FLAGS.layers, FLAGS.ansatz, FLAGS.readout)
    if spec.output_dim != latent_dim:
        hint = (f"--qubits {latent_dim // 2} --readout xz or " if latent_dim % 2 == 0
                and latent_dim >= 4 else "")
        raise UsageError(
            f"the VAE in --vae has latent_dim {latent_dim}, but a {FLAGS.qubits}-qubit "
            f"generator with --readout {FLAGS.readout} outputs {spec.output_dim} values; use "
            f"{hint}--qubits {latent_dim} --readout z, or a VAE with latent_dim "
            f"{spec.output_dim}")
    return spec


def _generator_hparams(spec):
    if spec.kind == "quantum":
        return {"n_qubits": spec.n_qubits, "n_layers": spec.n_layers, "ansatz": spec.ansatz,
                "readout": spec.readout, "backend": FLAGS.backend}
    return {"gen_units": ",".join(map(str, spec.hidden_units)), "noise_dim": spec.noise_dim}


def main(argv: Sequence[str]) -> None:
    """Runs `qlsgan train-gan` (flags parsed by absl; ``argv[1:]`` are the positional arguments)."""
    with clear_errors("train-gan"):
        if len(argv) != 2:
            raise UsageError("expected one DATA path; usage: qlsgan train-gan DATA --vae DIR "
                             "--out DIR [--generator quantum|classical ...]")
        _check_flags()
        critic_units = _units("critic_units", FLAGS.critic_units)
        if not pathlib.Path(FLAGS.vae).exists():
            raise FileNotFoundError(f"--vae {FLAGS.vae!r} does not exist (train a VAE with "
                                    "`qlsgan train-vae DATA --out DIR`)")
        out = pathlib.Path(FLAGS.out)
        if (out / "metrics.json").exists() and not FLAGS.overwrite:
            raise FileExistsError(f"{str(out)!r} already holds a run (metrics.json); pass "
                                  "--overwrite to replace it")

        import tensorflow as tf

        from qlsgan_tf.data import load_sat4
        from qlsgan_tf.metrics.feature_net import load_feature_net
        from qlsgan_tf.models import MLPCritic
        from qlsgan_tf.training.gan_run import train_latent_gan
        from qlsgan_tf.training.vae_fit import load_vae

        data = argv[1]
        train = load_sat4(data, "train", max_images=FLAGS.max_images)
        try:
            test = load_sat4(data, "test")
        except (FileNotFoundError, ValueError):
            test = None  # no test split: metrics.json then has no real-vs-real floor
        vae = load_vae(FLAGS.vae)
        tf.keras.utils.set_random_seed(FLAGS.seed)
        spec = generator_spec(int(vae.latent_dim))
        generator = spec.build(backend=FLAGS.backend)
        critic = MLPCritic(hidden_units=critic_units, input_dim=int(vae.latent_dim))
        result = train_latent_gan(
            generator, critic, vae=vae, real_images=train.images,
            test_images=None if test is None else test.images, out_dir=out,
            noise_dim=spec.noise_dim, loss=FLAGS.loss, gp_weight=FLAGS.gp_weight,
            n_critic=FLAGS.n_critic, noise=FLAGS.noise, g_lr=FLAGS.g_lr, c_lr=FLAGS.c_lr,
            epochs=FLAGS.epochs, batch_size=FLAGS.batch_size, seed=FLAGS.seed,
            fid_every=FLAGS.fid_every, n_fid_samples=FLAGS.n_fid_samples,
            feature_net=load_feature_net(FLAGS.feature_net), verbose=FLAGS.verbose,
            hparams={"generator": FLAGS.generator, **_generator_hparams(spec),
                     "critic_units": ",".join(map(str, critic_units)), "loss": FLAGS.loss,
                     "n_critic": FLAGS.n_critic, "seed": FLAGS.seed,
                     "data": str(data), "vae": str(FLAGS.vae)})
        summary = {k: getattr(result, k)
                   for k in ("failed", "failure_reason", "final_fd", "final_kid", "floor_fd",
                             "generator_capacity", "critic_params", "epochs_run",
                             "time_per_epoch_s")}
        print(jsoncodec.dumps(summary, indent=2))  # inf/NaN as "inf"/"nan", as metrics.json
        written = [name for name in ("metrics.json", "samples.png", "hybrid.keras",
                                     "generator.keras", "checkpoints/", "checkpoints.failed/")
                   if (out / name.rstrip("/")).exists()]
        print(f"wrote {out}: {', '.join(written)}, logs/ (tensorboard --logdir "
              f"{out / 'logs'})")
        if result.failed:
            raise ValueError(f"training failed: {result.failure_reason}")
