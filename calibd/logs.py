"""structlog set-up: JSON lines on stdout (or a console renderer), stdlib logs routed through."""

from __future__ import annotations

import logging
import sys
import time
from typing import Any

import structlog

from calibd.redact import redact_log_fields

__all__ = ["configure_logging", "get_logger"]

_generation = 0  # bumped by configure_logging: module loggers rebind once after it


class _ModuleLogger:
    """A module-level logger that binds once per configuration.

    structlog's lazy proxy (with `cache_logger_on_first_use=False`, so that a new
    configuration applies everywhere) builds a new bound logger on every call; this one
    keeps it until `configure_logging` runs again.
    """

    __slots__ = ("_bound", "_generation", "_name")

    def __init__(self, name: str) -> None:
        self._name = name
        self._generation = -1
        self._bound: structlog.typing.FilteringBoundLogger | None = None

    def __getattr__(self, attr: str):
        if self._generation != _generation or self._bound is None:
            self._bound = structlog.get_logger(self._name).bind()
            self._generation = _generation
        return getattr(self._bound, attr)


def get_logger(name: str) -> structlog.typing.FilteringBoundLogger:
    """The logger of a calibd module (use instead of structlog.get_logger)."""
    return _ModuleLogger(name)  # type: ignore[return-value]


def _with_instance(instance: str):
    def add(_logger: Any, _name: str, event: dict[str, Any]) -> dict[str, Any]:
        event.setdefault("instance", instance)
        return event

    return add


def configure_logging(
    fmt: str = "json", level: str = "info", stream=None, instance: str | None = None
) -> None:
    """Configure structlog and the stdlib loggers of aiokafka/aiomqtt the same way.

    The daemon logs to stdout (journald); the other commands pass stderr, keeping stdout
    for their output. With `instance` (the `instance` setting), every line names it: several
    instances of a scaled-out site log to one place."""
    global _generation
    stream = stream or sys.stdout
    lvl = logging.getLevelName(level.upper())
    shared = [
        *([_with_instance(instance)] if instance else []),
        structlog.contextvars.merge_contextvars,
        redact_log_fields,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]
    renderer = (
        structlog.dev.ConsoleRenderer(colors=stream.isatty())
        if fmt == "console"
        else structlog.processors.JSONRenderer()
    )
    if _isatty(stream):  # a terminal a progress line may share (calibd/progress.py)
        from calibd.progress import TerminalLog

        stream = TerminalLog(stream)
    structlog.configure(
        processors=[
            *shared,
            structlog.processors.StackInfoRenderer(),
            structlog.processors.format_exc_info,
            structlog.processors.EventRenamer("msg") if fmt == "json" else _identity,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(lvl),
        logger_factory=structlog.WriteLoggerFactory(file=stream),
        cache_logger_on_first_use=False,
    )
    _generation += 1
    handler = logging.StreamHandler(stream)
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            foreign_pre_chain=[*shared, structlog.stdlib.add_logger_name],
            processors=[
                structlog.stdlib.ProcessorFormatter.remove_processors_meta,
                structlog.processors.EventRenamer("msg") if fmt == "json" else _identity,
                renderer,
            ],
        )
    )
    handler.addFilter(RepeatFilter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(max(lvl, logging.WARNING))


def _isatty(stream) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):
        return False


class RepeatFilter(logging.Filter):
    """Lets each distinct message of a library logger through once per `window_s` seconds
    (aiokafka logs every failed reconnect attempt); says how many were held back."""

    def __init__(self, window_s: float = 60.0) -> None:
        super().__init__()
        self.window_s = window_s
        self._last: dict[tuple[str, str], tuple[float, int]] = {}

    def filter(self, record: logging.LogRecord) -> bool:
        key = (record.name, str(record.msg))
        now = time.monotonic()
        last, held = self._last.get(key, (-1e9, 0))
        if now - last < self.window_s:
            self._last[key] = (last, held + 1)
            return False
        self._last[key] = (now, 0)
        if held:
            record.msg = f"{record.msg} (repeated {held} times in {self.window_s:.0f} s)"
        return True


def _identity(logger, name, event_dict):
    return event_dict
