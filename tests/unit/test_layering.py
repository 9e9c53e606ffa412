"""Import layering: handlers see calibd only through `calibd.handler_api`; the core never
imports a handler module (it loads the configured `pipeline.handler_modules` by importlib)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
HANDLERS = REPO / "handlers"


def imported_modules(path: Path) -> list[tuple[int, str]]:
    """Every absolute module a file imports (anywhere in it, also inside functions)."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found += [(node.lineno, a.name) for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.append((node.lineno, node.module))
    return found


def family_of(path: Path) -> str | None:
    """`camera` for handlers/camera/x.py; None for the shared helpers at handlers/ top."""
    parts = path.relative_to(HANDLERS).parts
    return parts[0] if len(parts) > 1 else None


def handler_violations(path: Path) -> list[str]:
    own = family_of(path)
    bad = []
    for line, module in imported_modules(path):
        if module == "calibd.handler_api" or not (
            module == "calibd" or module.startswith("calibd.")
        ):
            continue
        if module.startswith("calibd.handlers"):
            rest = module.removeprefix("calibd.handlers").lstrip(".").split(".")
            target = rest[0] if rest[0] else None
            shared = target is None or not (HANDLERS / target).is_dir()
            if shared or target == own:
                continue
            bad.append(f"{path.relative_to(REPO)}:{line} imports another family: {module}")
            continue
        bad.append(f"{path.relative_to(REPO)}:{line} imports the core: {module}")
    return bad


def core_violations(path: Path) -> list[str]:
    return [
        f"{path.relative_to(REPO)}:{line} imports a handler module: {module}"
        for line, module in imported_modules(path)
        if module == "calibd.handlers" or module.startswith("calibd.handlers.")
    ]


def test_handlers_import_only_the_handler_api_and_their_own_family():
    files = sorted(HANDLERS.rglob("*.py"))
    assert len(files) > 20
    assert [v for f in files for v in handler_violations(f)] == []


def test_the_core_never_imports_a_handler_module():
    files = sorted((REPO / "calibd").rglob("*.py"))
    assert [v for f in files for v in core_violations(f)] == []


@pytest.mark.parametrize(
    ("relative", "source", "expected"),
    [
        ("camera/handler.py", "from calibd.store import parse_time\n", "imports the core"),
        ("camera/handler.py", "import calibd.pipeline\n", "imports the core"),
        ("camera/handler.py", "def f():\n    from calibd.registry import handler\n", "core"),
        ("irf/handler.py", "from calibd.handlers.camera import stats\n", "another family"),
        ("irf/handler.py", "from calibd.handlers.irf import export\n", None),
        ("irf/handler.py", "from calibd.handlers.columns import to_mjd\n", None),
        ("irf/handler.py", "from calibd.handler_api import handler\n", None),
    ],
)
def test_the_rule_catches_what_it_should(tmp_path, monkeypatch, relative, source, expected):
    """The checker itself, on files written for the purpose in a copy of the layout."""
    root = tmp_path / "handlers"
    for family in ("camera", "irf"):
        (root / family).mkdir(parents=True)
    (root / relative).write_text(source)
    monkeypatch.setattr(__import__(__name__, fromlist=["x"]), "HANDLERS", root)
    monkeypatch.setattr(__import__(__name__, fromlist=["x"]), "REPO", tmp_path)
    found = handler_violations(root / relative)
    if expected is None:
        assert found == []
    else:
        assert len(found) == 1 and expected in found[0]
