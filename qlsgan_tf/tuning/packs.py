"""The capacity study's runs trained in packs, evaluated, judged and recorded one by one.

A trial of the study hands out one generator with all its critic capacities, seeds and
learning rates. ``train_runs`` splits them into packs (``pack_groups``) and trains each pack
with a ``PackedLatentGAN`` (or, with ``settings.pack == 1``, each run alone with
``LatentGAN``: the same arithmetic, initial weights, noise and data order, kept for
comparison). After every epoch each live run gets its latent score (``n_latent_samples``
generated latents against the real ones, ``metrics.latent_score.latent_distance``); every
``fid_every`` epochs its FD-SAT4. From ``epochs`` on, every ``fid_every`` epochs each run is
judged (``metrics.stability.run_status``): a run that is not "improving" is finished, frozen
and recorded at once; improving runs train on up to ``max_epochs`` and are "not_converged"
if they still improve then. A run whose losses turn NaN/inf is frozen and recorded "failed".
Each run is handed to ``on_finish`` (the study's store writes it atomically) as it finishes,
so a pack killed midway loses only its unfinished runs.
"""
import dataclasses
import math
import time
import warnings

import numpy as np
import tensorflow as tf

from qlsgan_tf import interrupts
from qlsgan_tf.fsutil import atomic_write_npy
from qlsgan_tf.tuning.keys import run_key
from qlsgan_tf.tuning.results import RunResult

UNSTABLE_SCORE = 1e4  # a run without a score enters the tuner's objective with this value
MAX_PACK = 64
N_SAMPLE_IMAGES = 16


@dataclasses.dataclass(frozen=True)
class RunSpec:
    """One training run of the study and its store key."""

    generator: str
    critic_budget: int
    seed: int
    learning_rate: float
    key: str


def plan_runs(settings, label, key=None, critics=None):
    """Every run of one generator: critic budgets (``critics``, default the settings' grid)
    x seeds x learning rates."""
    key = key or run_key
    critics = settings.critic_budgets if critics is None else critics
    return [RunSpec(label, int(c), int(s), float(lr), key(label, c, s, lr))
            for c in critics for s in settings.seeds
            for lr in settings.learning_rates]


PACK_COMPILE_COST = 1e7
"""Building and compiling one more pack, in units of the arithmetic of one critic parameter of
one run for one generator step: a pack's step is arithmetic-bound and costs about
``K x widest critic`` such units, its compilation a few seconds (``benchmarks/README.md``)."""


def pack_groups(settings, runs, latent_dim):
    """Splits runs into packs: ``settings.pack`` runs each when given; else critics are packed
    together (padded to the widest) while the padding's arithmetic over the run's steps costs
    less than compiling another pack, and no pack exceeds ``MAX_PACK`` runs."""
    from qlsgan_tf.models import capacity

    runs = list(runs)
    if settings.pack:
        size = int(settings.pack)
        return [runs[i:i + size] for i in range(0, len(runs), size)]

    def params(run):
        return capacity.mlp_param_count(
            latent_dim, critic_units(settings, latent_dim, run.critic_budget), 1)

    steps = settings.epochs * (settings.steps_per_epoch or 1)
    groups, current, widest = [], [], 0
    for run in sorted(runs, key=params):
        cost = params(run)
        if current and (len(current) * (cost - widest) * steps > PACK_COMPILE_COST
                        or len(current) >= MAX_PACK):
            groups.append(current)
            current = []
        current.append(run)
        widest = cost
    return groups + ([current] if current else [])


def family_spec(settings, spec):
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
        if spec.n_qubits > LAYERED_MAX_QUBITS:  # not layered: one compiled step per depth
            return own
        depth = max([g.n_layers for g in family
                     if g.n_qubits == spec.n_qubits and g.ansatz == spec.ansatz]
                    + [spec.n_layers])
        return dict(own, n_layers=depth)
    widths = list(own["units"])
    for g in family:
        if len(g.hidden_units) == len(widths):
            widths = [max(a, b) for a, b in zip(widths, g.hidden_units)]
    return dict(own, units=tuple(widths))


