"""Study configurations: the ``smoke``, ``quick`` and ``paper`` presets and their overrides.

A ``StudyConfig`` is plain data (JSON round-trip) so that a study directory records exactly
what it ran, and a resumed run can refuse to mix two different studies in one directory.
"""
import dataclasses
import hashlib
import json
import math

from qlsgan_tf.constants import ANSATZE, BACKENDS, LOSSES, NOISES, READOUTS, output_dim
from qlsgan_tf.training.spec import GeneratorSpec, classical_label, quantum_label
from qlsgan_tf.tuning.settings import TrainingSettings
from qlsgan_tf.validation import check_choice, check_finite_float, check_int

TUNERS = ("grid", "bayesian")
# Upper bounds of the settings (each checked before any work; see ``_check_bounds``).
MAX_SEED = 2**31 - 1  # TensorFlow's and NumPy's seeds are 32-bit
MAX_LANES = 64
MAX_REFINE_POINTS = 64
MAX_LAYERS = 1000
MAX_PARAMS = 10**9  # a critic or classical generator budget
# The simulator holds a batch of 2**n complex64 amplitudes (and a few working copies).
SIMULATOR_BYTES = 2**31
SIMULATOR_COPIES = 4
MAX_COUNTS = {"epochs": 10**6, "max_epochs": 10**6, "steps_per_epoch": 10**7,
              "batch_size": 2**20, "n_critic": 1000, "fid_every": 10**6, "k_last": 10**6,
              "critic_depth": 100, "generator_depth": 100, "feature_net_epochs": 10**6,
              "n_fid_samples": 10**7, "vae_epochs": 10**6, "vae_max_trials": 10**4,
              "n_boot": 10**7, "n_latent_samples": 10**7, "max_trials": 10**6,
              "max_images": 10**9, "pack": 10**4, "refine_rounds": 100,
              "refine_max_critic": MAX_PARAMS}
from qlsgan_tf.constants import SCORE_METRICS  # noqa: E402, I001 (the metric registry)
REFINE_KINDS = ("quantum", "classical", "all")


