"""handlers/reference_hdf5.py: ctapipe's table conventions without ctapipe."""

from __future__ import annotations

import numpy as np
import pytest
import tables
from astropy.time import Time
from calibd.handlers.reference_hdf5 import Column, high_res_times, write_reference_table


def test_times_are_encoded_as_ctapipe_encodes_them():
    time_to_ctao_high_res = pytest.importorskip("ctapipe.time").time_to_ctao_high_res
    t = Time([61000.123456789, 60000.5, 61500.999999], format="mjd", scale="utc")
    np.testing.assert_array_equal(high_res_times(t), time_to_ctao_high_res(t))
    with pytest.raises(ValueError, match="ctao_high_res range"):
        high_res_times(Time(["1960-01-01"], scale="utc"))


def test_columns_read_back_by_ctapipe(tmp_path):
    read_table = pytest.importorskip("ctapipe.io").read_table
    t = Time([61000.25, 61000.5], format="mjd", scale="utc")
    with tables.open_file(tmp_path / "t.h5", "w") as h5:
        write_reference_table(
            h5,
            "/a/b",
            {
                "x": Column(np.array([1.0, 2.0]), "quantity", "nm"),
                "name": Column(["é", "bb"], "string"),
                "time": Column(high_res_times(t), "time"),
                "n": Column(np.array([1, 2], np.int32)),
            },
            {"KEY": "value"},
        )
        with pytest.raises(ValueError, match="different lengths"):
            write_reference_table(h5, "/c", {"a": Column([1]), "b": Column([1, 2])})
    table = read_table(tmp_path / "t.h5", "/a/b")
    assert str(table["x"].unit) == "nm" and list(table["name"]) == ["é", "bb"]
    assert np.all(np.abs((table["time"] - t).to_value("s")) < 1e-6)
    assert table["n"].dtype == np.int32 and table.meta["KEY"] == "value"