def critic_units(settings, latent_dim, critic_budget):
    """Hidden widths of the critic of a parameter budget (as ``CapacityHyperModel``)."""
    from qlsgan_tf.models import units_for_capacity

    return tuple(units_for_capacity(int(critic_budget), latent_dim, 1, settings.critic_depth))


class SingleRun:
    """One run trained alone with ``LatentGAN``, behind the interface of a pack of one."""

    def __init__(self, settings, spec, units, seed, learning_rate):
        from qlsgan_tf.models import MLPCritic
        from qlsgan_tf.training import LatentGAN
        from qlsgan_tf.training.packed import initial_weights

        generator = spec.build(backend=settings.backend)
        critic = MLPCritic(hidden_units=units, input_dim=spec.output_dim)
        g_weights, c_weights = initial_weights(spec.pack_config(), units, spec.output_dim, seed)
        generator.set_weights(g_weights)
        critic.set_weights(c_weights)
        self.gan = LatentGAN(generator, critic, noise_dim=spec.noise_dim, loss=settings.loss,
                             gp_weight=settings.gp_weight, n_critic=settings.n_critic,
                             noise=settings.noise, seed=int(seed))
        self.gan.compile(
            g_optimizer=tf.keras.optimizers.Adam(learning_rate, beta_1=0.5, beta_2=0.9),
            c_optimizer=tf.keras.optimizers.Adam(learning_rate, beta_1=0.5, beta_2=0.9))
        self.seed, self.batch_size, self.step = int(seed), settings.batch_size, 0
        self.noise_dim, self.noise = spec.noise_dim, settings.noise
        self.active, self.failed = np.ones(1, bool), np.zeros(1, bool)

    def train(self, latents, steps):
        """``steps`` generator steps on the run's own batches; returns ``[1, 1, 4]`` means."""
        from qlsgan_tf.training.packed import batch_indices

        idx = batch_indices(len(latents), self.batch_size, [self.seed], self.step, steps)[:, 0]
        data = tf.data.Dataset.from_tensor_slices(np.asarray(latents, np.float32)[idx])
        logs = self.gan.fit(data, epochs=1, steps_per_epoch=steps, verbose=0).history
        self.step += steps
        row = np.array([logs[name][-1] if name in logs else 0.0
                        for name in ("c_loss", "g_loss", "gp", "w_dist")], np.float32)
        if not np.all(np.isfinite(row)):
            self.failed[:], self.active[:] = True, False
        return row[None, None, :]

    def sample(self, n, index=0):
        from qlsgan_tf.training import streams

        noise = streams.stream_noise(tf.constant([self.seed], tf.int64),
                                     streams.EVAL_COUNTER + index, n, self.noise_dim,
                                     self.noise)[0]
        parts = [self.gan.generator(noise[i:i + 1000], training=False).numpy()
                 for i in range(0, n, 1000)]
        return np.concatenate(parts)[None]

    def freeze(self, runs):
        self.active[list(runs)] = False


class Pack:
    """A cached ``PackedLatentGAN`` loaded with the given runs (numpy masks for the driver)."""

    def __init__(self, settings, spec, runs):
        from qlsgan_tf.training.packed import pack_for

        units = [critic_units(settings, spec.output_dim, r.critic_budget) for r in runs]
        self.gan = pack_for(family_spec(settings, spec), units, spec.output_dim,
                            batch_size=settings.batch_size, loss=settings.loss,
                            gp_weight=float(settings.gp_weight), n_critic=settings.n_critic,
                            noise=settings.noise)
        lrs = [r.learning_rate for r in runs]
        self.gan.reset(seeds=[r.seed for r in runs], c_lr=lrs, g_lr=lrs,
                       generators=[spec.pack_config()] * len(runs))

    @property
    def active(self):
        return self.gan.active.numpy()

    @property
    def failed(self):
        return self.gan.failed.numpy()

    def train(self, latents, steps):
        return self.gan.train(latents, steps)

    def sample(self, n, index=0):
        return self.gan.sample(n, index)

    def freeze(self, runs):
        mask = self.active
        mask[list(runs)] = False
        self.gan.active.assign(mask)


