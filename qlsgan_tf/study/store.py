"""Atomic, resumable storage of a study's results.

Each finished training run (generator, critic budget, seed, learning rate) is one JSON file under
``OUT/runs/``, written to a temporary file and renamed into place, so a run is either wholly
recorded or absent: a study killed at any moment (SIGKILL included) loses at most the run in
progress, and a rerun skips every recorded run. ``OUT/study.json`` pins the configuration:
resuming with different result-changing settings is refused instead of mixing two studies.
Every file is JSON through ``qlsgan_tf.jsoncodec`` (non-finite floats as "inf", "-inf", "nan");
run files are ``tuning.results.RunResult`` records.
"""
import json
import os
import pathlib
from typing import TYPE_CHECKING, Any, List, Mapping, Optional, Set

from qlsgan_tf import jsoncodec
from qlsgan_tf.fsutil import StrPath, atomic_write_file, is_partial, remove_dead_partials
from qlsgan_tf.tuning.keys import run_key
from qlsgan_tf.tuning.results import RecordError, RunResult

if TYPE_CHECKING:  # presets imports this module's readers lazily
    from qlsgan_tf.study.presets import StudyConfig



def atomic_write_text(path: StrPath, text: str) -> pathlib.Path:
    """Writes ``text`` to ``path`` atomically (temp file in the same directory, fsync, rename)."""

    def write(tmp: str) -> None:
        with open(tmp, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())

    return atomic_write_file(path, write)


def atomic_write_json(path: StrPath, data: Any) -> pathlib.Path:
    """JSON (``jsoncodec``: non-finite floats as "inf", "-inf", "nan"), then renamed in."""
    return atomic_write_text(path, jsoncodec.dumps(data, indent=2, sort_keys=True) + "\n")


def read_json(path: StrPath) -> Any:
    """Reads JSON written by ``atomic_write_json`` (restores "inf"/"nan" floats)."""
    path = pathlib.Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise FileNotFoundError(f"{path}: no such file") from None
    try:
        return jsoncodec.loads(text)
    except json.JSONDecodeError as err:
        raise ValueError(f"{path}: corrupt JSON ({err}); restore or delete the file, then "
                         "rerun") from None


def read_run(path: StrPath) -> RunResult:
    """The ``RunResult`` in a run file; ``ValueError`` naming the file and the fix when it is
    not a finished-run record."""
    try:
        return RunResult.from_dict(read_json(path))
    except RecordError as err:
        raise ValueError(f"{path}: {err}; delete the file and rerun `qlsgan study` with the "
                         "same settings to train that run again") from None


class ResultStore:
    """The results of one study directory."""

    key = staticmethod(run_key)

    def __init__(self, out_dir: StrPath):
        self.root = pathlib.Path(out_dir)
        self.runs_dir = self.root / "runs"

    # ------------------------------------------------------------------ config
    @property
    def config_path(self) -> pathlib.Path:
        return self.root / "study.json"

    def pin_config(self, config: "StudyConfig", identity: Optional[Mapping[str, Any]] = None
                   ) -> bool:
        """Records the config (and the study's ``identity``, ``study.identity``), or checks
        they equal the recorded ones: a difference is refused in one line naming each
        differing item. An item an older ``study.json`` lacks is adopted, not refused."""
        from qlsgan_tf.study import identity as identity_lib

        current = dict(identity or {}, settings=config.fingerprint())
        if self.config_path.exists():
            recorded = read_json(self.config_path)
            pinned = dict(recorded.get("identity") or {},
                          settings=recorded.get("fingerprint"))
            differing = identity_lib.differences(pinned, current)
            if differing:
                preset = recorded.get("config", {}).get("preset")
                names = [identity_lib.DESCRIPTIONS[item]
                         + (f" (recorded preset {preset!r})" if item == "settings" else "")
                         for item in differing]
                raise ValueError(
                    f"{self.root} holds a study with other settings or inputs: "
                    f"{', '.join(names)} differ; use a new --out directory or the same "
                    "settings and inputs to resume it")
            adopted = {k: v for k, v in current.items() if k not in pinned and k != "settings"}
            if adopted:  # a study.json written before these items were recorded
                recorded["identity"] = dict(recorded.get("identity") or {}, **adopted)
                atomic_write_json(self.config_path, recorded)
            return False
        atomic_write_json(self.config_path, {
            "fingerprint": config.fingerprint(), "config": config.to_dict(),
            "identity": {k: v for k, v in current.items() if k != "settings"}})
        return True

    def load_config(self) -> "StudyConfig":
        """The ``StudyConfig`` recorded in this directory."""
        from qlsgan_tf.study.presets import StudyConfig

        if not self.config_path.exists():
            raise FileNotFoundError(f"{self.root}: not a study directory (no study.json)")
        return StudyConfig.from_dict(read_json(self.config_path)["config"])

    # ------------------------------------------------------------------ runs
    def path(self, generator: str, critic_budget: int, seed: int,
             learning_rate: Optional[float] = None) -> pathlib.Path:
        return self.runs_dir / f"{run_key(generator, critic_budget, seed, learning_rate)}.json"

    def get(self, generator: str, critic_budget: int, seed: int,
            learning_rate: Optional[float] = None) -> Optional[RunResult]:
        """The recorded ``RunResult`` of a run, or None when it has not finished."""
        path = self.path(generator, critic_budget, seed, learning_rate)
        if not path.exists():
            return None
        return read_run(path)

    def put(self, result: RunResult) -> pathlib.Path:
        """Records a finished run (a ``RunResult``), atomically, under its key."""
        if not isinstance(result, RunResult):
            raise TypeError(f"result must be a RunResult, got {type(result).__name__}")
        return atomic_write_json(self.runs_dir / f"{result.key}.json", result.to_dict())

    def keys(self) -> Set[str]:
        """Keys of the recorded runs, from the file names alone (nothing is parsed)."""
        if not self.runs_dir.exists():
            return set()
        return {p.stem for p in self._run_files()}

    def all_runs(self) -> List[RunResult]:
        """Every recorded ``RunResult``, sorted by key; a file that is not one is reported
        (``ValueError`` naming it), not skipped."""
        if not self.runs_dir.exists():
            return []
        return [read_run(p) for p in self._run_files()]

    def _run_files(self) -> List[pathlib.Path]:
        return sorted(p for p in self.runs_dir.glob("*.json") if not is_partial(p))

    def remove_dead_partials(self) -> List[pathlib.Path]:
        """Removes the half-written files that killed processes of this host left (a run file
        renamed into place is never touched); returns them."""
        return remove_dead_partials(self.runs_dir) + remove_dead_partials(self.root)
