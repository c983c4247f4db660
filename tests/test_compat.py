"""The tensorflow-gan 2.1.0 shim: `import qlsgan_tf` applies it; TF-GAN then imports and runs."""
import inspect
import re
import subprocess
import sys
import textwrap

from qlsgan_tf import compat


def _run_python(code):
    """Runs ``code`` in a fresh interpreter (no shim applied yet) and returns its stdout."""
    proc = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True,
                          text=True, timeout=120, check=False)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def _sample(a, b=2, *rest, c, d=4, **options):
    """A function with every kind of parameter."""


class _Sample:
    def method(self, x, y=1.5):
        """A bound method keeps ``self`` in args, as the Python 3.10 getargspec did."""


def test_python_311_has_no_getargspec_until_qlsgan_tf_is_imported():
    out = _run_python("""
        import inspect
        print(hasattr(inspect, "getargspec"))
        import qlsgan_tf
        from qlsgan_tf import compat
        print(inspect.getargspec is compat._getargspec)
    """)
    assert out.split() == ["False", "True"]


def test_getargspec_matches_getfullargspec():
    spec = inspect.getargspec(_sample)
    full = inspect.getfullargspec(_sample)
    assert spec == (["a", "b"], "rest", "options", (2,))
    assert (spec.args, spec.varargs, spec.keywords, spec.defaults) == (
        full.args, full.varargs, full.varkw, full.defaults)

    method = inspect.getargspec(_Sample().method)
    assert method == (["self", "x", "y"], None, None, (1.5,))


def test_apply_is_idempotent():
    assert inspect.getargspec is compat._getargspec
    assert compat.apply() is False
    assert inspect.getargspec is compat._getargspec


def test_the_shim_lives_in_compat_alone_and_tfgan_is_imported_through_it():
    """One place patches the stack: no other module mentions getargspec or imports TF-GAN."""
    import pathlib  # noqa: PLC0415

    package = pathlib.Path(compat.__file__).parent
    offenders = []
    for path in package.rglob("*.py"):
        if path.name == "compat.py":
            continue
        text = path.read_text(encoding="utf-8")
        if "getargspec" in text or re.search(r"^\s*(import|from) tensorflow_gan", text, re.M):
            offenders.append(str(path.relative_to(package)))
    assert offenders == []


def test_modules_using_tfgan_import_in_a_fresh_interpreter():
    """The estimator adapter and the metrics import TF-GAN via the shim, whatever comes first."""
    out = _run_python("""
        import inspect
        assert not hasattr(inspect, "getargspec")
        from qlsgan_tf.training import estimator
        from qlsgan_tf.metrics import distances
        import tensorflow_gan
        print(callable(estimator.make_gan_estimator), inspect.isclass(
            tensorflow_gan.estimator.GANEstimator))
    """)
    assert out.split() == ["True", "True"]
