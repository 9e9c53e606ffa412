"""Gain-selected events split back into two gains, and what the export writes of them."""

from __future__ import annotations

import numpy as np
from calibd.handlers.camera.gain_selection import channel_use, fill_unmeasured, split_by_gain
from calibd.handlers.camera.monitoring_export import _in_measured_gain


def test_split_by_gain_puts_each_value_in_its_gain_and_nan_elsewhere():
    values = np.arange(6, dtype=np.float32).reshape(2, 1, 3)
    gain = np.array([[0, 1, -1], [1, 1, 0]], dtype=np.int8)
    out = split_by_gain(values, gain)
    assert out.shape == (2, 2, 3)
    np.testing.assert_array_equal(out[:, 0], [[0, np.nan, np.nan], [np.nan, np.nan, 5]])
    np.testing.assert_array_equal(out[:, 1], [[np.nan, 1, np.nan], [3, 4, np.nan]])


def test_channel_use_takes_the_dominant_gain_and_its_minority_share():
    n = np.array([[1000, 0, 990, 0], [0, 1000, 10, 0]])
    measured, share = channel_use(n)
    np.testing.assert_array_equal(measured, [[1, 0, 1, 1], [0, 1, 0, 0]])
    np.testing.assert_allclose(share, [0, 0, 0.01, 0])


def test_unmeasured_or_undefined_gains_are_applied_as_the_identity():
    measured = np.array([[True, False], [False, True]])
    c = {
        "factor_applied": np.array([[1.1, 7.0], [9.0, np.nan]]),
        "pedestal_offset": np.array([[0.2, 7.0], [9.0, 0.3]]),
        "time_shift_applied": np.array([[0.5, 7.0], [9.0, -0.5]]),
    }
    fill_unmeasured(c, measured)
    np.testing.assert_array_equal(c["factor_applied"], [[1.1, 1.0], [1.0, 1.0]])
    np.testing.assert_array_equal(c["pedestal_offset"], [[0.2, 0.0], [0.0, 0.3]])
    np.testing.assert_array_equal(c["time_shift_applied"], [[0.5, 0.0], [0.0, -0.5]])
    assert c["measured"] is measured


def test_the_export_writes_each_pixel_in_its_measured_gain():
    arrays = {"measured": np.array([[True, False, True], [False, True, False]])}
    a = np.array([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]])
    np.testing.assert_array_equal(_in_measured_gain(arrays, a), [[1.0, 5.0, 3.0]])
    assert _in_measured_gain({}, a) is not None and _in_measured_gain({}, a).shape == (2, 3)
