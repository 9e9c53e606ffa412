"""Every log line names the instance when configured (several instances log to one place)."""

from __future__ import annotations

import io
import json

from calibd.logs import configure_logging, get_logger


def test_log_lines_carry_the_instance_name_and_fields_win_over_it():
    out = io.StringIO()
    try:
        configure_logging("json", "info", out, instance="calibd-b")
        get_logger("calibd.test").info("hello", tel_id=1)
        get_logger("calibd.test").info("explicit", instance="other")
        configure_logging("json", "info", out)
        get_logger("calibd.test").info("unnamed")
    finally:
        configure_logging("json", "info")
    lines = [json.loads(line) for line in out.getvalue().splitlines()]
    assert [(r["msg"], r.get("instance")) for r in lines] == [
        ("hello", "calibd-b"),
        ("explicit", "other"),
        ("unnamed", None),
    ]
