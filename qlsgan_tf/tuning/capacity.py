"""KerasTuner search over generator and critic capacities for the capacity study.

KerasTuner's documented form for custom training ("Tune anything": a ``Tuner`` subclass that
overrides ``run_trial``, with the search space declared on the oracle and no hypermodel):
``search_space(settings)`` declares the space in one place (``generator``: a quantum or
classical generator label, ``training.spec``); a trial is one generator, and
``CapacityTuner.run_trial`` trains all its critic budgets x seeds x learning rates that the
run store does not hold yet, in packs (``tuning.packs``), writes each run (a
``tuning.results.RunResult``) as it finishes, and reports the runs' mean score to the oracle.
``GridOracle`` offers each point of the space once, in order, through the public ``Oracle``
API (a reloaded search retries the trial that was running). Directory layout and
distribution (chief/workers) are KerasTuner's own: workers are handed generators, i.e. packs.
"""
import dataclasses
import itertools
import math
import pathlib
from typing import (
    TYPE_CHECKING,
    Any,
    Callable,
    Dict,
    Iterator,
    List,
    Mapping,
    Optional,
    Protocol,
    Sequence,
    Tuple,
)

import keras_tuner
import numpy as np

from qlsgan_tf import interrupts
from qlsgan_tf.tuning import chief, packs, trial_errors
from qlsgan_tf.tuning.packs import UNSTABLE_SCORE
from qlsgan_tf.tuning.results import RunResult
from qlsgan_tf.tuning.settings import TUNERS, TrainingSettings, oracle_seed, quiet_stdout
from qlsgan_tf.validation import check_choice

if TYPE_CHECKING:
    from qlsgan_tf.training.latent_gan import LatentGAN


@dataclasses.dataclass
class Resources:
    """What every training run of a study shares (made by ``study.prepare``)."""

    real_images: np.ndarray  # float [-1, 1], the FD-SAT4 reference set
    real_activations: np.ndarray  # feature_net.features(real_images), cached
    feature_net: Any  # a Keras feature network with .features(images) (TensorFlow: untyped)
    latents: Dict[int, np.ndarray]  # latent size -> real latents [N, latent size]
    decoders: Dict[int, Callable[[np.ndarray], Any]]  # latent size -> latents -> images in [-1, 1]
    samples_dir: pathlib.Path
    logs_dir: pathlib.Path
    floor: Optional[float] = None  # real-vs-real FD-SAT4, logged beside each run's FD-SAT4


class RunStore(Protocol):
    """Where a search keeps its finished runs (``study.store.ResultStore``)."""

    def key(self, generator: str, critic_budget: int, seed: int,
            learning_rate: Optional[float] = None) -> str: ...

    def get(self, generator: str, critic_budget: int, seed: int,
            learning_rate: float) -> Optional[RunResult]: ...

    def put(self, result: RunResult) -> object: ...


def search_space(settings: TrainingSettings) -> keras_tuner.HyperParameters:
    """The search space of ``settings`` (a ``TrainingSettings``): one hyperparameter,
    ``generator``, whose values are the study's generator labels (one trial each)."""
    if not isinstance(settings, TrainingSettings):
        raise TypeError(f"settings must be a TrainingSettings (a study's "
                        f"config.training_settings()), got {type(settings).__name__}")
    if not settings.generators:
        raise ValueError("settings.generators is empty: give the generator labels of the "
                         "search (a study's config.training_settings() has them)")
    hp = keras_tuner.HyperParameters()
    hp.Choice("generator", list(settings.generators))
    return hp


