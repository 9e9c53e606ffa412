"""Compressed input files (gzip, bzip2, xz, zip): their decompressed size, streamed with a cap.

astropy opens such files transparently and decompresses them whole into memory or a
temporary file, so a small file can expand without bound (a 4 MB gzip of zeros is 4 GiB).
`check_decompressed` streams the data through the library's decompressor, a block at a time,
and stops as soon as the decompressed bytes pass the limit: memory stays at one block.
"""

from __future__ import annotations

import bz2
import gzip
import lzma
import zipfile
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO

from calibd.errors import BadInput

__all__ = ["check_decompressed", "compression_of"]

_BLOCK = 1 << 20
# magic bytes, as astropy.io.fits recognises them (LZW needs an optional package)
_MAGIC = (
    (b"\x1f\x8b", "gzip"),
    (b"BZh", "bzip2"),
    (b"\xfd7zXZ\x00", "xz"),
    (b"PK\x03\x04", "zip"),
    (b"\x1f\x9d", "lzw"),
)
_CORRUPT = (EOFError, OSError, zlib.error, lzma.LZMAError, zipfile.BadZipFile, ValueError)


def compression_of(path: Path) -> str | None:
    """'gzip', 'bzip2', 'xz', 'zip', 'lzw' from the file's first bytes; None if plain."""
    with path.open("rb") as fh:
        head = fh.read(6)
    return next((kind for magic, kind in _MAGIC if head.startswith(magic)), None)


@contextmanager
def _streams(path: Path, kind: str) -> Iterator[list[IO[bytes]]]:
    if kind == "zip":
        with zipfile.ZipFile(path) as zf:
            members = [zf.open(info) for info in zf.infolist() if not info.is_dir()]
            try:
                yield members
            finally:
                for member in members:
                    member.close()
        return
    opener = {"gzip": gzip.open, "bzip2": bz2.open, "xz": lzma.open}[kind]
    with opener(path, "rb") as stream:
        yield [stream]


def _limit(max_file: int | None, max_decompressed: int | None) -> tuple[int | None, str]:
    """The smaller limit and the setting it comes from."""
    limits = [
        (v, k)
        for v, k in (
            (max_decompressed, "pipeline.max_decompressed_bytes"),
            (max_file, "pipeline.max_file_bytes"),
        )
        if v is not None
    ]
    return min(limits) if limits else (None, "")


def check_decompressed(
    path: Path, name: str, max_bytes: int | None, max_decompressed: int | None = None
) -> int | None:
    """Decompressed size of a compressed file (None for a plain one); BadInput when it
    exceeds the smaller of `max_bytes` and `max_decompressed`, when the compressed data are
    corrupt, or for LZW (.Z) files.

    Blocking and CPU-bound for large files (a thread, like the checksum).
    """
    kind = compression_of(path)
    if kind is None:
        return None
    if kind == "lzw":
        raise BadInput(f"{name}: LZW (.Z) compression is not supported; use gzip, bzip2 or xz")
    limit, setting = _limit(max_bytes, max_decompressed)
    total = 0
    try:
        with _streams(path, kind) as streams:
            for stream in streams:
                while block := stream.read(_BLOCK):
                    total += len(block)
                    if limit is not None and total > limit:
                        raise BadInput(
                            f"{name}: {kind} data decompress to more than {limit} bytes "
                            f"({setting} limits the decompressed size)"
                        )
    except BadInput:
        raise
    except _CORRUPT as exc:
        raise BadInput(f"{name}: corrupt {kind} data ({exc})") from None
    return total
