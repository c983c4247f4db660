"""How the study scores, judges and records its runs: the evaluator the trainer is handed.

The packed trainer (``tuning.packs.train_pack``) owns the training loop; every decision of the
study about a run lives here and is injected into it (``CapacityTuner.search(...,
evaluator=RunEvaluator(settings, resources))``):

- **Score** (``evaluate``, ``fd_sat4``): after the epochs the convergence rule reads
  (:func:`schedule`), the latent score of each live run (``n_latent_samples`` generated
  latents against the encoded real ones, ``metrics.latent_score.latent_distances`` for the
  whole pack at once); FD-SAT4 of the ``k_last`` evaluations a record scores (one decoder and
  one feature-network call for all runs finishing together: the trainer keeps their latents
  until it knows which those are).
- **Floor** (``floor``): the real-vs-real latent score at the same sizes, once per latent size.
- **Judge** (``judge``): ``metrics.stability.run_status`` on the latent scores; None while the
  run should train on, "not_converged" when it still improves at the end of its budget.
- **Record** (``record``): the run's ``RunResult`` and a few decoded samples for the report.
"""
import math
import time
import types
from typing import (
    TYPE_CHECKING,
    Any,
    Dict,
    Hashable,
    Mapping,
    Optional,
    Sequence,
    Tuple,
    TypeVar,
    cast,
)

import numpy as np

from qlsgan_tf import convergence
from qlsgan_tf.fsutil import atomic_write_npy
from qlsgan_tf.tuning.results import RunHistory, RunResult

if TYPE_CHECKING:  # TensorFlow and KerasTuner behind these
    from qlsgan_tf.metrics.stability import RunStatus
    from qlsgan_tf.training.spec import GeneratorSpec
    from qlsgan_tf.tuning.capacity import Resources
    from qlsgan_tf.tuning.packs import RunSpec
    from qlsgan_tf.tuning.settings import TrainingSettings

FDTriple = Tuple[float, float, float]
"""(fd, kid, kid_std) of one run's decoded samples."""
Key = TypeVar("Key", bound=Hashable)
"""What names one set of generated latents (a run; a run and an epoch)."""

N_SAMPLE_IMAGES = 16


def status_k(settings: "TrainingSettings") -> int:
    """Latent-score evaluations judged per run (one per epoch): the stability module's default,
    fewer when the study trains fewer epochs (at least 3, to test a trend)."""
    return convergence.status_window(settings.epochs, settings.status_k)


