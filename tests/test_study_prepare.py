"""The study's shared floor and bounds: same sample sizes as an evaluation, held-out data."""
import json

import numpy as np
import pytest

from qlsgan_tf import data as data_lib
from qlsgan_tf.metrics import distances
from qlsgan_tf.study import prepare, presets


@pytest.fixture(scope="module", name="prepared")
def fixture_prepared(tmp_path_factory, sat4_sample_dir):
    """A study directory prepared with a one-epoch VAE (latent 2) given by path."""
    from qlsgan_tf.training import vae_fit

    root = tmp_path_factory.mktemp("prep")
    vae_dir = root / "vae"
    vae_fit.train_vae(sat4_sample_dir, vae_dir, latent_dim=2, epochs=1, augment=False,
                         verbose=0)
    config = presets.make_config("smoke", vae=str(vae_dir), n_fid_samples=64)
    resources = prepare.prepare(config, sat4_sample_dir, root / "study", log=lambda *_: None)
    info = json.loads((root / "study" / "prepared.json").read_text())
    return config, resources, info, vae_fit.load_vae(vae_dir), sat4_sample_dir


def test_floor_is_at_the_evaluation_sample_sizes(prepared):
    config, resources, info, _, _ = prepared
    floor = info["floor"]
    # A generator is scored as the reference set against n_fid_samples generated patches.
    assert floor["n_real"] == len(resources.real_activations) == info["data"]["n_reference"]
    assert floor["n_fake"] == config.n_fid_samples
    # 20 test patches x 8 dihedral copies = 160 held-out patches >= 64: drawn without replacement.
    assert floor["n_heldout"] == 160 and floor["sampling"] == "without replacement"
    assert floor["fd"] > 0 and resources.floor == floor["fd"]


def test_reconstruction_bound_decodes_held_out_latents(prepared):
    config, resources, info, vae, data_dir = prepared
    from qlsgan_tf.training import latents as latents_lib

    test = data_lib.load_sat4(data_dir, split="test")
    heldout = data_lib.normalize(data_lib.dihedral_augment(np.asarray(test.images)))
    held_latents = latents_lib.encode_latents(vae, heldout)
    net = resources.feature_net

    def bound(latents):
        rng = np.random.default_rng(0)
        rng.uniform(-1, 1, (config.n_fid_samples, latents.shape[1]))  # the random bound's draw
        picks = latents[rng.choice(len(latents), size=config.n_fid_samples,
                                   replace=len(latents) < config.n_fid_samples)]
        return distances.fd_sat4_from_activations(
            resources.real_activations, net.features(np.asarray(vae.decode(picks)))).fd

    recorded = info["baselines"]["2"]["reconstructions"]["fd"]
    assert recorded == pytest.approx(bound(held_latents), rel=1e-5)
    # Decoding the reference set's own latents (what it was compared with) gives another value.
    assert recorded != pytest.approx(bound(resources.latents[2]), rel=1e-6)


def test_floor_bootstraps_a_small_held_out_set():
    rng = np.random.default_rng(0)
    reference, held = rng.normal(size=(80, 8)), rng.normal(size=(30, 8))
    floor = prepare.floor_at_eval_sizes(reference, held, 50, n_rep=3)
    assert floor["sampling"] == "bootstrap" and floor["n_fake"] == 50 and floor["n_real"] == 80
    assert floor == prepare.floor_at_eval_sizes(reference, held, 50, n_rep=3)
