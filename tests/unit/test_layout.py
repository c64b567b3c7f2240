"""The packages install under one name, ``tiering``; nothing imports them
by their old top-level names, which would load a second copy of a module."""

import re
from pathlib import Path

from eventsourcing.utils import resolve_topic

from tiering.domain.model import StoredObject

ROOT = Path(__file__).resolve().parents[2]
OLD = re.compile(r"^\s*(from|import) "
                 r"(domain|actors|shards|adapters|projections|web|ml|ingest|tiering_app|services|devstack|simulation)\b",
                 re.M)


def python_files():
    for path in ROOT.rglob("*.py"):
        parts = path.relative_to(ROOT).parts
        if parts[0] not in (".venv", ".services", "var") and "node_modules" not in parts:
            yield path


def test_nothing_imports_a_package_by_its_old_top_level_name():
    found = [f"{p.relative_to(ROOT)}: {m.group(0).strip()}" for p in python_files()
             for m in OLD.finditer(p.read_text(errors="replace"))]
    assert found == []


def test_events_stored_under_the_old_module_name_still_resolve():
    assert resolve_topic("domain.model:StoredObject.Registered") is StoredObject.Registered
    assert resolve_topic("domain.model:StoredObject") is StoredObject


def test_the_app_image_copies_every_package_folder():
    import tomllib

    folders = set(tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["package-dir"].values())
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert sorted(f for f in folders if f"COPY {f} {f}" not in dockerfile) == []


def test_every_package_folder_is_installed():
    import tomllib

    tool = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    assert set(tool["package-dir"]) <= set(tool["packages"])
