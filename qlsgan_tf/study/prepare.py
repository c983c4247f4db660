"""Everything a study's training runs share, made once and cached in the study directory.

Real patches (train/test, optionally the 8 dihedral copies of each training patch), one VAE
per latent size (nominal, tuned, or given), the real latents the critics see, the FD-SAT4
feature network and the real activations, the real-vs-real floor. ``prepared.json`` records
what was used; VAEs live in ``OUT/vae/latent<D>/`` and are reused on resume. A file lock lets
several worker processes on one machine start together: one prepares, the others wait.
"""
import pathlib
from typing import TYPE_CHECKING, Any, Callable, Dict, Mapping, Tuple, cast

import numpy as np

from qlsgan_tf import interrupts
from qlsgan_tf.fsutil import StrPath, atomic_write_npy, file_lock
from qlsgan_tf.study import records
from qlsgan_tf.study import store as store_lib

if TYPE_CHECKING:  # TensorFlow-heavy modules, imported where they are used
    from qlsgan_tf.data import Sat4Data
    from qlsgan_tf.study.presets import StudyConfig
    from qlsgan_tf.tuning.capacity import Resources

Log = Callable[[str], object]

TRAINED_NET_SOURCE = "trained on the study's data (feature_net/ in the study directory)"


def portable(prepared: Mapping[str, Any]) -> Dict[str, Any]:
    """``prepared.json``'s record with the study's own files named relative to the study
    directory (records written with absolute paths included), so that a copied or moved study
    reports its own files, not the original's."""
    prepared = dict(prepared)
    prepared["vaes"] = {dim: dict(vae, path=f"vae/latent{dim}") if vae.get("kind") in (
        "nominal", "tuned") else vae for dim, vae in (prepared.get("vaes") or {}).items()}
    net = prepared.get("feature_net")
    if isinstance(net, dict) and str(net.get("source", "")).startswith(
            "trained on the study's data"):
        prepared["feature_net"] = dict(net, source=TRAINED_NET_SOURCE)
    return prepared


def load_real(config: "StudyConfig", data_path: StrPath
              ) -> Tuple["Sat4Data", "Sat4Data", np.ndarray]:
    """(train Sat4Data, test Sat4Data, reference images float [-1, 1])."""
    from qlsgan_tf import data as data_lib

    max_images = config.max_images or None
    train = data_lib.load_sat4(data_path, split="train", max_images=max_images)
    test = data_lib.load_sat4(data_path, split="test", max_images=max_images)
    images = np.asarray(train.images)
    if config.augment:  # without labels: the images alone
        images = cast(np.ndarray, data_lib.dihedral_augment(images))
    return train, test, data_lib.normalize(images)


def _vae_for(config: "StudyConfig", latent_dim: int, train: "Sat4Data", test: "Sat4Data",
             out: pathlib.Path, log: Log) -> Tuple[Any, Dict[str, Any]]:
    """The study's VAE of one latent size: given path, cached, or trained now."""
    from qlsgan_tf.training import vae_fit
    from qlsgan_tf.tuning import vae as vae_tuning

    if config.vae not in ("nominal", "tuned"):
        vae_dir = pathlib.Path(config.vae)
        model, metrics = vae_fit.load_vae(vae_dir), _vae_metrics(vae_dir)
        if int(model.latent_dim) != latent_dim:
            raise ValueError(
                f"--vae {vae_dir}: its latent size is {model.latent_dim}, but the quantum "
                f"grid needs {latent_dim} (n_qubits for readout z, 2*n_qubits for xz)")
        return model, dict(metrics, path=str(vae_dir), kind="given")
    vae_dir = out / "vae" / f"latent{latent_dim}"
    if not (vae_dir / "vae.keras").exists():
        log(f"training the {config.vae} VAE with latent size {latent_dim} -> {vae_dir}")
        settings: Dict[str, Any] = dict(
            test_data=test, latent_dim=latent_dim, epochs=config.vae_epochs, seed=0,
            augment=config.augment, verbose=0)  # the study shows one progress bar, over its runs
        if config.vae == "tuned":
            vae_tuning.tune_vae(train, vae_dir, max_trials=config.vae_max_trials, **settings)
        else:
            vae_fit.train_vae(train, vae_dir, **settings)
    return vae_fit.load_vae(vae_dir), dict(_vae_metrics(vae_dir),
                                             path=str(vae_dir.relative_to(out)), kind=config.vae)


