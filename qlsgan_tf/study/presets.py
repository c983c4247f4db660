"""Study configurations: the ``smoke``, ``quick`` and ``paper`` presets and their overrides.

A ``StudyConfig`` is one configuration tree (``qlsgan_tf.config``): the study's own settings
(its generator grid, data, VAE, feature network, analysis and adaptive search) and, embedded,
the ``tuning.settings.TrainingSettings`` of every run. Each setting is declared once, with its
type, default, bounds and help; validation, the ``qlsgan study`` flags, the JSON form
(``study.json``: one flat dict of setting names) and the fingerprint follow from the
declarations. A study directory records exactly what it ran, and a resumed run refuses to mix
two different studies in one directory.
"""
import dataclasses
import hashlib
import json
import math
from typing import Any, Dict, List, Mapping, Tuple

from qlsgan_tf import config as config_lib
from qlsgan_tf.config import NEVER, setting
from qlsgan_tf.constants import SCORE_METRICS, output_dim
from qlsgan_tf.training.spec import GeneratorSpec, classical_label, quantum_label
from qlsgan_tf.tuning.settings import MAX_PARAMS, TrainingSettings

MAX_REFINE_POINTS = 64
MAX_LAYERS = 1000
# The simulator holds a batch of 2**n complex64 amplitudes (and a few working copies).
SIMULATOR_BYTES = 2**31
SIMULATOR_COPIES = 4
REFINE_KINDS = ("quantum", "classical", "all")
RETIRED = {"std_penalty": 1.0, "max_fid_rel_std": 0.5, "max_loss_oscillation": 10.0,
           "backend": "fast"}
"""Settings removed, with the value every study trained with: three that nothing read, and
``backend`` (a study trains every run in packs on the exact TF-ops simulator, ``--pack 1``
included). A ``study.json`` that holds them still loads, and its fingerprint (which included
them) still matches."""


def parse_pair(text: str) -> Tuple[int, int]:
    """``"3x2"`` -> ``(3, 2)``: a quantum grid entry as the flag writes it."""
    parts = text.lower().split("x")
    if len(parts) != 2 or not all(p.isdigit() for p in parts):
        raise ValueError(f"quantum_grid takes NxL pairs such as 3x2; got {text!r}")
    return int(parts[0]), int(parts[1])


