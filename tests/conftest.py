"""Shared fixtures: paths to the shared clips (skipped when absent) and the model cache."""

from __future__ import annotations

from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
CLIPS = REPO.parent / "shared" / "data" / "clips"


@pytest.fixture(scope="session")
def clips_dir() -> Path:
    """The shared real clips; tests using it skip cleanly when the folder is absent."""
    if not (CLIPS / "MANIFEST.md").is_file():
        pytest.skip(f"real clips not present at {CLIPS}")
    return CLIPS


def clip_path(name: str) -> Path:
    """Path of one shared clip; skips the calling test when it is missing."""
    path = CLIPS / name
    if not path.is_file():
        pytest.skip(f"real clip {name} not present at {CLIPS}")
    return path
