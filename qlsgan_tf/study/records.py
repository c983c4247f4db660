"""Checked reading of a study's records: a file that parses but is not what it should be.

``runs/*.json`` and ``prepared.json`` are written atomically by the study, but a user (or a
copy from elsewhere) can leave one that is valid JSON with the wrong shape. Each is checked
(run files by ``tuning.results.RunResult.from_dict``, through the store) so that the report
fails with one line naming the file and the fix, not a ``KeyError`` deep in the analysis.
"""
import os
import pathlib
from typing import Any, Dict, List, Union

from qlsgan_tf.study import store as store_lib
from qlsgan_tf.tuning.results import RunResult

PREPARED_SECTIONS = ("data", "vaes", "feature_net", "floor", "baselines")


def load_runs(store: "store_lib.ResultStore") -> List[RunResult]:
    """Every run of a ``ResultStore`` as ``tuning.results.RunResult``, sorted by key; a file
    that is not a finished-run record raises ``ValueError`` naming it and the fix."""
    return store.all_runs()


def load_prepared(path: Union[str, os.PathLike]) -> Dict[str, Any]:
    """``prepared.json`` checked to be an object of objects ({} when absent)."""
    path = pathlib.Path(path)
    if not path.exists():
        return {}
    prepared = store_lib.read_json(path)
    fix = "delete it and rerun `qlsgan study` with the same settings to rebuild it"
    if not isinstance(prepared, dict):
        raise ValueError(f"{path}: corrupt (a JSON {type(prepared).__name__}, expected an "
                         f"object); {fix}")
    for name in PREPARED_SECTIONS:
        if name in prepared and not isinstance(prepared[name], dict):
            raise ValueError(f"{path}: corrupt ({name!r} is not an object); {fix}")
    return prepared
