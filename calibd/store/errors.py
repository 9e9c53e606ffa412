"""The errors of the store, the same for every backend."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager

from calibd.errors import StoreError

__all__ = [
    "StoreBusy",
    "StoreError",
    "StoreUnavailable",
    "StoreValueError",
    "VersionConflict",
    "translating",
]


class StoreBusy(StoreError):
    """Another writer held the database past the busy timeout; the write can be tried again.
    A StoreError, so a write that stays busy is a storage fault (`calibd.faults`)."""


class StoreUnavailable(StoreError):
    """The database server cannot be reached (the connection lost, the server shutting down
    or starting): the call is tried again on a new connection for `database.reconnect_s`;
    past it, a storage fault like any StoreError."""


class StoreValueError(Exception):
    """The values one message would write cannot be stored (a value the backend cannot bind,
    a broken constraint): that message's fault, not the database's; it is dead-lettered."""


class VersionConflict(Exception):
    """`add_config_version(after=N)`: the latest recorded version is no longer N (another
    instance recorded one meanwhile); take it in and build the change again."""


def translating(
    translate: Callable[[BaseException], Exception | None],
) -> Callable[[], AbstractContextManager[None]]:
    """A backend's `translated()` context manager: re-raise what `translate` maps (the
    driver's errors, the values' errors it raises) as the store's; the rest as it is."""

    @contextmanager
    def translated() -> Iterator[None]:
        try:
            yield
        except (StoreError, StoreValueError):
            raise
        except Exception as exc:
            new = translate(exc)
            if new is None:
                raise
            raise new from exc

    return translated
