"""The generation part of catalog.toml: platforms, presets and the engine's rules."""

from __future__ import annotations

import pytest

from dashboard_app.domain.catalog import CatalogError, get_catalog, load_catalog

BASE = 'default_plan = "free"\n[plans.free]\nname = "Free"\n'
PRESET = (
    '[presets.neon]\nname = "Neon"\nbackground = "#101020"\naccent = "#ff2e88"\n'
    "credits_per_variant = 10\n"
)


def test_the_shipped_catalog_names_three_platforms_once_and_has_presets() -> None:
    catalog = get_catalog()
    assert {code: p.name for code, p in catalog.platforms.items()} == {
        "tiktok": "TikTok",
        "instagram_reels": "Instagram Reels",
        "youtube_shorts": "YouTube Shorts",
    }
    assert catalog.presets, "at least one preset"
    for preset in catalog.presets.values():
        assert preset.credits_per_variant > 0
        assert set(preset.formats) <= {"video", "image"}
    assert catalog.generation.regeneration_cooldown_seconds == 30
    assert catalog.generation.job_timeout_seconds > 0


def test_a_preset_without_a_cost_or_with_a_bad_colour_is_refused(tmp_path) -> None:
    path = tmp_path / "catalog.toml"
    path.write_text(BASE + PRESET.replace("credits_per_variant = 10\n", ""))
    with pytest.raises(CatalogError, match="credits_per_variant"):
        load_catalog(path)
    path.write_text(BASE + PRESET.replace("#ff2e88", "pink"))
    with pytest.raises(CatalogError, match="accent"):
        load_catalog(path)
    path.write_text(BASE + PRESET + 'formats = ["video", "gif"]\n')
    with pytest.raises(CatalogError, match="formats"):
        load_catalog(path)
    path.write_text(BASE + PRESET.replace("= 10", "= 0"))
    with pytest.raises(CatalogError, match="credits_per_variant"):
        load_catalog(path)


def test_generation_rules_are_validated(tmp_path) -> None:
    path = tmp_path / "catalog.toml"
    path.write_text(BASE + "[generation]\nregeneration_cooldown_seconds = -1\n")
    with pytest.raises(CatalogError, match="regeneration_cooldown_seconds"):
        load_catalog(path)
    path.write_text(BASE + "[generation]\njob_timeout_seconds = 0\n")
    with pytest.raises(CatalogError, match="job_timeout_seconds"):
        load_catalog(path)
    path.write_text(BASE + '[platforms."tik tok"]\nname = "TikTok"\n')
    with pytest.raises(CatalogError, match="letters, digits"):
        load_catalog(path)
