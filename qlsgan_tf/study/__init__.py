"""The capacity-scaling study: does the optimal critic capacity C*(Q), and the classical
generator capacity G*(Q) that matches a quantum generator of capacity Q, grow
exponentially with Q (Liepelt & Baglio 2026)?

``presets`` (configurations), ``store`` (atomic per-run results; resume), ``prepare`` (data,
VAE, feature network, real latents), ``trial`` (one GAN training run and its score),
``analysis`` (C*(Q), G*(Q), verdicts), ``optimum`` (continuous optimum with a seed-cluster
bootstrap), ``fits`` (``compare_laws``: trend test and law comparison), ``power`` (power of the
verdict by simulation), ``plots`` (PNGs), ``report`` and
``runner`` (the whole study through KerasTuner). Submodules are imported on use.
"""
