"""What the capacity search trains, as one frozen record (TensorFlow-free).

``TrainingSettings`` holds every setting that ``tuning.capacity`` and ``tuning.packs`` read:
the generators of the search space, the critic budgets, seeds and learning rates of each, and
how a run is trained, evaluated and judged. Each field but ``generators`` is a setting
declared once (``qlsgan_tf.config.setting``: type, default, bounds, help), and the study's
configuration embeds it (``study.presets.StudyConfig.training``; ``training_settings()`` adds
the generators of its grid): the tuner never sees the study's other settings (data, VAE,
report).
"""
import contextlib
import dataclasses
import io
from typing import Iterator, Tuple

from qlsgan_tf.config import IF_CHANGED, NEVER, setting
from qlsgan_tf.constants import ANSATZE, LOSSES, NOISES, READOUTS
from qlsgan_tf.metrics.latent_score import METHODS
from qlsgan_tf.training.spec import GeneratorSpec

MAX_SEED = 2**31 - 1  # TensorFlow's and NumPy's seeds are 32-bit
MAX_PARAMS = 10**9  # a critic or classical generator budget
MAX_LANES = 64
TUNERS = ("grid",)
"""KerasTuner oracles offered. A trial trains every critic budget, seed and learning rate of
one generator (a pack); an oracle minimising the score over generators (Bayesian) would
starve the weak generators the study must measure, so the grid is the one offered."""


