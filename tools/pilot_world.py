"""Writes ``qlsgan_tf/study/pilot_world.json``: the fitted world of a finished study.

    .venv/bin/python tools/pilot_world.py demo-out

The bundled world is what ``qlsgan study --dry_run`` simulates a design's power in when no
``--pilot DIR`` is given; it is regenerated from the quick study (``make demo``) whenever the
quick preset or the analysis changes, and says which study it came from.
"""
import argparse
import datetime
import pathlib
import sys

from qlsgan_tf import jsoncodec
from qlsgan_tf.study import pilot, store


def main(argv=None):
    """Fits the study named on the command line and writes its world; returns 0."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("study", help="a finished study directory (e.g. demo-out)")
    parser.add_argument("--out", default=str(pilot.BUNDLED), help="where to write the world")
    args = parser.parse_args(argv)
    world, _ = pilot.study_world(args.study)
    config = store.ResultStore(pathlib.Path(args.study)).load_config()
    n_runs = len(store.ResultStore(pathlib.Path(args.study)).keys())
    source = (f"preset {config.preset}, {n_runs} runs, {len(world.q)} quantum generators, "
              f"fitted {datetime.date.today().isoformat()}")
    text = jsoncodec.dumps({"source": source, "world": world.to_dict()}, indent=1)
    pathlib.Path(args.out).write_text(text + "\n", encoding="utf-8")
    print(f"{args.out}: {source}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
