"""calibd settings: defaults < TOML file (`--config`) < environment (`CALIBD_...`) < CLI overrides.

Nested keys use `__` in the environment (`CALIBD_KAFKA__BOOTSTRAP_SERVERS=host:9092`) and dots
on the command line (`--set kafka.enabled=true`). Every invalid value is reported as one line
naming its dotted key. The defaults run on one machine with no set-up: an SQLite file under
the data dir and no broker (`replay` and `demo` need none).
"""

from __future__ import annotations

import hashlib
import json
import os
import socket
import tomllib
from pathlib import Path
from typing import Any, Literal

from pydantic import (
    Field,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    SettingsError,
    TomlConfigSettingsSource,
)

from calibd.config_database import DatabaseSettings, SecretFile, Section
from calibd.config_input import format_errors, parse_overrides
from calibd.config_transports import (
    AcadaTriggerSettings,
    KafkaSettings,
    MqttSettings,
)
from calibd.config_transports import (
    ordered as _ordered,
)
from calibd.errors import ConfigurationError
from calibd.store.rules import Category

__all__ = [
    "DatabaseSettings",
    "SecretFile",
    "Section",
    "Settings",
    "config_hash",
    "format_errors",
    "load_settings",
    "parse_overrides",
]


def _default_data_dir() -> Path:
    base = os.environ.get("STATE_DIRECTORY") or os.environ.get("XDG_DATA_HOME")
    return Path(base) / "calibd" if base else Path.home() / ".local" / "share" / "calibd"


class PipelineSettings(Section):
    max_in_flight: int = Field(
        default=256, ge=1, le=100_000, description="Messages processed at once"
    )
    workers: int = Field(default=max(1, (os.cpu_count() or 2) - 1), ge=1, le=256)
    commit_batch_max: int = Field(default=500, ge=1, le=100_000)
    config_follow_s: float = Field(
        default=5.0,
        ge=0.1,
        le=3600,
        description="How often a configuration version recorded by another instance sharing "
        "the database is looked for and taken in",
    )
    inbox_lease_s: float = Field(
        default=60.0,
        ge=1,
        le=86_400,
        description="How long an instance's hold on its inbox rows lasts (renewed every "
        "third): past it, another instance sharing the database takes them over",
    )
    wait_claim_lease_s: float = Field(
        default=120.0,
        ge=1,
        le=86_400,
        description="How long the waits loop's claim on a due wait holds: another instance "
        "(or this one after a crash) acts on it only after that; a wait acted on twice still "
        "completes once",
    )
    handler_modules: list[str] = Field(
        default=["calibd.handlers"],
        description="Modules imported at start-up that register handlers; later ones may replace",
    )
    retry_attempts: int = Field(
        default=5, ge=0, le=100, description="Retries after the first attempt"
    )
    retry_backoff_s: float = Field(
        default=2.0, gt=0, le=86_400, description="First retry delay; doubles"
    )
    retry_max_backoff_s: float = Field(default=600.0, gt=0, le=86_400)
    handler_timeout_s: float | None = Field(
        default=3600.0,
        gt=0,
        le=7 * 86_400,
        description="A handler running longer is stopped and retried",
    )
    max_file_bytes: int = Field(
        default=50 * 2**30,
        ge=1,
        le=2**44,
        description="Largest input file (16 TiB at most); for gzip/bzip2/xz/zip also its "
        "decompressed size",
    )
    max_decompressed_bytes: int = Field(
        default=2 * 2**30,
        ge=1,
        le=2**40,
        description="Largest decompressed size of a gzip/bzip2/xz/zip input (held in memory)",
    )
    max_message_bytes: int = Field(default=16 * 2**20, ge=1024, le=2**30)

    @model_validator(mode="after")
    def _backoff_ordered(self) -> PipelineSettings:
        _ordered(
            self.retry_backoff_s,
            self.retry_max_backoff_s,
            "retry_backoff_s",
            "retry_max_backoff_s",
        )
        return self


class OutboxSettings(Section):
    batch_size: int = Field(default=500, ge=1, le=100_000)
    claim_lease_s: float = Field(
        default=60.0,
        ge=1,
        le=3600,
        description="How long a relay's claim on the rows it publishes holds: another "
        "instance's relay publishes them only after it expires (a dead instance's rows)",
    )
    retry_min_s: float = Field(default=0.2, gt=0, le=3600)
    retry_max_s: float = Field(default=30.0, gt=0, le=3600)

    @model_validator(mode="after")
    def _backoff_ordered(self) -> OutboxSettings:
        _ordered(self.retry_min_s, self.retry_max_s, "retry_min_s", "retry_max_s")
        return self


class OperationsSettings(Section):
    http_host: str = "127.0.0.1"
    http_port: int | None = Field(
        default=None, ge=0, le=65535, description="/healthz, /readyz, /metrics; None: off"
    )
    summary_interval_s: float = Field(default=60.0, gt=0, le=86_400)
    shutdown_timeout_s: float = Field(
        default=60.0,
        gt=0,
        le=3600,
        description="Finish in-flight work within this; keep < TimeoutStopSec",
    )
    handler_warn_s: float = Field(
        default=300.0, gt=0, le=7 * 86_400, description="Warn about slower handlers"
    )


