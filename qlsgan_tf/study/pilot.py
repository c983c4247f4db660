"""The pilot world a design's power is simulated in: a finished study's fitted score surface.

``qlsgan study --dry_run`` prints the power of the design it is about to run. Power is only as
good as the world it is simulated in (``docs/method.md``), so it is simulated from a real
study's fitted surface — its shape, levels, seed- and run-level noise and pattern of uncounted
runs — moved onto the new design: ``--pilot DIR`` names a finished study; without it, the
world fitted to the bundled quick study (``pilot_world.json``, shipped with the package and
stated as such wherever it is used).
"""
import pathlib
from typing import Optional, Tuple

from qlsgan_tf import analysis as stats_lib
from qlsgan_tf import jsoncodec
from qlsgan_tf.fsutil import StrPath

BUNDLED = pathlib.Path(__file__).with_name("pilot_world.json")


def bundled_world() -> Tuple[stats_lib.World, str]:
    """(world, description) of the bundled quick study."""
    data = jsoncodec.loads(BUNDLED.read_text(encoding="utf-8"))
    return (stats_lib.World.from_dict(data["world"]),
            f"the bundled quick study's fitted world ({data['source']})")


def study_world(study_dir: StrPath, seed: int = 0
                ) -> Tuple[stats_lib.World, str]:
    """(world, description) fitted to the finished study in ``study_dir``."""
    from qlsgan_tf.study import analysis, records
    from qlsgan_tf.study import store as store_lib

    out = pathlib.Path(study_dir)
    store = store_lib.ResultStore(out)
    if not store.config_path.exists():
        raise ValueError(f"--pilot {out}: not a study directory (no study.json)")
    runs = records.load_runs(store)
    if not runs:
        raise ValueError(f"--pilot {out}: the study has no finished runs to fit")
    _, fit = analysis.analyse(runs, store.load_config(), n_boot=1, seed=seed,
                              with_power=False)
    if fit is None:
        raise ValueError(f"--pilot {out}: no quantum generator of the study has a counted run")
    return stats_lib.World.from_fit(fit), f"the fitted world of the study in {out}"


def world_for(pilot: Optional[StrPath] = None) -> Tuple[stats_lib.World, str]:
    """The pilot world: of the study ``pilot`` (a directory) or the bundled one."""
    return study_world(pilot) if pilot else bundled_world()
