"""No Python module of the project is over 400 lines (core, handlers, tests, benchmarks)."""

from __future__ import annotations

from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
MAX_LINES = 400


def test_no_module_is_over_400_lines():
    modules = [
        p
        for d in ("calibd", "handlers", "tests", "bench", "scripts")
        for p in (REPO / d).rglob("*.py")
    ]
    assert len(modules) > 150  # the walk found the tree
    too_long = {
        str(p.relative_to(REPO)): n
        for p in modules
        if (n := len(p.read_text().splitlines())) > MAX_LINES
    }
    assert too_long == {}