class RunEvaluator:
    """Scores, judges and records the runs of one study (see the module docstring).

    Args:
      settings: the study's ``tuning.settings.TrainingSettings``.
      resources: its ``tuning.capacity.Resources`` (real latents, decoders, feature network,
        samples directory).
    """

    def __init__(self, settings: "TrainingSettings", resources: "Resources") -> None:
        self.settings = settings
        self.resources = resources
        self._floors: Dict[int, float] = {}

    def floor(self, latent_dim: int) -> float:
        """Real-vs-real latent score at the evaluation's sizes (cached per latent size: a
        pure function of the size, so threads asking at once store the same value)."""
        from qlsgan_tf.metrics import latent_score

        if latent_dim not in self._floors:
            self._floors.setdefault(latent_dim, float(latent_score.latent_floor(
                self.resources.latents[latent_dim], self.settings.n_latent_samples,
                method=self.settings.latent_method, seed=0)))
        return self._floors[latent_dim]

    def schedule(self, epoch: int) -> Tuple[bool, bool]:
        """(latent score due, FD-SAT4 due) after ``epoch``: :func:`schedule`."""
        return schedule(self.settings, epoch)

    def evaluate(self, spec: "GeneratorSpec", fakes: np.ndarray,
                 with_fd: bool = False) -> Tuple[np.ndarray, Dict[int, FDTriple]]:
        """Latent scores ``[k]`` of generated latents ``fakes [k, n, D]`` (nan where
        non-finite) and, when ``with_fd``, ``{k: (fd, kid, kid_std)}`` of their first
        ``n_fid_samples`` decoded (:meth:`fd_sat4`); else ``{}``."""
        from qlsgan_tf.metrics import latent_score

        s, real = self.settings, self.resources.latents[spec.latent_dim]
        scores = (latent_score.latent_distances(real, fakes, method=s.latent_method, seed=0)
                  if len(fakes) else np.zeros(0))
        fds = self.fd_sat4(spec, dict(enumerate(fakes))) if with_fd else {}
        return np.asarray(scores, dtype=np.float64), fds

    def fd_sat4(self, spec: "GeneratorSpec", fakes: Mapping[Key, np.ndarray]
                ) -> Dict[Key, FDTriple]:
        """``{key: (fd, kid, kid_std)}`` of the first ``n_fid_samples`` of each array of
        generated latents in ``fakes`` (nan where non-finite): one decoder and one
        feature-network call for all."""
        from qlsgan_tf.metrics.distances import fd_sat4_from_activations

        decoder = self.resources.decoders[spec.latent_dim]
        fakes = {k: f[:self.settings.n_fid_samples] for k, f in fakes.items()}
        out = {k: (math.nan, math.nan, math.nan) for k in fakes}
        finite = [k for k, f in fakes.items() if np.all(np.isfinite(f))]
        if not finite:
            return out
        images = np.asarray(decoder(np.concatenate([fakes[k] for k in finite])), np.float32)
        parts = dict(zip(finite, np.split(images, np.cumsum([len(fakes[k]) for k in finite])[:-1])))
        ok = [k for k in finite if np.all(np.isfinite(parts[k]))]
        if not ok:
            return out
        features = self.resources.feature_net.features(np.concatenate([parts[k] for k in ok]))
        # Fixed sizes, evaluated again and again; the report states them beside the floor.
        for k, part in zip(ok, np.split(features, np.cumsum([len(fakes[k]) for k in ok])[:-1])):
            res = fd_sat4_from_activations(self.resources.real_activations, part, warn=False)
            out[k] = (float(res.fd), float(res.kid), float(res.kid_std))
        return out

    def judge(self, latent_scores: Sequence[float], critic_losses: Sequence[float], floor: float,
              final: bool) -> Optional["RunStatus"]:
        """The run's status now (None while it should train on)."""
        from qlsgan_tf.metrics import stability

        status = stability.run_status(latent_scores, critic_losses, k=status_k(self.settings),
                                      floor=float(floor))
        settled = convergence.settle(status.status, final)
        if settled is None or settled == status.status:
            return None if settled is None else status
        return stability.RunStatus(settled, status.reasons, math.nan)

    def record(self, spec: "GeneratorSpec", run: "RunSpec", history: RunHistory, floor: float,
               meta: Mapping[str, Any]) -> RunResult:
        """The finished run's ``RunResult``; saves a few decoded samples for the report."""
        self._save_samples(spec, run, history.fakes)
        return _result(self.settings, self.resources, spec, run, history, floor, meta)

    def _save_samples(self, spec: "GeneratorSpec", run: "RunSpec",
                      fakes: Optional[np.ndarray]) -> None:
        from qlsgan_tf.data import denormalize

        if fakes is None or not np.all(np.isfinite(fakes)):
            return
        images = np.asarray(self.resources.decoders[spec.latent_dim](fakes[:N_SAMPLE_IMAGES]))
        if np.all(np.isfinite(images)):
            atomic_write_npy(self.resources.samples_dir / f"{run.key}.npy",
                             denormalize(np.clip(images, -1.0, 1.0)))


def evaluations_per_run(settings: "TrainingSettings") -> Tuple[int, int]:
    """(latent-score evaluations, FD-SAT4 evaluations) of a run judged done at ``epochs``,
    on the schedule the trainer follows (:func:`schedule`)."""
    due = [schedule(settings, e) for e in range(1, int(settings.epochs) + 1)]
    return sum(latent for latent, _ in due), sum(fd for _, fd in due)


def schedule(settings: "TrainingSettings", epoch: int) -> Tuple[bool, bool]:
    """(latent score due, FD-SAT4 due) after ``epoch`` (1-based): only what the convergence
    rule reads (``convergence.latent_due``, ``convergence.fd_due``), or every epoch (and
    FD-SAT4 every ``fid_every``) with ``evaluate_every_epoch``."""
    every = bool(settings.evaluate_every_epoch)
    return (convergence.latent_due(epoch, settings.epochs, status_k(settings), every),
            convergence.fd_due(epoch, settings.epochs, settings.fid_every,
                               0 if every else settings.k_last))


