"""normalize/denormalize, make_dataset (deterministic, lazy over memory maps), dihedral_augment."""
import numpy as np
import pytest

from qlsgan_tf.data import (
    DIHEDRAL_TRANSFORMS,
    convert_to_cache,
    denormalize,
    dihedral_augment,
    dihedral_transform,
    load_sat4,
    make_dataset,
    normalize,
)


@pytest.fixture(scope="module")
def train(sat4_sample_dir):
    return load_sat4(sat4_sample_dir, "train")


def test_normalize_formula_and_inverse():
    pixels = np.arange(256, dtype=np.uint8).reshape(1, 8, 8, 4)
    x = normalize(pixels)
    assert x.dtype == np.float32
    np.testing.assert_allclose(x, (pixels.astype(np.float64) - 127.5) / 127.5, atol=1e-7)
    assert x.min() == -1.0 and x.max() == 1.0
    np.testing.assert_array_equal(denormalize(x), pixels)
    np.testing.assert_allclose(normalize(pixels, "unit"), pixels / 255.0, atol=1e-7)
    np.testing.assert_array_equal(denormalize(normalize(pixels, "unit"), "unit"), pixels)
    # Out-of-range generator output is clipped, not wrapped.
    np.testing.assert_array_equal(denormalize(np.array([-1.7, 1.3, 0.0])), [0, 255, 128])


def test_normalize_errors():
    with pytest.raises(TypeError, match="uint8"):
        normalize(np.zeros((1, 28, 28, 4), np.float32))
    with pytest.raises(ValueError, match="normalize must be one of"):
        normalize(np.zeros((1, 28, 28, 4), np.uint8), "sigmoid")
    with pytest.raises(ValueError, match="NaN"):
        denormalize(np.array([np.nan]))


def _batches(ds):
    return [tuple(np.asarray(t) for t in b) if isinstance(b, tuple) else np.asarray(b)
            for b in ds]


def test_make_dataset_deterministic_for_a_seed(train):
    one = make_dataset(train.images, batch_size=16, seed=7)
    two = make_dataset(train.images, batch_size=16, seed=7)
    epochs_one = [_batches(one) for _ in range(2)]
    epochs_two = [_batches(two) for _ in range(2)]
    for a, b in zip(epochs_one, epochs_two):
        assert len(a) == len(b) == 4
        for x, y in zip(a, b):
            np.testing.assert_array_equal(x, y)
    first = np.concatenate(epochs_one[0])
    # Reshuffled each epoch, and a different seed gives a different order.
    assert not np.array_equal(first, np.concatenate(epochs_one[1]))
    other = np.concatenate(_batches(make_dataset(train.images, batch_size=16, seed=8)))
    assert not np.array_equal(first, other)
    # Each epoch is a permutation of the normalized images.
    want = normalize(train.images).reshape(50, -1)
    got = first.reshape(50, -1)
    np.testing.assert_array_equal(got[np.lexsort(got.T[::-1])], want[np.lexsort(want.T[::-1])])


def test_make_dataset_values_and_labels(train):
    ds = make_dataset(train, batch_size=20, shuffle=False)
    batches = _batches(ds)
    assert [b[0].shape for b in batches] == [(20, 28, 28, 4), (20, 28, 28, 4), (10, 28, 28, 4)]
    images = np.concatenate([b[0] for b in batches])
    labels = np.concatenate([b[1] for b in batches])
    assert images.dtype == np.float32 and labels.dtype == np.int64
    np.testing.assert_allclose(images, (train.images.astype(np.float64) - 127.5) / 127.5,
                               atol=1e-7)
    np.testing.assert_array_equal(labels, train.labels)
    np.testing.assert_array_equal(denormalize(images), train.images)

    (images, labels), = _batches(make_dataset((train.images, train.labels), 50, seed=3))
    assert not np.array_equal(labels, train.labels)  # shuffled ...
    for image, label in zip(denormalize(images), labels):  # ... and still paired
        idx = np.flatnonzero((train.images == image).all(axis=(1, 2, 3)))
        assert idx.size == 1 and train.labels[idx[0]] == label
    raw = _batches(make_dataset(train, 32, shuffle=False, normalize=None, with_labels=False,
                                drop_remainder=True))
    assert len(raw) == 1 and raw[0].dtype == np.uint8
    np.testing.assert_array_equal(raw[0], train.images[:32])


def test_make_dataset_over_memory_map(sat4_sample_dir, tmp_path, train):
    convert_to_cache(sat4_sample_dir, tmp_path / "c")
    mapped = load_sat4(tmp_path / "c", "train")
    assert isinstance(mapped.images, np.memmap)
    got = np.concatenate(_batches(make_dataset(mapped.images, 8, seed=1)))
    want = np.concatenate(_batches(make_dataset(train.images, 8, seed=1)))
    np.testing.assert_array_equal(got, want)


def test_make_dataset_errors(train):
    with pytest.raises(TypeError, match="uint8"):
        make_dataset(train.images.astype(np.float32), 4)
    with pytest.raises(ValueError, match=r"\[N, 28, 28, 4\]"):
        make_dataset(train.images[..., :3], 4)
    with pytest.raises(ValueError, match="batch_size"):
        make_dataset(train.images, 0)
    with pytest.raises(ValueError, match="50 images but 49 labels"):
        make_dataset((train.images, train.labels[:49]), 4)
    with pytest.raises(ValueError, match="no labels"):
        make_dataset(train.images, 4, with_labels=True)
    with pytest.raises(TypeError, match="Sat4Data"):
        make_dataset("images", 4)


def test_dihedral_eight_distinct_and_invertible(train):
    images = train.images[:6]
    out, labels = dihedral_augment(images, train.labels[:6])
    assert out.shape == (48, 28, 28, 4) and labels.tolist() == train.labels[:6].tolist() * 8
    blocks = out.reshape(8, 6, 28, 28, 4)
    for i in range(8):
        for j in range(i + 1, 8):
            assert not np.array_equal(blocks[i], blocks[j]), (i, j)
        np.testing.assert_array_equal(dihedral_transform(blocks[i], i, inverse=True), images)
    # Independent reference: the 8 symmetries as explicit index maps on a labelled grid.
    grid = np.arange(9).reshape(1, 3, 3, 1)
    refs = {
        "identity": grid, "rot90": np.rot90(grid, 1, (1, 2)), "rot180": grid[:, ::-1, ::-1],
        "rot270": np.rot90(grid, 3, (1, 2)), "flip-lr": grid[:, :, ::-1],
        "flip-ud": grid[:, ::-1], "transpose": grid.transpose(0, 2, 1, 3),
        "anti-transpose": grid[:, ::-1, ::-1].transpose(0, 2, 1, 3),
    }
    got = dihedral_augment(grid)
    matched = {name for name, ref in refs.items() for g in got if np.array_equal(g, ref[0])}
    assert matched == set(refs)
    assert len(DIHEDRAL_TRANSFORMS) == 8
    np.testing.assert_array_equal(got[0], grid[0])  # block 0 is the identity


def test_dihedral_errors():
    with pytest.raises(ValueError, match="square"):
        dihedral_augment(np.zeros((1, 4, 5, 1)))
    with pytest.raises(ValueError, match=r"\[N, H, W, C\]"):
        dihedral_augment(np.zeros((4, 4)))
    with pytest.raises(ValueError, match="0..7"):
        dihedral_transform(np.zeros((1, 4, 4, 1)), 8)
