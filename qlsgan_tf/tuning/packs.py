"""The capacity study's runs trained in packs; the study scores, judges and records them.

A trial of the study hands out one generator with all its critic capacities, seeds and
learning rates. ``train_runs`` splits them into packs (``pack_groups``) and trains each pack
with a ``PackedLatentGAN`` (``settings.pack == 1``: packs of one, one run at a time, kept
for comparison; the arithmetic is ``training.gan_step``'s whatever the pack). A compiled
pack step runs on one core, so the packs are dealt into lanes (``plan_lanes``), one thread
per lane, the lanes at the same time (``tuning.lanes.run``).

After every epoch the injected evaluator (``study.evaluation.RunEvaluator``)
scores each live run (latent score; FD-SAT4 every ``fid_every`` epochs); from ``epochs`` on,
every ``fid_every`` epochs it judges each run: a run that is not "improving" is finished,
frozen and recorded at once; improving runs train on up to ``max_epochs`` and are
"not_converged" if they still improve then. A run whose losses or latent score turn NaN/inf
is frozen and recorded "failed" (``diverged``, the one NaN rule). Each run is handed to
``on_finish`` (the study's store writes it atomically) as it finishes, so a pack killed
midway loses only its unfinished runs.
"""
import dataclasses
import math
import time
from typing import (
    TYPE_CHECKING,
    Any,
    Callable,
    Dict,
    Hashable,
    Iterable,
    List,
    Mapping,
    Optional,
    Protocol,
    Sequence,
    Tuple,
    TypeVar,
    cast,
)

import numpy as np
import tensorflow as tf

from qlsgan_tf import convergence, interrupts
from qlsgan_tf.training.spec import GeneratorSpec
from qlsgan_tf.tuning import lanes as lanes_room
from qlsgan_tf.tuning.keys import run_key
from qlsgan_tf.tuning.lanes import LaneStoppedError, lane_count
from qlsgan_tf.tuning.results import EpochLosses, FDPoint, LatentPoint, RunHistory
from qlsgan_tf.tuning.settings import TrainingSettings
from qlsgan_tf.validation import check_int

if TYPE_CHECKING:
    from qlsgan_tf.metrics.stability import RunStatus
    from qlsgan_tf.training.latent_gan import LatentGAN
    from qlsgan_tf.training.packed import PackedLatentGAN
    from qlsgan_tf.tuning.capacity import Resources
    from qlsgan_tf.tuning.results import RunResult

UNSTABLE_SCORE = 1e4  # a run without a score enters the tuner's objective with this value
MAX_PACK = 64


@dataclasses.dataclass(frozen=True)
class RunSpec:
    """One training run of the study and its store key."""

    generator: str
    critic_budget: int
    seed: int
    learning_rate: float
    key: str


def plan_runs(settings: TrainingSettings, label: str, key: Optional[Callable[..., str]] = None,
              critics: Optional[Iterable[int]] = None) -> List[RunSpec]:
    """Every run of one generator: critic budgets (``critics``, default the settings' grid)
    x seeds x learning rates."""
    key = key or run_key
    critics = settings.critic_budgets if critics is None else critics
    return [RunSpec(label, int(c), int(s), float(lr), key(label, c, s, lr))
            for c in critics for s in settings.seeds
            for lr in settings.learning_rates]


Key = TypeVar("Key", bound=Hashable)


class Evaluator(Protocol):
    """What training asks of the study's evaluator (``study.evaluation.RunEvaluator``):
    scores, judgements and records, injected so that the study's decisions stay its own."""

    def floor(self, latent_dim: int) -> float: ...

    def evaluate(self, spec: GeneratorSpec, fakes: np.ndarray
                 ) -> Tuple[np.ndarray, Dict[int, Tuple[float, float, float]]]: ...

    def fd_sat4(self, spec: GeneratorSpec, fakes: Mapping[Key, np.ndarray]
                ) -> Dict[Key, Tuple[float, float, float]]: ...

    def schedule(self, epoch: int) -> Tuple[bool, bool]: ...

    def judge(self, latent_scores: Sequence[float], critic_losses: Sequence[float], floor: float,
              final: bool) -> Optional["RunStatus"]: ...

    def record(self, spec: GeneratorSpec, run: RunSpec, history: RunHistory, floor: float,
               meta: Mapping[str, Any]) -> "RunResult": ...


