"""KerasTuner search over generator and critic capacities for the capacity study.

``CapacityHyperModel`` declares the search space in one place (``generator``: a quantum or
classical generator label, ``training.spec``); ``build(hp)`` composes a compiled
``LatentGAN`` of one critic budget (for timing and inspection). A trial is one generator:
``CapacityTuner.run_trial`` trains all its critic budgets x seeds x learning rates that the
run store does not hold yet, in packs (``tuning.packs``), writes each run (a
``tuning.results.RunResult``) as it finishes, and reports the runs' mean score to the oracle.
Oracle, directory layout and distribution (chief/workers) are KerasTuner's own: workers are
handed generators, i.e. packs.
"""
import dataclasses
import math
import pathlib
import time

import keras_tuner
import numpy as np

from qlsgan_tf import interrupts
from qlsgan_tf.tuning import chief, packs, trial_errors
from qlsgan_tf.tuning.packs import UNSTABLE_SCORE
from qlsgan_tf.tuning.settings import TrainingSettings, oracle_seed, quiet_stdout


@dataclasses.dataclass
class Resources:
    """What every training run of a study shares (made by ``study.prepare``)."""

    real_images: np.ndarray  # float [-1, 1], the FD-SAT4 reference set
    real_activations: np.ndarray  # feature_net.features(real_images), cached
    feature_net: object
    latents: dict  # latent size -> real latents [N, latent size]
    decoders: dict  # latent size -> callable latents -> images in [-1, 1]
    samples_dir: pathlib.Path
    logs_dir: pathlib.Path
    floor: float = None  # real-vs-real FD-SAT4, logged beside each run's FD-SAT4


class CapacityHyperModel(keras_tuner.HyperModel):
    """Generator + critic of given capacities as a compiled ``LatentGAN``.

    Args:
        settings: the search's ``tuning.settings.TrainingSettings``.
    """

    def __init__(self, settings, **kwargs):
        if not isinstance(settings, TrainingSettings):
            raise TypeError(f"settings must be a TrainingSettings (a study's "
                            f"config.training_settings()), got {type(settings).__name__}")
        super().__init__(name="capacity", **kwargs)
        self.settings = settings

    def declare_hyperparameters(self, hp):
        hp.Choice("generator", list(self.settings.generators))

    def build(self, hp, seed=None, critic_budget=None, learning_rate=None):
        """A compiled ``LatentGAN``: the trial's generator against one critic budget
        (``hp``'s ``critic_budget`` when set, else the argument, else the smallest), with
        the initial weights the packed trainer gives the same run."""
        s = self.settings
        spec = s.generator_spec(hp.get("generator"))
        if critic_budget is None:
            critic_budget = (hp.get("critic_budget") if "critic_budget" in hp.values
                             else min(s.critic_budgets))
        units = packs.critic_units(s, spec.output_dim, critic_budget)
        gan = packs.latent_gan(s, spec, units, 0 if seed is None else int(seed),
                               learning_rate or s.learning_rates[0])
        gan.build()
        return gan


class CapacityTuner(trial_errors.FailFast, keras_tuner.Tuner):
    """Trains every run of one generator per trial; the objective is the runs' mean score.

    Args:
        run_store: object with ``get(generator, critic_budget, seed, learning_rate)`` and
            ``put(result)`` of ``tuning.results.RunResult`` records, and
            ``key(generator, critic_budget, seed, learning_rate)`` (``study.store.ResultStore``):
            finished runs are read back, never re-run, and each run is named by its key.
        seeds: unused (the settings give seeds and learning rates); kept for callers.
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

    def __init__(self, *args, run_store=None, seeds=None, progress=None, refine=None,
                 **kwargs):
        with quiet_stdout():  # KerasTuner prints "Reloading Tuner from ..." on resume
            super().__init__(*args, **kwargs)
        chief.bound_oracle_client(self.oracle)  # a worker's calls to its chief: bounded
        self.run_store = run_store
        self.progress = progress
        self.refine = refine

    def run_trial(self, trial, *args, resources=None, evaluator=None, **kwargs):
        """Trains one generator's runs; ``search(resources=..., evaluator=...)`` hands in the
        study's resources and its ``study.evaluation.RunEvaluator`` (scores, judges and
        records each run)."""
        if evaluator is None:
            raise ValueError("CapacityTuner.search needs evaluator=: the object that scores, "
                             "judges and records runs (study.evaluation.RunEvaluator)")
        settings = self.hypermodel.settings
        label = trial.hyperparameters.get("generator")
        scores = []
        results = self._train(settings, label, None, 0, resources, evaluator, scores)
        rounds = settings.refine_rounds if self.refine else 0
        for search_round in range(1, rounds + 1):
            critics = self.refine(label, list(results), search_round)
            if not critics:
                break
            results += self._train(settings, label, critics, search_round, resources,
                                   evaluator, scores)
        return {"score": float(np.mean(scores))}

    def _train(self, settings, label, critics, search_round, resources, evaluator, scores):
        """Trains (or reads back) one generator's runs at ``critics``; returns their results."""
        key = self.run_store.key if self.run_store else None
        results, todo = [], []
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

        def on_finish(result):
            result = dataclasses.replace(result, search_round=search_round)
            if self.run_store:
                self.run_store.put(result)
            results.append(result)
            scores.append(_objective(result))
            if self.progress:
                self.progress(result, False)

        packs.train_runs(settings, label, todo, resources, on_finish, evaluator,
                         tuner_id=self.tuner_id)
        return results

    # Each run keeps its own samples and logs; KerasTuner's per-trial checkpoints would only
    # duplicate them.
    def save_model(self, trial_id, model, step=0):
        return None