def make_trainers(settings, spec, runs):
    """Yields (runs of a pack, its trainer) for the packs of ``pack_groups``."""
    for chunk in pack_groups(settings, runs, spec.output_dim):
        if settings.pack == 1:
            run = chunk[0]
            yield chunk, SingleRun(settings, spec, critic_units(settings, spec.output_dim,
                                                                 run.critic_budget),
                                   run.seed, run.learning_rate)
        else:
            yield chunk, Pack(settings, spec, chunk)


def status_k(settings):
    """Latent-score evaluations judged per run (one per epoch): the stability module's default,
    fewer when the study trains fewer epochs (at least 3, to test a trend)."""
    from qlsgan_tf.metrics import stability

    return int(getattr(settings, "status_k", 0) or
               min(stability.DEFAULT_STATUS_K, max(3, settings.epochs)))


def latent_method(settings):
    """The latent distance of the study (``settings.latent_method``, default ``"swd"``)."""
    return getattr(settings, "latent_method", None) or "swd"


def latent_floor(settings, resources, latent_dim):
    """Real-vs-real latent score at the evaluation's sizes, cached on ``resources``."""
    from qlsgan_tf.metrics import latent_score

    floors = getattr(resources, "latent_floors", None)
    if floors is None:
        floors = {}
        resources.latent_floors = floors
    if latent_dim not in floors:
        floors[latent_dim] = latent_score.latent_floor(
            resources.latents[latent_dim], settings.n_latent_samples,
            method=latent_method(settings), seed=0)
    return floors[latent_dim]


class _History:
    """What one run of a pack has recorded so far."""

    def __init__(self):
        self.losses, self.latent, self.fd = [], [], []
        self.fakes, self.status, self.finished = None, None, False


def _fd_sat4_batched(resources, decoder, fakes):
    """(fd, kid, kid_std) per run for generated latents ``{k: [n, D]}``: one decoder and one
    feature-network call for the whole pack; nan for a run with non-finite output."""
    from qlsgan_tf.metrics import SmallSampleWarning
    from qlsgan_tf.metrics.distances import fd_sat4_from_activations

    out = {k: (math.nan, math.nan, math.nan) for k in fakes}
    finite = [k for k, f in fakes.items() if np.all(np.isfinite(f))]
    if not finite:
        return out
    images = np.asarray(decoder(np.concatenate([fakes[k] for k in finite])), np.float32)
    sizes = np.cumsum([len(fakes[k]) for k in finite])[:-1]
    ok = [k for k, part in zip(finite, np.split(images, sizes)) if np.all(np.isfinite(part))]
    if not ok:
        return out
    images = np.concatenate([part for k, part in zip(finite, np.split(images, sizes))
                             if k in ok])
    features = resources.feature_net.features(images)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SmallSampleWarning)
        for k, part in zip(ok, np.split(features, np.cumsum([len(fakes[k]) for k in ok])[:-1])):
            res = fd_sat4_from_activations(resources.real_activations, part)
            out[k] = (float(res.fd), float(res.kid), float(res.kid_std))
    return out


def _latent_scores(settings, real, fakes):
    """Latent score of each generated set ``fakes [k, n, D]`` (nan where non-finite), all
    sets at once (``metrics.latent_score.latent_distances``, equal to one call per run)."""
    from qlsgan_tf.metrics import latent_score

    return latent_score.latent_distances(real, fakes, method=latent_method(settings), seed=0)


def _evaluate(settings, resources, spec, trainer, histories, live, epoch, steps, with_fd):
    """Latent score (and FD-SAT4 when ``with_fd``) of the live runs, recorded and logged."""
    real = resources.latents[spec.output_dim]
    fakes = trainer.sample(settings.n_latent_samples, index=0)
    decoder = resources.decoders[spec.output_dim]
    live = np.flatnonzero(live)
    fds = _fd_sat4_batched(resources, decoder, {
        k: fakes[k][:settings.n_fid_samples] for k in live}) if with_fd else {}
    scores = _latent_scores(settings, real, fakes[live]) if len(live) else []
    for k, score in zip(live, scores):
        hist = histories[k]
        hist.fakes = fakes[k]
        hist.latent.append([epoch * steps, float(score)])
        if with_fd:
            hist.fd.append([epoch - 1, *fds[k][:2]])


