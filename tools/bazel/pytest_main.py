"""Main of every ``py_test`` in tests/BUILD: runs pytest on one test file inside Bazel.

Bazel runs it from the runfiles tree (``<runfiles>/qlsgan``), where the package comes from the
``//qlsgan_tf`` library, not from the editable install of the .venv. This main:

- exports PYTHONPATH with the runfiles root first, so subprocesses that tests start
  (``sys.executable -m qlsgan_tf.cli.main ...``) import the same package;
- checks that ``qlsgan_tf`` really resolves into the runfiles tree (else the test would
  silently exercise another checkout);
- keeps pytest's cache out of the read-only source tree (``-p no:cacheprovider``), puts HOME
  (unset by Bazel) and every temporary directory under ``$TEST_TMPDIR``, writes
  ``--junitxml=$XML_OUTPUT_FILE``, and maps ``bazel test --test_filter=EXPR`` to ``-k EXPR``;
- treats a file whose tests are all deselected (e.g. only ``@pytest.mark.slow`` tests under
  ``-m "not slow"``) as passing: pytest reports exit status 5 for it, which is not a failure.
"""
import os
import pathlib
import sys
import tempfile

# Not resolved: the runfiles symlinks must stay, so that imports come from the runfiles tree.
WORKSPACE = pathlib.Path(os.path.abspath(__file__)).parents[2]


def _export_pythonpath():
    """Puts the runfiles root first on sys.path and PYTHONPATH (inherited by subprocesses)."""
    root = str(WORKSPACE)
    entries = [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p and p != root]
    os.environ["PYTHONPATH"] = os.pathsep.join([root] + entries)
    if root in sys.path:
        sys.path.remove(root)
    sys.path.insert(0, root)


def _private_home_and_tmp():
    """Bazel gives tests no HOME; Keras and matplotlib then write under ``$TEST_TMPDIR``."""
    test_tmp = os.environ.get("TEST_TMPDIR")
    if not test_tmp:
        return
    if not os.environ.get("HOME"):
        os.environ["HOME"] = os.path.join(test_tmp, "home")
        os.makedirs(os.environ["HOME"], exist_ok=True)
    os.environ["TMPDIR"] = test_tmp
    tempfile.tempdir = None  # recomputed from TMPDIR


def _check_package_origin():
    import qlsgan_tf

    origin = pathlib.Path(os.path.abspath(qlsgan_tf.__file__))
    if WORKSPACE not in origin.parents:
        sys.exit(f"pytest_main: qlsgan_tf was imported from {origin}, not from the Bazel "
                 f"runfiles tree {WORKSPACE}; is //qlsgan_tf a dep of this py_test?")


class _DeselectedCounter:
    """pytest plugin: counts the tests deselected (``-m``, ``-k``) and those left to run."""

    def __init__(self):
        self.deselected = 0
        self.selected = 0

    def pytest_deselected(self, items):
        self.deselected += len(items)

    def pytest_collection_finish(self, session):
        self.selected = len(session.items)


def main(argv):
    """Runs pytest on the test files in ``argv`` as Bazel asks (JUnit XML, no cache)."""
    _export_pythonpath()
    _private_home_and_tmp()
    _check_package_origin()
    import pytest

    args = ["-p", "no:cacheprovider", "--rootdir", str(WORKSPACE)]
    if os.environ.get("XML_OUTPUT_FILE"):
        args.append(f"--junitxml={os.environ['XML_OUTPUT_FILE']}")
    if os.environ.get("TEST_TMPDIR"):
        args.append(f"--basetemp={os.path.join(os.environ['TEST_TMPDIR'], 'pytest')}")
    if os.environ.get("TESTBRIDGE_TEST_ONLY"):
        args += ["-k", os.environ["TESTBRIDGE_TEST_ONLY"]]
    counter = _DeselectedCounter()
    status = pytest.main(args + list(argv), plugins=[counter])
    if status == pytest.ExitCode.NO_TESTS_COLLECTED and counter.deselected and not counter.selected:
        print(f"pytest_main: all {counter.deselected} tests deselected (e.g. slow tests, which "
              "`make test` runs); nothing failed.")
        return 0
    return int(status)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