def _objective(result):
    score = result.metric_score("latent")
    return score if math.isfinite(score) else UNSTABLE_SCORE


class ResumableGridSearchOracle(keras_tuner.oracles.GridSearchOracle):
    """``GridSearchOracle`` that can resume a search interrupted at any moment.

    KerasTuner 1.4.8's grid oracle keeps its position in the grid (the trials ordered by
    their values, and the queue of trials whose successor is still to be generated) in
    memory only, so a search reloaded after an interruption fails with a ``KeyError`` on
    the first retried trial, or stops early. This subclass saves the ordered trial list with
    the oracle's state, and on reload queues every ended trial again (the oracle skips a
    trial whose successor was already tried, so a repeat costs nothing).
    """

    def get_state(self):
        state = super().get_state()
        state["ordered_ids"] = self._ordered_trial_ids()
        return state

    def set_state(self, state):
        super().set_state(state)
        from keras_tuner.src.tuners.gridsearch import LinkedList

        self._ordered_ids = LinkedList()
        for trial_id in state.get("ordered_ids", []):
            self._ordered_ids.insert(trial_id)
        pending = set(self._retry_queue) | {t.trial_id for t in self.ongoing_trials.values()}
        self._populate_next = [tid for tid in self.start_order if tid not in pending]

    def _ordered_trial_ids(self):
        ids, links = [], self._ordered_ids
        index = links._next_index[None]
        while index is not None:
            ids.append(links._memory[index])
            index = links._next_index[index]
        return ids


def make_tuner(settings, hypermodel, directory, project_name="capacity", run_store=None,
               progress=None, verbose=1, refine=None):
    """A ``CapacityTuner`` over the generators with the resumable grid oracle."""
    if not isinstance(settings, TrainingSettings):
        raise TypeError(f"settings must be a TrainingSettings, got {type(settings).__name__}")
    if settings.tuner != "grid":
        raise ValueError(f"tuner {settings.tuner!r} is not offered; use 'grid' (every trial "
                         "trains all critic capacities of one generator)")
    objective = keras_tuner.Objective("score", direction="min")
    oracle = ResumableGridSearchOracle(
        objective=objective, max_trials=settings.max_trials or None,
        seed=oracle_seed(settings.seeds[0]))
    tuner = CapacityTuner(oracle=oracle, hypermodel=hypermodel, directory=str(directory),
                          project_name=project_name, run_store=run_store, progress=progress,
                          refine=refine)
    tuner.oracle.verbose = verbose
    return tuner


def time_training(settings, label, critic_budget, n_steps=20):
    """Measured cost of one configuration: (first call s, seconds per generator step).

    The first call traces the training step; the steps after it run ``n_critic`` critic
    updates and one generator update each. Synthetic latents in [-1, 1] stand in for the
    real ones: the cost does not depend on their values.
    """
    from qlsgan_tf.training.latents import latent_dataset

    hp = keras_tuner.HyperParameters()
    hp.Fixed("generator", label)
    hp.Fixed("critic_budget", int(critic_budget))
    spec = settings.generator_spec(label)
    model = CapacityHyperModel(settings).build(hp, seed=0)
    latents = np.random.default_rng(0).uniform(
        -1, 1, (settings.batch_size * n_steps, spec.output_dim)).astype(np.float32)
    data = latent_dataset(latents, settings.batch_size, seed=0, repeat=True)
    start = time.perf_counter()
    model.fit(data, epochs=1, steps_per_epoch=1, verbose=0)
    first = time.perf_counter() - start
    start = time.perf_counter()
    model.fit(data, epochs=1, steps_per_epoch=n_steps, verbose=0)
    return first, (time.perf_counter() - start) / n_steps