PACK_COMPILE_COST = 1e7
"""Building and compiling one more pack, in units of the arithmetic of one critic parameter of
one run for one generator step: a pack's step is arithmetic-bound and costs about
``K x widest critic`` such units, its compilation a few seconds (``benchmarks/README.md``)."""


def pack_groups(settings: TrainingSettings, runs: Iterable[RunSpec],
                latent_dim: int) -> List[List[RunSpec]]:
    """Splits runs into packs: ``settings.pack`` runs each when given; else critics are packed
    together (padded to the widest) while the padding's arithmetic over the run's steps costs
    less than compiling another pack, and no pack exceeds ``MAX_PACK`` runs."""
    from qlsgan_tf.models import capacity

    runs = list(runs)
    if settings.pack:
        size = int(settings.pack)
        return [runs[i:i + size] for i in range(0, len(runs), size)]

    def params(run: RunSpec) -> int:
        return capacity.mlp_param_count(
            latent_dim, critic_units(settings, latent_dim, run.critic_budget), 1)

    steps = settings.epochs * (settings.steps_per_epoch or 1)
    groups: List[List[RunSpec]] = []
    current: List[RunSpec] = []
    widest = 0
    for run in sorted(runs, key=params):
        cost = params(run)
        if current and (len(current) * (cost - widest) * steps > PACK_COMPILE_COST
                        or len(current) >= MAX_PACK):
            groups.append(current)
            current = []
        current.append(run)
        widest = cost
    return groups + ([current] if current else [])


def family_spec(settings: TrainingSettings, spec: GeneratorSpec) -> Dict[str, Any]:
    """The generator shape (``PackedLatentGAN`` dict) a pack of ``spec``'s runs is compiled
    for: the deepest circuit of the search's generators with the same qubit count, or the
    widest classical generator (layer by layer) of the same latent size. All generators of a
    family share one compiled pack step (``PackedLatentGAN`` skips the layers a shallower
    circuit lacks and zero-pads narrower MLPs), so a study compiles once per family and
    critic group, not once per generator. Circuits of more than
    ``training.packed.LAYERED_MAX_QUBITS`` qubits, where the layered simulator does not pay,
    keep their own depth (a compiled step per generator)."""
    from qlsgan_tf.training.packed import LAYERED_MAX_QUBITS

    own = spec.pack_config()
    family = [g for g in (settings.generator_spec(label) for label in settings.generators)
              if g.kind == spec.kind and g.readout == spec.readout
              and g.noise_dim == spec.noise_dim and g.output_dim == spec.output_dim]
    if spec.kind == "quantum":
        # Not layered: one compiled step per depth (a quantum spec always has its n_qubits).
        if cast(int, spec.n_qubits) > LAYERED_MAX_QUBITS:
            return own
        depth = max([cast(int, g.n_layers) for g in family
                     if g.n_qubits == spec.n_qubits and g.ansatz == spec.ansatz]
                    + [cast(int, spec.n_layers)])
        return dict(own, n_layers=depth)
    widths = list(own["units"])
    for g in family:
        if len(g.hidden_units) == len(widths):
            widths = [max(a, b) for a, b in zip(widths, g.hidden_units)]
    return dict(own, units=tuple(widths))


def critic_units(settings: TrainingSettings, latent_dim: int,
                 critic_budget: int) -> Tuple[int, ...]:
    """Hidden widths of the critic of a parameter budget (``models.units_for_capacity``)."""
    from qlsgan_tf.models import units_for_capacity

    return tuple(units_for_capacity(int(critic_budget), latent_dim, 1, settings.critic_depth))


