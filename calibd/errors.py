"""The exceptions calibd raises, and what each one does to a message.

    CalibdError
    ├── ConfigurationError    bad settings or handler registration: calibd refuses to start
    ├── StoreError            the database is unusable: calibd exits non-zero
    │   └── StoreBusy         (calibd.store.errors) another writer held it past the busy
    │                         timeout; the committer retries before it gives up
    └── MessageError          something went wrong with one message; the daemon carries on
        ├── PoisonMessage     the message itself is bad: dead-lettered at once, never retried
        │   ├── MalformedMessage    not JSON, not a CloudEvent, missing envelope attributes
        │   ├── UnknownEventType    a `type` no model or handler knows
        │   ├── SchemaViolation     `data` does not match the model of its `type`
        │   ├── RefusedRequest      a request calibd will not carry out (a configuration
        │   │                       change out of bounds or from a source not allowed);
        │   │                       its replies are published with the dead letter
        │   ├── BadInput            an input is unusable: missing, corrupt, wrong shape or
        │   │                       type, NaN-only, outside the data roots, checksum mismatch,
        │   │                       too large decompressed, a time outside 1990-2200
        │   └── InvalidProduct      the handler's product holds a NaN or infinity it did not
        │                           declare missing (calibd.product_check)
        ├── RetriableError    a passing fault (I/O, broker, database busy): retried with
        │                     backoff, dead-lettered when the attempts run out
        └── PermanentError    the handler failed in a way a retry will not fix:
                              dead-lettered with the traceback summary

Any other exception escaping a handler is treated as a PermanentError: the message is
dead-lettered with its traceback summary and the daemon keeps consuming. A failure to write
a message's outcome is a StoreError only when the database itself is at fault
(`calibd.faults`); otherwise that message alone is dead-lettered (reason `unstorable`).
"""

from __future__ import annotations

__all__ = [
    "BadInput",
    "CalibdError",
    "ConfigurationError",
    "InvalidProduct",
    "MalformedMessage",
    "MessageError",
    "PermanentError",
    "PoisonMessage",
    "RefusedRequest",
    "RetriableError",
    "SchemaViolation",
    "StoreError",
    "UnknownEventType",
    "exit_code",
]


class CalibdError(Exception):
    """Base class of every error calibd raises on purpose."""


class ConfigurationError(CalibdError):
    """Invalid settings or handler registration; raised before any message is consumed."""


class StoreError(CalibdError):
    """The CalibPipe database cannot be opened, migrated or written."""


class MessageError(CalibdError):
    """A failure tied to one message. `reason` is a short machine-readable code."""

    reason: str = "error"

    def __init__(self, detail: str, *, reason: str | None = None) -> None:
        super().__init__(detail)
        self.detail = detail
        if reason is not None:
            self.reason = reason


class PoisonMessage(MessageError):
    """The message can never succeed as it is: dead-letter it at once."""

    reason = "poison"


class MalformedMessage(PoisonMessage):
    """Not decodable as a CloudEvent (bad JSON, bad headers, missing attributes)."""

    reason = "malformed"


class UnknownEventType(PoisonMessage):
    """The envelope's `type` has no model or no registered handler."""

    reason = "unknown_type"


class SchemaViolation(PoisonMessage):
    """The envelope or its `data` does not validate against the model of its `type`."""

    reason = "schema_violation"


class RefusedRequest(PoisonMessage):
    """A request refused as it stands: dead-lettered with the reason, and `replies`
    (registry.OutgoingMessage, e.g. a report saying why) published with the dead letter."""

    reason = "refused"

    def __init__(self, detail: str, *, reason: str | None = None, replies: list | None = None):
        super().__init__(detail, reason=reason)
        self.replies = list(replies or [])


class BadInput(PoisonMessage):
    """An input the message refers to is unusable (file missing, corrupt, out of bounds...).

    The detail must name the file (or field) and the problem, e.g.
    ``"run_042.fits: HDU EVENTS missing column WAVEFORM"``.
    """

    reason = "bad_input"


class InvalidProduct(PoisonMessage):
    """A handler's product holds a non-finite number at a field it did not declare missing.

    The detail names the field path, e.g. ``"aerosol_extinction product: payload.vaod: nan
    is not a finite number; ..."``. The same input gives the same product: never retried.
    """

    reason = "invalid_product"


class RetriableError(MessageError):
    """A passing fault; the message is tried again later."""

    reason = "retriable"


class PermanentError(MessageError):
    """The handler failed for good on this message."""

    reason = "handler_failed"


def exit_code(exc: CalibdError) -> int:
    """The exit code of a command failing with `exc`: 2 configuration, 3 database, 1 other."""
    if isinstance(exc, ConfigurationError):
        return 2
    return 3 if isinstance(exc, StoreError) else 1
