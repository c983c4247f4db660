"""KerasTuner search over generator and critic capacities for the capacity study.

``CapacityHyperModel`` declares the search space in one place (``generator``: a quantum or
classical generator label; ``critic_capacity``: a critic parameter budget), ``build(hp)``
composes a compiled ``LatentGAN`` and ``fit(hp, model, ...)`` trains it with FD-SAT4
tracking and returns the run's result, the optimality score included.
``CapacityTuner.run_trial`` trains every seed of a configuration (skipping seeds already in
the run store) and reports the seeds' mean score to the oracle. Oracle, directory layout
and distribution (chief/workers) are KerasTuner's own.
"""
import dataclasses
import math
import pathlib
import re
import time

import keras_tuner
import numpy as np
import tensorflow as tf

from qlsgan_tf import interrupts
from qlsgan_tf.tuning import trial_errors

# Unstable seeds enter the tuner's objective with this score so that the oracle (a Gaussian
# process for "bayesian") sees finite numbers; the study's analysis ranks configurations by
# stable fraction first and never averages this constant.
UNSTABLE_SCORE = 1e4

_QUANTUM = re.compile(r"^q(\d+)x(\d+)$")
_CLASSICAL = re.compile(r"^c(\d+)@(\d+)$")


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


def parse_generator(label, settings):
    """Decodes a generator label into its kind, sizes and capacity (trainable parameters)."""
    from qlsgan_tf.layers import circuits  # pylint: disable=import-outside-toplevel
    from qlsgan_tf.models import capacity  # pylint: disable=import-outside-toplevel

    match = _QUANTUM.match(label)
    if match:
        n_qubits, n_layers = int(match.group(1)), int(match.group(2))
        latent_dim = n_qubits if settings.readout == "z" else 2 * n_qubits
        return {"kind": "quantum", "n_qubits": n_qubits, "n_layers": n_layers,
                "noise_dim": n_qubits, "latent_dim": latent_dim,
                "capacity": 2 * circuits.n_angles(n_qubits, n_layers, settings.ansatz)}
    match = _CLASSICAL.match(label)
    if match:
        budget, latent_dim = int(match.group(1)), int(match.group(2))
        noise_dim = latent_dim if settings.readout == "z" else latent_dim // 2
        units = capacity.units_for_capacity(budget, noise_dim, latent_dim,
                                            settings.generator_depth)
        return {"kind": "classical", "n_qubits": None, "n_layers": None, "units": units,
                "noise_dim": noise_dim, "latent_dim": latent_dim, "budget": budget,
                "capacity": capacity.mlp_param_count(noise_dim, units, latent_dim)}
    raise ValueError(f"unknown generator label {label!r} (expected q<n>x<L> or c<params>@<D>)")


