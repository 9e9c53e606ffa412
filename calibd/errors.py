"""The exceptions calibd raises, and what each one does to a message.

    CalibdError
    ├── ConfigurationError    bad settings or handler registration: calibd refuses to start
    ├── StoreError            the database is unusable: calibd exits non-zero
    └── MessageError          something went wrong with one message; the daemon carries on
        ├── PoisonMessage     the message itself is bad: dead-lettered at once, never retried
        │   ├── MalformedMessage    not JSON, not a CloudEvent, missing envelope attributes
        │   ├── UnknownEventType    a `type` no model or handler knows
        │   ├── SchemaViolation     `data` does not match the model of its `type`
        │   └── BadInput            a referenced input is unusable: missing, corrupt, wrong
        │                           shape, NaN-only, outside the data roots, checksum mismatch
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
    "MalformedMessage",
    "MessageError",
    "PermanentError",
    "PoisonMessage",
    "RetriableError",
    "SchemaViolation",
    "StoreError",
    "UnknownEventType",
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


class BadInput(PoisonMessage):
    """An input the message refers to is unusable (file missing, corrupt, out of bounds...).

    The detail must name the file (or field) and the problem, e.g.
    ``"run_042.fits: HDU EVENTS missing column WAVEFORM"``.
    """

    reason = "bad_input"


class RetriableError(MessageError):
    """A passing fault; the message is tried again later."""

    reason = "retriable"


class PermanentError(MessageError):
    """The handler failed for good on this message."""

    reason = "handler_failed"
