"""The tensorflow-gan 2.1.0 shim: `import qlsgan_tf` applies it; TF-GAN then imports and runs."""
import inspect
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import scipy.linalg

from qlsgan_tf import compat


def _run_python(code):
    """Runs ``code`` in a fresh interpreter (no shim applied yet) and returns its stdout."""
    proc = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True,
                          text=True, timeout=120, check=False)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def _sample(a, b=2, *rest, c, d=4, **options):  # pylint: disable=unused-argument
    """A function with every kind of parameter."""


class _Sample:
    def method(self, x, y=1.5):  # pylint: disable=unused-argument
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
    spec = inspect.getargspec(_sample)  # pylint: disable=deprecated-method
    full = inspect.getfullargspec(_sample)
    assert spec == (["a", "b"], "rest", "options", (2,))
    assert (spec.args, spec.varargs, spec.keywords, spec.defaults) == (
        full.args, full.varargs, full.varkw, full.defaults)

    method = inspect.getargspec(_Sample().method)  # pylint: disable=deprecated-method
    assert method == (["self", "x", "y"], None, None, (1.5,))


def test_apply_is_idempotent():
    assert inspect.getargspec is compat._getargspec  # pylint: disable=protected-access
    assert compat.apply() is False
    assert inspect.getargspec is compat._getargspec  # pylint: disable=protected-access


@pytest.fixture(scope="module")
def tfgan():
    return compat.import_tfgan()


def test_tfgan_estimator_and_eval_import(tfgan):
    assert inspect.isclass(tfgan.estimator.GANEstimator)
    assert callable(tfgan.eval.frechet_classifier_distance_from_activations)
    assert callable(tfgan.eval.kernel_classifier_distance_and_std_from_activations)


def _frechet_reference(a, b):
    """Closed form ||mu_a - mu_b||^2 + Tr(S_a + S_b - 2 (S_a S_b)^(1/2)), unbiased covariances."""
    mu_a, mu_b = a.mean(axis=0), b.mean(axis=0)
    cov_a, cov_b = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    covmean = scipy.linalg.sqrtm(cov_a @ cov_b).real
    return float(np.sum((mu_a - mu_b) ** 2) + np.trace(cov_a + cov_b - 2.0 * covmean))


def test_frechet_distance_from_activations_matches_closed_form(tfgan):
    rng = np.random.default_rng(7)
    real = rng.normal(size=(64, 6))
    fake = rng.normal(loc=0.5, scale=1.3, size=(48, 6)) @ rng.normal(size=(6, 6))

    got = float(tfgan.eval.frechet_classifier_distance_from_activations(real, fake))

    assert got == pytest.approx(_frechet_reference(real, fake), rel=1e-6)
    assert float(tfgan.eval.frechet_classifier_distance_from_activations(real, real)) == (
        pytest.approx(0.0, abs=1e-6))


def test_gan_estimator_trains_and_predicts(tfgan, tmp_path):
    """A tiny GANEstimator trains two steps and samples: TF-GAN's estimator path runs."""
    import tensorflow as tf  # pylint: disable=import-outside-toplevel

    def dense(inputs, units, name):
        # tf.compat.v1 variables honour TF-GAN's variable-scope reuse, so the critic that scores
        # real and generated data is one set of weights (Keras layers would make two).
        with tf.compat.v1.variable_scope(name):
            kernel = tf.compat.v1.get_variable("kernel", [inputs.shape[-1], units])
            bias = tf.compat.v1.get_variable("bias", [units], initializer=tf.zeros_initializer())
        return tf.matmul(inputs, kernel) + bias

    def generator_fn(noise):
        return tf.tanh(dense(noise, 3, "out"))

    def discriminator_fn(data, unused_conditioning):
        return dense(data, 1, "logit")

    def train_input_fn():
        noise = tf.random.stateless_uniform([8, 2], seed=[1, 2])
        real = tf.random.stateless_normal([8, 3], seed=[3, 4])
        return tf.data.Dataset.from_tensors((noise, real)).repeat()

    def predict_input_fn():
        return tf.data.Dataset.from_tensors(tf.zeros([5, 2]))

    gan = tfgan.estimator.GANEstimator(
        model_dir=str(tmp_path),
        generator_fn=generator_fn,
        discriminator_fn=discriminator_fn,
        generator_loss_fn=tfgan.losses.wasserstein_generator_loss,
        discriminator_loss_fn=tfgan.losses.wasserstein_discriminator_loss,
        generator_optimizer=tf.compat.v1.train.AdamOptimizer(1e-3),
        discriminator_optimizer=tf.compat.v1.train.AdamOptimizer(1e-3),
    )
    gan.train(train_input_fn, max_steps=2)

    assert gan.get_variable_value("global_step") == 2
    weights = sorted(n for n in gan.get_variable_names()
                     if n.startswith(("Generator/", "Discriminator/")) and "Adam" not in n)
    assert weights == ["Discriminator/logit/bias", "Discriminator/logit/kernel",
                       "Generator/out/bias", "Generator/out/kernel"]
    samples = np.stack(list(gan.predict(predict_input_fn)))
    assert samples.shape == (5, 3)
    assert np.all(np.abs(samples) < 1.0)