def latent_gan(settings: TrainingSettings, spec: GeneratorSpec, units: Sequence[int], seed: int,
               learning_rate: float) -> "LatentGAN":
    """One run of the study as a compiled ``LatentGAN`` (Keras models; the quantum layer on
    the fast simulator, as in a pack) with the initial weights, seed and learning rate a pack
    gives the same run."""
    from qlsgan_tf.models import MLPCritic
    from qlsgan_tf.training import LatentGAN, optim
    from qlsgan_tf.training.packed import initial_weights

    generator = spec.build(backend="fast")
    critic = MLPCritic(hidden_units=units, input_dim=spec.output_dim)
    g_weights, c_weights = initial_weights(spec.pack_config(), units, spec.latent_dim, seed)
    generator.set_weights(g_weights)
    critic.set_weights(c_weights)
    gan = LatentGAN(generator, critic, noise_dim=spec.noise_dim, loss=settings.loss,
                    gp_weight=settings.gp_weight, n_critic=settings.n_critic,
                    noise=settings.noise, seed=int(seed))
    gan.compile(g_optimizer=optim.adam(learning_rate), c_optimizer=optim.adam(learning_rate))
    return gan


SHRINK_AT = 0.5
"""A pack shrinks (``Pack.shrink``) once at most this fraction of its rows still train."""


class Pack:
    """The runs of one pack, trained by a ``PackedLatentGAN`` that ``lane`` (a
    ``tuning.lanes.Lane``) owns. Arrays it returns are indexed by the runs as given (numpy,
    for the driver), whatever rows of the compiled pack they sit in: when runs finish, the
    pack shrinks to its live runs (:meth:`shrink`) and time follows them."""

    def __init__(self, settings: TrainingSettings, spec: GeneratorSpec, runs: Sequence[RunSpec],
                 lane: lanes_room.Lane) -> None:
        self.settings, self.spec, self.lane = settings, spec, lane
        self.units = [critic_units(settings, spec.latent_dim, r.critic_budget) for r in runs]
        self.n_runs = len(runs)
        self.rows = np.arange(self.n_runs)  # the run in each row of the compiled pack
        self.gan = self._compiled(self.units)
        lrs = [r.learning_rate for r in runs]
        self.gan.reset(seeds=[r.seed for r in runs], c_lr=lrs, g_lr=lrs,
                       generators=[spec.pack_config()] * len(runs))

    def _pack_args(self, units: Sequence[Sequence[int]]
                   ) -> Tuple[Dict[str, Any], Sequence[Sequence[int]], int, Dict[str, Any]]:
        """``Lane.pack``'s arguments for a pack of these critics: (generator, critics,
        latent size, settings)."""
        s = self.settings
        return (family_spec(s, self.spec), units, self.spec.latent_dim,
                dict(batch_size=s.batch_size, loss=s.loss, gp_weight=float(s.gp_weight),
                     n_critic=s.n_critic, noise=s.noise))

    def _compiled(self, units: Sequence[Sequence[int]]) -> "PackedLatentGAN":
        generator, critics, latent_dim, kwargs = self._pack_args(units)
        return self.lane.pack(generator, critics, latent_dim, **kwargs)

    def _by_run(self, rows: Any, fill: Any) -> np.ndarray:
        """``rows`` (one per row of the compiled pack) spread to one per run, ``fill`` for
        runs no longer in it."""
        rows = np.asarray(rows)[:len(self.rows)]  # rows beyond hold no run (``shrink``)
        out = np.full((self.n_runs, *rows.shape[1:]), fill, rows.dtype)
        out[self.rows] = rows
        return out

    @property
    def active(self) -> np.ndarray:
        return self._by_run(self.gan.active.numpy(), False)

    @property
    def failed(self) -> np.ndarray:
        return self._by_run(self.gan.failed.numpy(), False)

    def train(self, latents: np.ndarray, steps: int) -> np.ndarray:
        """``[steps, runs, 4]`` losses (NaN for runs no longer trained)."""
        losses = self.gan.train(latents, steps)
        return np.moveaxis(self._by_run(np.moveaxis(losses, 1, 0), np.nan), 0, 1)

    def sample(self, n: int, index: int = 0) -> np.ndarray:
        return self._by_run(self.gan.sample(n, index), 0.0)

    def freeze(self, runs: Iterable[int]) -> None:
        mask = self.gan.active.numpy()
        mask[:len(self.rows)][np.isin(self.rows, list(runs))] = False
        self.gan.active.assign(mask)

    def shrink(self, steps_left: Optional[float] = None) -> bool:
        """Moves the live runs into a smaller compiled pack once at most ``SHRINK_AT`` of the
        rows still train, when it pays: the lane holds that pack compiled already, or the
        padding's arithmetic saved over ``steps_left`` generator steps (None: no bound) costs
        more than compiling a pack (``PACK_COMPILE_COST``, the rule of ``pack_groups``). Each
        run goes on exactly where it was (``PackedLatentGAN.take_runs``). The smaller pack has
        a power-of-two count of rows (the spare ones frozen) and the same padded widths, so
        the shrunk packs of a lane compile to a few shapes, each once. Returns whether it
        shrank."""
        from qlsgan_tf.models import capacity

        live = np.flatnonzero(self.gan.active.numpy())
        rows = 1 << int(len(live) - 1).bit_length() if len(live) else 0
        if not len(live) or rows > SHRINK_AT * self.gan.n_runs:
            return False
        units = ([self.units[self.rows[i]] for i in live]
                 + [tuple(self.gan.widths)] * (rows - len(live)))
        widest = capacity.mlp_param_count(self.spec.latent_dim, self.gan.widths, 1)
        saved = (self.gan.n_runs - rows) * widest * (math.inf if steps_left is None
                                                     else steps_left)
        generator, critics, latent_dim, kwargs = self._pack_args(units)
        if saved <= PACK_COMPILE_COST and not self.lane.holds(generator, critics, latent_dim,
                                                              **kwargs):
            return False
        smaller = self._compiled(units)
        smaller.take_runs(self.gan, live)
        self.gan, self.rows = smaller, self.rows[live]
        return True