class ConfigChangeSettings(Section):
    """Who may change what at run time (`ctao.calibpipe.config_change`), by the envelope's
    `source` (exact, or a glob such as `ctao.soss/*`). Key prefixes are dotted:
    `handlers.camera` covers every `handlers.camera.*` key, `*` every changeable key."""

    operator_sources: list[str] = Field(
        default=["ctao.soss/operator"],
        description="Sources that may change every run-time setting",
    )
    allowed_sources: dict[str, list[str]] = Field(
        default_factory=dict,
        description="Further sources -> the key prefixes each may change",
    )

    @field_validator("allowed_sources")
    @classmethod
    def _changeable_prefixes(cls, v: dict[str, list[str]]) -> dict[str, list[str]]:
        roots = ("default_category", "handlers", "profiles")
        for pattern, prefixes in v.items():
            bad = [p for p in prefixes if p != "*" and p.split(".")[0] not in roots]
            if bad:
                raise ValueError(
                    f"{pattern}: {bad} are no run-time key prefixes (default_category, "
                    "handlers.<handler>..., profiles.<A|B|C>..., or *)"
                )
        return v


class LoggingSettings(Section):
    format: Literal["json", "console"] = "json"
    level: Literal["debug", "info", "warning", "error"] = "info"


class Settings(BaseSettings):
    """Every setting of calibd. See the README's configuration reference."""

    model_config = SettingsConfigDict(
        env_prefix="CALIBD_",
        env_nested_delimiter="__",
        extra="forbid",
        validate_assignment=True,
        toml_file=None,
    )

    instance: str = Field(default_factory=socket.gethostname, min_length=1)
    site: Literal["CTAO-North", "CTAO-South"] = "CTAO-North"
    data_dir: Path = Field(default_factory=_default_data_dir)
    data_roots: list[Path] = Field(
        default_factory=list,
        description="Files named by messages must resolve inside one of these (default: data_dir)",
    )
    default_category: Category = "B"
    database: DatabaseSettings = DatabaseSettings()
    kafka: KafkaSettings = KafkaSettings()
    mqtt: MqttSettings = MqttSettings()
    acada_triggers: AcadaTriggerSettings = AcadaTriggerSettings()
    pipeline: PipelineSettings = PipelineSettings()
    outbox: OutboxSettings = OutboxSettings()
    logging: LoggingSettings = LoggingSettings()
    operations: OperationsSettings = OperationsSettings()
    config_changes: ConfigChangeSettings = ConfigChangeSettings()
    handlers: dict[str, dict[str, Any]] = Field(
        default_factory=dict, description="Per-handler settings, keyed by handler name"
    )
    profiles: dict[Category, dict[str, dict[str, Any]]] = Field(
        default_factory=dict,
        description="Per-category overrides of handler settings: profiles.C.<handler>.<key>",
    )

    @field_validator("data_dir")
    @classmethod
    def _absolute(cls, v: Path) -> Path:
        return v.expanduser().absolute()

    @model_validator(mode="after")
    def _watched_inside_roots(self) -> Settings:
        """Watched trigger directories must resolve inside the data roots (README)."""
        if self.acada_triggers.enabled:
            roots = self.effective_data_roots
            outside = [
                str(d)
                for d in self.acada_triggers.directories
                if not any(d.expanduser().resolve().is_relative_to(r) for r in roots)
            ]
            if outside:
                raise ValueError(
                    f"acada_triggers.directories: {', '.join(outside)} outside the data roots "
                    f"({', '.join(str(r) for r in roots)})"
                )
        return self

    @property
    def database_path(self) -> Path:
        return self.database.path or self.data_dir / "calibd.sqlite"

    @property
    def effective_data_roots(self) -> list[Path]:
        return [p.expanduser().resolve() for p in (self.data_roots or [self.data_dir])]

    @property
    def source_uri(self) -> str:
        """The CloudEvents `source` of every event this instance emits."""
        return f"ctao.calibpipe/{self.instance}"

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        toml = TomlConfigSettingsSource(settings_cls, toml_file=_TOML_FILE.get("path"))
        return (init_settings, env_settings, toml)


_TOML_FILE: dict[str, Path | None] = {}


def load_settings(
    config_file: Path | None = None, overrides: dict[str, Any] | None = None
) -> Settings:
    """Build the settings from all sources; raise ConfigurationError naming each bad key."""
    if config_file is not None:
        if not config_file.is_file():
            raise ConfigurationError(f"configuration file {config_file} does not exist")
        try:
            tomllib.loads(config_file.read_text())
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
            raise ConfigurationError(f"configuration file {config_file}: {exc}") from None
    _TOML_FILE["path"] = config_file
    try:
        return Settings(**(overrides or {}))
    except ValidationError as exc:
        lines = "\n".join(f"  {line}" for line in format_errors(exc))
        raise ConfigurationError(f"invalid configuration:\n{lines}") from None
    except SettingsError as exc:  # e.g. a CALIBD_<SECTION> variable that is not valid JSON
        raise ConfigurationError(f"invalid configuration: {exc}") from None
    finally:
        _TOML_FILE.pop("path", None)


def config_hash(config: Any) -> str:
    """sha256 of a configuration's canonical JSON (sorted keys)."""
    blob = json.dumps(config, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(blob.encode()).hexdigest()
