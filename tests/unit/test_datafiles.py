"""Data files named by messages: inside the data roots, existing, checksum verified."""

from __future__ import annotations

import hashlib
import os

import pytest

from calibd.datafiles import resolve_data_file
from calibd.errors import BadInput


@pytest.fixture
def root(tmp_path):
    r = tmp_path / "data"
    (r / "runs").mkdir(parents=True)
    (r / "runs" / "a.fits").write_bytes(b"abc")
    return r.resolve()


def test_relative_absolute_and_uri_forms(root):
    digest = hashlib.sha256(b"abc").hexdigest()
    for uri in ("runs/a.fits", str(root / "runs/a.fits"), (root / "runs/a.fits").as_uri()):
        found = resolve_data_file(uri, [root], digest)
        assert found.path == str(root / "runs/a.fits") and found.sha256 == digest
        assert found.size_bytes == 3


@pytest.mark.parametrize("uri", ["../../etc/passwd", "/etc/passwd", "runs/../../outside"])
def test_paths_outside_the_roots_are_refused(root, uri):
    (root.parent / "outside").write_text("x")
    with pytest.raises(BadInput, match="outside the data roots|not found"):
        resolve_data_file(uri, [root])


def test_symlink_escape_is_refused(root, tmp_path):
    secret = tmp_path / "secret.txt"
    secret.write_text("s")
    os.symlink(secret, root / "runs" / "link.fits")
    with pytest.raises(BadInput, match="outside the data roots"):
        resolve_data_file("runs/link.fits", [root])


def test_missing_file_checksum_mismatch_and_foreign_scheme(root):
    with pytest.raises(BadInput, match="runs/nope.fits: file not found"):
        resolve_data_file("runs/nope.fits", [root])
    with pytest.raises(BadInput, match="sha256 mismatch"):
        resolve_data_file("runs/a.fits", [root], "0" * 64)
    with pytest.raises(BadInput, match="only file://"):
        resolve_data_file("https://example.org/a.fits", [root])
    with pytest.raises(BadInput, match="exceeds the limit"):
        resolve_data_file("runs/a.fits", [root], max_bytes=2)