def make_trainer(settings: TrainingSettings, spec: GeneratorSpec, chunk: Sequence[RunSpec],
                 lane: lanes_room.Lane) -> Pack:
    """The trainer of one pack: a ``Pack`` (the compiled instance ``lane`` owns); with
    ``settings.pack == 1`` a pack of one."""
    return Pack(settings, spec, chunk, lane)


def plan_lanes(settings: TrainingSettings, runs: Sequence[RunSpec], latent_dim: int,
               lanes: Optional[int] = None) -> List[List[List[RunSpec]]]:
    """The packs of ``runs`` and the lane that trains each: one list of packs (run lists) per
    lane (``tuning.lanes.deal``), trained one after another in the lane while the lanes run
    at the same time.

    With automatic packing, each ``pack_groups`` group is dealt round-robin into ``lanes``
    packs of the same make-up (the group is sorted by critic, so each pack gets the same mix
    of critics and costs the same); an explicit ``settings.pack`` keeps its packs whole. Packs
    go to the least-loaded lane, largest first (cost: runs x widest critic); a lane trains its
    packs in ``pack_groups``' order (narrower critics first). The plan depends
    only on the runs, so every generator of a family gives each lane the same pack shapes
    (and reuses that lane's compiled steps)."""
    from qlsgan_tf.models import capacity

    lanes = lane_count(settings) if lanes is None else int(check_int("lanes", lanes, 1))

    def params(run: RunSpec) -> int:
        return capacity.mlp_param_count(
            latent_dim, critic_units(settings, latent_dim, run.critic_budget), 1)

    packs: List[List[RunSpec]] = []
    for group in pack_groups(settings, runs, latent_dim):
        n = 1 if settings.pack else min(lanes, len(group))
        packs += [group[i::n] for i in range(n)]
    return lanes_room.deal(packs, [len(p) * max(params(r) for r in p) for p in packs], lanes)


