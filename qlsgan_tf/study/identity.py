"""A study's identity: everything that changes its results, checked before anything is written.

The settings (``StudyConfig.fingerprint``), the data's content, and the weights of a VAE or a
feature network given by path. Each item is a short digest, cheap to compute: a cache by its
manifest (which holds the sha256 of every array), a ``.mat`` or CSV file by its bytes (a file
over ``FULL_HASH_BYTES`` by its size, head and tail), a model by its weights file. A VAE or a
feature network the study trains itself (``nominal``, ``tuned``, ``train``) follows from the
settings and the data, so it adds nothing. ``study_identity`` also validates each path: a
typo fails here, in one line, before ``study.json`` exists.

TensorFlow-free.
"""
import hashlib
import os
import pathlib
from typing import TYPE_CHECKING, Any, Dict, List, Mapping, Optional

from qlsgan_tf.fsutil import StrPath

if TYPE_CHECKING:
    from qlsgan_tf.study.presets import StudyConfig


FULL_HASH_BYTES = 256 * 2**20
EDGE_BYTES = 16 * 2**20
VAE_FILE = "vae.keras"  # training.vae_fit.MODEL_FILE (that module imports TensorFlow)
ITEMS = ("settings", "data", "vae", "feature_net")
DESCRIPTIONS = {"settings": "the settings", "data": "the data (--data)",
                "vae": "the VAE's weights (--vae)",
                "feature_net": "the feature network's weights (--feature_net)"}


def _update(digest: Any, path: StrPath, start: int = 0, size: Optional[int] = None) -> None:
    with open(path, "rb") as handle:
        handle.seek(start)
        left = size
        while left is None or left > 0:
            block = handle.read(2**20 if left is None else min(2**20, left))
            if not block:
                break
            digest.update(block)
            if left is not None:
                left -= len(block)


def file_digest(path: StrPath) -> str:
    """``sha256:<hex>`` of a file; a file over ``FULL_HASH_BYTES`` by its size, its first and
    its last ``EDGE_BYTES`` (cheap on a multi-GB ``.mat``)."""
    path = pathlib.Path(path)
    size = path.stat().st_size
    digest = hashlib.sha256()
    if size <= FULL_HASH_BYTES:
        _update(digest, path)
    else:
        digest.update(f"size {size}".encode())
        _update(digest, path, 0, EDGE_BYTES)
        _update(digest, path, size - EDGE_BYTES, EDGE_BYTES)
    return f"sha256:{digest.hexdigest()[:32]}"


def data_digest(data_path: StrPath) -> str:
    """The digest of the SAT-4 data at ``data_path`` (any layout ``data.load_sat4`` reads);
    ``Sat4FormatError``/``FileNotFoundError`` naming the path when there is none."""
    import glob

    from qlsgan_tf.data import cache, sources

    kind, resolved = sources._resolve(data_path)
    if kind == "cache":
        return file_digest(os.path.join(resolved, cache.MANIFEST))
    if kind == "csv-dir":
        digest = hashlib.sha256()
        for name in sorted(glob.glob(os.path.join(glob.escape(resolved), "[XxYy]_*_sat4.csv"))):
            digest.update(f"{os.path.basename(name)} {file_digest(name)}\n".encode())
        return f"sha256:{digest.hexdigest()[:32]}"
    if kind == "csv":  # the labels file beside it belongs to the data too
        digest = hashlib.sha256(file_digest(resolved).encode())
        name = os.path.basename(resolved)
        labels = os.path.join(os.path.dirname(resolved), "y" + name[1:])
        if os.path.isfile(labels):
            digest.update(file_digest(labels).encode())
        return f"sha256:{digest.hexdigest()[:32]}"
    return file_digest(resolved)


def vae_digest(vae: StrPath) -> Optional[str]:
    """None for a VAE the study trains; the digest of a given VAE's ``vae.keras``."""
    if vae in ("nominal", "tuned"):
        return None
    path = pathlib.Path(vae)
    model = path / VAE_FILE if path.is_dir() else path
    if not model.is_file():
        raise FileNotFoundError(f"--vae {vae}: no trained VAE at {model} (give nominal, tuned "
                                "or the directory written by `qlsgan train-vae`)")
    return file_digest(model)


def feature_net_digest(feature_net: StrPath) -> Optional[str]:
    """None for a feature network the study trains; else the digest of its weights and
    manifest (the bundled one included, so that another release is noticed)."""
    if feature_net == "train":
        return None
    bundled = pathlib.Path(__file__).resolve().parents[1] / "metrics" / "weights"
    directory = pathlib.Path(bundled if feature_net == "bundled" else feature_net)
    if directory.is_file() and directory.name == "manifest.json":
        directory = directory.parent
    files = [directory / "manifest.json", directory / "feature_net.weights.h5"]
    missing = [str(f) for f in files if not f.is_file()]
    if missing:
        raise FileNotFoundError(f"--feature_net {feature_net}: not a feature network "
                                f"directory ({missing[0]} not found; write one with `qlsgan "
                                "train-feature-net`)")
    digest = hashlib.sha256()
    for path in files:
        digest.update(file_digest(path).encode())
    return f"sha256:{digest.hexdigest()[:32]}"


def study_identity(config: "StudyConfig", data_path: StrPath) -> Dict[str, Any]:
    """``{"settings", "data", "vae", "feature_net"}``: the digests a resumed study must match.

    Validates every input on the way (nothing is written)."""
    return {"settings": config.fingerprint(), "data": data_digest(data_path),
            "vae": vae_digest(config.vae), "feature_net": feature_net_digest(config.feature_net)}


def differences(recorded: Mapping[str, Any], current: Mapping[str, Any]) -> List[str]:
    """The items of ``current`` that ``recorded`` holds with another value (an item absent
    from ``recorded``, a study written before it was recorded, is not a difference)."""
    return [item for item in ITEMS
            if item in recorded and item in current and recorded[item] != current[item]]
