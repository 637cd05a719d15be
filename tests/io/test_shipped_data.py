"""The scans shipped in tests/data: each listed in NOTICE.md under a permissive licence, each an original file."""

from __future__ import annotations

import hashlib

import pytest

from tests.conftest import TEST_DATA, shared_path

NOTICE = (TEST_DATA / "NOTICE.md").read_text(encoding="utf-8")
PERMISSIVE = ("MIT", "BSD-2-Clause", "BSD-3-Clause", "Apache-2.0")
SHIPPED = sorted(p for p in TEST_DATA.rglob("*") if p.is_file() and p.name not in ("NOTICE.md", "LICENSE"))


def _notice_line(relative: str) -> str:
    lines = [line for line in NOTICE.splitlines() if line.startswith(f"- {relative} — ")]
    assert len(lines) == 1, f"{relative}: {len(lines)} lines in NOTICE.md"
    return lines[0]


@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: str(p.relative_to(TEST_DATA)))
def test_listed_in_the_notice_with_a_permissive_licence(path):
    line = _notice_line(path.relative_to(TEST_DATA).as_posix())
    fields = line.split(" — ")
    assert len(fields) >= 4, line  # path — source — licence — what it is
    assert fields[2] in PERMISSIVE, line


@pytest.mark.corpus
@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: str(p.relative_to(TEST_DATA)))
def test_byte_identical_to_the_original(path):
    original = shared_path("data", "spm", *path.relative_to(TEST_DATA).parts)
    assert hashlib.sha256(path.read_bytes()).hexdigest() == hashlib.sha256(original.read_bytes()).hexdigest()
