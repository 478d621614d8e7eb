"""Documents the code cites are in the repository, and so are the sections it cites in them.

A docstring that points a maintainer to a document they do not have explains nothing. Citations name a
file by its path from the repository root (``docs/spec.md``, ``README.md``, ``bench/README.md``) and a
section by its heading in quotes: ``docs/spec.md, "Exit codes"`` or ``docs/spec.md ("Exit codes")``.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
THIS = Path(__file__).resolve()
# Every .md name written in code, tests, benchmarks, scripts and documents.
CITED_DOC = re.compile(r"(?<![\w/.-])((?:[\w-]+/)*[\w-]+\.md)\b")
# A section cited right after its document: ', "Heading"' or ' ("Heading")'.
CITED_SECTION = re.compile(r"(?<![\w/.-])((?:[\w-]+/)*[\w-]+\.md)(?:,\s*|\s*\(\s*)\"([^\"\n]+)\"")
# The specification by a name other than its path (SPEC.md, "SPEC §2"); SPEC_KEYS and SPECIAL-USE are not.
SPEC_BY_OTHER_NAME = re.compile(r"\bSPEC\b(?![_-])")


def citing_files() -> list[Path]:
    files = [ROOT / "README.md", *sorted((ROOT / "docs").glob("**/*.md")), *sorted((ROOT / "bench").glob("*.md"))]
    for folder in ("pdmail", "tests", "bench"):
        files.extend(sorted((ROOT / folder).rglob("*.py")))
    files.extend(p for p in sorted((ROOT / "scripts").iterdir()) if p.is_file())
    files.append(ROOT / "bench" / "run")
    return [p for p in files if p.resolve() != THIS]


def headings(doc: Path) -> set[str]:
    return {line.lstrip("#").strip() for line in doc.read_text(encoding="utf-8").splitlines() if line.startswith("#")}


def resolve(citing: Path, name: str) -> Path | None:
    """A cited document, from the repository root or, for a bare name, next to the citing file."""
    for base in (ROOT, citing.parent):
        if (base / name).is_file():
            return base / name
    return None


def rel(path: Path) -> str:
    return str(path.relative_to(ROOT))


def test_there_are_citations_to_check():
    texts = [p.read_text(encoding="utf-8") for p in citing_files()]
    assert sum(len(CITED_SECTION.findall(t)) for t in texts) >= 10


@pytest.mark.parametrize("path", citing_files(), ids=rel)
def test_every_cited_document_and_section_exists(path):
    text = path.read_text(encoding="utf-8")
    missing = sorted({name for name in CITED_DOC.findall(text) if resolve(path, name) is None})
    assert missing == [], f"{rel(path)} cites documents that are not in the repository"
    unknown = sorted(
        {
            f"{name}: {heading}"
            for name, heading in CITED_SECTION.findall(text)
            if heading not in headings(resolve(path, name))
        }
    )
    assert unknown == [], f"{rel(path)} cites sections that have no such heading"
    assert SPEC_BY_OTHER_NAME.findall(text) == [], f"{rel(path)}: cite the specification as docs/spec.md"
