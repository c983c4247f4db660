"""The capacity-scaling study: does the optimal critic capacity C*(Q), and the classical
generator capacity G*(Q) that matches a quantum generator of capacity Q, grow
exponentially with Q (Liepelt & Baglio 2026)?

``presets`` (configurations), ``store`` (atomic per-run results; resume), ``prepare`` (data,
VAE, feature network, real latents), ``trial`` (one GAN training run and its score),
``analysis`` (C*(Q), G*(Q), fits), ``fits``/``plots`` (scaling laws, PNGs), ``report`` and
``runner`` (the whole study through KerasTuner). Submodules are imported on use.
"""