@dataclasses.dataclass(frozen=True)
class TrainingSettings:
    """The search space and the training of each run; each field is a setting
    (``qlsgan_tf.config.setting``: type, default, bounds and help declared once).

    - ``generators``: generator labels (``training.spec``), one trial each (derived by the
      study from its quantum grid and classical capacities; not a setting).
    - ``critic_budgets``, ``seeds``, ``learning_rates``: the runs of a generator (all combined).
    - ``ansatz``, ``readout``, ``generator_depth``: what a label does not say
      (``GeneratorSpec.parse``).
    - ``critic_depth``: hidden layers of the critic (widths from ``units_for_capacity``).
    - Training: ``epochs`` (before the first judgement), ``max_epochs`` (0: no extension),
      ``steps_per_epoch`` (0: one pass), ``batch_size``, ``n_critic``, ``loss``, ``gp_weight``,
      ``noise``; ``pack`` runs per compiled step (0: chosen, 1: one at a time); ``lanes``
      packs trained at the same time, each in its own thread (0: one per core, at most
      ``tuning.lanes.MAX_AUTO_LANES``).
    - Evaluation: ``n_latent_samples`` per latent score (``latent_method``), FD-SAT4 on
      ``n_fid_samples`` every ``fid_every`` epochs, ``k_last`` evaluations in ``fd_score``;
      ``status_k`` latent scores judged per run (0: ``metrics.stability``'s default).
    - Search: ``tuner`` (the oracle), ``max_trials`` (0: the whole grid), ``refine_rounds``
      (rounds of the adaptive critic search after a generator's grid, ``study.search``).
    """

    generators: Tuple[str, ...] = ()
    critic_budgets: Tuple[int, ...] = setting(
        (50, 500), "Critic parameter budgets, e.g. 30,150,800.", name="critic_capacities",
        minimum=1, maximum=MAX_PARAMS, sort=True)
    seeds: Tuple[int, ...] = setting((0,), "Seeds, e.g. 0,1,2.", minimum=0, maximum=MAX_SEED)
    learning_rates: Tuple[float, ...] = setting(
        (2e-4,), "Adam learning rates (critic and generator alike), each (generator, critic) "
        "trained at every one, e.g. 5e-4,1e-3,2e-3.", minimum=0.0, exclusive_minimum=True)
    ansatz: str = setting("bel", "Quantum circuit ansatz.", choices=ANSATZE)
    readout: str = setting("z", "Quantum readout: <Z> (n latents) or <Z> then <X> (2n "
                           "latents).", choices=READOUTS)
    generator_depth: int = setting(1, "Hidden layers of the classical generators.",
                                   minimum=0, maximum=100)
    critic_depth: int = setting(2, "Hidden layers of the critic.", minimum=1, maximum=100)
    epochs: int = setting(4, "Training epochs of a run (in the study: before its first "
                          "judgement).", minimum=1, maximum=10**6)
    max_epochs: int = setting(0, "Runs still improving after --epochs train on up to this "
                              "many epochs (0: no extension).", minimum=0, maximum=10**6)
    steps_per_epoch: int = setting(0, "Generator steps per epoch (0: one pass).",
                                   minimum=0, maximum=10**7)
    batch_size: int = setting(64, "Batch size.", minimum=1, maximum=2**20)
    n_critic: int = setting(5, "Critic updates per generator update.", minimum=1,
                            maximum=1000)
    loss: str = setting("wgan-gp", "GAN loss: Wasserstein with gradient penalty, or "
                        "non-saturating BCE.", choices=LOSSES)
    gp_weight: float = setting(10.0, "Gradient-penalty weight (wgan-gp).", minimum=0.0)
    noise: str = setting("uniform", "Generator noise: uniform in [-1, 1) or standard normal.",
                         choices=NOISES)
    pack: int = setting(0, "Runs trained at once in one compiled step: 0 chooses from the "
                        "configuration, 1 trains one run at a time.", minimum=0,
                        maximum=10**4, fingerprint=NEVER)
    lanes: int = setting(0, "Packs trained at the same time, each in a thread of its own "
                         "(0: one per core, at most 2).", minimum=0, maximum=MAX_LANES,
                         fingerprint=NEVER)
    n_latent_samples: int = setting(2000, "Generated latents per run for the latent score "
                                    "(its floor uses the same sizes).", minimum=2,
                                    maximum=10**7)
    latent_method: str = setting("swd", "Latent distance of the latent score.",
                                 choices=METHODS, fingerprint=IF_CHANGED)
    n_fid_samples: int = setting(256, "Generated patches per FD-SAT4 evaluation.", minimum=2,
                                 maximum=10**7)
    fid_every: int = setting(1, "Evaluate FD-SAT4 (and KID) every N epochs.", minimum=1,
                             maximum=10**6)
    k_last: int = setting(3, "Score the last K FD-SAT4 evaluations.", minimum=1,
                          maximum=10**6)
    status_k: int = setting(0, "Latent scores judged per run (0: the convergence rule's "
                            "default).", minimum=0, maximum=10**6, fingerprint=IF_CHANGED)
    evaluate_every_epoch: bool = setting(False, "Score every epoch (full trajectories in "
                                         "TensorBoard and the records) instead of only the "
                                         "epochs the convergence rule reads: the same "
                                         "statuses and scores, more evaluation time.",
                                         fingerprint=NEVER)
    tuner: str = setting("grid", "KerasTuner oracle: grid (every generator once; a Bayesian "
                         "oracle would starve the weak generators the study must measure).",
                         choices=TUNERS, fingerprint=NEVER)
    max_trials: int = setting(0, "Trial budget (0: the whole grid).", minimum=0,
                              maximum=10**6, fingerprint=NEVER)
    refine_rounds: int = setting(0, "Rounds of the adaptive critic search after each "
                                 "generator's grid (0 = off): each adds --refine_points "
                                 "critic capacities around its best critic, or beyond a "
                                 "censored edge.", minimum=0, maximum=100)

    def __post_init__(self) -> None:
        object.__setattr__(self, "generators", tuple(str(v) for v in self.generators))
        for name, cast in (("critic_budgets", int), ("seeds", int), ("learning_rates", float)):
            values = tuple(cast(v) for v in getattr(self, name))
            if not values:
                raise ValueError(f"{name} is empty")
            object.__setattr__(self, name, values)

    def generator_spec(self, label: str) -> GeneratorSpec:
        """The ``GeneratorSpec`` a label of this search names."""
        return GeneratorSpec.parse(label, ansatz=self.ansatz, readout=self.readout,
                                   generator_depth=self.generator_depth)


def oracle_seed(seed: int) -> int:
    """The explicit, non-zero seed of a KerasTuner oracle for a study or run seed ``seed``
    (KerasTuner reads a seed of 0 as "none" and draws a random one)."""
    return int(seed) + 1


@contextlib.contextmanager
def quiet_stdout() -> Iterator[None]:
    """KerasTuner's prints (``Reloading Tuner from ...``, trial banners) kept off stdout."""
    with contextlib.redirect_stdout(io.StringIO()):
        yield
