"""The shared argument checks: one contract (type -> TypeError, domain -> ValueError, named)."""
import numpy as np
import pytest

from qlsgan_tf import validation as v


def test_check_int_returns_python_ints_and_names_the_argument():
    assert v.check_int("n", np.int64(3), 1) == 3 and type(v.check_int("n", np.int64(3))) is int
    assert v.check_int("k", 0, 0, 4) == 0
    with pytest.raises(TypeError, match=r"^n must be a positive int, got True\.$"):
        v.check_int("n", True, 1)
    with pytest.raises(ValueError, match=r"^n must be a positive int, got 0\.$"):
        v.check_int("n", 0, 1)
    with pytest.raises(ValueError, match=r"k must be an int in \[0, 4\], got 5"):
        v.check_int("k", 5, 0, 4)
    with pytest.raises(ValueError, match="must be an int >= 2, got 1"):
        v.check_int("n_qubits", 1, 2)
    assert v.check_optional_int("seed", None) is None


def test_wrong_types_are_type_errors_that_callers_may_catch_as_value_errors():
    for call in (lambda: v.check_int("n", 2.0), lambda: v.check_finite_float("x", "1"),
                 lambda: v.check_probability("p", None)):
        with pytest.raises(TypeError) as info:
            call()
        assert isinstance(info.value, ValueError)


def test_check_finite_float_bounds():
    assert v.check_finite_float("lr", np.float32(0.5), 0.0, exclusive_minimum=True) == 0.5
    assert v.check_finite_float("w", 0, 0.0) == 0.0
    for bad in (float("nan"), float("inf"), -1.0):
        with pytest.raises(ValueError, match="w must be a finite number >= 0.0"):
            v.check_finite_float("w", bad, 0.0)
    with pytest.raises(ValueError, match="> 0.0"):
        v.check_finite_float("lr", 0.0, 0.0, exclusive_minimum=True)
    with pytest.raises(ValueError, match=">= 0 and <= 1"):
        v.check_finite_float("t", 2.0, 0, 1)


def test_check_probability_and_choice():
    assert v.check_probability("p", 1) == 1.0
    with pytest.raises(ValueError, match=r"dropout must be a number in \[0, 1\)"):
        v.check_probability("dropout", 1.0, open_high=True)
    with pytest.raises(ValueError, match=r"\(0, 1\)"):
        v.check_probability("f", 0.0, open_low=True, open_high=True)
    assert v.check_choice("loss", "bce", ("wgan-gp", "bce")) == "bce"
    with pytest.raises(ValueError, match=r"loss must be one of \('wgan-gp', 'bce'\), got 'x'"):
        v.check_choice("loss", "x", ("wgan-gp", "bce"))
    with pytest.raises(ValueError, match="one of"):
        v.check_choice("loss", ["x"], {"bce"})  # unhashable: not a member, no TypeError


def test_check_samples():
    out = v.check_samples("real", [[1, 2], [3, 4]], where="FD")
    assert out.dtype == np.float64 and out.shape == (2, 2)
    with pytest.raises(ValueError, match="FD: real has 1 sample"):
        v.check_samples("real", [[1.0]], where="FD")
    with pytest.raises(ValueError, match="dimension 3; expected 1 to 2"):
        v.check_samples("z", np.zeros((4, 3)), where="SWD", max_dim=2)
    with pytest.raises(TypeError, match="numeric"):
        v.check_samples("z", np.array([["a"], ["b"]]), where="SWD")


def test_as_images_input_ranges():
    from qlsgan_tf.data import as_images, normalize

    pixels = np.random.default_rng(0).integers(0, 256, (3, 28, 28, 4), dtype=np.uint8)
    np.testing.assert_allclose(as_images(pixels, input_range="uint8"), normalize(pixels),
                               atol=1e-6)
    floats = as_images(pixels, input_range="uint8_or_tanh")
    assert floats.dtype == np.float32 and floats.min() >= -1 and floats.max() <= 1
    np.testing.assert_array_equal(as_images(floats, input_range="tanh"), floats)
    with pytest.raises(TypeError, match="normalize"):
        as_images(pixels, input_range="tanh")
    with pytest.raises(TypeError, match="uint8 pixels 0..255"):
        as_images(floats, input_range="uint8")
    with pytest.raises(ValueError, match=r"must lie in \[-1, 1\]"):
        as_images(floats * 3, input_range="uint8_or_tanh")
    with pytest.raises(ValueError, match="4 bands"):
        as_images(floats[..., :3], input_range="tanh", name="fake")
    with pytest.raises(ValueError, match="input_range must be one of"):
        as_images(floats, input_range="unit")