def _evaluate(evaluator: "Evaluator", settings: TrainingSettings, spec: GeneratorSpec,
              trainer: Pack, histories: Sequence[RunHistory], live: np.ndarray, epoch: int,
              steps: int) -> bool:
    """The live runs' latent scores where ``evaluator.schedule`` has them due, recorded; where
    FD-SAT4 is due, their latents are kept for it (``RunHistory.fd_pending``, the last
    ``k_last``; :func:`_score_fd`). Returns whether latent scores were measured."""
    with_latent, with_fd = evaluator.schedule(epoch)
    if not (with_latent or with_fd):
        return False
    fakes = trainer.sample(settings.n_latent_samples, index=0)
    live_runs = np.flatnonzero(live)
    scores = evaluator.evaluate(spec, fakes[live_runs])[0] if with_latent else None
    for i, k in enumerate(live_runs):
        hist = histories[k]
        hist.fakes = fakes[k]
        if scores is not None:
            hist.latent.append(LatentPoint(epoch * steps, float(scores[i])))
        if with_fd:
            hist.fd_pending.append((epoch - 1, fakes[k][:settings.n_fid_samples]))
            del hist.fd_pending[:-settings.k_last]
    return with_latent


def _score_fd(evaluator: "Evaluator", spec: GeneratorSpec, histories: Sequence[RunHistory],
              runs: Iterable[int], writers: Sequence[Any]) -> None:
    """Computes the kept FD-SAT4 evaluations of ``runs`` (one evaluator call for all), adds
    them to their histories and logs them at their epochs."""
    pending = {(k, epoch): fakes for k in runs for epoch, fakes in histories[k].fd_pending}
    if not pending:
        return
    fds = evaluator.fd_sat4(spec, pending)
    for k, epoch in sorted(pending):
        point = FDPoint(epoch, *fds[k, epoch][:2])
        histories[k].fd.append(point)
        if writers[k] is not None:
            with writers[k].as_default():
                tf.summary.scalar("eval/fd_sat4", point.fd, step=epoch + 1)
                tf.summary.scalar("eval/kid", point.kid, step=epoch + 1)
    for k, _ in pending:
        histories[k].fd_pending.clear()


def _log_epoch(writer: Any, hist: RunHistory, epoch: int, scored: bool) -> None:
    if writer is None:
        return
    with writer.as_default():
        for name, value in hist.losses[-1]._asdict().items():
            tf.summary.scalar(f"train/{name}", value, step=epoch)
        if scored:
            tf.summary.scalar("eval/latent_score", hist.latent[-1].score, step=epoch)
    writer.flush()


def train_pack(settings: TrainingSettings, spec: GeneratorSpec, runs: Sequence[RunSpec],
               trainer: Pack, resources: "Resources", on_finish: Callable[["RunResult"], Any],
               evaluator: "Evaluator", tuner_id: Optional[str] = None,
               should_stop: Optional[Callable[[], bool]] = None) -> List[Optional["RunStatus"]]:
    """Trains one pack to the end; calls ``on_finish(record)`` for each run as it finishes.

    ``evaluator`` (the study's ``study.evaluation.RunEvaluator``) scores the live runs after
    each epoch, judges them and makes their records: the study's decisions, injected.
    ``should_stop``: polled between epochs; when true the pack stops (``LaneStoppedError``).
    """
    loop = _PackLoop(settings, spec, runs, trainer, resources, evaluator, on_finish, tuner_id)
    try:
        while trainer.active.any():
            # SIGINT/SIGTERM: stop between epochs; runs finished so far are recorded, the
            # pack's unfinished runs are not.
            interrupts.check_stop()
            if should_stop is not None and should_stop():
                raise LaneStoppedError("another lane stopped")
            loop.train_epoch()
            trainer.shrink(loop.steps * (loop.budget - loop.epoch))
    finally:
        loop.close()
    return [h.status for h in loop.histories]


