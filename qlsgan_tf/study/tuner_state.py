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


def damaged_files(tuner_dir):
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


def repair_tuner_state(tuner_dir, log=print):
    """Sets a damaged tuner directory aside; returns where it went (None when sound).

    The directory is renamed to ``<tuner_dir>.damaged-<time>`` beside it (kept for a bug
    report, never read again), with one log line naming the first damaged file.
    """
    root = pathlib.Path(tuner_dir)
    bad = damaged_files(root)
    if not bad:
        return None
    aside = root.with_name(f"{root.name}.damaged-{time.strftime('%Y%m%d-%H%M%S')}-{os.getpid()}")
    os.replace(root, aside)
    more = f" and {len(bad) - 1} more" if len(bad) > 1 else ""
    log(f"tuner state damaged ({bad[0]} is empty or corrupt{more}); moved {root} to "
        f"{aside.name} and rebuilding it from the finished runs in "
        f"{root.parent / 'runs'} (none is trained again)")
    return aside
