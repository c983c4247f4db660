"""Atomic, resumable storage of a study's results.

Each finished training run (generator, critic capacity, seed, learning rate) is one JSON file under
``OUT/runs/``, written to a temporary file and renamed into place, so a run is either wholly
recorded or absent: a study killed at any moment (SIGKILL included) loses at most the run in
progress, and a rerun skips every recorded run. ``OUT/study.json`` pins the configuration:
resuming with different result-changing settings is refused instead of mixing two studies.
"""
import json
import math
import os
import pathlib

from qlsgan_tf.fsutil import atomic_write_file
from qlsgan_tf.tuning.keys import run_key


def atomic_write_text(path, text):
    """Writes ``text`` to ``path`` atomically (temp file in the same directory, fsync, rename)."""

    def write(tmp):
        with open(tmp, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())

    return atomic_write_file(path, write)


def atomic_write_json(path, data):
    """JSON with non-finite floats written as strings ("inf", "nan"), then renamed in."""
    return atomic_write_text(path, json.dumps(_finite(data), indent=2, sort_keys=True) + "\n")


def read_json(path):
    """Reads JSON written by ``atomic_write_json`` (restores "inf"/"nan" floats)."""
    path = pathlib.Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise FileNotFoundError(f"{path}: no such file") from None
    try:
        return _restore(json.loads(text))
    except json.JSONDecodeError as err:
        raise ValueError(f"{path}: corrupt JSON ({err}); restore or delete the file, then "
                         "rerun") from None


def _finite(obj):
    if isinstance(obj, float) and not math.isfinite(obj):
        return "nan" if math.isnan(obj) else ("inf" if obj > 0 else "-inf")
    if isinstance(obj, dict):
        return {k: _finite(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_finite(v) for v in obj]
    if hasattr(obj, "item") and callable(obj.item):  # numpy scalars
        return _finite(obj.item())
    return obj


_SPECIAL = {"inf": math.inf, "-inf": -math.inf, "nan": math.nan}


def _restore(obj):
    if isinstance(obj, str) and obj in _SPECIAL:
        return _SPECIAL[obj]
    if isinstance(obj, dict):
        return {k: _restore(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_restore(v) for v in obj]
    return obj


class ResultStore:
    """The results of one study directory."""

    key = staticmethod(run_key)

    def __init__(self, out_dir):
        self.root = pathlib.Path(out_dir)
        self.runs_dir = self.root / "runs"

    # ------------------------------------------------------------------ config
    @property
    def config_path(self):
        return self.root / "study.json"

    def pin_config(self, config):
        """Records the config, or checks it equals the recorded one (same fingerprint)."""
        if self.config_path.exists():
            recorded = read_json(self.config_path)
            if recorded.get("fingerprint") != config.fingerprint():
                raise ValueError(
                    f"{self.root} holds a study with other settings (preset "
                    f"{recorded.get('config', {}).get('preset')!r}); use a new --out directory "
                    "or the same settings to resume it"
                )
            return False
        atomic_write_json(
            self.config_path, {"fingerprint": config.fingerprint(), "config": config.to_dict()}
        )
        return True

    def load_config(self):
        """The ``StudyConfig`` recorded in this directory."""
        from qlsgan_tf.study.presets import StudyConfig

        if not self.config_path.exists():
            raise FileNotFoundError(f"{self.root}: not a study directory (no study.json)")
        return StudyConfig.from_dict(read_json(self.config_path)["config"])

    # ------------------------------------------------------------------ runs
    def path(self, generator, critic_capacity, seed, learning_rate=None):
        return self.runs_dir / f"{run_key(generator, critic_capacity, seed, learning_rate)}.json"

    def get(self, generator, critic_capacity, seed, learning_rate=None):
        """The recorded result of a run, or None when it has not finished."""
        path = self.path(generator, critic_capacity, seed, learning_rate)
        if not path.exists():
            return None
        return read_json(path)

    def put(self, result):
        """Records a finished run (atomically)."""
        return atomic_write_json(
            self.path(result["generator"], result["critic_capacity"], result["seed"],
                      result.get("learning_rate")), result
        )

    def keys(self):
        """Keys of the recorded runs, from the file names alone (nothing is parsed)."""
        if not self.runs_dir.exists():
            return set()
        return {p.stem for p in self.runs_dir.glob("*.json")}

    def all_runs(self):
        """Every recorded run, sorted by key; unreadable files are reported, not skipped."""
        if not self.runs_dir.exists():
            return []
        return [read_json(p) for p in sorted(self.runs_dir.glob("*.json"))]
