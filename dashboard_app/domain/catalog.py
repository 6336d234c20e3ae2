"""The catalog file (catalog.toml): plans, boosts, packs, platforms and generation presets an
operator can edit, validated on load."""

from __future__ import annotations

import tomllib
from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field, ValidationError, model_validator

from dashboard_app.settings import PROJECT_ROOT


class CatalogError(RuntimeError):
    """The catalog file is missing or wrong; the message says where."""


class Limits(BaseModel, frozen=True):
    monthly_exports: int = Field(default=0, ge=0)
    monthly_minutes: int = Field(default=0, ge=0)
    hourly_burst: int = Field(default=0, ge=0)
    concurrent_jobs: int = Field(default=0, ge=0)

    def plus(self, other: Limits) -> Limits:
        return Limits(
            monthly_exports=self.monthly_exports + other.monthly_exports,
            monthly_minutes=self.monthly_minutes + other.monthly_minutes,
            hourly_burst=self.hourly_burst + other.hourly_burst,
            concurrent_jobs=self.concurrent_jobs + other.concurrent_jobs,
        )


LOOKUP_KEY = r"^[a-z0-9_]{1,64}$"


class PlanConfig(Limits, frozen=True):
    name: str = Field(min_length=1, max_length=80)
    monthly_credits: int = Field(default=0, ge=0)
    # A plan members can subscribe to has a Stripe Price (found by its lookup key) and a price.
    stripe_lookup_key: str | None = Field(default=None, pattern=LOOKUP_KEY)
    price_cents: int | None = Field(default=None, gt=0, le=10_000_000)
    interval: Literal["month", "year"] = "month"

    @property
    def limits(self) -> Limits:
        return Limits(**{name: getattr(self, name) for name in Limits.model_fields})

    @property
    def purchasable(self) -> bool:
        return self.stripe_lookup_key is not None and self.price_cents is not None

    @model_validator(mode="after")
    def _price_with_key(self) -> PlanConfig:
        if (self.stripe_lookup_key is None) != (self.price_cents is None):
            raise ValueError("a paid plan needs both stripe_lookup_key and price_cents")
        return self


class PackConfig(BaseModel, frozen=True):
    """Credits bought once; they never expire."""

    name: str = Field(min_length=1, max_length=80)
    credits: int = Field(gt=0, le=1_000_000)
    price_cents: int = Field(gt=0, le=10_000_000)
    stripe_lookup_key: str = Field(pattern=LOOKUP_KEY)


class BoostConfig(Limits, frozen=True):
    name: str = Field(min_length=1, max_length=80)
    days: int = Field(gt=0, le=366)

    @property
    def extra(self) -> Limits:
        return Limits(**{name: getattr(self, name) for name in Limits.model_fields})


COLOUR = r"^#[0-9a-fA-F]{6}$"
FORMATS = ("video", "image")


class PlatformConfig(BaseModel, frozen=True):
    """Where a reel is published: the one name members see, and the styling it gets."""

    name: str = Field(min_length=1, max_length=40)
    accent: str = Field(default="#ffffff", pattern=COLOUR)


class PresetConfig(BaseModel, frozen=True):
    """A style a member picks on Create: its colours (used by the built-in generator), what one
    variant costs, and which formats it makes."""

    name: str = Field(min_length=1, max_length=60)
    description: str = Field(default="", max_length=200)
    background: str = Field(pattern=COLOUR)
    accent: str = Field(pattern=COLOUR)
    text: str = Field(default="#ffffff", pattern=COLOUR)
    credits_per_variant: int = Field(gt=0, le=100_000)
    formats: tuple[Literal["video", "image"], ...] = Field(default=FORMATS, min_length=1)


class GenerationConfig(BaseModel, frozen=True):
    """Rules of the generation engine an operator may tune."""

    regeneration_cooldown_seconds: int = Field(default=30, ge=0, le=86_400)
    job_timeout_seconds: int = Field(default=600, gt=0, le=86_400)
    max_variants: int = Field(default=4, ge=1, le=16)
    max_topic_length: int = Field(default=500, ge=10, le=4000)


class Catalog(BaseModel, frozen=True):
    default_plan: str
    low_balance_threshold: int = Field(default=20, ge=0)
    currency: str = Field(default="usd", pattern=r"^[a-z]{3}$")
    plans: dict[str, PlanConfig]
    boosts: dict[str, BoostConfig] = {}
    packs: dict[str, PackConfig] = {}
    platforms: dict[str, PlatformConfig] = {}
    presets: dict[str, PresetConfig] = {}
    generation: GenerationConfig = GenerationConfig()

    @model_validator(mode="after")
    def _default_plan_exists(self) -> Catalog:
        if self.default_plan not in self.plans:
            raise ValueError(f"default_plan '{self.default_plan}' is not one of the plans")
        for code in [*self.plans, *self.boosts, *self.packs, *self.platforms, *self.presets]:
            if not code.replace("_", "").isalnum() or len(code) > 32:
                raise ValueError(f"'{code}' must be letters, digits and _ (at most 32)")
        if self.plans[self.default_plan].purchasable:
            raise ValueError("the default plan is what members have without paying: no price")
        keys = [p.stripe_lookup_key for p in [*self.plans.values(), *self.packs.values()]]
        keys = [key for key in keys if key]
        if len(keys) != len(set(keys)):
            raise ValueError("each plan and pack needs its own stripe_lookup_key")
        if set(self.plans) & set(self.packs):
            raise ValueError("a pack cannot share its code with a plan")
        return self

    def paid_plans(self) -> dict[str, PlanConfig]:
        return {code: plan for code, plan in self.plans.items() if plan.purchasable}

    def plan_for_lookup_key(self, key: str | None) -> str | None:
        for code, plan in self.plans.items():
            if key and plan.stripe_lookup_key == key:
                return code
        return None

    def plan(self, code: str | None) -> PlanConfig:
        return self.plans.get(code or "", self.plans[self.default_plan])


def load_catalog(path: Path) -> Catalog:
    try:
        data = tomllib.loads(path.read_text())
    except FileNotFoundError:
        raise CatalogError(f"catalog file {path} does not exist") from None
    except tomllib.TOMLDecodeError as error:
        raise CatalogError(f"catalog file {path} is not valid TOML: {error}") from None
    try:
        return Catalog.model_validate(data)
    except ValidationError as error:
        raise CatalogError(f"catalog file {path} is invalid:\n{error}") from None


@lru_cache
def get_catalog() -> Catalog:
    from dashboard_app.settings import get_settings

    return load_catalog(get_settings().catalog_file or PROJECT_ROOT / "catalog.toml")