class CapacityTuner(trial_errors.FailFast, keras_tuner.Tuner):
    """Trains every run of one generator per trial; the objective is the runs' mean score.

    A ``keras_tuner.Tuner`` whose ``run_trial`` does the training (KerasTuner's documented
    custom-training form): there is no hypermodel, the oracle holds the search space
    (``search_space``), and what a trial trains is ``packs.train_runs`` of its generator.

    Args:
        settings: the search's ``tuning.settings.TrainingSettings``.
        run_store: object with ``get(generator, critic_budget, seed, learning_rate)`` and
            ``put(result)`` of ``tuning.results.RunResult`` records, and
            ``key(generator, critic_budget, seed, learning_rate)`` (``study.store.ResultStore``):
            finished runs are read back, never re-run, and each run is named by its key.
        progress: optional callable(result, cached) called after each run.
        refine: optional callable(label, results, search_round) -> new critic budgets
            (``results``: the generator's ``RunResult`` records so far):
            the adaptive critic search (``study.search``). After the grid's runs of a
            generator, each round ``1..settings.refine_rounds`` asks it where to train next
            (given every result of the earlier rounds) and trains those critics x seeds x
            learning rates; an empty answer ends the search. The rounds depend only on
            recorded results, so a resumed trial asks the same questions and gets the same
            answers.
    """

    def __init__(self, settings: TrainingSettings, *, run_store: Optional[RunStore] = None,
                 progress: Optional[Callable[[RunResult, bool], Any]] = None,
                 refine: Optional[Callable[[str, List[RunResult], int], Sequence[int]]] = None,
                 **kwargs: Any) -> None:
        search_space(settings)  # the settings' checks, before anything is written
        self.settings = settings
        with quiet_stdout():  # KerasTuner prints "Reloading Tuner from ..." on resume
            super().__init__(hypermodel=None, **kwargs)
        chief.bound_oracle_client(self.oracle)  # a worker's calls to its chief: bounded
        self.run_store = run_store
        self.progress = progress
        self.refine = refine

    def run_trial(self, trial: Any, *args: Any, resources: Optional[Resources] = None,
                  evaluator: Optional[packs.Evaluator] = None, **kwargs: Any) -> Dict[str, float]:
        """Trains one generator's runs; ``search(resources=..., evaluator=...)`` hands in the
        study's resources and its ``study.evaluation.RunEvaluator`` (scores, judges and
        records each run)."""
        if evaluator is None:
            raise ValueError("CapacityTuner.search needs evaluator=: the object that scores, "
                             "judges and records runs (study.evaluation.RunEvaluator)")
        settings = self.settings
        label = trial.hyperparameters.get("generator")
        scores: List[float] = []
        results = self._train(settings, label, None, 0, resources, evaluator, scores)
        refine = self.refine
        rounds = settings.refine_rounds if refine else 0
        for search_round in range(1, rounds + 1):
            assert refine is not None  # rounds == 0 without it
            critics = refine(label, list(results), search_round)
            if not critics:
                break
            results += self._train(settings, label, critics, search_round, resources,
                                   evaluator, scores)
        return {"score": float(np.mean(scores))}

    def _train(self, settings: TrainingSettings, label: str, critics: Optional[Sequence[int]],
               search_round: int, resources: Optional[Resources], evaluator: packs.Evaluator,
               scores: List[float]) -> List[RunResult]:
        """Trains (or reads back) one generator's runs at ``critics``; returns their results."""
        key = self.run_store.key if self.run_store else None
        results: List[RunResult] = []
        todo: List[packs.RunSpec] = []
        interrupts.check_stop()  # between trials and rounds: every recorded run is whole
        for run in packs.plan_runs(settings, label, key=key, critics=critics):
            result = (self.run_store.get(label, run.critic_budget, run.seed,
                                         run.learning_rate) if self.run_store else None)
            if result is None:
                todo.append(run)
                continue
            results.append(result)
            scores.append(_objective(result))
            if self.progress:
                self.progress(result, True)

        def on_finish(result: RunResult) -> None:
            result = dataclasses.replace(result, search_round=search_round)
            if self.run_store:
                self.run_store.put(result)
            results.append(result)
            scores.append(_objective(result))
            if self.progress:
                self.progress(result, False)

        if todo:  # every run recorded already: nothing to train, no resources needed
            if resources is None:
                raise ValueError("CapacityTuner.search needs resources= to train runs: the "
                                 "study's tuning.capacity.Resources (study.prepare)")
            packs.train_runs(settings, label, todo, resources, on_finish, evaluator,
                             tuner_id=self.tuner_id)
        return results

    # Each run keeps its own samples and logs; KerasTuner's per-trial checkpoints would only
    # duplicate them.
    def save_model(self, trial_id: str, model: Any, step: int = 0) -> None:
        return None


