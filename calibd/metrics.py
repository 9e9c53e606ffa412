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
        self, gauges: dict[str, tuple[str, dict[tuple[tuple[str, str], ...], float]]]
    ) -> str:
        """Prometheus text exposition: the counters here plus `gauges` (name -> help, values)."""
        lines = [
            "# HELP calibd_messages_total Messages by event type and outcome since start.",
            "# TYPE calibd_messages_total counter",
        ]
        for (etype, outcome), n in sorted(self.messages.items()):
            lines.append(f'calibd_messages_total{{type="{etype}",outcome="{outcome}"}} {n}')
        lines += [
            "# HELP calibd_handler_duration_seconds Time spent in handlers.",
            "# TYPE calibd_handler_duration_seconds summary",
        ]
        for name, (total, count) in sorted(self.handler_seconds.items()):
            lines.append(f'calibd_handler_duration_seconds_sum{{handler="{name}"}} {total:.6f}')
            lines.append(f'calibd_handler_duration_seconds_count{{handler="{name}"}} {count}')
        lines += [
            "# HELP calibd_notifications_refused_total Notifications a sink refused for good "
            "(recorded failed in the outbox) since start.",
            "# TYPE calibd_notifications_refused_total counter",
        ]
        for (sink, etype), n in sorted(self.notifications_refused.items()):
            lines.append(f'calibd_notifications_refused_total{{sink="{sink}",type="{etype}"}} {n}')
        lines += [
            "# HELP calibd_uptime_seconds Seconds since start.",
            "# TYPE calibd_uptime_seconds gauge",
            f"calibd_uptime_seconds {time.time() - self.started:.1f}",
        ]
        for name, (help_text, values) in gauges.items():
            lines += [f"# HELP {name} {help_text}", f"# TYPE {name} gauge"]
            for labels, value in values.items():
                label = ",".join(f'{k}="{v}"' for k, v in labels)
                lines.append(f"{name}{{{label}}} {value}" if label else f"{name} {value}")
        return "\n".join(lines) + "\n"
