"""Repairing KerasTuner's state from the run store.

KerasTuner writes ``oracle.json``, ``tuner0.json`` and ``trial_*/trial.json`` in place; a
full disk or a kill at the wrong moment leaves one empty or half written, and every rerun then
fails with a bare ``JSONDecodeError``. The run store (``OUT/runs/*.json``, atomic) is the
study's truth, so a damaged tuner directory is set aside: the search starts its oracle again
and every finished run is read back from the store, not trained again.
"""
import json
import os
import pathlib
import time
from typing import Callable, Dict, Iterable, List, Optional

from qlsgan_tf.fsutil import StrPath

Log = Callable[[str], object]


def damaged_files(tuner_dir: StrPath) -> List[pathlib.Path]:
    """The JSON files under ``tuner_dir`` that are empty or do not parse, sorted."""
    root = pathlib.Path(tuner_dir)
    if not root.is_dir():
        return []
    bad = []
    for path in sorted(root.rglob("*.json")):
        try:
            text = path.read_text(encoding="utf-8")
            if not text.strip():
                raise ValueError("empty")
            json.loads(text)
        except (ValueError, UnicodeDecodeError, OSError):
            bad.append(path)
    return bad


def _aside(root: pathlib.Path, why: str) -> pathlib.Path:
    aside = root.with_name(f"{root.name}.{why}-{time.strftime('%Y%m%d-%H%M%S')}-{os.getpid()}")
    os.replace(root, aside)
    return aside


def completed_generators(tuner_dir: StrPath) -> Dict[pathlib.Path, str]:
    """{trial file: generator label} of the trials KerasTuner counts as completed."""
    done = {}
    for path in sorted(pathlib.Path(tuner_dir).rglob("trial.json")):
        try:
            trial = json.loads(path.read_text(encoding="utf-8"))
            label = trial["hyperparameters"]["values"]["generator"]
        except (ValueError, KeyError, TypeError, OSError):
            continue
        if trial.get("status") == "COMPLETED":
            done[path] = label
    return done


def reconcile_with_runs(tuner_dir: StrPath, unfinished: Iterable[str], log: Log = print
                        ) -> Optional[pathlib.Path]:
    """Sets the tuner state aside when it counts a trial as done whose runs the run store
    lacks (``unfinished``: the generator labels with a grid run missing, a record deleted
    after it was named damaged included); the search then trains those runs again. Returns
    where the state went (None when it agrees with the store)."""
    root = pathlib.Path(tuner_dir)
    if not root.is_dir():
        return None
    stale = {path: label for path, label in completed_generators(root).items()
             if label in set(unfinished)}
    if not stale:
        return None
    aside = _aside(root, "stale")
    labels = sorted(set(stale.values()))
    log(f"the tuner state counts {', '.join(labels)} as done but the run store lacks some of "
        f"their runs; moved {root} to {aside.name} and rebuilding it from the finished runs "
        "(only the missing runs are trained)")
    return aside


def repair_tuner_state(tuner_dir: StrPath, log: Log = print) -> Optional[pathlib.Path]:
    """Sets a damaged tuner directory aside; returns where it went (None when sound).

    The directory is renamed to ``<tuner_dir>.damaged-<time>`` beside it (kept for a bug
    report, never read again), with one log line naming the first damaged file.
    """
    root = pathlib.Path(tuner_dir)
    bad = damaged_files(root)
    if not bad:
        return None
    aside = _aside(root, "damaged")
    more = f" and {len(bad) - 1} more" if len(bad) > 1 else ""
    log(f"tuner state damaged ({bad[0]} is empty or corrupt{more}); moved {root} to "
        f"{aside.name} and rebuilding it from the finished runs in "
        f"{root.parent / 'runs'} (none is trained again)")
    return aside
