"""Training: the latent GAN as a Keras model, the TF-GAN estimator adapter, the hybrid model.

``LatentGAN`` trains any generator (quantum or classical) against a critic on VAE latents;
``LatentStyleGAN`` bundles a trained generator with the VAE decoder (noise -> image; its former
name ``HybridLSGAN`` is a deprecated alias that still loads saved models); ``losses`` holds the
GAN losses as pure functions;
``make_gan_estimator`` builds the same WGAN-GP as a ``tfgan.estimator.GANEstimator``;
``train_latent_gan`` is the one training run the CLI and the study share. The TensorBoard
callbacks (``FIDCallback``, ``ImageGridCallback``, ``NaNGuard``, ``log_hparams``) live in
``qlsgan_tf.training.callbacks`` and are re-exported here lazily.
"""
import importlib

# public name -> submodule that defines it; imported on first access so that importing
# ``qlsgan_tf.training`` does not pull in TF-GAN or the metrics unless they are used.
_EXPORTS = {
    "GeneratorSpec": "spec",
    "LatentGAN": "latent_gan",
    "PackedLatentGAN": "packed",
    "sample_noise": "latent_gan",
    "encode_latents": "latents",
    "latent_dataset": "latents",
    "HybridLSGAN": "hybrid",
    "LatentStyleGAN": "hybrid",
    "make_gan_estimator": "estimator",
    "latent_input_fn": "estimator",
    "noise_input_fn": "estimator",
    "train_latent_gan": "gan_run",
    "train_vae": "vae_fit",
    "load_vae": "vae_fit",
    "build_vae": "vae_fit",
    "fit_with_fd": "gan_run",
    "load_hybrid": "run_dir",
    "plot_image_grid": "images",
    "FIDCallback": "callbacks",
    "ImageGridCallback": "callbacks",
    "NaNGuard": "callbacks",
    "StopOnRequest": "callbacks",
    "log_hparams": "callbacks",
}

__all__ = [
    "FIDCallback", "GeneratorSpec", "HybridLSGAN", "ImageGridCallback", "LatentGAN",
    "LatentStyleGAN", "NaNGuard", "PackedLatentGAN",
    "build_vae", "encode_latents", "load_vae", "train_vae",
    "fit_with_fd", "latent_dataset", "latent_input_fn", "load_hybrid", "log_hparams",
    "make_gan_estimator", "noise_input_fn", "plot_image_grid", "sample_noise",
    "StopOnRequest",
    "train_latent_gan",
]


def __getattr__(name):
    if name not in _EXPORTS:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    module = importlib.import_module(f"{__name__}.{_EXPORTS[name]}")
    value = getattr(module, name)
    globals()[name] = value
    return value


def __dir__():
    return sorted(set(globals()) | set(__all__))