def time_evaluation(settings, latent_dim, n_reference, n_runs=4):
    """Measured cost of the study's evaluations on this machine, per run: ``(latent_s,
    fd_s)``, the seconds of one latent score (``n_latent_samples`` latents against
    ``n_reference`` real ones) and of one FD-SAT4 (``n_fid_samples`` decoded and embedded),
    each measured on a batch of ``n_runs`` runs as a pack is evaluated. Uniform latents stand
    in for the real and generated ones, a nominal untrained ``SatVAE`` for the study's
    decoder and the bundled feature network for the study's (the costs depend on sizes,
    not values); the first evaluation, which traces the graphs, is not timed."""
    from qlsgan_tf.metrics import feature_net
    from qlsgan_tf.models import SatVAE
    from qlsgan_tf.training.spec import GeneratorSpec

    rng = np.random.default_rng(0)
    real = rng.uniform(-1, 1, (int(n_reference), latent_dim)).astype(np.float32)
    fakes = rng.uniform(-1, 1, (n_runs, settings.n_latent_samples, latent_dim)).astype(
        np.float32)
    vae, net = SatVAE(latent_dim=latent_dim), feature_net.load_feature_net(None)
    resources = types.SimpleNamespace(
        latents={latent_dim: real}, decoders={latent_dim: vae.decode}, feature_net=net,
        real_activations=net.features(vae.decode(real[:settings.n_fid_samples])))
    # Only the latent size of the generator matters to its evaluation.
    spec = GeneratorSpec.classical(latent_dim, (1,))
    evaluator = RunEvaluator(settings, cast("Resources", resources))
    evaluator.evaluate(spec, fakes[:1], True)
    start = time.perf_counter()
    evaluator.evaluate(spec, fakes, False)
    latent_s = (time.perf_counter() - start) / n_runs
    start = time.perf_counter()
    evaluator.evaluate(spec, fakes, True)
    return latent_s, max(0.0, (time.perf_counter() - start) / n_runs - latent_s)


def _result(settings: "TrainingSettings", resources: "Resources", spec: "GeneratorSpec",
            run: "RunSpec", hist: RunHistory, floor: float, meta: Mapping[str, Any]) -> RunResult:
    from qlsgan_tf.metrics import distances

    status = hist.status
    if status is None:
        raise ValueError(f"run {run.key} has no status yet: only a finished run is recorded.")
    fds = [point.fd for point in hist.fd]
    tail = np.asarray(fds[-settings.k_last:], float)
    finite_tail = tail.size and np.all(np.isfinite(tail))
    latent_fd = math.inf
    if hist.fakes is not None and np.all(np.isfinite(hist.fakes)):
        latent_fd = float(distances.frechet_distance_from_activations(
            resources.latents[spec.latent_dim], hist.fakes))
    return RunResult(
        generator=run.generator, kind=spec.kind, n_qubits=spec.n_qubits,
        n_layers=spec.n_layers,
        latent_dim=spec.latent_dim,
        generator_capacity=spec.capacity, critic_budget=run.critic_budget,
        critic_params=meta["critic_params"], critic_units=tuple(meta["critic_units"]),
        seed=run.seed, learning_rate=run.learning_rate,
        status=status.status, status_reasons=tuple(status.reasons),
        score=float(status.score) if convergence.is_converged(status.status) else None,
        latent_method=settings.latent_method,
        latent_floor=float(floor),
        fd_score=float(np.mean(tail)) if finite_tail else None,
        final_fd=float(fds[-1]) if fds else math.inf,
        fd_std_last_k=float(np.std(tail)) if finite_tail else math.inf,
        final_kid=float(hist.fd[-1].kid) if hist.fd else math.inf,
        latent_fd=latent_fd,
        time_s=meta["time_s"], **hist.result_fields(),
        pack_size=meta["pack_size"], tuner_id=meta.get("tuner_id"))
