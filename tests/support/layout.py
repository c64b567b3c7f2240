"""The installed layout of the package, built as a tree of copies.

In the repository every package lives in a top-level folder; installed, it
is ``tiering.<name>`` (pyproject's ``package-dir``). Tools that find packages
on disk rather than through the editable install's import hook (import-linter,
mypy) read this tree instead.
"""

from __future__ import annotations

import shutil
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def installed_layout(out: Path) -> Path:
    """Copy each package to where it installs, under ``out``; returns ``out``."""
    dirs = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["package-dir"]
    for package, folder in sorted(dirs.items()):  # "tiering" first, then its subpackages
        shutil.copytree(ROOT / folder, out.joinpath(*package.split(".")),
                        ignore=shutil.ignore_patterns("__pycache__"), dirs_exist_ok=True)
    return out
