"""A clone of the repository alone runs every test: no project file names a path outside the repository."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# Built from pieces so this file does not match itself.
OUTSIDE = re.compile("|".join(re.escape(p) for p in ["/" + "work/", ".." + "/shared", "shared" + "/fixtures"]))
SKIP_DIRS = {".git", ".tools", ".hypothesis", ".pytest_cache", ".ruff_cache", "__pycache__", "build", "dist"}


def project_files() -> list[Path]:
    """Tracked and new (not ignored) files per git; without git, every file outside tool and cache folders."""
    if shutil.which("git") and (ROOT / ".git").exists():
        listed = subprocess.run(
            ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
            cwd=ROOT, capture_output=True, check=True,
        ).stdout
        return [ROOT / name for name in listed.decode().split("\0") if name]
    return [p for p in ROOT.rglob("*") if p.is_file() and not any(map(_skipped, p.relative_to(ROOT).parts[:-1]))]


def _skipped(folder: str) -> bool:
    return folder in SKIP_DIRS or folder.startswith(".venv") or folder.endswith(".egg-info")


def test_no_project_file_names_a_path_outside_the_repository() -> None:
    offenders = []
    for path in project_files():
        if not path.is_file() or path.is_relative_to(ROOT / "tests" / "data"):  # third-party data, kept unchanged
            continue
        head = path.read_bytes()
        if b"\0" in head[:8192]:  # binary (images, compressed captures)
            continue
        for number, line in enumerate(head.decode(errors="replace").splitlines(), 1):
            if OUTSIDE.search(line):
                offenders.append(f"{path.relative_to(ROOT)}:{number}: {line.strip()[:100]}")
    assert not offenders, "paths outside the repository:\n" + "\n".join(offenders)


def test_the_recorded_captures_ship_with_their_source_and_licence() -> None:
    folder = ROOT / "tests" / "data" / "recorded"
    readme = (folder / "README.md").read_text()
    captures = sorted(p.name for p in folder.iterdir() if p.name != "README.md")
    assert captures, "no recorded captures in tests/data/recorded"
    for name in captures:
        rows = [line for line in readme.splitlines() if f"`{name}`" in line]
        assert rows and ("MIT" in rows[0] or "XFree86" in rows[0]), f"{name}: no source/licence row in README.md"