def _judge(settings, hist, floor, final):
    """The run's status now (None while it should train on)."""
    from qlsgan_tf.metrics import stability

    scores = [v for _, v in hist.latent]
    status = stability.run_status(scores, [row[0] for row in hist.losses], k=status_k(settings),
                                  floor=float(floor))
    if status.status != "improving":
        return status
    if final:
        return stability.RunStatus("not_converged", status.reasons, math.nan)
    return None


def _record(settings, resources, spec, run, hist, floor, meta):
    """The ``RunResult`` of a finished run."""
    from qlsgan_tf.metrics import distances

    status = hist.status
    fds = [fd for _, fd, _ in hist.fd]
    tail = np.asarray(fds[-settings.k_last:], float)
    finite_tail = tail.size and np.all(np.isfinite(tail))
    latent_fd = math.inf
    if hist.fakes is not None and np.all(np.isfinite(hist.fakes)):
        latent_fd = float(distances.frechet_distance_from_activations(
            resources.latents[spec.output_dim], hist.fakes))
    return RunResult(
        generator=run.generator, kind=spec.kind, n_qubits=spec.n_qubits,
        n_layers=spec.n_layers, latent_dim=spec.output_dim,
        generator_capacity=spec.capacity, critic_budget=run.critic_budget,
        critic_params=meta["critic_params"], critic_units=tuple(meta["critic_units"]),
        seed=run.seed, learning_rate=run.learning_rate,
        status=status.status, status_reasons=tuple(status.reasons),
        score=float(status.score) if status.status == "converged" else None,
        latent_method=latent_method(settings),
        latent_score_history=tuple(tuple(row) for row in hist.latent),
        latent_floor=float(floor), fd_history=tuple(tuple(row) for row in hist.fd),
        fd_score=float(np.mean(tail)) if finite_tail else None,
        final_fd=float(fds[-1]) if fds else math.inf,
        fd_std_last_k=float(np.std(tail)) if finite_tail else math.inf,
        final_kid=float(hist.fd[-1][2]) if hist.fd else math.inf,
        latent_fd=latent_fd,
        c_loss_history=tuple(row[0] for row in hist.losses),
        g_loss_history=tuple(row[1] for row in hist.losses),
        epochs_run=len(hist.losses), time_s=meta["time_s"],
        pack_size=meta["pack_size"], tuner_id=meta.get("tuner_id"))


def _log_epoch(writer, hist, epoch):
    if writer is None:
        return
    with writer.as_default():
        for name, value in zip(("c_loss", "g_loss", "gp", "w_dist"), hist.losses[-1]):
            tf.summary.scalar(f"train/{name}", value, step=epoch)
        tf.summary.scalar("eval/latent_score", hist.latent[-1][1], step=epoch)
        if hist.fd and hist.fd[-1][0] == epoch - 1:
            tf.summary.scalar("eval/fd_sat4", hist.fd[-1][1], step=epoch)
            tf.summary.scalar("eval/kid", hist.fd[-1][2], step=epoch)
    writer.flush()


def _save_samples(resources, spec, run, hist):
    """A few decoded generated patches (uint8), as the report shows them."""
    from qlsgan_tf.data import denormalize

    if hist.fakes is None or not np.all(np.isfinite(hist.fakes)):
        return
    images = np.asarray(resources.decoders[spec.output_dim](hist.fakes[:N_SAMPLE_IMAGES]))
    if np.all(np.isfinite(images)):
        atomic_write_npy(resources.samples_dir / f"{run.key}.npy",
                         denormalize(np.clip(images, -1.0, 1.0)))