class _PackLoop:
    """One pack's epochs: train, evaluate, log, judge, and finish the runs that are done."""

    def __init__(self, settings: TrainingSettings, spec: GeneratorSpec, runs: Sequence[RunSpec],
                 trainer: Pack, resources: "Resources", evaluator: "Evaluator",
                 on_finish: Callable[["RunResult"], Any], tuner_id: Optional[str]) -> None:
        self.settings, self.spec, self.runs, self.trainer = settings, spec, runs, trainer
        self.resources, self.evaluator, self.on_finish = resources, evaluator, on_finish
        self.tuner_id = tuner_id
        self.latents = resources.latents[spec.latent_dim]
        self.steps = settings.steps_per_epoch or math.ceil(len(self.latents)
                                                           / settings.batch_size)
        self.budget = convergence.epoch_budget(settings.epochs, settings.max_epochs)
        self.floor = evaluator.floor(spec.latent_dim)
        self.histories = [RunHistory() for _ in runs]
        self.writers = [None if resources.logs_dir is None else
                        tf.summary.create_file_writer(str(resources.logs_dir / run.key))
                        for run in runs]
        self.start, self.epoch = time.perf_counter(), 0

    def train_epoch(self) -> None:
        """One epoch of every live run, then its evaluation and (when due) the judgement."""
        s, trainer = self.settings, self.trainer
        live = trainer.active.copy()
        losses = np.asarray(trainer.train(self.latents, self.steps))
        self.epoch += 1
        means = losses.mean(axis=0)
        check = convergence.judgement_due(self.epoch, s.epochs, s.fid_every)
        for k in np.flatnonzero(live):
            self.histories[k].losses.append(EpochLosses(*(float(v) for v in means[k])))
        scored = _evaluate(self.evaluator, s, self.spec, trainer, self.histories, live,
                           self.epoch, self.steps)
        failed = trainer.failed
        done = {k: status for k in np.flatnonzero(live)
                for status in [self._settle(k, failed[k], check, scored)] if status is not None}
        # FD-SAT4 only where a record scores it: of the runs finishing now, or every time
        # it is due when every epoch's evaluations are asked for.
        _score_fd(self.evaluator, self.spec, self.histories,
                  np.flatnonzero(live) if s.evaluate_every_epoch else list(done), self.writers)
        for k, status in done.items():
            self._finish(k, status)
        if done:
            trainer.freeze(list(done))

    def _settle(self, k: int, failed: bool, check: bool, scored: bool
                ) -> Optional["RunStatus"]:
        """Logs run ``k``'s epoch; its status when it failed or is judged done, else None."""
        hist = self.histories[k]
        _log_epoch(self.writers[k], hist, self.epoch, scored)
        status: Optional[RunStatus] = None
        reasons = convergence.diverged(failed, hist.latent[-1].score if scored else None)
        if reasons:
            from qlsgan_tf.metrics import stability

            status = stability.RunStatus(convergence.FAILED, reasons, math.nan)
        elif check:
            status = self.evaluator.judge(hist.latent_scores, hist.critic_losses, self.floor,
                                          final=self.epoch >= self.budget)
        return status

    def _finish(self, k: int, status: "RunStatus") -> None:
        from qlsgan_tf.models import capacity
        from qlsgan_tf.training.callbacks import log_hparams

        hist, run, spec = self.histories[k], self.runs[k], self.spec
        hist.status = status
        units = critic_units(self.settings, spec.latent_dim, run.critic_budget)
        meta = {"critic_units": units, "tuner_id": self.tuner_id, "pack_size": len(self.runs),
                "critic_params": capacity.mlp_param_count(spec.latent_dim, units, 1),
                "time_s": (time.perf_counter() - self.start) / len(self.runs)}
        record = self.evaluator.record(spec, run, hist, self.floor, meta)
        if self.writers[k] is not None:
            log_hparams(self.resources.logs_dir / run.key,
                        {"generator": run.generator, "kind": spec.kind,
                         "generator_capacity": spec.capacity,
                         "critic_budget": run.critic_budget, "seed": run.seed,
                         "learning_rate": run.learning_rate},
                        {"latent_score": record.metric_score("latent"),
                         "final_fd_sat4": record.final_fd})
        self.on_finish(record)

    def close(self) -> None:
        for writer in self.writers:
            if writer is not None:
                writer.close()


