"""``qlsgan data-info PATH``: counts per split and class, and per-band mean/std.

Statistics are computed in one streaming pass (chunk by chunk), so the full data set works in
any layout; a cache from ``qlsgan convert-data`` is the fastest to scan.
"""
import json
from typing import Any, Mapping, Sequence

from absl import flags

from qlsgan_tf.cli.common import UsageError, clear_errors

FLAGS = flags.FLAGS
flags.DEFINE_enum("split", None, ["train", "test"], "Only this split (default: every split).")
flags.DEFINE_boolean("json", False, "Print the summary as JSON instead of tables.")
flags.DEFINE_integer("chunk_size", 8192, "Images per chunk while scanning.", lower_bound=1)
flags.DEFINE_boolean("verify", None, "For a cache: check its sha256 checksums (default: "
                     "only caches small enough to check in a moment).")


def format_summary(info: Mapping[str, Any]) -> str:
    """The summary of ``qlsgan_tf.data.describe`` as plain-text tables."""
    from qlsgan_tf.data import BAND_NAMES, CLASS_NAMES

    lines = [f"SAT-4 data: {info['path']} (layout: {info['layout']})", ""]
    header = f"{'split':<6} {'images':>8}" + "".join(f" {name:>12}" for name in CLASS_NAMES)
    lines.append(header)
    for split, s in info["splits"].items():
        lines.append(f"{split:<6} {s['count']:>8}"
                     + "".join(f" {s['class_counts'][name]:>12}" for name in CLASS_NAMES))
    lines += ["", "per-band pixel statistics (0-255):",
              f"{'split':<6} {'band':<4} {'mean':>8} {'std':>8}"]
    for split, s in info["splits"].items():
        for band, mean, std in zip(BAND_NAMES, s["band_mean"], s["band_std"]):
            lines.append(f"{split:<6} {band:<4} {mean:>8.2f} {std:>8.2f}")
    return "\n".join(lines)


def main(argv: Sequence[str]) -> None:
    """Runs `qlsgan data-info` (flags parsed by absl; ``argv[1:]`` are the positional arguments)."""
    with clear_errors("data-info"):
        if len(argv) != 2:
            raise UsageError("expected one PATH (a .mat file, a Kaggle X_{split}_sat4.csv, a "
                             "cache directory or a directory holding one); usage: "
                             "qlsgan data-info PATH [--split=train|test] [--json]")
        from qlsgan_tf.data import describe

        info = describe(argv[1], splits=[FLAGS.split] if FLAGS.split else None,
                        chunk_size=FLAGS.chunk_size, progress=None, verify=FLAGS.verify)
        print(json.dumps(info, indent=2) if FLAGS.json else format_summary(info))
