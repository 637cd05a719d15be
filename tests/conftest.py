"""Shared fixtures: the project's own small real scans (tests/data) and the shared corpus (../shared/data)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

TEST_DATA = Path(__file__).parent / "data"
REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("SCANSR_SHARED", REPO.parent / "shared"))


def shared_path(*parts: str) -> Path:
    """Path under ../shared (or $SCANSR_SHARED); the calling test is skipped when it is absent."""
    path = SHARED.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"shared data not present: {path}")
    return path


@pytest.fixture
def shared_data() -> Path:
    return shared_path("data")


@pytest.fixture
def shared_reference() -> Path:
    return shared_path("reference")


@pytest.fixture
def test_data() -> Path:
    return TEST_DATA