@dataclasses.dataclass
class StudyConfig:
    """Everything that defines one capacity study.

    The optimality score of a run is ``mean(last K FD-SAT4) + std_penalty * std(last K)``;
    a run whose losses go NaN/inf, whose FD-SAT4 over the last K evaluations varies by more
    than ``max_fid_rel_std`` (relative std) or whose critic loss oscillates by more than
    ``max_loss_oscillation`` is unstable and scores +inf (see ``metrics.stability``).
    """

    preset: str = "custom"
    # Quantum generators: (n_qubits, n_layers) pairs; the VAE latent size follows n.
    quantum_grid: list = dataclasses.field(default_factory=lambda: [(3, 1), (3, 2)])
    ansatz: str = "bel"
    readout: str = "z"
    backend: str = "fast"
    # Critic parameter budgets (log-spaced), realised by ``models.units_for_capacity``.
    critic_capacities: list = dataclasses.field(default_factory=lambda: [50, 500])
    critic_depth: int = 2
    # Classical MLP generator parameter budgets for the matching search.
    classical_capacities: list = dataclasses.field(default_factory=lambda: [30, 300])
    generator_depth: int = 1
    seeds: list = dataclasses.field(default_factory=lambda: [0])
    epochs: int = 4
    batch_size: int = 64
    n_critic: int = 5
    loss: str = "wgan-gp"
    gp_weight: float = 10.0
    # Adam learning rates (critic and generator alike): each (generator, critic) is trained at
    # every one, a nuisance parameter the analysis takes the best of.
    learning_rates: list = dataclasses.field(default_factory=lambda: [2e-4])
    noise: str = "uniform"
    fid_every: int = 1
    n_fid_samples: int = 256
    k_last: int = 3
    std_penalty: float = 1.0
    max_fid_rel_std: float = 0.5
    max_loss_oscillation: float = 10.0
    vae: str = "nominal"  # "nominal", "tuned", or the path of a VAE saved by train-vae
    vae_epochs: int = 30
    vae_max_trials: int = 4
    # The FD-SAT4 feature network: "bundled" (trained on the 50 sample patches, shipped),
    # "train" (trained on the study's own data, kept in OUT/feature_net/), or the directory of
    # one written by `qlsgan train-feature-net`.
    feature_net: str = "bundled"
    feature_net_epochs: int = 20
    tuner: str = "grid"
    max_trials: int = 0  # 0 = the whole grid (GridSearch); the budget for "bayesian"
    max_images: int = 0  # 0 = all training images
    augment: bool = True  # dihedral augmentation of real patches (see README)
    n_boot: int = 1000
    steps_per_epoch: int = 0  # 0 = one pass over the (augmented) real latents
    # Runs trained at once in one compiled step (training.PackedLatentGAN): 0 = chosen from
    # the configuration, 1 = one run at a time with LatentGAN (kept for comparison).
    pack: int = 0
    # Packs trained at the same time, each in a thread of its own (a compiled pack step uses
    # one core): 0 = one per usable core, at most tuning.packs.MAX_AUTO_LANES.
    lanes: int = 0
    # Runs still improving after `epochs` train on, in chunks, up to this many epochs
    # (0 = no extension); a run still improving then is "not_converged".
    max_epochs: int = 0
    # Generated latents per run for the latent score (its floor uses the same sizes).
    n_latent_samples: int = 2000
    # Which converged-run score decides the optima: "latent" (the latent distance, default)
    # or "fd" (FD-SAT4); the report shows both (see docs/method.md).
    score_metric: str = "latent"
    # The adaptive critic search (``study.search``): after a generator's grid runs, this many
    # rounds each add `refine_points` critic budgets (golden-section points around its best
    # critic, or a step beyond a censored edge) x seeds x learning rates, for the generators
    # of kind `refine_kinds` ("quantum": C*(Q), the claim's quantity; "classical"; "all"),
    # never above `refine_max_critic` parameters (0: one grid step above the largest critic).
    refine_rounds: int = 0
    refine_points: int = 2
    refine_kinds: str = "quantum"
    refine_max_critic: int = 0

    # ----------------------------------------------------------------- derived
    @property
    def latent_dims(self):
        """Distinct VAE latent sizes the quantum grid needs (n or 2n per generator)."""
        return sorted({self.latent_dim_for(n) for n, _ in self.quantum_grid})

    def latent_dim_for(self, n_qubits):
        return output_dim(n_qubits, self.readout)

    def generator_specs(self):
        """The generators of the study: the quantum grid, then the classical generators of
        every latent size in it."""
        specs = [GeneratorSpec.quantum(n, layers, self.ansatz, self.readout)
                 for n, layers in self.quantum_grid]
        specs += [GeneratorSpec.sized(c, d, self.generator_depth, self.readout)
                  for d in self.latent_dims for c in self.classical_capacities]
        return specs

    def generator_labels(self):
        """KerasTuner choice values, in the order of ``generator_specs``: ``q{n}x{L}``
        quantum, ``c{budget}@{latent}`` classical (``training.spec``)."""
        labels = [quantum_label(n, layers) for n, layers in self.quantum_grid]
        labels += [classical_label(c, d) for d in self.latent_dims
                   for c in self.classical_capacities]
        return labels

    def training_settings(self):
        """What the capacity search (``tuning``) needs of this study."""
        return TrainingSettings(
            generators=tuple(self.generator_labels()),
            critic_budgets=tuple(self.critic_capacities),
            seeds=tuple(self.seeds), learning_rates=tuple(self.learning_rates),
            ansatz=self.ansatz, readout=self.readout, backend=self.backend,
            generator_depth=self.generator_depth, critic_depth=self.critic_depth,
            epochs=self.epochs, max_epochs=self.max_epochs, steps_per_epoch=self.steps_per_epoch,
            batch_size=self.batch_size, n_critic=self.n_critic, loss=self.loss,
            gp_weight=self.gp_weight, noise=self.noise, pack=self.pack, lanes=self.lanes,
            n_latent_samples=self.n_latent_samples, n_fid_samples=self.n_fid_samples,
            fid_every=self.fid_every, k_last=self.k_last, tuner=self.tuner,
            max_trials=self.max_trials, refine_rounds=self.refine_rounds)

    @property
    def learning_rate(self):
        """The first learning rate (configurations written before ``learning_rates``)."""
        return self.learning_rates[0]

    def n_runs(self):
        """Training runs in the whole grid: generators x critics x seeds x learning rates."""
        return (len(self.generator_labels()) * len(self.critic_capacities) * len(self.seeds)
                * len(self.learning_rates))

    def n_refine_runs(self):
        """Most runs the adaptive critic search may add (it stops early once converged)."""
        kinds = {"quantum": len(self.quantum_grid), "all": len(self.generator_labels()),
                 "classical": len(self.generator_labels()) - len(self.quantum_grid)}
        return (self.refine_rounds * self.refine_points * kinds[self.refine_kinds]
                * len(self.seeds) * len(self.learning_rates))

    def fingerprint(self):
        """Hash of the settings that change results (not of budgets like max_trials)."""
        data = self.to_dict()
        for key in ("preset", "max_trials", "n_boot", "tuner", "pack", "lanes", "score_metric"):
            data.pop(key, None)
        blob = json.dumps(data, sort_keys=True).encode()
        return hashlib.sha256(blob).hexdigest()[:16]

    # ----------------------------------------------------------------- (de)serialise
    def to_dict(self):
        data = dataclasses.asdict(self)
        data["quantum_grid"] = [list(p) for p in self.quantum_grid]
        return data

    @classmethod
    def from_dict(cls, data):
        data = dict(data)
        if "learning_rate" in data:  # a configuration written before learning_rates existed
            if "learning_rates" in data:
                raise ValueError("give learning_rates or learning_rate, not both")
            data["learning_rates"] = [data.pop("learning_rate")]
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(f"unknown study settings: {', '.join(unknown)}")
        config = cls(**data)
        config.quantum_grid = [tuple(p) for p in config.quantum_grid]
        return config.validate()

    def validate(self):
        """Checks every setting; returns self. One clear ValueError per problem, whose
        message starts with the setting's name."""
        self._check_bounds()
        self._check_grids()
        for name, allowed in (("ansatz", ANSATZE), ("readout", READOUTS),
                              ("backend", BACKENDS), ("loss", LOSSES), ("tuner", TUNERS),
                              ("noise", NOISES), ("score_metric", SCORE_METRICS),
                              ("refine_kinds", REFINE_KINDS)):
            _choice(name, getattr(self, name), allowed)
        if not isinstance(self.feature_net, str) or not self.feature_net:
            raise ValueError(f"feature_net must be 'bundled', 'train' or a directory, got "
                             f"{self.feature_net!r}")
        self._check_counts()
        self._check_training()
        self._check_refine()
        if self.tuner == "bayesian":
            raise ValueError(
                "tuner 'bayesian' is not offered: a trial trains every critic capacity, seed and "
                "learning rate of one generator at once (a pack), and minimising the score over "
                "generators would starve the weak ones the study must measure; use 'grid'")
        return self

    def _check_bounds(self):
        """Every count within its bound, every seed within the RNG's range (before the
        grids are built: a huge value must not allocate anything)."""
        for name, maximum in MAX_COUNTS.items():
            check_int(name, getattr(self, name), None, maximum)
        check_int("lanes", self.lanes, None, MAX_LANES)
        check_int("refine_points", self.refine_points, None, MAX_REFINE_POINTS)
        for name in ("seeds", "critic_capacities", "classical_capacities", "learning_rates",
                     "quantum_grid"):
            if not isinstance(getattr(self, name), (list, tuple)):
                raise ValueError(f"{name} must be a list, got {getattr(self, name)!r}")
        for seed in self.seeds:
            check_int("seeds entry", seed, 0, MAX_SEED)

    def max_qubits(self):
        """Most qubits the simulator holds a batch of within ``SIMULATOR_BYTES``."""
        per_state = 8 * SIMULATOR_COPIES * max(int(self.batch_size), 1)
        return max(2, int(math.log2(SIMULATOR_BYTES / per_state)))

    def _check_grids(self):
        """The quantum grid, capacities, seeds and learning rates: non-empty, distinct."""
        if not self.quantum_grid:
            raise ValueError("quantum_grid is empty: give at least one (n_qubits, n_layers)")
        most = self.max_qubits()
        for pair in self.quantum_grid:
            if len(pair) != 2 or int(pair[0]) < 2 or int(pair[1]) < 1:
                raise ValueError(
                    f"quantum_grid entry {pair!r} must be (n_qubits >= 2, n_layers >= 1)"
                )
            if int(pair[0]) > most or int(pair[1]) > MAX_LAYERS:
                raise ValueError(
                    f"quantum_grid entry {int(pair[0])}x{int(pair[1])} is too large: at most "
                    f"{most} qubits (the simulator's memory at batch_size {self.batch_size}) "
                    f"and {MAX_LAYERS} layers")
        self.quantum_grid = [(int(n), int(layers)) for n, layers in self.quantum_grid]
        repeated = sorted({f"{n}x{lay}" for n, lay in self.quantum_grid
                           if self.quantum_grid.count((n, lay)) > 1})
        if repeated:
            raise ValueError(f"quantum_grid has repeated entries: {', '.join(repeated)}")
        for name in ("critic_capacities", "classical_capacities", "seeds", "learning_rates"):
            values = getattr(self, name)
            if not values:
                raise ValueError(f"{name} is empty")
            if len(set(values)) != len(values):
                raise ValueError(f"{name} has repeated values: {values}")
        for name in ("critic_capacities", "classical_capacities"):
            for value in getattr(self, name):
                check_int(f"{name} entry", value, 1, MAX_PARAMS)
            if any(int(v) < 1 for v in getattr(self, name)):
                raise ValueError(f"{name} must be positive parameter counts: {getattr(self, name)}")
            setattr(self, name, sorted(int(v) for v in getattr(self, name)))
        self.learning_rates = [check_finite_float("learning_rates entry", v, 0.0,
                                                  exclusive_minimum=True)
                               for v in self.learning_rates]

    def _check_counts(self):
        """Counts and sizes that must be positive, and the non-negative penalties."""
        for name in ("epochs", "batch_size", "n_critic", "fid_every", "k_last", "critic_depth",
                     "feature_net_epochs",
                     "n_fid_samples", "vae_epochs", "vae_max_trials", "n_boot"):
            if int(getattr(self, name)) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)!r}")
        if self.generator_depth < 0:
            raise ValueError(f"generator_depth must be >= 0, got {self.generator_depth}")
        if self.n_fid_samples < 2:
            raise ValueError("n_fid_samples must be >= 2")
        if self.n_latent_samples < 2:
            raise ValueError(f"n_latent_samples must be >= 2, got {self.n_latent_samples}")
        for name in ("gp_weight", "std_penalty", "max_fid_rel_std", "max_loss_oscillation"):
            value = float(getattr(self, name))
            if not math.isfinite(value) or value < 0:
                raise ValueError(f"{name} must be a finite non-negative number, got {value!r}")

    def _check_training(self):
        """Epoch budgets, evaluations and packing fit together."""
        n_evals = self.epochs // self.fid_every
        if n_evals < self.k_last:
            raise ValueError(
                f"k_last={self.k_last} FD-SAT4 evaluations are scored, but epochs={self.epochs} "
                f"with fid_every={self.fid_every} gives only {n_evals}"
            )
        if self.pack < 0:
            raise ValueError(f"pack must be >= 0 (0 = automatic, 1 = one run at a time), got "
                             f"{self.pack}")
        if self.lanes < 0:
            raise ValueError(f"lanes must be >= 0 (0 = one per core), got {self.lanes}")
        if self.max_epochs and self.max_epochs < self.epochs:
            raise ValueError(f"max_epochs={self.max_epochs} is below epochs={self.epochs}: it "
                             "is the budget runs still improving after `epochs` may train to")
        if self.max_trials < 0 or self.max_images < 0 or self.steps_per_epoch < 0:
            raise ValueError("max_trials, max_images and steps_per_epoch must be >= 0")

    def _check_refine(self):
        """The adaptive critic search's budget and limit."""
        for name in ("refine_rounds", "refine_points", "refine_max_critic"):
            check_int(name, getattr(self, name), 0)
        if self.refine_rounds and self.refine_points < 1:
            raise ValueError("refine_points must be >= 1 when refine_rounds is set")
        if self.refine_max_critic and self.refine_max_critic < max(self.critic_capacities):
            raise ValueError(f"refine_max_critic={self.refine_max_critic} is below the largest "
                             f"grid critic {max(self.critic_capacities)}")


