"""What the workflows of this process use: the app database, storage, the generator, the
catalog and the retry policy. Installed once by whoever launches the workers."""

from __future__ import annotations

import importlib
from dataclasses import dataclass

from sqlalchemy.engine import Engine

from dashboard_app.domain.catalog import Catalog
from dashboard_app.integrations.generators.base import Generator
from dashboard_app.integrations.generators.builtin import BuiltinGenerator
from dashboard_app.integrations.generators.http import HttpGenerator, HttpGeneratorConfig
from dashboard_app.integrations.storage import S3Settings, Storage, open_storage
from dashboard_app.settings import Settings


@dataclass
class Runtime:
    engine: Engine
    storage: Storage
    generator: Generator
    catalog: Catalog
    executor_id: str
    step_attempts: int = 3
    step_retry_seconds: float = 2.0
    # The settings the scheduled jobs read (cron, retention, Stripe); get_settings() if None.
    settings: Settings | None = None

    @property
    def timeout_seconds(self) -> int:
        return self.catalog.generation.job_timeout_seconds


_current: Runtime | None = None


def install(runtime: Runtime | None) -> None:
    global _current
    _current = runtime


def current() -> Runtime:
    if _current is None:
        raise RuntimeError("the job engine runs only after worker.start() installed a runtime")
    return _current


def load_generator(settings: Settings) -> Generator:
    """The generator the settings name: "builtin", "http", or "package.module:Class" (a
    plug-in, constructed without arguments)."""
    if settings.generator == "builtin":
        return BuiltinGenerator(
            height=settings.reel_height, seconds=settings.reel_seconds, fps=settings.reel_fps
        )
    if settings.generator == "http":
        if not settings.generator_url or not settings.generator_token:
            raise RuntimeError("GENERATOR=http needs GENERATOR_URL and GENERATOR_TOKEN")
        return HttpGenerator(
            HttpGeneratorConfig(
                base_url=settings.generator_url,
                token=settings.generator_token.get_secret_value(),
                timeout_seconds=settings.generator_timeout_seconds,
                poll_seconds=settings.generator_poll_seconds,
            )
        )
    module_name, _, class_name = settings.generator.partition(":")
    if not class_name:
        raise RuntimeError(f"GENERATOR={settings.generator!r}: use builtin, http or module:Class")
    return getattr(importlib.import_module(module_name), class_name)()


def storage_for(settings: Settings) -> Storage:
    s3 = None
    if settings.storage_s3_bucket:
        secret = settings.storage_s3_secret_access_key
        s3 = S3Settings(
            bucket=settings.storage_s3_bucket,
            endpoint=settings.storage_s3_endpoint,
            region=settings.storage_s3_region,
            access_key_id=settings.storage_s3_access_key_id,
            secret_access_key=secret.get_secret_value() if secret else None,
            allow_http=settings.storage_s3_allow_http,
        )
    return open_storage(local_root=settings.private_storage / "media", s3=s3)


def from_settings(settings: Settings, *, catalog: Catalog, executor_id: str) -> Runtime:
    from dashboard_app.db import get_engine

    return Runtime(
        engine=get_engine(),
        storage=storage_for(settings),
        generator=load_generator(settings),
        catalog=catalog,
        executor_id=executor_id,
        step_attempts=settings.jobs_step_attempts,
        step_retry_seconds=settings.jobs_step_retry_seconds,
        settings=settings,
    )
