"""The quantum generator inside TF-GAN's ``GANEstimator`` (WGAN-GP on VAE latents).

TF-GAN owns the training loop, the losses (``tfgan.losses.wasserstein_*`` with the
gradient penalty) and the checkpoints; the generator is a Keras model around
``StyleQuantumGenerator``. A second ``train`` call resumes from the checkpoint.

    python examples/tfgan_estimator.py --qubits 3 --steps 50 --model_dir /tmp/qgan-est
"""
import argparse
import tempfile

import numpy as np
import tensorflow as tf

from qlsgan_tf.layers import StyleQuantumGenerator
from qlsgan_tf.training import latent_input_fn, make_gan_estimator, noise_input_fn

try:  # run as a script (python examples/...) or imported from the examples folder
    from _common import sample_latents
except ImportError:
    from examples._common import sample_latents


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--qubits", type=int, default=3)
    parser.add_argument("--layers", type=int, default=2)
    parser.add_argument("--steps", type=int, default=50)
    parser.add_argument("--vae_epochs", type=int, default=3)
    parser.add_argument("--model_dir", default=None, help="default: a temporary directory")
    args = parser.parse_args(argv)

    n = args.qubits
    latents = sample_latents(n, vae_epochs=args.vae_epochs)
    generator = tf.keras.Sequential([tf.keras.Input((n,)),
                                     StyleQuantumGenerator(n, args.layers, backend="fast")])
    critic = tf.keras.Sequential([tf.keras.Input((n,)),
                                  tf.keras.layers.Dense(32, activation="leaky_relu"),
                                  tf.keras.layers.Dense(1)])
    model_dir = args.model_dir or tempfile.mkdtemp(prefix="qgan-estimator-")
    estimator = make_gan_estimator(generator, critic, noise_dim=n, model_dir=model_dir,
                                   n_critic=2, g_lr=5e-3, c_lr=1e-3)
    half = max(1, args.steps // 2)
    estimator.train(latent_input_fn(latents, 16, n, seed=0), steps=half)
    estimator.train(latent_input_fn(latents, 16, n, seed=1), steps=half)  # resumes
    step = int(estimator.get_variable_value("global_step"))
    fake = np.stack([p for p in estimator.predict(noise_input_fn(256, n, batch_size=64,
                                                                 seed=0))])
    print(f"trained {step} estimator steps in {model_dir}")
    print(f"generated latents: shape {fake.shape}, mean {np.round(fake.mean(0), 3)}; "
          f"real mean {np.round(latents.mean(0), 3)}")
    if step != 2 * half or fake.shape != (256, n):
        raise SystemExit("unexpected estimator state")
    return fake


if __name__ == "__main__":
    main()
