from __future__ import annotations

import numpy as np
import pytest

from hwsim.quantise import code_dtype, from_codes, lsb, quantise, to_codes


def test_codes_cover_full_scale_and_clip():
    x = np.array([-5.0, -1.0, 0.0, 1.0, 5.0])
    codes = to_codes(x, (-1.0, 1.0), 12)
    assert codes.dtype == np.uint16
    assert codes.tolist() == [0, 0, 2048, 4095, 4095]  # 2047.5 rounds half to even
    np.testing.assert_allclose(from_codes(codes, (-1.0, 1.0), 12)[[0, -1]], [-1.0, 1.0])


def test_quantise_is_idempotent_and_on_grid():
    x = np.random.default_rng(0).uniform(-2, 2, 1000)
    q = quantise(x, (-1.0, 1.0), 8)
    np.testing.assert_array_equal(quantise(q, (-1.0, 1.0), 8), q)
    assert len(np.unique(q)) <= 256
    steps = (q.astype(np.float64) + 1.0) / lsb((-1.0, 1.0), 8)
    np.testing.assert_allclose(steps, np.rint(steps), atol=1e-4)


def test_none_bits_pass_float32_through_and_bad_bits_fail():
    x = np.array([0.1234567, 9.0])
    np.testing.assert_array_equal(quantise(x, (-1, 1), None), x.astype(np.float32))
    assert code_dtype(2) == np.uint8 and code_dtype(16) == np.dtype("<u2")
    with pytest.raises(ValueError):
        code_dtype(0)
