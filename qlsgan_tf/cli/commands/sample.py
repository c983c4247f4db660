"""``qlsgan sample MODEL --n 64 --out grid.png [--seed S]``: images from a saved hybrid model.

MODEL is a ``LatentStyleGAN`` saved as ``.keras`` (``qlsgan train-gan`` writes ``hybrid.keras``)
or the run directory holding it. The PNG shows the samples twice: true colour (R, G, B) and
NIR false colour (NIR, R, G as red, green, blue; vegetation shows red).
"""
import pathlib
from typing import Sequence

from absl import flags

from qlsgan_tf.cli.common import UsageError, clear_errors

FLAGS = flags.FLAGS
flags.DEFINE_integer("n", 64, "Number of images to sample.", lower_bound=1)
flags.DEFINE_string("out", "samples.png", "Output PNG path.")
flags.DEFINE_integer("seed", None, "Noise seed (same seed, same images); default random.",
                     lower_bound=0)
flags.DEFINE_string("npy", None, "Also save the images (uint8 [n, 28, 28, 4]) to this .npy.")


def main(argv: Sequence[str]) -> None:
    """Runs `qlsgan sample` (flags parsed by absl; ``argv[1:]`` are the positional arguments)."""
    with clear_errors("sample"):
        if len(argv) != 2:
            raise UsageError("expected one MODEL path; usage: qlsgan sample MODEL --n 64 "
                             "--out grid.png [--seed S]")
        if not FLAGS.out.lower().endswith(".png"):
            raise UsageError(f"--out must name a .png file, got {FLAGS.out!r}")
        from qlsgan_tf.data import denormalize
        from qlsgan_tf.training.images import plot_image_grid
        from qlsgan_tf.training.run_dir import load_hybrid

        hybrid = load_hybrid(argv[1])
        images = hybrid.sample(FLAGS.n, seed=FLAGS.seed)
        out = plot_image_grid(images, FLAGS.out,
                              title=f"{FLAGS.n} samples of {pathlib.Path(argv[1]).name}"
                              + ("" if FLAGS.seed is None else f" (seed {FLAGS.seed})"))
        print(f"wrote {out}")
        if FLAGS.npy:
            from qlsgan_tf.fsutil import atomic_write_npy

            print(f"wrote {atomic_write_npy(FLAGS.npy, denormalize(images))}")