def _feature_net_for(config: "StudyConfig", data_path: StrPath, train: "Sat4Data",
                     test: "Sat4Data", out: pathlib.Path, log: Log) -> Tuple[Any, str]:
    """(FD-SAT4 feature network, where it came from) as ``config.feature_net`` asks.

    ``"train"`` learns it from the study's own data once (``OUT/feature_net/``, reused on
    resume; a run killed while training it leaves no manifest, so it is trained again).
    """
    from qlsgan_tf.metrics import feature_net

    if config.feature_net == "bundled":
        return feature_net.load_feature_net(None), "bundled (the 50 sample patches)"
    if config.feature_net != "train":
        return feature_net.load_feature_net(config.feature_net), str(config.feature_net)
    net_dir = out / "feature_net"
    if not (net_dir / feature_net.MANIFEST_FILE).exists():
        log(f"training the FD-SAT4 feature network on {data_path} -> {net_dir}")
        feature_net.train_feature_net(
            train, test, net_dir, epochs=config.feature_net_epochs, seed=0,
            augment=config.augment, data_name=f"{data_path}: train split, test split",
            verbose=0)
        interrupts.check_stop()
    return feature_net.load_feature_net(net_dir), TRAINED_NET_SOURCE


def _vae_metrics(vae_dir: StrPath) -> Dict[str, Any]:
    path = pathlib.Path(vae_dir) / "metrics.json"
    if not path.exists():
        return {}
    metrics = store_lib.read_json(path)
    return {"train_mse": metrics.get("train_mse"), "test_mse": metrics.get("test_mse"),
            "hyperparameters": metrics.get("hyperparameters")}


def prepare(config: "StudyConfig", data_path: StrPath, out_dir: StrPath, log: Log = print
            ) -> "Resources":
    """Builds (or reloads) the shared study resources; returns ``tuning.capacity.Resources``."""
    from qlsgan_tf.training import latents as latents_lib
    from qlsgan_tf.tuning.capacity import Resources

    out = pathlib.Path(out_dir)
    with file_lock(out / ".prepare.lock"):
        train, test, reference = load_real(config, data_path)
        net, net_source = _feature_net_for(config, data_path, train, test, out, log)
        vaes: Dict[str, Any] = {}
        decoders: Dict[int, Any] = {}
        real_latents: Dict[int, np.ndarray] = {}
        heldout_latents: Dict[int, np.ndarray] = {}
        heldout = _test_reference(config, test)
        for dim in config.latent_dims:
            interrupts.check_stop()
            model, info = _vae_for(config, dim, train, test, out, log)
            vaes[str(dim)] = info
            decoders[dim] = model.decode
            real_latents[dim] = latents_lib.encode_latents(model, reference)
            heldout_latents[dim] = latents_lib.encode_latents(model, heldout)
        real_activations = net.features(reference)
        interrupts.check_stop()
        prepared_path = out / "prepared.json"
        if prepared_path.exists():
            prepared = records.load_prepared(prepared_path)
        else:
            floor = floor_at_eval_sizes(real_activations, net.features(heldout),
                                        config.n_fid_samples)
            prepared = {
                "data": {"path": str(data_path), "n_train": int(len(train.images)),
                         "n_test": int(len(test.images)), "n_reference": int(len(reference)),
                         "augment": bool(config.augment)},
                "vaes": vaes,
                "feature_net": dict({k: net.manifest.get(k) for k in (
                    "data", "test_accuracy", "feature_dim", "feature_layer", "seed",
                    "augmentation", "date")}, source=net_source),
                "floor": floor,
                "baselines": {str(dim): _baselines(config, decoders[dim], heldout_latents[dim],
                                                   real_activations, net)
                              for dim in config.latent_dims},
            }
            store_lib.atomic_write_json(prepared_path, prepared)
            samples = out / "samples"
            samples.mkdir(parents=True, exist_ok=True)
            atomic_write_npy(samples / "real.npy", np.asarray(train.images[:16]))
    return Resources(
        real_images=reference, real_activations=real_activations, feature_net=net,
        latents=real_latents, decoders=decoders, samples_dir=out / "samples",
        logs_dir=out / "logs", floor=prepared["floor"]["fd"])


