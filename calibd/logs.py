"""structlog set-up: JSON lines on stdout (or a console renderer), stdlib logs routed through."""

from __future__ import annotations

import logging
import sys
import time

import structlog

from calibd.redact import redact_log_fields

__all__ = ["configure_logging"]


def configure_logging(fmt: str = "json", level: str = "info", stream=None) -> None:
    """Configure structlog and the stdlib loggers of aiokafka/aiomqtt the same way.

    The daemon logs to stdout (journald); the other commands pass stderr, keeping stdout
    for their output."""
    stream = stream or sys.stdout
    lvl = logging.getLevelName(level.upper())
    shared = [
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
