"""Resolving the data files messages name: inside the data roots, existing, within the size
limits (compressed files: their decompressed size too), checksum verified."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote, urlparse

from calibd.decompression import check_decompressed
from calibd.errors import BadInput

__all__ = ["InputFile", "resolve_data_file"]


@dataclass(frozen=True)
class InputFile:
    """A verified input file, as recorded in provenance."""

    uri: str
    path: str
    sha256: str
    size_bytes: int


def _sha256(path: Path) -> str:
    with path.open("rb") as fh:
        return hashlib.file_digest(fh, "sha256").hexdigest()


def resolve_data_file(
    uri: str,
    roots: list[Path],
    expected_sha256: str | None = None,
    max_bytes: int | None = None,
    max_decompressed_bytes: int | None = None,
) -> InputFile:
    """Resolve `uri` (path, path relative to the first root, or file:// URI).

    The path is resolved through every symlink and must then lie inside one of `roots`
    (already resolved), so `../../etc/passwd` and symlink escapes are refused. `max_bytes`
    limits the file's size; a gzip/bzip2/xz/zip file's decompressed size is limited by
    `max_decompressed_bytes` and `max_bytes` (streamed with a cap: astropy decompresses such
    files into memory). Blocking (hashes the file): call it in a thread.
    """
    if "://" in uri:
        parsed = urlparse(uri)
        if parsed.scheme != "file" or parsed.netloc not in ("", "localhost"):
            raise BadInput(f"{uri}: only file:// URIs and paths are supported")
        raw = Path(unquote(parsed.path))
    else:
        raw = Path(uri)
    if "\x00" in str(raw):
        raise BadInput(f"file uri {uri!r}: contains a NUL byte, which no path can hold")
    if not roots:
        raise BadInput(f"{uri}: no data roots are configured")
    candidate = raw if raw.is_absolute() else roots[0] / raw
    try:
        path = candidate.resolve(strict=True)
    except FileNotFoundError:
        raise BadInput(f"{uri}: file not found") from None
    except (OSError, RuntimeError, ValueError) as exc:
        raise BadInput(f"{uri}: cannot resolve path: {exc}") from None
    if not any(path.is_relative_to(root) for root in roots):
        raise BadInput(f"{uri}: resolves to {path}, outside the data roots")
    if not path.is_file():
        raise BadInput(f"{uri}: not a regular file")
    size = path.stat().st_size
    if max_bytes is not None and size > max_bytes:
        raise BadInput(f"{uri}: {size} bytes exceeds the limit of {max_bytes}")
    check_decompressed(path, uri, max_bytes, max_decompressed_bytes)  # gzip/bzip2/xz/zip
    digest = _sha256(path)
    if expected_sha256 is not None and digest != expected_sha256.lower():
        raise BadInput(f"{uri}: sha256 mismatch (expected {expected_sha256}, file has {digest})")
    return InputFile(uri=uri, path=str(path), sha256=digest, size_bytes=size)
