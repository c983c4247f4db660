"""``qlsgan convert-data SRC OUT``: write a memory-mappable SAT-4 cache.

SRC is a ``.mat`` file (v5 or v7.3), a Kaggle ``X_{split}_sat4.csv``, or a directory holding
either; every split found is converted. ``load_sat4(OUT)`` then opens it instantly with
``mmap_mode="r"``. The cache is written under a temporary name and renamed when complete.
"""
from typing import Sequence

from absl import flags

from qlsgan_tf.cli.common import UsageError, clear_errors

FLAGS = flags.FLAGS
flags.DEFINE_boolean("overwrite", False, "Replace an existing cache at OUT.")
flags.DEFINE_integer("chunk_size", 8192, "Images per chunk read and written.", lower_bound=1)
flags.DEFINE_boolean("verify", True, "Re-open the written cache and check its sha256 checksums.")


def main(argv: Sequence[str]) -> None:
    """Runs `qlsgan convert-data` (absl parses the flags; ``argv[1:]``: positional arguments)."""
    with clear_errors("convert-data"):
        if len(argv) != 3:
            raise UsageError("expected SRC and OUT; usage: qlsgan convert-data SRC OUT "
                             "[--overwrite]")
        import time

        from qlsgan_tf.data import convert_to_cache, load_sat4

        src, out = argv[1], argv[2]
        start = time.perf_counter()
        manifest = convert_to_cache(src, out, chunk_size=FLAGS.chunk_size,
                                    overwrite=FLAGS.overwrite, progress=None)
        seconds = time.perf_counter() - start
        if FLAGS.verify:
            for split in manifest["splits"]:
                load_sat4(out, split, verify=True)
        counts = ", ".join(f"{split} {entry['count']}"
                           for split, entry in manifest["splits"].items())
        print(f"wrote SAT-4 cache {out} ({counts} images, from {manifest['source_layout']}) in "
              f"{seconds:.1f} s" + ("; checksums verified" if FLAGS.verify else ""))
