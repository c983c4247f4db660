"""The record of one finished training run of the capacity study (TensorFlow-free).

``RunResult`` is what the trainer (``tuning.packs``) hands to the run store, and what the
store, the analysis, the report and the plots read back. Its JSON form is
:meth:`RunResult.to_dict` through :mod:`qlsgan_tf.jsoncodec` (non-finite floats as
``"inf"``/``"-inf"``/``"nan"``); :meth:`RunResult.from_dict` also reads the records of
earlier versions of the study:

- ``critic_capacity`` (the requested critic budget) is read as ``critic_budget``;
- a record without ``status`` (before convergence was judged) gets ``"converged"`` when it
  was ``stable``, ``"failed"`` when it ``failed``, else ``"unstable"``; its ``score`` was the
  FD-SAT4 score, so it is also its ``fd_score``;
- ``null`` in a measured float (``final_fd``, ...) reads as NaN.

Names: ``critic_budget`` is the parameter count the run asked for (a point of the study's
critic grid), ``critic_params`` the count the critic of widths ``critic_units`` has.

``RunHistory`` is what a run records while it trains (typed rows: ``EpochLosses``,
``LatentPoint``, ``FDPoint``); ``RunHistory.result_fields()`` gives the histories of its
``RunResult`` in their JSON row form.
"""
import dataclasses
import math
import numbers
from typing import TYPE_CHECKING, Any, Dict, Iterable, List, NamedTuple, Optional, Tuple, Union

import numpy as np

from qlsgan_tf.constants import METRICS, SCORE_METRICS
from qlsgan_tf.convergence import STATUSES, UNSTABLE_STATUSES, is_converged
from qlsgan_tf.tuning.keys import run_key

if TYPE_CHECKING:  # the metrics package imports TensorFlow
    from qlsgan_tf.metrics.stability import RunStatus

__all__ = ["STATUSES", "SCORE_METRICS", "UNSTABLE_STATUSES", "RecordError", "RunResult"]


class RecordError(ValueError):
    """A JSON object that is not a finished-run record (the message names the field)."""


def _nan_if_none(value: Any) -> float:
    return math.nan if value is None else float(value)


def _optional_float(value: Any) -> Optional[float]:
    return None if value is None else float(value)


def _rows(value: Optional[Iterable[Any]]) -> Tuple[Union[float, Tuple[float, ...]], ...]:
    """History rows as tuples of floats (a row may be a bare number); null reads as NaN."""
    return tuple(tuple(_nan_if_none(v) for v in row) if isinstance(row, (list, tuple))
                 else _nan_if_none(row) for row in value or ())


_MEASURED = ("latent_floor", "final_fd", "fd_std_last_k", "final_kid", "latent_fd", "time_s")
_OPTIONAL = ("score", "fd_score", "learning_rate")
_HISTORIES = ("latent_score_history", "fd_history", "c_loss_history", "g_loss_history")
_COUNTS = ("latent_dim", "generator_capacity", "critic_budget", "seed", "search_round")


class EpochLosses(NamedTuple):
    """A run's training losses, averaged over one epoch's generator steps."""

    c_loss: float
    g_loss: float
    gp: float
    w_dist: float


class LatentPoint(NamedTuple):
    """A latent-score evaluation: after generator step ``step``."""

    step: int
    score: float


class FDPoint(NamedTuple):
    """An FD-SAT4 evaluation: at the end of epoch ``epoch`` (counted from 0), with KID."""

    epoch: int
    fd: float
    kid: float


@dataclasses.dataclass
class RunHistory:
    """What one run has recorded so far while it trains: its epochs' losses, its latent
    scores and FD-SAT4 evaluations, its latest generated latents (``fakes``, ``[n, D]``) and,
    once finished, its ``metrics.stability.RunStatus``."""

    losses: List[EpochLosses] = dataclasses.field(default_factory=list)
    latent: List[LatentPoint] = dataclasses.field(default_factory=list)
    fd: List[FDPoint] = dataclasses.field(default_factory=list)
    fakes: Optional[np.ndarray] = None
    status: Optional["RunStatus"] = None
    fd_pending: List[Tuple[int, np.ndarray]] = dataclasses.field(default_factory=list)
    """Generated latents kept for FD-SAT4 evaluations not computed yet: (epoch from 0,
    latents ``[n_fid_samples, D]``); only the last ``k_last`` are ever scored."""

    @property
    def latent_scores(self) -> List[float]:
        """The latent scores, oldest first."""
        return [point.score for point in self.latent]

    @property
    def critic_losses(self) -> List[float]:
        """The epochs' mean critic losses, oldest first."""
        return [row.c_loss for row in self.losses]

    def result_fields(self) -> Dict[str, Any]:
        """The histories of the run's ``RunResult``, rows as tuples (their JSON form)."""
        return {"latent_score_history": tuple(tuple(p) for p in self.latent),
                "fd_history": tuple(tuple(p) for p in self.fd),
                "c_loss_history": tuple(row.c_loss for row in self.losses),
                "g_loss_history": tuple(row.g_loss for row in self.losses),
                "epochs_run": len(self.losses)}


