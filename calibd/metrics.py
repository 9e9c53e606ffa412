"""Counters and timings for operators: Prometheus text, the status command, the summary log."""

from __future__ import annotations

import time
from collections import Counter, defaultdict

__all__ = ["Metrics"]


class Metrics:
    """In-process counters (reset at start); the DB holds the lasting record."""

    def __init__(self) -> None:
        self.started = time.time()
        self.messages: Counter[tuple[str, str]] = Counter()  # (event type, outcome)
        self.handler_seconds: dict[str, list[float]] = defaultdict(lambda: [0.0, 0])
        self.handler_max: dict[str, float] = defaultdict(float)
        self.notifications_refused: Counter[tuple[str, str]] = Counter()  # (sink, event type)

    def message(self, event_type: str | None, outcome: str) -> None:
        self.messages[(event_type or "unknown", outcome)] += 1

    def handler(self, name: str, seconds: float) -> None:
        acc = self.handler_seconds[name]
        acc[0] += seconds
        acc[1] += 1
        self.handler_max[name] = max(self.handler_max[name], seconds)

    def notification_refused(self, sink: str, event_type: str) -> None:
        self.notifications_refused[(sink, event_type)] += 1

    def totals(self) -> Counter[str]:
        out: Counter[str] = Counter()
        for (_, outcome), n in self.messages.items():
            out[outcome] += n
        return out

    def prometheus(
        self,
        gauges: dict[str, tuple[str, dict[tuple[tuple[str, str], ...], float]]],
        instance: str | None = None,
    ) -> str:
        """Prometheus text exposition: the counters here plus `gauges` (name -> help, values),
        every sample labelled `calibd_instance` when `instance` is given (Prometheus' own
        `instance` label names the scrape target, not the calibd instance)."""
        base = (("calibd_instance", instance),) if instance is not None else ()

        def sample(name: str, labels: tuple[tuple[str, str], ...], value: object) -> str:
            pairs = ",".join(f'{k}="{_escaped(str(v))}"' for k, v in (*base, *labels))
            return f"{name}{{{pairs}}} {value}" if pairs else f"{name} {value}"

        def header(name: str, kind: str, help_text: str) -> list[str]:
            return [f"# HELP {name} {help_text}", f"# TYPE {name} {kind}"]

        lines = header(
            "calibd_messages_total", "counter", "Messages by event type and outcome since start."
        )
        for (etype, outcome), n in sorted(self.messages.items()):
            by = (("type", etype), ("outcome", outcome))
            lines.append(sample("calibd_messages_total", by, n))
        lines += header("calibd_handler_duration_seconds", "summary", "Time spent in handlers.")
        for name, (total, count) in sorted(self.handler_seconds.items()):
            by = (("handler", name),)
            lines.append(sample("calibd_handler_duration_seconds_sum", by, f"{total:.6f}"))
            lines.append(sample("calibd_handler_duration_seconds_count", by, count))
        lines += header(
            "calibd_notifications_refused_total",
            "counter",
            "Notifications a sink refused for good (recorded failed in the outbox) since start.",
        )
        for (sink, etype), n in sorted(self.notifications_refused.items()):
            by = (("sink", sink), ("type", etype))
            lines.append(sample("calibd_notifications_refused_total", by, n))
        lines += header("calibd_uptime_seconds", "gauge", "Seconds since start.")
        lines.append(sample("calibd_uptime_seconds", (), f"{time.time() - self.started:.1f}"))
        for name, (help_text, values) in gauges.items():
            lines += header(name, "gauge", help_text)
            lines += [sample(name, labels, value) for labels, value in values.items()]
        return "\n".join(lines) + "\n"


def _escaped(value: str) -> str:
    """A label value as the text format writes it (backslash, quote and newline escaped)."""
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
