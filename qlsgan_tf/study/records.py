"""Checked reading of a study's records: a file that parses but is not what it should be.

``runs/*.json`` and ``prepared.json`` are written atomically by the study, but a user (or a
copy from elsewhere) can leave one that is valid JSON with the wrong shape. Each is checked
here so that the report fails with one line naming the file and the fix, not a ``KeyError``
deep in the analysis.
"""
import numbers
import pathlib

from qlsgan_tf.study import store as store_lib

_NUMBER = (numbers.Real,)
RUN_FIELDS = {
    "generator": (str,),
    "kind": (str,),
    "latent_dim": (int,),
    "generator_capacity": _NUMBER,
    "critic_capacity": _NUMBER,
    "seed": (int,),
    "stable": (bool,),
    "score": _NUMBER + (type(None),),  # null: the run did not converge
}
PREPARED_SECTIONS = ("data", "vaes", "feature_net", "floor", "baselines")


def check_run(record, path):
    """Raises ``ValueError`` naming ``path`` unless ``record`` is a finished-run record."""
    fix = "delete the file and rerun `qlsgan study` with the same settings to train that run again"
    if not isinstance(record, dict):
        raise ValueError(f"{path}: not a run record (a JSON {type(record).__name__}, expected "
                         f"an object); {fix}")
    for name, types in RUN_FIELDS.items():
        if name not in record:
            raise ValueError(f"{path}: not a finished-run record (no {name!r}); {fix}")
        value = record[name]
        if not isinstance(value, types) or (isinstance(value, bool) and bool not in types):
            raise ValueError(f"{path}: corrupt run record ({name!r} is {value!r}); {fix}")
    return record


def load_runs(store):
    """Every run record of a ``ResultStore``, sorted by key, each checked."""
    if not store.runs_dir.exists():
        return []
    return [check_run(store_lib.read_json(p), p) for p in sorted(store.runs_dir.glob("*.json"))]


def load_prepared(path):
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