def train_pack(settings, spec, runs, trainer, resources, on_finish, tuner_id=None):
    """Trains one pack to the end; calls ``on_finish(record)`` for each run as it finishes."""
    from qlsgan_tf.training.callbacks import log_hparams

    latents = resources.latents[spec.output_dim]
    steps = settings.steps_per_epoch or math.ceil(len(latents) / settings.batch_size)
    base, budget = settings.epochs, max(settings.max_epochs, settings.epochs)
    floor = latent_floor(settings, resources, spec.output_dim)
    histories = [_History() for _ in runs]
    writers = [None if resources.logs_dir is None else
               tf.summary.create_file_writer(str(resources.logs_dir / run.key)) for run in runs]
    start, epoch = time.perf_counter(), 0

    def finish(k, status):
        hist, run = histories[k], runs[k]
        hist.status, hist.finished = status, True
        units = critic_units(settings, spec.output_dim, run.critic_budget)
        from qlsgan_tf.models import capacity

        meta = {"critic_units": units, "tuner_id": tuner_id, "pack_size": len(runs),
                "critic_params": capacity.mlp_param_count(spec.output_dim, units, 1),
                "time_s": (time.perf_counter() - start) / len(runs)}
        record = _record(settings, resources, spec, run, hist, floor, meta)
        _save_samples(resources, spec, run, hist)
        if writers[k] is not None:
            log_hparams(resources.logs_dir / run.key,
                        {"generator": run.generator, "kind": spec.kind,
                         "generator_capacity": spec.capacity,
                         "critic_budget": run.critic_budget, "seed": run.seed,
                         "learning_rate": run.learning_rate},
                        {"latent_score": record.metric_score("latent"),
                         "final_fd_sat4": record.final_fd})
        on_finish(record)

    try:
        while trainer.active.any():
            # SIGINT/SIGTERM: stop between epochs; runs finished so far are recorded, the
            # pack's unfinished runs are not.
            interrupts.check_stop()
            live = trainer.active.copy()
            losses = np.asarray(trainer.train(latents, steps))
            epoch += 1
            means = losses.mean(axis=0)
            check = epoch >= base and (epoch - base) % settings.fid_every == 0
            with_fd = epoch % settings.fid_every == 0 or check
            for k in np.flatnonzero(live):
                histories[k].losses.append([float(v) for v in means[k]])
            _evaluate(settings, resources, spec, trainer, histories, live, epoch, steps, with_fd)
            failed = trainer.failed
            done = []
            for k in np.flatnonzero(live):
                _log_epoch(writers[k], histories[k], epoch)
                status = None
                if failed[k]:
                    from qlsgan_tf.metrics import stability

                    status = stability.RunStatus("failed", ("losses turned NaN/inf",), math.nan)
                elif check:
                    status = _judge(settings, histories[k], floor, final=epoch >= budget)
                if status is not None:
                    done.append(k)
                    finish(k, status)
            if done:
                trainer.freeze(done)
    finally:
        for writer in writers:
            if writer is not None:
                writer.close()
    return [h.status for h in histories]


def train_runs(settings, label, runs, resources, on_finish, tuner_id=None):
    """Trains the given runs of one generator label in packs (see the module docstring)."""
    spec = settings.generator_spec(label)
    for chunk, trainer in make_trainers(settings, spec, list(runs)):
        train_pack(settings, spec, chunk, trainer, resources, on_finish, tuner_id=tuner_id)


def time_pack(settings, label, runs, n_steps=10):
    """Measured cost of training ``runs`` of ``label`` as one pack: (seconds to build and
    trace it, seconds per generator step). Uniform latents stand in for the real ones."""
    spec = settings.generator_spec(label)
    latents = np.random.default_rng(0).uniform(
        -1, 1, (settings.batch_size * 4, spec.output_dim)).astype(np.float32)
    start = time.perf_counter()
    trainer = Pack(settings, spec, runs)
    trainer.train(latents, 1)
    first = time.perf_counter() - start
    start = time.perf_counter()
    trainer.train(latents, n_steps)
    return first, (time.perf_counter() - start) / n_steps