@dataclasses.dataclass
class StudyConfig:
    """Everything that defines one capacity study: its own settings and, in ``training``,
    the ``TrainingSettings`` of its runs.

    The training settings read through: ``config.epochs`` is ``config.training.epochs``
    (lists as lists, as in ``study.json``), ``config.critic_capacities`` is
    ``config.training.critic_budgets``. Make a changed configuration with ``make_config``,
    ``from_dict`` or ``replace``.
    """

    preset: str = setting("custom", "The preset the other settings override (--preset).",
                          cli=False, fingerprint=NEVER)
    # Quantum generators: (n_qubits, n_layers) pairs; the VAE latent size follows n.
    quantum_grid: List[Tuple[int, int]] = setting(
        [(3, 1), (3, 2)], "Quantum generators as NxL pairs, e.g. 3x1,3x2,4x1.", kind=None,
        parse=parse_pair)
    # Classical MLP generator parameter budgets for the matching search.
    classical_capacities: List[int] = setting([30, 300], "Classical generator parameter "
                                              "budgets.", minimum=1, maximum=MAX_PARAMS,
                                              sort=True)
    vae: str = setting("nominal", "nominal, tuned, or the directory of a VAE saved by "
                       "`qlsgan train-vae`; two of them separated by a comma "
                       "(nominal,tuned) run the study once per VAE and compare them.")
    vae_epochs: int = setting(30, "Epochs of the study's VAE training.", minimum=1,
                              maximum=10**6)
    vae_max_trials: int = setting(4, "KerasTuner trials of the VAE search (--vae tuned).",
                                  minimum=1, maximum=10**4)
    feature_net: str = setting(
        "bundled", "FD-SAT4 feature network: bundled (trained on the sample patches, "
        "shipped), train (learnt from --data, kept in OUT/feature_net), or the directory of "
        "one written by `qlsgan train-feature-net`.")
    feature_net_epochs: int = setting(20, "Epochs of the feature network's training "
                                      "(--feature_net train).", minimum=1, maximum=10**6)
    max_images: int = setting(0, "Use at most N images per split (0: all).", minimum=0,
                              maximum=10**9)
    augment: bool = setting(True, "Dihedral augmentation of the real patches.")
    n_boot: int = setting(1000, "Bootstrap resamples of the analysis.", minimum=1,
                          maximum=10**7, fingerprint=NEVER)
    score_metric: str = setting("latent", "Score that decides the optima: the latent "
                                "distance or FD-SAT4; the report shows both.",
                                choices=SCORE_METRICS, flag="score", fingerprint=NEVER)
    # The adaptive critic search (``study.search``): after a generator's grid runs, each of
    # ``training.refine_rounds`` rounds adds `refine_points` critic budgets (golden-section
    # points around its best critic, or a step beyond a censored edge) x seeds x learning
    # rates, for the generators of kind `refine_kinds`, never above `refine_max_critic`.
    refine_points: int = setting(2, "Critic capacities per generator and round of the "
                                 "adaptive critic search.", minimum=0,
                                 maximum=MAX_REFINE_POINTS)
    refine_kinds: str = setting("quantum", "Generators the adaptive critic search refines.",
                                choices=REFINE_KINDS)
    refine_max_critic: int = setting(0, "Largest critic the adaptive search may suggest "
                                     "(0 = one grid step above the largest grid critic).",
                                     minimum=0, maximum=MAX_PARAMS)
    training: TrainingSettings = dataclasses.field(default_factory=TrainingSettings)

    # ----------------------------------------------------------------- the tree's view
    def __getattr__(self, name: str) -> Any:
        """A training setting read through (``config.epochs``); lists as lists."""
        if name != "training" and name in _TRAINING_FIELDS:
            value = getattr(self.training, name)
            return list(value) if isinstance(value, tuple) else value
        raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")

    def __setattr__(self, name: str, value: Any) -> None:
        if name in _TRAINING_FIELDS:
            raise AttributeError(f"{name} is a training setting: change it with "
                                 f"config.replace({name}=...)")
        super().__setattr__(name, value)

    @property
    def critic_capacities(self) -> List[int]:
        """The critic grid (``training.critic_budgets``), as a list."""
        return list(self.training.critic_budgets)

    def replace(self, **changes: Any) -> "StudyConfig":
        """A validated copy with settings changed by name (``config.replace(epochs=5)``)."""
        return type(self).from_dict({**self.to_dict(), **changes})

    # ----------------------------------------------------------------- derived
    @property
    def latent_dims(self) -> List[int]:
        """Distinct VAE latent sizes the quantum grid needs (n or 2n per generator)."""
        return sorted({self.latent_dim_for(n) for n, _ in self.quantum_grid})

    def latent_dim_for(self, n_qubits: int) -> int:
        return output_dim(n_qubits, self.readout)

    def generator_specs(self) -> List[GeneratorSpec]:
        """The generators of the study: the quantum grid, then the classical generators of
        every latent size in it."""
        specs = [GeneratorSpec.quantum(n, layers, self.ansatz, self.readout)
                 for n, layers in self.quantum_grid]
        specs += [GeneratorSpec.sized(c, d, self.generator_depth, self.readout)
                  for d in self.latent_dims for c in self.classical_capacities]
        return specs

    def generator_labels(self) -> List[str]:
        """KerasTuner choice values, in the order of ``generator_specs``: ``q{n}x{L}``
        quantum, ``c{budget}@{latent}`` classical (``training.spec``)."""
        labels = [quantum_label(n, layers) for n, layers in self.quantum_grid]
        labels += [classical_label(c, d) for d in self.latent_dims
                   for c in self.classical_capacities]
        return labels

    def training_settings(self) -> TrainingSettings:
        """What the capacity search (``tuning``) needs of this study: the embedded
        ``training`` section with the generators of the grid."""
        return dataclasses.replace(self.training, generators=tuple(self.generator_labels()))

    @property
    def learning_rate(self) -> float:
        """The first learning rate (configurations written before ``learning_rates``)."""
        return self.learning_rates[0]

    def n_runs(self) -> int:
        """Training runs in the whole grid: generators x critics x seeds x learning rates."""
        return (len(self.generator_labels()) * len(self.critic_capacities) * len(self.seeds)
                * len(self.learning_rates))

    def n_refine_runs(self) -> int:
        """Most runs the adaptive critic search may add (it stops early once converged)."""
        kinds = {"quantum": len(self.quantum_grid), "all": len(self.generator_labels()),
                 "classical": len(self.generator_labels()) - len(self.quantum_grid)}
        return (self.refine_rounds * self.refine_points * kinds[self.refine_kinds]
                * len(self.seeds) * len(self.learning_rates))

    def fingerprint(self) -> str:
        """Hash of the settings that change results (each setting's ``fingerprint``
        declaration; not of budgets like max_trials)."""
        data = dict(config_lib.fingerprinted(StudyConfig, self.to_dict()), **RETIRED)
        blob = json.dumps(data, sort_keys=True).encode()
        return hashlib.sha256(blob).hexdigest()[:16]

    # ----------------------------------------------------------------- (de)serialise
    def to_dict(self) -> Dict[str, Any]:
        """The JSON form: ``{setting name: value}`` over the whole tree."""
        return config_lib.flatten(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "StudyConfig":
        """A validated configuration from its JSON form (or any part of it: the rest takes
        the defaults); reads the forms written by earlier releases."""
        data = {k: v for k, v in dict(data).items() if k not in RETIRED}
        if "learning_rate" in data:  # a configuration written before learning_rates existed
            if "learning_rates" in data:
                raise ValueError("give learning_rates or learning_rate, not both")
            data["learning_rates"] = [data.pop("learning_rate")]
        root, sections = config_lib.split(cls, data)
        return cls(**root).validate(**sections.get("training", {}))

    def validate(self, **training: Any) -> "StudyConfig":
        """Checks every setting (``training``: training settings to change, by field name);
        returns self. One clear ValueError per problem, whose message starts with the
        setting's name."""
        own = config_lib.check(StudyConfig, {f.name: getattr(self, f.name)
                                             for f in dataclasses.fields(self)
                                             if f.name != "training"})
        train = config_lib.check(TrainingSettings, dict(
            {f.name: getattr(self.training, f.name)
             for f in dataclasses.fields(TrainingSettings)}, **training))
        for name, value in own.items():
            object.__setattr__(self, name, value)
        self._check_grid(train["batch_size"])
        object.__setattr__(self, "training", TrainingSettings(
            **dict(train, generators=tuple(self.generator_labels()))))
        self._check_training()
        self._check_refine()
        return self

    def max_qubits(self) -> int:
        """Most qubits the simulator holds a batch of within ``SIMULATOR_BYTES``."""
        return _max_qubits(self.batch_size)

    def _check_grid(self, batch_size: int) -> None:
        """The quantum grid: (n_qubits, n_layers) pairs within the simulator's memory."""
        most = _max_qubits(batch_size)
        for pair in self.quantum_grid:
            if len(pair) != 2 or int(pair[0]) < 2 or int(pair[1]) < 1:
                raise ValueError(
                    f"quantum_grid entry {pair!r} must be (n_qubits >= 2, n_layers >= 1)"
                )
            if int(pair[0]) > most or int(pair[1]) > MAX_LAYERS:
                raise ValueError(
                    f"quantum_grid entry {int(pair[0])}x{int(pair[1])} is too large: at most "
                    f"{most} qubits (the simulator's memory at batch_size {batch_size}) "
                    f"and {MAX_LAYERS} layers")
        grid = [(int(n), int(layers)) for n, layers in self.quantum_grid]
        repeated = sorted({f"{n}x{lay}" for n, lay in grid if grid.count((n, lay)) > 1})
        if repeated:
            raise ValueError(f"quantum_grid has repeated entries: {', '.join(repeated)}")
        self.quantum_grid = grid

    def _check_training(self) -> None:
        """Epoch budgets and evaluations fit together."""
        n_evals = self.epochs // self.fid_every
        if n_evals < self.k_last:
            raise ValueError(
                f"k_last={self.k_last} FD-SAT4 evaluations are scored, but epochs={self.epochs} "
                f"with fid_every={self.fid_every} gives only {n_evals}"
            )
        if self.max_epochs and self.max_epochs < self.epochs:
            raise ValueError(f"max_epochs={self.max_epochs} is below epochs={self.epochs}: it "
                             "is the budget runs still improving after `epochs` may train to")

    def _check_refine(self) -> None:
        """The adaptive critic search's budget and limit."""
        if self.refine_rounds and self.refine_points < 1:
            raise ValueError("refine_points must be >= 1 when refine_rounds is set")
        if self.refine_max_critic and self.refine_max_critic < max(self.critic_capacities):
            raise ValueError(f"refine_max_critic={self.refine_max_critic} is below the largest "
                             f"grid critic {max(self.critic_capacities)}")


def _max_qubits(batch_size: int) -> int:
    per_state = 8 * SIMULATOR_COPIES * max(int(batch_size), 1)
    return max(2, int(math.log2(SIMULATOR_BYTES / per_state)))


_TRAINING_FIELDS = frozenset(f.name for f in dataclasses.fields(TrainingSettings))


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


def make_config(preset: str, **overrides: Any) -> StudyConfig:
    """The ``StudyConfig`` of a preset with ``overrides`` applied and validated."""
    if preset not in PRESETS:
        raise ValueError(f"unknown preset {preset!r}; choose one of {', '.join(PRESETS)}")
    values = dict(PRESETS[preset])
    values.update({k: v for k, v in overrides.items() if v is not None})
    values["preset"] = preset
    return StudyConfig.from_dict(values)
