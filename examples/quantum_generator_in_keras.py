"""The style-based quantum generator as an ordinary Keras layer: build, fit, save, reload.

The layer maps noise ``z`` to qubit expectation values; every rotation angle is
``w * z_k + b``. Here it sits inside a ``Sequential`` model and is fitted with plain
``model.fit`` to a smooth target function of the noise, then saved as ``.keras`` and
reloaded with identical outputs.

    python examples/quantum_generator_in_keras.py --qubits 3 --layers 2 --epochs 30
"""
import argparse
import pathlib
import tempfile

import numpy as np
import tensorflow as tf

from qlsgan_tf.layers import StyleQuantumGenerator


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--qubits", type=int, default=3)
    parser.add_argument("--layers", type=int, default=2)
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--backend", choices=("fast", "tfq"), default="fast")
    args = parser.parse_args(argv)

    tf.keras.utils.set_random_seed(0)
    n = args.qubits
    noise = np.random.default_rng(0).uniform(-1, 1, (256, n)).astype(np.float32)
    target = (0.8 * np.sin(np.pi * noise / 2)).astype(np.float32)  # in (-1, 1), like <Z>

    model = tf.keras.Sequential([
        tf.keras.Input((n,)),
        StyleQuantumGenerator(n, args.layers, readout="z", backend=args.backend),
    ])
    model.compile(optimizer=tf.keras.optimizers.Adam(0.05), loss="mse")
    before = model.evaluate(noise, target, verbose=0)
    model.fit(noise, target, epochs=args.epochs, batch_size=32, verbose=2)
    after = model.evaluate(noise, target, verbose=0)
    print(f"mean squared error: {before:.4f} before training, {after:.4f} after")

    with tempfile.TemporaryDirectory() as tmp:
        path = pathlib.Path(tmp) / "generator.keras"
        model.save(path)
        reloaded = tf.keras.models.load_model(path)
        gap = float(np.max(np.abs(reloaded(noise[:8]) - model(noise[:8]))))
    print(f"saved and reloaded: largest output difference {gap:.2e}")
    print(f"capacity (trainable parameters): {model.layers[0].capacity}")
    if not after < before:
        raise SystemExit("training did not lower the loss")
    return after


if __name__ == "__main__":
    main()
