"""Lanes: packs trained at the same time, one thread each — the study's one room of concurrency.

A compiled pack step runs on one core, so the study deals its packs into lanes and trains the
lanes at the same time. Everything concurrent lives here, behind a small interface:

- how many lanes (:func:`lane_count`) and which packs each trains (:func:`deal`);
- the threads (:func:`run`): each lane's packs in order, the first error stops the others;
- the finish lock (:func:`serialized`): what the lanes hand back is handled one at a time;
- what each lane owns (:class:`Lane`): its compiled packs, cached per shape, so that packs
  trained at the same time never share variables and a lane reuses its compiled steps for
  every generator of a family.

Nothing else in the package takes a lock or a lane index. The caches the lanes share are
either immutable once built (``_LANES``, the table of lanes) or filled idempotently (each key
of the metric graph caches maps to one equivalent function, whichever thread stores it).
"""
import collections
import os
import threading
from typing import TYPE_CHECKING, Any, Callable, Dict, List, Mapping, Sequence, Tuple, TypeVar

from qlsgan_tf.validation import check_int

if TYPE_CHECKING:
    from qlsgan_tf.training.packed import PackedLatentGAN
    from qlsgan_tf.tuning.settings import TrainingSettings

T = TypeVar("T")

MAX_AUTO_LANES = 2
"""Most lanes chosen automatically (one per usable core up to this; ``--lanes`` sets more):
measured only on 2 cores (``benchmarks/README.md``)."""
MAX_LANES = 64
MAX_CACHED_PACKS = 32
"""Compiled packs a lane keeps (the most recently used; a long study meets hundreds of
shapes)."""


class Lane:
    """One lane: its index and the compiled packs it owns (used only by its own thread)."""

    def __init__(self, index: int) -> None:
        self.index = int(index)
        self._packs: collections.OrderedDict[str, PackedLatentGAN] = collections.OrderedDict()

    def pack(self, generator: Mapping[str, Any], critic_units: Sequence[Sequence[int]],
             latent_dim: int, **kwargs: Any) -> "PackedLatentGAN":
        """This lane's ``training.PackedLatentGAN`` of this shape (made on first use), not
        yet reset: packs that compile alike (``training.packed.shape_key``: the same settings,
        run count and padded critic widths) reuse one instance and its traced functions, its
        critics set to ``critic_units``; call ``reset`` (or ``take_runs``) on it. Arguments
        as ``PackedLatentGAN``'s."""
        from qlsgan_tf.training.packed import PackedLatentGAN

        config, key = self._key(generator, critic_units, latent_dim, kwargs)
        if key not in self._packs:
            self._packs[key] = PackedLatentGAN(**config)
            while len(self._packs) > MAX_CACHED_PACKS:
                self._packs.popitem(last=False)
        self._packs.move_to_end(key)
        pack = self._packs[key]
        pack.set_critics(config["critic_units"])
        return pack

    def holds(self, generator: Mapping[str, Any], critic_units: Sequence[Sequence[int]],
              latent_dim: int, **kwargs: Any) -> bool:
        """Whether this lane has the pack :meth:`pack` would give compiled already."""
        return self._key(generator, critic_units, latent_dim, kwargs)[1] in self._packs

    @staticmethod
    def _key(generator: Mapping[str, Any], critic_units: Sequence[Sequence[int]], latent_dim: int,
             kwargs: Mapping[str, Any]) -> Tuple[Dict[str, Any], str]:
        from qlsgan_tf.training import packed

        config = {"generator": packed.ingest_generator(generator),
                  "critic_units": [list(int(u) for u in units) for units in critic_units],
                  "latent_dim": int(latent_dim), **kwargs}
        return config, packed.shape_key(config)

    def clear(self) -> None:
        """Forgets the lane's compiled packs (a cold start, as in a new process)."""
        self._packs.clear()


_LANES = tuple(Lane(i) for i in range(MAX_LANES))


def lane(index: int) -> Lane:
    """Lane ``index`` (0 <= index < ``MAX_LANES``); the same object for the whole process,
    so its compiled packs serve every generator the study trains."""
    return _LANES[check_int("lane", index, 0, MAX_LANES - 1)]


def clear() -> None:
    """Forgets every lane's compiled packs. Call only while no lane trains."""
    for each in _LANES:
        each.clear()


def lane_count(settings: "TrainingSettings") -> int:
    """Threads that train packs at the same time: ``settings.lanes``, or (0) one per usable
    CPU core up to ``MAX_AUTO_LANES``; 1 for ``pack == 1`` (one run at a time, kept for
    comparison). A compiled pack step runs on one core, so a second lane uses the second core
    (and overlaps one pack's evaluation with another's training)."""
    if settings.pack == 1:
        return 1
    if settings.lanes:
        return int(settings.lanes)
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        cores = os.cpu_count() or 1
    return max(1, min(MAX_AUTO_LANES, cores))


def deal(packs: Sequence[T], costs: Sequence[float], lanes: int) -> List[List[T]]:
    """Packs into ``lanes`` lanes: each pack, largest cost first, to the least-loaded lane; a
    lane trains its packs in the given order. Returns one list of packs per non-empty lane."""
    lanes = check_int("lanes", lanes, 1)
    plan: List[List[int]] = [[] for _ in range(lanes)]
    load: List[float] = [0] * lanes
    for i in sorted(range(len(packs)), key=lambda i: -costs[i]):
        where = load.index(min(load))
        plan[where].append(i)
        load[where] += costs[i]
    return [[packs[i] for i in sorted(each)] for each in plan if each]


class LaneStoppedError(Exception):
    """Another lane failed or was interrupted: this lane stops between epochs."""


def serialized(fn: Callable[..., T]) -> Callable[..., T]:
    """``fn`` behind the finish lock: calls from several lanes run one at a time."""
    lock = threading.Lock()

    def call(*args: Any, **kwargs: Any) -> T:
        with lock:
            return fn(*args, **kwargs)

    return call


def run(plan: Sequence[Sequence[T]],
        work: Callable[[Lane, T, Callable[[], bool]], Any]) -> None:
    """Calls ``work(lane, pack, should_stop)`` for every pack of ``plan`` (:func:`deal`),
    ``lane`` the :class:`Lane` of the pack's list: each lane's packs in order in a thread of
    its own (one lane: in this thread), the lanes at the same time. The first error of any
    lane (``StudyInterrupted`` included) makes the others stop at their next
    ``should_stop()`` check and is raised once every lane has ended; what the lanes finished
    is kept."""
    plan = [each for each in plan if each]
    if len(plan) > MAX_LANES:
        raise ValueError(f"plan has {len(plan)} lanes, at most {MAX_LANES} are allowed.")
    if len(plan) <= 1:
        for pack in (plan[0] if plan else []):
            work(_LANES[0], pack, lambda: False)
        return
    abort = threading.Event()
    errors: List[BaseException] = []

    def lane_main(index: int, lane_packs: Sequence[T]) -> None:
        try:
            for pack in lane_packs:
                if abort.is_set():
                    return
                work(_LANES[index], pack, abort.is_set)
        except LaneStoppedError:
            pass
        except BaseException as exc:  # StudyInterrupted too: handed to the caller's thread
            errors.append(exc)
            abort.set()

    threads = [threading.Thread(target=lane_main, args=(i, each), name=f"qlsgan-lane-{i}",
                                daemon=True) for i, each in enumerate(plan)]
    for thread in threads:
        thread.start()
    try:
        for thread in threads:
            thread.join()
    except BaseException:  # a second Ctrl-C while waiting: the lanes stop too
        abort.set()
        raise
    if errors:
        raise errors[0]
