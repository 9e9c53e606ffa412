"""The part of the configuration that can change while calibd runs, and its versions.

Changeable at run time (`ctao.calibpipe.config_change`): `default_category`,
`handlers.<handler>.<key>` and `profiles.<A|B|C>.<handler>.<key>` (a category profile
overrides a handler's settings for products of that category, e.g. the Cat-C thresholds of
reprocessing). Everything else (brokers, paths, workers) needs a restart.

The effective configuration is the start-up settings (file, environment, command line) with
the recorded run-time changes on top, in order. Each distinct effective configuration is a
numbered version in the `config_versions` table with who, why, when, and the previous and new
values; every product records the version it was made with. A change is validated against
the settings model and each handler's config model before it is applied, and applied
atomically: a message sees one version from start to end.

A handler's former names (`aliases=` at registration) stay usable, deprecated: a section
`handlers.<alias>` or `profiles.<A|B|C>.<alias>` in the start-up settings or in the recorded
changes, a run-time change of such a key and an `allowed_sources` prefix naming one are
mapped to the handler's name here, each with a "deprecated config key" warning naming both
keys. Where the old and the new key are both given, the new one wins.
"""

from __future__ import annotations

import asyncio
import copy
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pydantic import BaseModel

from calibd.config import Settings, config_hash
from calibd.config_keys import MISSING as _MISSING
from calibd.config_keys import (
    canonical_key,
    canonical_settings,
    deep_merge,
    get_path,
    leaves,
    set_path,
)
from calibd.config_rules import unauthorised_keys
from calibd.errors import ConfigurationError
from calibd.logs import get_logger
from calibd.registry import Registry
from calibd.store import PipelineStore, VersionConflict
from calibd.store.rules import CATEGORIES

__all__ = ["ConfigRejected", "ConfigUnauthorised", "ConfigVersion", "RuntimeConfig", "deep_merge"]

log = get_logger("calibd.config")
_ATTEMPTS = 5  # builds of one change when other instances record versions meanwhile


class ConfigRejected(Exception):
    """A configuration change that cannot be applied; the message says which key and why."""

    reason = "config_rejected"


class ConfigUnauthorised(ConfigRejected):
    """The change's source may not change (some of) its keys (`config_changes.*`)."""

    reason = "config_unauthorised"


@dataclass(frozen=True)
class ConfigVersion:
    """One immutable version: what handlers see while processing one message."""

    version: int
    effective: dict[str, Any]
    handler_configs: dict[tuple[str, str], BaseModel]

    @property
    def default_category(self) -> str:
        return self.effective["default_category"]

    def handler_config(self, name: str, category: str) -> BaseModel:
        return self.handler_configs[(name, category)]