def _objective(result: RunResult) -> float:
    score = result.metric_score("latent")
    return score if math.isfinite(score) else UNSTABLE_SCORE


class GridOracle(keras_tuner.Oracle):
    """Every point of a grid of ``Choice`` (or ``Fixed``, ``Boolean``) hyperparameters once,
    in the order of their values (the first hyperparameter varying slowest).

    Built on the public ``keras_tuner.Oracle`` API alone: ``populate_space`` offers the
    first point no trial holds yet. The oracle's saved state is KerasTuner's own, so a
    search reloaded after an interruption at any moment resumes: the trial that was running
    is retried (KerasTuner's reload queues it), and the points of the ended trials are not
    offered again.
    """

    def populate_space(self, trial_id: str) -> Dict[str, Any]:
        taken = {_point(trial.hyperparameters.values, self.hyperparameters)
                 for trial in self.trials.values()}
        for point in _grid(self.hyperparameters):
            if point not in taken:
                return {"status": _STATUS.RUNNING,
                        "values": dict(zip(_names(self.hyperparameters), point))}
        return {"status": _STATUS.STOPPED}


_STATUS = keras_tuner.engine.trial.TrialStatus


def _names(hps: keras_tuner.HyperParameters) -> List[str]:
    return [hp.name for hp in hps.space]


def _point(values: Mapping[str, Any], hps: keras_tuner.HyperParameters) -> Tuple[Any, ...]:
    return tuple(values.get(name) for name in _names(hps))


def _grid(hps: keras_tuner.HyperParameters) -> Iterator[Tuple[Any, ...]]:
    """The points of the grid, in order."""
    kinds = keras_tuner.engine.hyperparameters
    axes: List[List[Any]] = []
    for hp in hps.space:
        if isinstance(hp, kinds.Choice):
            axes.append(list(hp.values))
        elif isinstance(hp, kinds.Fixed):
            axes.append([hp.value])
        elif isinstance(hp, kinds.Boolean):
            axes.append([False, True])
        else:
            raise ValueError(f"hyperparameter {hp.name!r}: a grid takes Choice, Fixed or "
                             f"Boolean hyperparameters, got {type(hp).__name__}")
    return itertools.product(*axes)


def make_tuner(settings: TrainingSettings, directory: Any, project_name: str = "capacity",
               run_store: Optional[RunStore] = None,
               progress: Optional[Callable[[RunResult, bool], Any]] = None, verbose: int = 1,
               refine: Optional[Callable[[str, List[RunResult], int], Sequence[int]]] = None
               ) -> CapacityTuner:
    """A ``CapacityTuner`` over the generators of ``settings`` with the grid oracle."""
    space = search_space(settings)
    check_choice("tuner", settings.tuner, TUNERS)
    objective = keras_tuner.Objective("score", direction="min")
    oracle = GridOracle(objective=objective, hyperparameters=space,
                        allow_new_entries=False, tune_new_entries=False,
                        max_trials=settings.max_trials or None,
                        seed=oracle_seed(settings.seeds[0]))
    tuner = CapacityTuner(settings, oracle=oracle, directory=str(directory),
                          project_name=project_name, run_store=run_store, progress=progress,
                          refine=refine)
    tuner.oracle.verbose = verbose
    return tuner


def single_run_model(settings: TrainingSettings, label: str, critic_budget: int, seed: int = 0,
                     learning_rate: Optional[float] = None) -> "LatentGAN":
    """The compiled ``LatentGAN`` of one run of generator ``label`` against ``critic_budget``
    (``packs.latent_gan``), with the initial weights,
    seed and learning rate a pack gives the same run (for timing and inspection)."""
    spec = settings.generator_spec(label)
    units = packs.critic_units(settings, spec.latent_dim, int(critic_budget))
    gan = packs.latent_gan(settings, spec, units, int(seed),
                           learning_rate or settings.learning_rates[0])
    gan.build()
    return gan
