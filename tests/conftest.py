"""Shared fixtures: the real SAT-4 sample and a quiet, deterministic TensorFlow."""
import os
import pathlib

import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

REPO = pathlib.Path(__file__).resolve().parents[1]


def _shared_sample():
    """The shared sample beside the checkout (CI and developers); else the bundled copy."""
    env = os.environ.get("QLSGAN_SAT4_SAMPLE")
    candidates = [pathlib.Path(env)] if env else []
    candidates.append(REPO.parent / "shared" / "data" / "sat4-sample")
    for cand in candidates:
        if (cand / "sat-4-sample.mat").exists():
            return cand
    return REPO / "qlsgan_tf" / "data" / "sample"


@pytest.fixture(scope="session")
def sat4_sample_dir():
    """Directory holding the real 70-patch SAT-4 sample in both layouts."""
    return _shared_sample()