class RuntimeConfig:
    """Holds the current ConfigVersion; `apply` validates, records and swaps in a new one."""

    def __init__(self, settings: Settings, registry: Registry) -> None:
        self.registry = registry
        self.aliases = registry.aliases()
        rules = settings.config_changes
        self.rules = rules.model_copy(
            update={
                "allowed_sources": {
                    pattern: [canonical_key(p, self.aliases) for p in prefixes]
                    for pattern, prefixes in rules.allowed_sources.items()
                }
            }
        )
        self.baseline = canonical_settings(
            {
                "default_category": settings.default_category,
                "handlers": copy.deepcopy(settings.handlers),
                "profiles": copy.deepcopy(settings.profiles),
            },
            self.aliases,
        )
        self.overlay: dict[str, Any] = {}
        self.current = self._build(0, self.baseline)
        self._lock = asyncio.Lock()
        self._unfollowed = 0  # the newest version of another instance that did not validate

    # --- validation -----------------------------------------------------------------------

    def _build(self, version: int, effective: dict[str, Any]) -> ConfigVersion:
        """Validate a whole effective configuration; ConfigurationError names the bad key."""
        if effective.get("default_category") not in CATEGORIES:
            raise ConfigurationError(
                f"invalid configuration: default_category: must be one of {CATEGORIES}"
            )
        names = {h.name for h in self.registry}
        for section, per_cat in [("handlers", {"": effective["handlers"]})] + [
            (f"profiles.{c}", {c: p}) for c, p in effective["profiles"].items()
        ]:
            for cat, handlers in per_cat.items():
                if cat and cat not in CATEGORIES:
                    raise ConfigurationError(
                        f"invalid configuration: profiles.{cat}: not a category"
                    )
                for name in handlers:
                    if name not in names:
                        raise ConfigurationError(
                            f"invalid configuration: {section}.{name}: no such handler "
                            f"(registered: {', '.join(sorted(names)) or 'none'})"
                        )
        configs = {}
        for h in self.registry:
            base = effective["handlers"].get(h.name, {})
            plain = h.load_config(base)  # errors name handlers.<name>.<key>
            for cat in CATEGORIES:
                profile = effective["profiles"].get(cat, {}).get(h.name)
                if not profile:
                    configs[(h.name, cat)] = plain
                    continue
                try:
                    configs[(h.name, cat)] = h.load_config(deep_merge(base, profile))
                except ConfigurationError as exc:  # the profile's value is the bad one
                    raise ConfigurationError(
                        str(exc).replace(f"handlers.{h.name}.", f"profiles.{cat}.{h.name}.")
                    ) from None
        return ConfigVersion(version, effective, configs)

    def effective_at(self, overlay: dict[str, Any]) -> dict[str, Any]:
        return deep_merge(self.baseline, overlay)

    # --- persistence ----------------------------------------------------------------------

    async def load(self, store: PipelineStore) -> ConfigVersion:
        """Restore the run-time changes from the DB; record a new version if the start-up
        settings make the effective configuration differ from the latest recorded one.

        Invalid start-up settings raise ConfigurationError. A recorded run-time change that
        no longer validates (recorded before its bound existed) is dropped, logged and named
        in the new version's reason: it must not keep calibd from starting."""
        latest = await store.latest_config_version()
        self.overlay = canonical_settings(latest.overlay if latest else {}, self.aliases)
        self._build(0, self.baseline)
        dropped = self._drop_invalid_changes()
        effective = self.effective_at(self.overlay)
        version = self._build(latest.version if latest else 0, effective)
        if latest is None or latest.config_hash != config_hash(effective):
            if dropped:
                log.error("recorded run-time configuration changes dropped", dropped=dropped)
            changes = self._diff(latest.effective if latest else {}, effective)
            number = await store.add_config_version(
                requested_by="calibd start-up",
                reason=(
                    "first start"
                    if latest is None
                    else f"recorded run-time changes no longer valid, dropped: {'; '.join(dropped)}"
                    if dropped
                    else "start-up settings changed"
                ),
                event_id=None,
                changes=changes,
                overlay=self.overlay,
                effective=effective,
                config_hash=config_hash(effective),
            )
            version = ConfigVersion(number, effective, version.handler_configs)
        self.current = version
        return version

    def _drop_invalid_changes(self) -> list[str]:
        """Keep the recorded changes (in order) that validate on top of the ones kept."""
        try:
            self._build(0, self.effective_at(self.overlay))
            return []
        except ConfigurationError:
            pass
        kept: dict[str, Any] = {}
        dropped = []
        for key, value in leaves(self.overlay):
            trial = copy.deepcopy(kept)
            set_path(trial, key.split("."), value)
            try:
                self._build(0, self.effective_at(trial))
            except ConfigurationError as exc:
                dropped.append(
                    f"{key} = {value!r}: {str(exc).removeprefix('invalid configuration: ')}"
                )
            else:
                kept = trial
        self.overlay = kept
        return dropped

    @staticmethod
    def _diff(old: dict[str, Any], new: dict[str, Any], prefix: str = "") -> list[dict]:
        out = []
        for key in sorted(set(old) | set(new)):
            a, b = old.get(key), new.get(key)
            path = f"{prefix}{key}"
            if isinstance(a, dict) and isinstance(b, dict):
                out += RuntimeConfig._diff(a, b, path + ".")
            elif a != b:
                out.append({"key": path, "previous": a, "value": b})
        return out

    async def apply(
        self,
        store: PipelineStore,
        changes: list[tuple[str, Any]],
        requested_by: str,
        reason: str,
        event_id: str,
        source: str,
    ) -> tuple[int, list[dict[str, Any]]]:
        """Validate and record `changes` (dotted key, value) asked for by `source`; swap them
        in. Idempotent per `event_id`. Raises ConfigUnauthorised when `source` may not change
        a key, ConfigRejected naming the offending key when a value is out of bounds. A key
        naming a handler by a deprecated name is mapped to its name first."""
        changes = [(canonical_key(key, self.aliases), value) for key, value in changes]
        denied = unauthorised_keys(self.rules, source, [key for key, _ in changes])
        if denied:
            raise ConfigUnauthorised(
                f"source {source!r} may not change {', '.join(denied)} (allowed by "
                "config_changes.operator_sources and config_changes.allowed_sources)"
            )
        async with self._lock:  # one change at a time: each builds on the last
            await self._follow(store)  # the last may be another instance's
            done = await store.config_version_of_event(event_id)
            if done is not None:
                return done.version, done.changes
            for _ in range(_ATTEMPTS):  # again on top of another instance's new version
                try:
                    return await self._record(store, changes, requested_by, reason, event_id)
                except VersionConflict:
                    await self._follow(store)
            raise ConfigRejected("other instances kept recording versions: try again later")

    async def _record(
        self,
        store: PipelineStore,
        changes: list[tuple[str, Any]],
        requested_by: str,
        reason: str,
        event_id: str,
    ) -> tuple[int, list[dict[str, Any]]]:
        """Build `changes` on the current version and record them right after it."""
        overlay = copy.deepcopy(self.overlay)
        effective_before = self.current.effective
        recorded = []
        for key, value in changes:
            parts = key.split(".")
            if not (
                parts == ["default_category"]
                or (parts[0] == "handlers" and len(parts) >= 3)
                or (parts[0] == "profiles" and len(parts) >= 4 and parts[1] in CATEGORIES)
            ):
                raise ConfigRejected(
                    f"{key}: cannot change at run time; only default_category, "
                    "handlers.<handler>.<key> and profiles.<A|B|C>.<handler>.<key> can "
                    "(restart calibd with the new value)"
                )
            previous = get_path(effective_before, parts)
            set_path(overlay, parts, value)
            recorded.append(
                {
                    "key": key,
                    "previous": None if previous is _MISSING else previous,
                    "value": value,
                }
            )
        effective = self.effective_at(overlay)
        try:
            candidate = self._build(0, effective)
        except ConfigurationError as exc:
            raise ConfigRejected(str(exc).removeprefix("invalid configuration: ")) from None
        number = await store.add_config_version(
            requested_by=requested_by,
            reason=reason,
            event_id=event_id,
            changes=recorded,
            overlay=overlay,
            effective=effective,
            config_hash=config_hash(effective),
            after=self.current.version,
        )
        self.overlay = overlay
        self.current = ConfigVersion(number, effective, candidate.handler_configs)
        return number, recorded

    async def follow(self, store: PipelineStore) -> ConfigVersion | None:
        """Take in a newer version another instance recorded in the shared database; the
        version now current, or None when there was none to take."""
        async with self._lock:
            return await self._follow(store)

    async def _follow(self, store: PipelineStore) -> ConfigVersion | None:
        latest = await store.latest_config_version()
        if latest is None or latest.version <= self.current.version:
            return None
        overlay = canonical_settings(latest.overlay, self.aliases)
        try:
            built = self._build(latest.version, self.effective_at(overlay))
        except ConfigurationError as exc:
            if latest.version != self._unfollowed:  # once per version, not at every poll
                self._unfollowed = latest.version
                log.error(
                    "configuration version of another instance not valid here, not followed",
                    config_version=latest.version,
                    error=str(exc),
                )
            return None
        self.overlay, self.current = overlay, built
        by = latest.requested_by
        log.info("configuration version followed", config_version=latest.version, by=by)
        return built

    async def at(self, store: PipelineStore, when: datetime) -> dict[str, Any] | None:
        """The version in force at `when` (None before the first)."""
        return await store.config_version_at(when)