def train_runs(settings: TrainingSettings, label: str, runs: Iterable[RunSpec],
               resources: "Resources", on_finish: Callable[["RunResult"], Any],
               evaluator: "Evaluator", tuner_id: Optional[str] = None) -> None:
    """Trains the given runs of one generator label in packs, the lanes of ``plan_lanes`` at
    the same time (see the module docstring); ``on_finish`` is called from one lane at a
    time."""
    spec = settings.generator_spec(label)
    finish = lanes_room.serialized(on_finish)

    def work(lane: lanes_room.Lane, chunk: Sequence[RunSpec],
             should_stop: Callable[[], bool]) -> None:
        trainer = make_trainer(settings, spec, chunk, lane)
        train_pack(settings, spec, chunk, trainer, resources, finish, evaluator,
                   tuner_id=tuner_id, should_stop=should_stop)

    lanes_room.run(plan_lanes(settings, list(runs), spec.latent_dim), work)


def time_lanes(settings: TrainingSettings, label: str, runs: Iterable[RunSpec], n_steps: int = 10
               ) -> Tuple[float, float, List[Tuple[List[RunSpec], float, float]]]:
    """Measured cost of training ``runs`` of ``label`` as the study does (``plan_lanes``, the
    lanes at the same time): ``(first_s, step_s, packs)`` where ``first_s`` is the wall time
    to build and compile every pack, ``step_s`` the wall time of one generator step of all of
    them (the slowest lane's packs one after another) and ``packs`` one ``(runs, first_s,
    step_s)`` per pack as measured in its lane. Uniform latents stand in for the real ones.
    Every pack is built and compiled before any is timed: a step timed while another lane
    compiles would be charged that compilation's CPU time."""
    spec = settings.generator_spec(label)
    latents = np.random.default_rng(0).uniform(
        -1, 1, (settings.batch_size * 4, spec.latent_dim)).astype(np.float32)
    plan = plan_lanes(settings, list(runs), spec.latent_dim)
    timings: List[List[Tuple[List[RunSpec], float, float]]] = [[] for _ in plan]
    firsts: Dict[int, float] = {}

    def compile_pack(lane: lanes_room.Lane, chunk: List[RunSpec],
                     _should_stop: Callable[[], bool]) -> None:
        start = time.perf_counter()
        make_trainer(settings, spec, chunk, lane).train(latents, 1)
        firsts[id(chunk)] = time.perf_counter() - start

    def time_steps(lane: lanes_room.Lane, chunk: List[RunSpec],
                   _should_stop: Callable[[], bool]) -> None:
        trainer = make_trainer(settings, spec, chunk, lane)  # the lane's compiled pack
        start = time.perf_counter()
        trainer.train(latents, n_steps)
        timings[lane.index].append((chunk, firsts[id(chunk)],
                                    (time.perf_counter() - start) / n_steps))

    lanes_room.run(plan, compile_pack)
    lanes_room.run(plan, time_steps)
    first_s = max(sum(t[1] for t in lane) for lane in timings)
    step_s = max(sum(t[2] for t in lane) for lane in timings)
    return first_s, step_s, [t for lane in timings for t in lane]
