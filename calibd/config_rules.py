"""Who may change which run-time settings: `config_changes.operator_sources` may change every
key, each `config_changes.allowed_sources` pattern the keys under its prefixes; anyone else
nothing. Sources are matched against the envelope's `source`, exactly or as a glob.

The CloudEvents `source` is what the producer says it is: the broker's access control on the
control topics (who may publish there) is what makes it trustworthy.
"""

from __future__ import annotations

from fnmatch import fnmatchcase

from calibd.config import ConfigChangeSettings

__all__ = ["covers", "unauthorised_keys"]


def covers(prefix: str, key: str) -> bool:
    """True when the dotted `prefix` covers `key` (`handlers.camera` covers
    `handlers.camera.ffactor.f2`, not `handlers.camera_flatfield.x`); `*` covers every key."""
    if prefix in ("*", ""):
        return True
    parts = prefix.split(".")
    return key.split(".")[: len(parts)] == parts


def unauthorised_keys(rules: ConfigChangeSettings, source: str, keys: list[str]) -> list[str]:
    """The keys of `keys` that `source` may not change (empty: the change is allowed)."""
    if any(fnmatchcase(source, pattern) for pattern in rules.operator_sources):
        return []
    prefixes = [
        prefix
        for pattern, allowed in rules.allowed_sources.items()
        if fnmatchcase(source, pattern)
        for prefix in allowed
    ]
    return [key for key in keys if not any(covers(p, key) for p in prefixes)]