@dataclasses.dataclass(frozen=True)
class RunResult:
    """One finished run: what it was, how it ended, what it scored, what it cost.

    ``score`` is the latent score of a converged run (None otherwise), ``fd_score`` the mean
    FD-SAT4 of its last ``k_last`` evaluations (None when not all finite); histories are
    ``(generator step, latent score)`` and ``(epoch, FD-SAT4, KID)`` rows; ``search_round``
    is 0 for a run of the critic grid, ``r`` for one of the adaptive critic search's round
    ``r`` (``study.search``). ``time_s`` is its pack's wall time until it finished divided by
    the ``pack_size`` runs of the pack (packs trained at the same time ran on the other cores).
    """

    generator: str
    kind: str
    latent_dim: int
    generator_capacity: int
    critic_budget: int
    seed: int
    status: str
    score: Optional[float] = None
    learning_rate: Optional[float] = None
    n_qubits: Optional[int] = None
    n_layers: Optional[int] = None
    critic_params: Optional[int] = None
    critic_units: Tuple[int, ...] = ()
    status_reasons: Tuple[str, ...] = ()
    latent_method: Optional[str] = None
    latent_floor: float = math.nan
    latent_score_history: Tuple[Tuple[float, ...], ...] = ()
    fd_history: Tuple[Tuple[float, ...], ...] = ()
    fd_score: Optional[float] = None
    final_fd: float = math.nan
    fd_std_last_k: float = math.nan
    final_kid: float = math.nan
    latent_fd: float = math.nan
    c_loss_history: Tuple[float, ...] = ()
    g_loss_history: Tuple[float, ...] = ()
    epochs_run: int = 0
    time_s: float = 0.0
    pack_size: Optional[int] = None
    tuner_id: Optional[str] = None
    search_round: int = 0

    def __post_init__(self) -> None:
        """Normalises the types (JSON gives lists and ints where the record keeps tuples and
        floats), so a record equals itself read back."""
        def put(name: str, value: Any) -> None:
            object.__setattr__(self, name, value)

        for name in _COUNTS:
            put(name, int(getattr(self, name)))
        for name in _MEASURED:
            put(name, _nan_if_none(getattr(self, name)))
        for name in _OPTIONAL:
            put(name, _optional_float(getattr(self, name)))
        for name in _HISTORIES:
            put(name, _rows(getattr(self, name)))
        put("critic_units", tuple(int(u) for u in self.critic_units or ()))
        put("status_reasons", tuple(str(r) for r in self.status_reasons or ()))
        put("status", str(self.status))

    # ------------------------------------------------------------------ derived
    @property
    def key(self) -> str:
        """The run's store key (``tuning.keys.run_key``)."""
        return run_key(self.generator, self.critic_budget, self.seed, self.learning_rate)

    @property
    def stable(self) -> bool:
        """Neither failed, unstable nor diverging."""
        return self.status not in UNSTABLE_STATUSES

    @property
    def failed(self) -> bool:
        return self.status == "failed"

    @property
    def failure_reason(self) -> str:
        return "; ".join(self.status_reasons) if self.failed else ""

    @property
    def time_per_epoch_s(self) -> float:
        return self.time_s / max(1, self.epochs_run)

    def metric_score(self, metric: str = "latent") -> float:
        """The score the run contributes to the analysis by a metric of ``constants.METRICS``:
        its latent score (``"latent"``) or FD-SAT4 score (``"fd"``), the record field the
        metric names; NaN unless it converged with a finite score."""
        if metric not in SCORE_METRICS:
            raise ValueError(f"metric must be one of {', '.join(SCORE_METRICS)}; got {metric!r}")
        if not is_converged(self.status):
            return math.nan
        value = getattr(self, METRICS[metric].field)
        return float(value) if value is not None and math.isfinite(value) else math.nan

    # ------------------------------------------------------------------ JSON form
    def to_dict(self) -> Dict[str, Any]:
        """The record as a dict of JSON types (non-finite floats still floats: encode with
        ``jsoncodec``), with the derived ``stable``, ``failed``, ``failure_reason`` and
        ``time_per_epoch_s`` for readers of the files."""
        out: Dict[str, Any] = {}
        for field in dataclasses.fields(self):
            value = getattr(self, field.name)
            if isinstance(value, tuple):
                value = [list(v) if isinstance(v, tuple) else v for v in value]
            out[field.name] = value
        out.update(stable=self.stable, failed=self.failed, failure_reason=self.failure_reason,
                   time_per_epoch_s=self.time_per_epoch_s)
        return out

    @classmethod
    def from_dict(cls, record: Any) -> "RunResult":
        """A ``RunResult`` from its dict (today's or an earlier version's, module docstring);
        raises :class:`RecordError` naming a missing or mistyped field."""
        if not isinstance(record, dict):
            raise RecordError(f"not a run record (a JSON {type(record).__name__}, expected an "
                              "object)")
        data = dict(record)
        if "critic_budget" not in data and "critic_capacity" in data:
            data["critic_budget"] = data.pop("critic_capacity")
        for name, types in _REQUIRED.items():
            if name not in data:
                raise RecordError(f"not a finished-run record (no {name!r})")
            value = data[name]
            if not isinstance(value, types) or (isinstance(value, bool) and bool not in types):
                raise RecordError(f"corrupt run record ({name!r} is {value!r})")
        if not data.get("status"):
            if not isinstance(data.get("stable"), bool):
                raise RecordError("not a finished-run record (no 'status' and no 'stable')")
            data["status"] = ("failed" if data.get("failed") else
                              "converged" if data["stable"] else "unstable")
            data.setdefault("fd_score", data["score"])
        known = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in known})


_NUMBER = (numbers.Real,)
_REQUIRED: Dict[str, Tuple[type, ...]] = {
    "generator": (str,),
    "kind": (str,),
    "latent_dim": (int,),
    "generator_capacity": _NUMBER,
    "critic_budget": _NUMBER,
    "seed": (int,),
    "score": _NUMBER + (type(None),),  # null: the run did not converge
}
