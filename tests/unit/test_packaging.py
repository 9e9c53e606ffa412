"""A handler family (or a package's data, such as the SQL migrations) is installed and
exported, or a test fails (nothing forgotten silently).

The wheel is built the way users install calibd (build isolation, no editable finder that
would hide a missing package), and the registered handlers' event types are checked against
the schemas and the channel table of the AsyncAPI document.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

from calibd import schemas_export
from calibd.daemon import load_handlers
from calibd.events import INBOUND_MODELS

REPO = Path(__file__).resolve().parents[2]


def source_packages() -> set[str]:
    """Every folder with an __init__.py, named as it installs (handlers/ as calibd.handlers)."""
    found = set()
    for init in REPO.glob("calibd/**/__init__.py"):
        found.add(".".join(init.parent.relative_to(REPO).parts))
    for init in REPO.glob("handlers/**/__init__.py"):
        found.add(".".join(("calibd", *init.parent.relative_to(REPO).parts)))
    return found


def test_the_wheel_holds_every_package_and_no_top_level_handlers(tmp_path):
    src = tmp_path / "src"  # a copy: setuptools leaves build/ in the tree it builds
    for name in ("calibd", "handlers"):
        shutil.copytree(REPO / name, src / name, ignore=shutil.ignore_patterns("__pycache__"))
    for name in ("pyproject.toml", "setup.py", "README.md"):
        shutil.copy2(REPO / name, src / name)
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", str(src), "-w", str(tmp_path)],
        check=True,
        capture_output=True,
        timeout=240,
    )
    (wheel,) = tmp_path.glob("calibd-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    installed = {
        n.removesuffix("/__init__.py").replace("/", ".")
        for n in names
        if n.endswith("/__init__.py")
    }
    assert installed == source_packages()
    assert "calibd.handlers.camera" in installed
    tops = {n.split("/")[0] for n in names if not n.split("/")[0].endswith((".dist-info", ".data"))}
    assert tops == {"calibd"}  # never a generic top-level `handlers` or `schemas`
    migrations = REPO / "calibd/store/sqlite/migrations"
    sql = {f"calibd/store/sqlite/migrations/{p.name}" for p in migrations.glob("*.sql")}
    assert len(sql) >= 8
    assert sql <= set(names)  # the schema migrations are package data


def test_every_handled_event_type_has_a_schema_and_channels_on_both_brokers():
    registry = load_handlers(["calibd.handlers"])
    handled = {h.event_type for h in registry}
    assert len(handled) >= 10
    assert handled <= set(INBOUND_MODELS)
    rendered = schemas_export.render()
    for event_type in handled:
        assert f"json/{event_type}.schema.json" in rendered, event_type
    channels = schemas_export._channels()
    for protocol in ("kafka", "mqtt"):
        received = {
            t
            for c in channels
            if c["protocol"] == protocol and c["dir"] == "receive"
            for t in c["types"]
        }
        assert handled - received == set(), (protocol, handled - received)
