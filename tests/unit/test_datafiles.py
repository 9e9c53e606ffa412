"""Data files named by messages: inside the data roots, existing, checksum verified."""

from __future__ import annotations

import bz2
import gzip
import hashlib
import lzma
import os
import tracemalloc
import zipfile
import zlib

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


@pytest.mark.parametrize("uri", ["runs/a\x00.fits", "file:///data/runs/a%00.fits"])
def test_a_nul_byte_in_a_uri_is_bad_input(root, uri):
    with pytest.raises(BadInput, match="contains a NUL byte"):
        resolve_data_file(uri, [root])


def _compress(kind: str, data: bytes, path) -> None:
    if kind == "zip":
        with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
            zf.writestr("run.fits", data)
        return
    opener = {"gzip": gzip.open, "bzip2": bz2.open, "xz": lzma.open}[kind]
    with opener(path, "wb") as fh:
        fh.write(data)


@pytest.mark.parametrize("kind", ["gzip", "bzip2", "xz", "zip"])
def test_the_limit_applies_to_decompressed_bytes(root, kind):
    path = root / "runs" / f"bomb.{kind}"
    _compress(kind, bytes(8 * 2**20), path)  # 8 MiB of zeros: a few kB compressed
    compressed = path.stat().st_size
    assert compressed < 2**20
    with pytest.raises(BadInput, match=f"{kind} data decompress to more than {2**20} bytes"):
        resolve_data_file(f"runs/bomb.{kind}", [root], max_bytes=2**20)
    found = resolve_data_file(f"runs/bomb.{kind}", [root], max_bytes=8 * 2**20)
    assert found.size_bytes == compressed  # within the limit: accepted, raw size recorded
    with pytest.raises(BadInput, match="pipeline.max_decompressed_bytes limits the decompressed"):
        resolve_data_file(f"runs/bomb.{kind}", [root], None, 2**30, max_decompressed_bytes=2**20)


def test_a_gzip_bomb_is_refused_in_bounded_memory(root):
    """256 MiB of zeros in a 256 kB gzip file: refused past max_bytes, never held in memory."""
    path = root / "runs" / "bomb.fits.gz"
    block = zlib.compressobj(9, zlib.DEFLATED, 31)
    chunk = bytes(2**24)
    with path.open("wb") as fh:
        for _ in range(16):
            fh.write(block.compress(chunk))
        fh.write(block.flush())
    assert path.stat().st_size < 2**20
    tracemalloc.start()
    try:
        with pytest.raises(BadInput, match=f"decompress to more than {2**26} bytes"):
            resolve_data_file("runs/bomb.fits.gz", [root], max_bytes=2**26)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 16 * 2**20


def test_corrupt_compressed_data_is_bad_input(root):
    good = gzip.compress(bytes(2**16))
    (root / "runs" / "cut.fits.gz").write_bytes(good[: len(good) // 2])
    with pytest.raises(BadInput, match="runs/cut.fits.gz: corrupt gzip data"):
        resolve_data_file("runs/cut.fits.gz", [root])
