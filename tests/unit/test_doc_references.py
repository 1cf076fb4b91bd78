"""Every reference to the project's notes resolves inside the repository: the file exists and so does the
section it names. A clone carries no other reference material, so a comment that pointed outside the tree
(or at a section that is not there) would leave its reader with nothing."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
# "docs/arm-notes.md 2.1", "docs/arm-notes.md §3.5", "docs/architecture.md section 2", "... §3.2-3.5"
REFERENCE = re.compile(r"docs/([a-z0-9-]+\.md)(?:\s*(?:§|section\s+)?(\d+(?:\.\d+)*))?")
# The names of the reference notes kept outside the repository, spelled in pieces so this file is no match.
OUTSIDE = re.compile("|".join(re.escape(a + b) for a, b in (
    ("../", "shared/"), ("ARCHITECTURE", ".md"), ("arm-", "protocol.md"), ("domain-", "notes"),
    ("platform-", "facts-2"))))
SOURCE_SUFFIXES = {".py", ".bicep", ".toml", ".json", ".yaml", ".yml", ".md", ".sh", ""}
SKIPPED = ("tests/replay/recordings/", "tests/functions/protos/", "docs/")


def _tracked_sources() -> list[Path]:
    listed = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True).stdout
    return [ROOT / name for name in listed.split()
            if Path(name).suffix in SOURCE_SUFFIXES and not name.startswith(SKIPPED) and (ROOT / name).is_file()]


def _sections(doc: Path) -> set[str]:
    """Heading numbers ("2.1") and numbered items inside a numbered section ("3.2.3" = item 3 of 3.2)."""
    found: set[str] = set()
    current: str | None = None
    for line in doc.read_text(encoding="utf-8").splitlines():
        heading = re.match(r"#+\s+(\d+(?:\.\d+)*)\.?\s", line)
        if heading:
            current = heading.group(1)
            found.add(current)
            continue
        item = re.match(r"(\d+)\.\s", line)
        if item and current is not None:
            found.add(f"{current}.{item.group(1)}")
    return found


def _references() -> list[tuple[str, str, str | None]]:
    refs: list[tuple[str, str, str | None]] = []
    for path in _tracked_sources():
        try:
            text = path.read_text(encoding="utf-8")
        except UnicodeDecodeError:
            continue
        for match in REFERENCE.finditer(text):
            refs.append((str(path.relative_to(ROOT)), match.group(1), match.group(2)))
    return refs


def test_there_are_references_to_check() -> None:
    assert len(_references()) > 50


@pytest.mark.parametrize("doc", sorted({d for _, d, _ in _references()}))
def test_each_referenced_note_exists(doc: str) -> None:
    assert (ROOT / "docs" / doc).is_file(), f"docs/{doc} is referenced but not in the repository"


def test_each_referenced_section_exists() -> None:
    missing = []
    cache: dict[str, set[str]] = {}
    for where, doc, section in _references():
        if section is None or not (ROOT / "docs" / doc).is_file():
            continue
        sections = cache.setdefault(doc, _sections(ROOT / "docs" / doc))
        if section not in sections:
            missing.append(f"{where}: docs/{doc} §{section}")
    assert missing == []


def test_nothing_points_outside_the_repository() -> None:
    outside = [f"{p.relative_to(ROOT)}: {m.group(0)}" for p in _tracked_sources()
               for m in OUTSIDE.finditer(p.read_text(encoding="utf-8", errors="replace"))]
    assert outside == []
