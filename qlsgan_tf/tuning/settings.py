"""What the capacity search trains, as one frozen record (TensorFlow-free).

``TrainingSettings`` holds every setting that ``tuning.capacity`` and ``tuning.packs`` read:
the generators of the search space, the critic budgets, seeds and learning rates of each, and
how a run is trained, evaluated and judged. The study builds it from its configuration
(``study.presets.StudyConfig.training_settings()``); the tuner never sees the study's other
settings (data, VAE, report).
"""
import contextlib
import dataclasses
import io
from typing import Tuple

from qlsgan_tf.training.spec import GeneratorSpec


@dataclasses.dataclass(frozen=True)
class TrainingSettings:
    """The search space and the training of each run.

    - ``generators``: generator labels (``training.spec``), one trial each.
    - ``critic_budgets``, ``seeds``, ``learning_rates``: the runs of a generator (all combined).
    - ``ansatz``, ``readout``, ``generator_depth``: what a label does not say
      (``GeneratorSpec.parse``); ``backend``: the quantum simulator of a run trained alone.
    - ``critic_depth``: hidden layers of the critic (widths from ``units_for_capacity``).
    - Training: ``epochs`` (before the first judgement), ``max_epochs`` (0: no extension),
      ``steps_per_epoch`` (0: one pass), ``batch_size``, ``n_critic``, ``loss``, ``gp_weight``,
      ``noise``; ``pack`` runs per compiled step (0: chosen, 1: one at a time); ``lanes``
      packs trained at the same time, each in its own thread (0: one per core, at most
      ``tuning.packs.MAX_AUTO_LANES``).
    - Evaluation: ``n_latent_samples`` per latent score (``latent_method``), FD-SAT4 on
      ``n_fid_samples`` every ``fid_every`` epochs, ``k_last`` evaluations in ``fd_score``;
      ``status_k`` latent scores judged per run (0: ``metrics.stability``'s default).
    - Search: ``tuner`` (the oracle), ``max_trials`` (0: the whole grid), ``refine_rounds``
      (rounds of the adaptive critic search after a generator's grid, ``study.search``).
    """

    generators: Tuple[str, ...]
    critic_budgets: Tuple[int, ...]
    seeds: Tuple[int, ...] = (0,)
    learning_rates: Tuple[float, ...] = (2e-4,)
    ansatz: str = "bel"
    readout: str = "z"
    backend: str = "fast"
    generator_depth: int = 1
    critic_depth: int = 2
    epochs: int = 4
    max_epochs: int = 0
    steps_per_epoch: int = 0
    batch_size: int = 64
    n_critic: int = 5
    loss: str = "wgan-gp"
    gp_weight: float = 10.0
    noise: str = "uniform"
    pack: int = 0
    lanes: int = 0
    n_latent_samples: int = 2000
    latent_method: str = "swd"
    n_fid_samples: int = 256
    fid_every: int = 1
    k_last: int = 3
    status_k: int = 0
    tuner: str = "grid"
    max_trials: int = 0
    refine_rounds: int = 0

    def __post_init__(self):
        for name, cast in (("generators", str), ("critic_budgets", int), ("seeds", int),
                           ("learning_rates", float)):
            values = tuple(cast(v) for v in getattr(self, name))
            if not values:
                raise ValueError(f"{name} is empty")
            object.__setattr__(self, name, values)

    def generator_spec(self, label):
        """The ``GeneratorSpec`` a label of this search names."""
        return GeneratorSpec.parse(label, ansatz=self.ansatz, readout=self.readout,
                                   generator_depth=self.generator_depth)


def oracle_seed(seed):
    """The explicit, non-zero seed of a KerasTuner oracle for a study or run seed ``seed``
    (KerasTuner reads a seed of 0 as "none" and draws a random one)."""
    return int(seed) + 1


@contextlib.contextmanager
def quiet_stdout():
    """KerasTuner's prints (``Reloading Tuner from ...``, trial banners) kept off stdout."""
    with contextlib.redirect_stdout(io.StringIO()):
        yield