class CapacityHyperModel(keras_tuner.HyperModel):
    """Generator + critic of given capacities as a compiled ``LatentGAN``.

    Args:
        settings: a ``study.presets.StudyConfig`` (any object with its fields).
    """

    def __init__(self, settings, **kwargs):
        super().__init__(name="capacity", **kwargs)
        self.settings = settings

    def declare_hyperparameters(self, hp):
        hp.Choice("generator", self.settings.generator_labels())
        hp.Choice("critic_capacity", [int(c) for c in self.settings.critic_capacities],
                  ordered=True)

    def build(self, hp, seed=None):
        from qlsgan_tf.layers import StyleQuantumGenerator  # pylint: disable=import-outside-toplevel
        from qlsgan_tf.models import MLPCritic, MLPGenerator, units_for_capacity  # pylint: disable=import-outside-toplevel
        from qlsgan_tf.training import LatentGAN  # pylint: disable=import-outside-toplevel

        s = self.settings
        spec = parse_generator(hp.get("generator"), s)
        if spec["kind"] == "quantum":
            layer = StyleQuantumGenerator(spec["n_qubits"], spec["n_layers"], ansatz=s.ansatz,
                                          readout=s.readout, backend=s.backend)
            generator = tf.keras.Sequential(
                [tf.keras.Input((spec["noise_dim"],)), layer], name="quantum_generator")
        else:
            generator = MLPGenerator(spec["latent_dim"], hidden_units=spec["units"],
                                     latent_dim=spec["noise_dim"])
        critic_units = units_for_capacity(int(hp.get("critic_capacity")), spec["latent_dim"], 1,
                                          s.critic_depth)
        critic = MLPCritic(hidden_units=critic_units, input_dim=spec["latent_dim"])
        gan = LatentGAN(generator, critic, latent_dim=spec["noise_dim"], loss=s.loss,
                        gp_weight=s.gp_weight, n_critic=s.n_critic, noise=s.noise, seed=seed)
        gan.compile(
            g_optimizer=tf.keras.optimizers.Adam(s.learning_rate, beta_1=0.5, beta_2=0.9),
            c_optimizer=tf.keras.optimizers.Adam(s.learning_rate, beta_1=0.5, beta_2=0.9))
        gan.build()
        return gan

    def fit(self, hp, model, *args, resources=None, seed=0, run_name=None, verbose=0,
            **kwargs):
        """Trains one seed; returns the run's result dict (JSON-ready).

        ``run_name`` names the run's TensorBoard directory and sample file (the study passes
        its run store's key); by default ``<generator>-<critic capacity>-<seed>``.
        """
        from qlsgan_tf.metrics import stability  # pylint: disable=import-outside-toplevel
        from qlsgan_tf.training import gan_run  # pylint: disable=import-outside-toplevel

        s = self.settings
        label, critic_budget = hp.get("generator"), int(hp.get("critic_capacity"))
        spec = parse_generator(label, s)
        key = run_name or f"{label}-{critic_budget}-{seed}"
        run = gan_run.fit_with_fd(
            model, resources.latents[spec["latent_dim"]],
            decoder=resources.decoders[spec["latent_dim"]], feature_net=resources.feature_net,
            real_images=resources.real_images, real_activations=resources.real_activations,
            floor=resources.floor, epochs=s.epochs,
            batch_size=s.batch_size, steps_per_epoch=s.steps_per_epoch or None,
            fid_every=s.fid_every, n_fid_samples=s.n_fid_samples, seed=seed,
            log_dir=resources.logs_dir / key, verbose=verbose,
            hparams={"generator": label, "kind": spec["kind"],
                     "generator_capacity": spec["capacity"],
                     "critic_capacity": model.critic_capacity, "seed": seed})
        fds = [fd for _, fd, _ in run["fd_history"]]
        losses = run["c_loss_history"]
        stable, reasons = (False, [run["failure_reason"]]) if run["failed"] else \
            stability.check_stability(fds, losses, k=s.k_last, max_fid_rel_std=s.max_fid_rel_std,
                                      max_loss_oscillation=s.max_loss_oscillation)
        score = math.inf
        if stable:
            score = stability.optimality_score(
                fds, losses, k=s.k_last, std_penalty=s.std_penalty,
                max_fid_rel_std=s.max_fid_rel_std, max_loss_oscillation=s.max_loss_oscillation)
        tail = np.asarray(fds[-s.k_last:], dtype=float)
        latent_fd = _latent_fd(model, resources.latents[spec["latent_dim"]], s.n_fid_samples,
                               seed, run["failed"])
        np.save(resources.samples_dir / f"{key}.npy", run["samples"])
        return {
            "generator": label, "kind": spec["kind"], "n_qubits": spec["n_qubits"],
            "n_layers": spec["n_layers"], "latent_dim": spec["latent_dim"],
            "generator_capacity": spec["capacity"], "critic_capacity": critic_budget,
            "critic_params": int(model.critic_capacity),
            "critic_units": [int(u) for u in model.critic.hidden_units], "seed": int(seed),
            "stable": bool(stable), "failed": bool(run["failed"]),
            "failure_reason": "; ".join(r for r in reasons if r),
            "score": float(score),
            "final_fd": float(np.mean(tail)) if tail.size else math.inf,
            "fd_std_last_k": float(np.std(tail)) if tail.size else math.inf,
            "final_kid": float(run["fd_history"][-1][2]) if run["fd_history"] else math.inf,
            "latent_fd": latent_fd,
            "fd_history": run["fd_history"], "c_loss_history": losses,
            "epochs_run": run["epochs_run"], "time_s": run["time_s"],
            "time_per_epoch_s": run["time_per_epoch_s"],
        }


def _latent_fd(model, real_latents, n, seed, failed):
    """Fréchet distance between generated and real latents: what the GAN itself fits."""
    from qlsgan_tf.metrics import distances  # pylint: disable=import-outside-toplevel

    if failed:
        return math.inf
    fake = model.generate(int(n), seed=int(seed))
    if not np.all(np.isfinite(fake)):
        return math.inf
    return float(distances.frechet_distance_from_activations(real_latents, fake))


