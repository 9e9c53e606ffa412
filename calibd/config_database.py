"""The settings' base section, secrets read from files, and the database section (SQLite by
default, PostgreSQL for `database.url`); re-exported by calibd.config."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_serializer, field_validator

from calibd.errors import ConfigurationError
from calibd.redact import redacted_url

__all__ = ["DatabaseSettings", "SecretFile", "Section"]


class Section(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True)


class SecretFile(Section):
    """A secret read from a file (e.g. a systemd credential); the value is never logged."""

    path: Path

    def read(self) -> str:
        try:
            return self.path.read_text().strip()
        except OSError as exc:
            raise ConfigurationError(f"cannot read secret file {self.path}: {exc}") from None


class DatabaseSettings(Section):
    """SQLite at `path` (the default), or PostgreSQL at `url`."""

    path: Path | None = Field(default=None, description="Default: <data_dir>/calibd.sqlite")
    busy_timeout_ms: int = Field(default=10_000, ge=0, le=600_000)
    url: str | None = Field(
        default=None,
        description="PostgreSQL instead of SQLite: postgresql://user@host:port/dbname "
        "(a password here is never logged; prefer password_file)",
    )
    password_file: Path | None = Field(
        default=None, description="The PostgreSQL password, e.g. a systemd credential"
    )
    sslmode: Literal["disable", "allow", "prefer", "require", "verify-ca", "verify-full"] | None = (
        None
    )
    sslrootcert: Path | None = None
    sslcert: Path | None = None
    sslkey: Path | None = None
    pool_size: int = Field(default=4, ge=1, le=100, description="PostgreSQL connections")
    reconnect_s: float = Field(
        default=60.0,
        ge=0,
        le=86_400,
        description="PostgreSQL: how long a call is tried again while the server cannot be "
        "reached (restarted, network cut) before it is a storage fault and the daemon stops",
    )

    @field_validator("url")
    @classmethod
    def _postgres_url(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith(("postgresql://", "postgres://")):
            raise ValueError("must be a postgresql:// URL")  # the value may hold a password
        return value

    @field_serializer("url")
    def _url_shown(self, value: str | None) -> str | None:
        return None if value is None else redacted_url(value)
