"""SAT-4 data: readers for every distributed layout, a memory-mapped cache, ``tf.data`` batches.

Modules (one concern each): ``core`` (class order, ``Sat4Data``, errors, checks), ``mat``
(official ``.mat``, v5 and v7.3), ``kaggle_csv`` (Kaggle CSV), ``cache`` (convert once, open
with ``mmap_mode="r"``), ``sources`` (which layout a path holds), ``sat4`` (``load_sat4``,
``describe``, the bundled sample), ``pipeline`` (scaling, ``make_dataset``, dihedral
augmentation). No TensorFlow import here: ``make_dataset`` imports it when called.
"""
from qlsgan_tf.data.cache import read_manifest
from qlsgan_tf.data.convert import convert_to_cache
from qlsgan_tf.data.core import (
    BAND_NAMES,
    CLASS_NAMES,
    SPLITS,
    Sat4Data,
    Sat4FileNotFoundError,
    Sat4FormatError,
    as_images,
)
from qlsgan_tf.data.pipeline import (
    DIHEDRAL_TRANSFORMS,
    denormalize,
    dihedral_augment,
    dihedral_transform,
    make_dataset,
    normalize,
)
from qlsgan_tf.data.sat4 import describe, load_sat4, sample_path
from qlsgan_tf.data.sources import available_splits, layout_of

__all__ = [
    "BAND_NAMES", "CLASS_NAMES", "DIHEDRAL_TRANSFORMS", "SPLITS", "Sat4Data",
    "Sat4FileNotFoundError", "Sat4FormatError", "as_images", "available_splits",
    "convert_to_cache",
    "denormalize", "describe", "dihedral_augment", "dihedral_transform", "layout_of",
    "load_sat4", "make_dataset", "normalize", "read_manifest", "sample_path",
]
