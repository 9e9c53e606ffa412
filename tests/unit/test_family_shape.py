"""Every handler family folder under handlers/ has the same shape: a `handler.py` (the
registrations and I/O glue) next to its algorithm, reader, export and simulate modules, no
module over 400 lines, and the family imported (so registered) by `calibd.handlers`."""

from __future__ import annotations

from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
HANDLERS = REPO / "handlers"
MAX_LINES = 400


def families(root: Path) -> list[Path]:
    """The family folders: every package directly under `root`."""
    return sorted(p.parent for p in root.glob("*/__init__.py"))


def shape_problems(root: Path) -> list[str]:
    problems = [
        f"{family.relative_to(root.parent)}: no handler.py"
        for family in families(root)
        if not (family / "handler.py").is_file()
    ]
    for module in sorted(root.rglob("*.py")):
        n = len(module.read_text().splitlines())
        if n > MAX_LINES:
            problems.append(f"{module.relative_to(root.parent)}: {n} lines (at most {MAX_LINES})")
    return problems


def test_every_family_has_a_handler_module_and_no_module_is_over_400_lines():
    found = families(HANDLERS)
    assert {"aerosol", "camera", "cherenkov_transparency", "irf", "molecular"} <= {
        f.name for f in found
    }
    assert shape_problems(HANDLERS) == []


def test_every_family_is_imported_by_the_handlers_package():
    import calibd.handlers

    assert {f.name for f in families(HANDLERS)} <= set(calibd.handlers.__all__)


@pytest.mark.parametrize(
    ("files", "expected"),
    [
        ({"good/__init__.py": "", "good/handler.py": "", "good/reader.py": "x = 1\n"}, []),
        ({"bare/__init__.py": "", "bare/fram.py": ""}, ["handlers/bare: no handler.py"]),
        (
            {"big/__init__.py": "", "big/handler.py": "x = 1\n" * 401},
            ["handlers/big/handler.py: 401 lines (at most 400)"],
        ),
        ({"shared.py": "x = 1\n" * 400}, []),
        ({"shared.py": "x = 1\n" * 401}, ["handlers/shared.py: 401 lines (at most 400)"]),
    ],
)
def test_the_rule_catches_what_it_should(tmp_path, files, expected):
    """The checker itself, on layouts written for the purpose."""
    root = tmp_path / "handlers"
    for relative, text in files.items():
        (root / relative).parent.mkdir(parents=True, exist_ok=True)
        (root / relative).write_text(text)
    assert shape_problems(root) == expected