def _draw(rng: np.random.Generator, n_pool: int, n: int) -> np.ndarray:
    """Indices of ``n`` draws from a pool: without replacement when it is large enough."""
    return rng.choice(n_pool, size=n, replace=n_pool < n)


def floor_at_eval_sizes(reference_activations: np.ndarray, heldout_activations: np.ndarray,
                        n_fake: int, seed: int = 0, n_rep: int = 5) -> Dict[str, Any]:
    """Real-vs-real FD-SAT4/KID floor at the sizes of a generator evaluation.

    A generator is evaluated as ``len(reference)`` real against ``n_fake`` generated samples;
    the floor compares the same reference with ``n_fake`` *held-out* real samples (test
    patches, never the reference itself), drawn without replacement when there are enough and
    as a bootstrap resample otherwise; the mean over ``n_rep`` draws.
    """
    from qlsgan_tf.metrics import distances

    rng = np.random.default_rng(seed)
    held = np.asarray(heldout_activations)
    results = [distances.fd_sat4_from_activations(
        reference_activations, held[_draw(rng, len(held), n_fake)]) for _ in range(n_rep)]
    return {"fd": float(np.mean([r.fd for r in results])),
            "kid": float(np.mean([r.kid for r in results])),
            "kid_std": float(np.mean([r.kid_std for r in results])),
            "fd_rep_std": float(np.std([r.fd for r in results])),
            "n_real": int(len(reference_activations)), "n_fake": int(n_fake),
            "n_heldout": int(len(held)), "n_rep": int(n_rep),
            "sampling": "without replacement" if len(held) >= n_fake else "bootstrap"}


def _baselines(config: "StudyConfig", decoder: Callable[[np.ndarray], Any],
               heldout_latents: np.ndarray, real_activations: np.ndarray, net: Any
               ) -> Dict[str, Any]:
    """FD-SAT4 bounds a latent GAN is read against, with this VAE and feature network.

    ``random_latents``: decoded uniform noise in the latent box (a generator that learned
    nothing of the latent distribution); ``reconstructions``: decoded *held-out* real latents
    (test patches: a perfect latent generator, never the reference set it is compared with).
    Both at the evaluation's sample size ``n_fid_samples``.
    """
    from qlsgan_tf.metrics import distances

    rng = np.random.default_rng(0)
    n = config.n_fid_samples
    heldout_latents = np.asarray(heldout_latents)
    noise = rng.uniform(-1, 1, (n, heldout_latents.shape[1])).astype(np.float32)
    picks = heldout_latents[_draw(rng, len(heldout_latents), n)]
    out: Dict[str, Any] = {}
    for name, latents in (("random_latents", noise), ("reconstructions", picks)):
        images = np.asarray(decoder(latents))
        out[name] = distances.fd_sat4_from_activations(
            real_activations, net.features(images)).as_dict()
    return out


def _test_reference(config: "StudyConfig", test: "Sat4Data") -> np.ndarray:
    from qlsgan_tf import data as data_lib

    images = np.asarray(test.images)
    if config.augment:  # without labels: the images alone
        images = cast(np.ndarray, data_lib.dihedral_augment(images))
    return data_lib.normalize(images)
