"""A KerasTuner search over the critic's capacity for a fixed quantum generator.

The search space lives in one ``HyperModel``: ``build(hp)`` sizes an ``MLPCritic`` to a
parameter budget (``units_for_capacity``) and composes a compiled ``LatentGAN``;
``fit(hp, model, ...)`` trains it and returns the objective, the Fréchet distance between
generated and real latents (lower is better). The tuner, oracle and directory layout are
KerasTuner's own. ``qlsgan study`` runs the same idea over many generators and seeds.

    python examples/tune_critic_capacity.py --capacities 50,400,3000 --epochs 6
"""
import argparse
import tempfile

import keras_tuner
import numpy as np
import tensorflow as tf

from qlsgan_tf.layers import StyleQuantumGenerator
from qlsgan_tf.metrics.distances import frechet_distance_from_activations
from qlsgan_tf.models import MLPCritic, units_for_capacity
from qlsgan_tf.training import LatentGAN, latent_dataset

try:  # run as a script (python examples/...) or imported from the examples folder
    from _common import sample_latents
except ImportError:
    from examples._common import sample_latents


class CriticCapacityHyperModel(keras_tuner.HyperModel):
    """Quantum generator (fixed) against a critic of a searched parameter budget."""

    def __init__(self, n_qubits, n_layers, capacities, latents, epochs):
        super().__init__(name="critic_capacity")
        self.n_qubits, self.n_layers = n_qubits, n_layers
        self.capacities, self.latents, self.epochs = capacities, latents, epochs

    def build(self, hp):
        budget = hp.Choice("critic_budget", self.capacities, ordered=True)
        n = self.n_qubits
        generator = tf.keras.Sequential(
            [tf.keras.Input((n,)), StyleQuantumGenerator(n, self.n_layers, backend="fast")])
        critic = MLPCritic(hidden_units=units_for_capacity(budget, n, 1, depth=2), input_dim=n)
        gan = LatentGAN(generator, critic, noise_dim=n, n_critic=5, seed=0)
        gan.compile(g_optimizer=tf.keras.optimizers.Adam(1e-3, beta_1=0.5, beta_2=0.9),
                    c_optimizer=tf.keras.optimizers.Adam(1e-3, beta_1=0.5, beta_2=0.9))
        return gan

    def fit(self, hp, model, *args, **kwargs):
        data = latent_dataset(self.latents, 64, seed=0, repeat=True)
        model.fit(data, epochs=self.epochs, steps_per_epoch=25, verbose=0)
        fake = model.generate(2000, seed=0)
        distance = frechet_distance_from_activations(self.latents, fake)
        return {"latent_fd": float(distance)}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--qubits", type=int, default=3)
    parser.add_argument("--layers", type=int, default=2)
    parser.add_argument("--capacities", default="50,400,3000",
                        help="comma-separated critic parameter budgets")
    parser.add_argument("--epochs", type=int, default=6, help="epochs of 25 generator steps")
    parser.add_argument("--vae_epochs", type=int, default=3)
    parser.add_argument("--directory", default=None, help="default: a temporary directory")
    args = parser.parse_args(argv)

    capacities = [int(c) for c in args.capacities.split(",")]
    latents = sample_latents(args.qubits, vae_epochs=args.vae_epochs)
    hypermodel = CriticCapacityHyperModel(args.qubits, args.layers, capacities, latents,
                                          args.epochs)
    tuner = keras_tuner.GridSearch(
        hypermodel, objective=keras_tuner.Objective("latent_fd", "min"),
        directory=args.directory or tempfile.mkdtemp(prefix="critic-tuning-"),
        project_name="critic_capacity", overwrite=True)
    tuner.search()
    results = sorted((t.score, t.hyperparameters.get("critic_budget"))
                     for t in tuner.oracle.trials.values())
    for score, budget in results:
        print(f"critic budget {budget:>6}: latent Fréchet distance {score:.4f}")
    best = tuner.get_best_hyperparameters(1)[0].get("critic_budget")
    print(f"best critic budget: {best} (one seed: a study repeats this over seeds)")
    if len(results) != len(capacities) or not np.all(np.isfinite([s for s, _ in results])):
        raise SystemExit("some trials did not finish")
    return results


if __name__ == "__main__":
    main()