class CapacityTuner(trial_errors.FailFast, keras_tuner.Tuner):
    """Runs each configuration for every seed; the objective is the seeds' mean score.

    Args:
        run_store: object with ``get(generator, critic_capacity, seed)``, ``put(result)`` and
            ``key(generator, critic_capacity, seed)`` (``study.store.ResultStore``): finished
            seed-runs are read back, not re-run, and each run is named by its key.
        seeds: the seeds of every configuration.
        progress: optional callable(result, cached) called after each seed-run.
    """

    def __init__(self, *args, run_store=None, seeds=(0,), progress=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.run_store = run_store
        self.seeds = list(seeds)
        self.progress = progress

    def run_trial(self, trial, *args, resources=None, **kwargs):
        hp = trial.hyperparameters
        label, critic = hp.get("generator"), int(hp.get("critic_capacity"))
        scores = []
        for seed in self.seeds:
            interrupts.check_stop()  # between runs: every recorded run is whole
            result = self.run_store.get(label, critic, seed) if self.run_store else None
            cached = result is not None
            if not cached:
                tf.keras.backend.clear_session()
                tf.keras.utils.set_random_seed(int(seed))
                model = self.hypermodel.build(hp, seed=int(seed))
                name = (self.run_store.key(label, critic, seed) if self.run_store
                        else f"trial{trial.trial_id}-{seed}")
                result = self.hypermodel.fit(hp, model, resources=resources, seed=int(seed),
                                             run_name=name)
                result["tuner_id"] = self.tuner_id
                interrupts.check_stop()  # a run stopped mid-way is never recorded
                if self.run_store:
                    self.run_store.put(result)
            if self.progress:
                self.progress(result, cached)
            scores.append(result["score"] if math.isfinite(result["score"]) else UNSTABLE_SCORE)
        return {"score": float(np.mean(scores))}

    # Each run keeps its own samples and logs; KerasTuner's per-trial checkpoints would only
    # duplicate them.
    def save_model(self, trial_id, model, step=0):
        return None


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
        from keras_tuner.src.tuners.gridsearch import LinkedList  # pylint: disable=import-outside-toplevel

        self._ordered_ids = LinkedList()
        for trial_id in state.get("ordered_ids", []):
            self._ordered_ids.insert(trial_id)
        pending = set(self._retry_queue) | {t.trial_id for t in self.ongoing_trials.values()}
        self._populate_next = [tid for tid in self.start_order if tid not in pending]

    def _ordered_trial_ids(self):
        ids, links = [], self._ordered_ids
        index = links._next_index[None]  # pylint: disable=protected-access
        while index is not None:
            ids.append(links._memory[index])  # pylint: disable=protected-access
            index = links._next_index[index]  # pylint: disable=protected-access
        return ids


def make_tuner(settings, hypermodel, directory, project_name="capacity", run_store=None,
               progress=None, verbose=1):
    """A ``CapacityTuner`` with the oracle the settings name (``grid`` or ``bayesian``)."""
    objective = keras_tuner.Objective("score", direction="min")
    if settings.tuner == "grid":
        oracle = ResumableGridSearchOracle(
            objective=objective, max_trials=settings.max_trials or None, seed=0)
    else:
        oracle = keras_tuner.oracles.BayesianOptimizationOracle(
            objective=objective, max_trials=settings.max_trials, seed=0)
    tuner = CapacityTuner(oracle=oracle, hypermodel=hypermodel, directory=str(directory),
                          project_name=project_name, run_store=run_store,
                          seeds=settings.seeds, progress=progress)
    tuner.oracle.verbose = verbose
    return tuner


def time_training(settings, label, critic_capacity, n_steps=20):
    """Measured cost of one configuration: (first call s, seconds per generator step).

    The first call traces the training step; the steps after it run ``n_critic`` critic
    updates and one generator update each. Synthetic latents in [-1, 1] stand in for the
    real ones: the cost does not depend on their values.
    """
    from qlsgan_tf.training.latents import latent_dataset  # pylint: disable=import-outside-toplevel

    hp = keras_tuner.HyperParameters()
    hp.Fixed("generator", label)
    hp.Fixed("critic_capacity", int(critic_capacity))
    spec = parse_generator(label, settings)
    model = CapacityHyperModel(settings).build(hp, seed=0)
    latents = np.random.default_rng(0).uniform(
        -1, 1, (settings.batch_size * n_steps, spec["latent_dim"])).astype(np.float32)
    data = latent_dataset(latents, settings.batch_size, seed=0, repeat=True)
    start = time.perf_counter()
    model.fit(data, epochs=1, steps_per_epoch=1, verbose=0)
    first = time.perf_counter() - start
    start = time.perf_counter()
    model.fit(data, epochs=1, steps_per_epoch=n_steps, verbose=0)
    return first, (time.perf_counter() - start) / n_steps