def _choice(name, value, allowed):
    check_choice(name, value, allowed)


# The presets. Capacities are parameter budgets, log-spaced from tens of parameters up.
PRESETS = {
    # Seconds to a couple of minutes: the whole pipeline on a tiny grid (used by tests).
    "smoke": dict(
        quantum_grid=[(2, 1), (2, 2), (2, 3)],
        critic_capacities=[20, 120],
        classical_capacities=[15, 60],
        seeds=[0],
        epochs=3,
        fid_every=1,
        k_last=2,
        n_fid_samples=64,
        n_critic=2,
        vae_epochs=3,
        vae_max_trials=2,
        max_images=0,
        steps_per_epoch=4,
        n_boot=200,
    ),
    # The demo: at most 15 minutes on 2 CPU cores, on the bundled 50-patch sample, designed
    # for the knee (docs/method.md): one VAE (n = 3 qubits), eight quantum capacities over a
    # 13.5x range (L = 1..16), six even log-spaced critics from 30 to 30,720 parameters (the
    # knees of the pilot lay between 10^3 and 10^4, so the grid reaches past them), classical
    # generators from the smallest MLP (10 parameters) up, seven seeds, one learning rate, and
    # a convergence budget. Measured choices (README): at 4e-3 more runs converged within the
    # budget than at 2e-3 (176 vs 152 of 220) and it was the better rate in 33 of 54 cells, so
    # the second rate's runs go to seeds; with even grids the adaptive search is off.
    "quick": dict(
        quantum_grid=[(3, layers) for layers in (1, 2, 3, 4, 6, 8, 12, 16)],
        critic_capacities=[30, 120, 480, 1920, 7680, 30720],
        classical_capacities=[10, 60, 1200],
        seeds=list(range(7)),
        learning_rates=[4e-3],
        epochs=12,
        max_epochs=18,
        steps_per_epoch=20,
        fid_every=2,
        k_last=3,
        n_fid_samples=200,
        n_critic=5,
        vae_epochs=40,
        vae_max_trials=4,
        n_boot=200,
    ),
    # The full study on the full SAT-4 (400,000 training patches, no augmentation needed),
    # designed to decide the claim: one VAE (n = 5 qubits, latent 5, so Q is not confounded
    # with the latent size), ten quantum capacities over a 16x range of depth (L = 1..16),
    # nine even log-spaced critics from 30 to 300,000 parameters, classical generators from
    # the smallest MLP up, ten seeds, 100 epochs of 100 generator steps (10,000 steps of batch
    # 64 = 1.6 passes over the data) per run; `qlsgan study --preset paper --dry_run` prints
    # the estimated time and the power of this design in the pilot world.
    "paper": dict(
        quantum_grid=[(5, layers) for layers in (1, 2, 3, 4, 5, 6, 8, 10, 12, 16)],
        readout="z",
        critic_capacities=[30, 100, 300, 1000, 3000, 10000, 30000, 100000, 300000],
        classical_capacities=[16, 60, 300, 1000, 3000, 10000, 30000, 100000],
        seeds=list(range(10)),
        epochs=100,
        fid_every=5,
        k_last=5,
        n_fid_samples=2000,
        n_critic=5,
        vae="tuned",  # the paper: a carefully tuned VAE is crucial
        vae_epochs=100,
        vae_max_trials=20,
        feature_net="train",  # FD-SAT4 features learned from the full data, not 50 patches
        refine_rounds=1,  # one round: a grid step beyond a censored knee, or midpoints around it
        refine_max_critic=1000000,
        steps_per_epoch=100,
        augment=False,
        n_boot=1000,
    ),
}


def make_config(preset, **overrides):
    """The ``StudyConfig`` of a preset with ``overrides`` applied and validated."""
    if preset not in PRESETS:
        raise ValueError(f"unknown preset {preset!r}; choose one of {', '.join(PRESETS)}")
    values = dict(PRESETS[preset])
    values.update({k: v for k, v in overrides.items() if v is not None})
    values["preset"] = preset
    return StudyConfig.from_dict(values)
