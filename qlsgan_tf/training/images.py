"""SAT-4 patches as pictures: one PNG writer for sample grids, shared by every room above.

``plot_image_grid`` draws two blocks, true colour (R, G, B) and false colour (NIR, R, G), of
uint8 or [-1, 1] patches; ``train-gan``, ``sample`` and the study report all write their grids
with it. Figures are built with ``matplotlib.figure.Figure`` (no pyplot state), so plotting is
safe in threads and never opens a window.
"""
from __future__ import annotations

import math
import pathlib
from typing import Optional

import numpy as np
from matplotlib import colors
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from qlsgan_tf.data.core import as_images
from qlsgan_tf.fsutil import StrPath, atomic_write_file
from qlsgan_tf.validation import check_int

#: Resolution of the written PNGs.
DPI = 120


def png_path(path: StrPath) -> pathlib.Path:
    """``path`` as a Path, checked to name a ``.png`` file."""
    if not isinstance(path, (str, pathlib.PurePath)):
        raise TypeError(f"path must be a str or pathlib.Path, got {path!r}.")
    path = pathlib.Path(path)
    if path.suffix.lower() != ".png":
        raise ValueError(f"path must name a .png file, got {str(path)!r}.")
    return path


def save_figure(fig: Figure, path: pathlib.Path) -> pathlib.Path:
    """Renders ``fig`` with the Agg canvas into ``path`` atomically; returns ``path``."""
    FigureCanvasAgg(fig)
    return atomic_write_file(path, lambda tmp: fig.savefig(
        tmp, format="png", dpi=DPI, bbox_inches="tight", metadata={"Software": None}))


def _unit_images(images: np.ndarray) -> np.ndarray:
    """[N, 28, 28, 4] uint8 or float in [-1, 1] -> float64 in [0, 1] for drawing."""
    return (as_images(images, input_range="uint8_or_tanh").astype(np.float64) + 1.0) / 2.0


def mosaic(tiles: np.ndarray, ncols: int, gap: int = 2) -> np.ndarray:
    """Tiles ``[N, H, W, 3]`` on white: ``[rows·(H+gap)-gap, cols·(W+gap)-gap, 3]``."""
    n, h, w, c = tiles.shape
    rows = math.ceil(n / ncols)
    out = np.ones((rows * (h + gap) - gap, ncols * (w + gap) - gap, c))
    for i, tile in enumerate(tiles):
        r, k = divmod(i, ncols)
        out[r * (h + gap):r * (h + gap) + h, k * (w + gap):k * (w + gap) + w] = tile
    return out


def _image_figure(images: np.ndarray, title: str, ncols: Optional[int] = None) -> Figure:
    unit = _unit_images(images)
    n = unit.shape[0]
    if ncols is None:
        ncols = min(n, 8)
    ncols = check_int("ncols", ncols, 1)
    ncols = min(int(ncols), n)
    rgb = mosaic(unit[..., [0, 1, 2]], ncols)
    false_colour = mosaic(unit[..., [3, 0, 1]], ncols)
    rows = math.ceil(n / ncols)
    tile_in = 0.9 * unit.shape[2] / 28.0
    width = max(ncols * tile_in, 4.0)
    fig = Figure(figsize=(width, 2 * rows * tile_in * unit.shape[1] / unit.shape[2] + 1.0),
                 layout="constrained")
    axes = fig.subplots(2, 1)
    for ax, block, name in ((axes[0], rgb, "RGB (R, G, B)"),
                            (axes[1], false_colour, "false colour (NIR, R, G as RGB)")):
        ax.imshow(block, interpolation="nearest", norm=colors.NoNorm())
        ax.set_title(name, fontsize="small")
        ax.set_axis_off()
    fig.suptitle(f"{title} ({n} patch{'es' if n != 1 else ''})")
    return fig


def plot_image_grid(images: np.ndarray, path: StrPath, title: str,
                    ncols: Optional[int] = None) -> pathlib.Path:
    """SAT-4 patches as two blocks: true colour (R, G, B) and false colour (NIR, R, G).

    In the false-colour block vegetation, bright in near infrared, shows red: the usual way to
    read the NIR band, and where "trees" and "grassland" patches differ most.

    Args:
      images: ``[N, H, W, 4]`` (R, G, B, NIR; SAT-4 is 28×28), uint8 0..255 or float in
        [-1, 1] (what the generators and ``data.normalize`` produce).
      path: the ``.png`` to write.
      title: the figure's title, e.g. ``"best hybrid n4_L2"``.
      ncols: patches per row (default min(N, 8)).

    Returns:
      ``path`` as a :class:`pathlib.Path`.
    """
    path = png_path(path)
    return save_figure(_image_figure(images, str(title), ncols), path)
