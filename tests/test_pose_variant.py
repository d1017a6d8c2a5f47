"""The landmark variant `auto` stands for (server/pose/runtime.py `choose_variant`)."""

from __future__ import annotations

from pathlib import Path

import pytest

from server.pose.models import ModelCache
from server.pose.runtime import CPU, CUDA, choose_providers, choose_variant, cores
from server.pose.service import InferenceService, resolve_variant
from tests.pose_model_fixtures import real_cache_or_skip

ALL = ("lite", "full", "heavy")


@pytest.mark.parametrize(
    ("available", "providers", "n_cores", "expected"),
    [
        (ALL, [CUDA, CPU], 16, "heavy"),
        (("lite", "full"), [CUDA, CPU], 16, "full"),  # heavy not prepared (npm absent)
        (ALL, [CPU], 2, "full"),
        (ALL, [CPU], 16, "full"),
        (ALL, [CPU], 1, "lite"),
        (("full",), [CPU], 1, "full"),
        (("heavy",), [CPU], 2, "heavy"),  # the only one there
        ((), [CPU], 2, "full"),  # nothing prepared: the first choice, whose error names the fix
    ],
)
def test_auto_variant_follows_the_hardware(
    available: tuple[str, ...], providers: list[str], n_cores: int, expected: str
) -> None:
    assert choose_variant(available, providers, n_cores) == expected


def test_a_named_variant_is_kept(tmp_path: Path) -> None:
    assert (
        resolve_variant("lite", ModelCache(tmp_path)) == "lite"
    )  # no cache needed: nothing is chosen


def test_the_service_resolves_auto_on_this_machine() -> None:
    cache = real_cache_or_skip("pose_landmark_full")
    with InferenceService(cache.model_dir, "auto") as service:
        expected = choose_variant(cache.available_variants(), choose_providers(), cores())
        assert service.variant == expected
        assert service.variant in ALL
