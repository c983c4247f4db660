"""SAT-4 evaluation, fully offline: the FD-SAT4 feature network, FD/KID, run stability.

- ``feature_net``: a small CNN trained by the project on SAT-4 (shipped weights trained on the
  bundled sample; ``qlsgan train-feature-net`` retrains), its ``manifest.json`` records the data
  and test accuracy that must accompany every FD-SAT4 figure.
- ``distances``: FD-SAT4 (Fréchet) and KID via TF-GAN's ``*_from_activations`` functions, and
  the real-vs-real floor.
- ``latent_score``: distances between generated and encoded real latents (sliced Wasserstein,
  MMD, Fréchet) and their finite-sample floor; the study's default score.
- ``stability``: FD-SAT4 trajectory summaries, oscillation, stability and the optimality score;
  ``run_status`` (converged / improving / diverging / unstable / failed) of a score trajectory.

No TensorFlow import here; functions import it when called.
"""
from qlsgan_tf.metrics.distances import (
    FDResult,
    SmallSampleWarning,
    fd_sat4,
    fd_sat4_from_activations,
    frechet_distance,
    frechet_distance_from_activations,
    kernel_distance,
    kernel_distance_from_activations,
    real_floor,
)
from qlsgan_tf.metrics.feature_net import (
    FEATURE_LAYER,
    FeatureNet,
    build_feature_net,
    load_feature_net,
    train_feature_net,
)
from qlsgan_tf.metrics.latent_score import latent_distance, latent_floor
from qlsgan_tf.metrics.stability import (
    RunStatus,
    check_stability,
    is_stable,
    optimality_score,
    oscillation,
    relative_std,
    run_status,
    trajectory_summary,
)

__all__ = [
    "FEATURE_LAYER", "FDResult", "FeatureNet", "RunStatus", "SmallSampleWarning",
    "build_feature_net", "check_stability", "fd_sat4", "fd_sat4_from_activations",
    "frechet_distance", "frechet_distance_from_activations", "is_stable", "kernel_distance",
    "kernel_distance_from_activations", "latent_distance", "latent_floor", "load_feature_net",
    "optimality_score", "oscillation", "real_floor", "relative_std", "run_status",
    "train_feature_net", "trajectory_summary",
]
