"""The durable workflows: a generation (one attempt of a job) and a regeneration (one variant).

Each step is safe to run twice (a worker killed mid-step runs it again on recovery): renders
write to storage keys fixed by the variant's revision and find their asset by that key; the
delivering step captures credits and counts usage under the ledger's idempotency keys, inside
one transaction that first checks the job is still running."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from dbos import DBOS, StepOptions
from dbos import error as dbos_errors

from dashboard_app.db import session_scope
from dashboard_app.domain.generation import progress
from dashboard_app.domain.generation.progress import Rendered, RenderJob, RenderStopped, StoredFile
from dashboard_app.engine import runtime
from dashboard_app.integrations.generators.base import GeneratorRefused, RenderRequest, Style
from dashboard_app.models.base import utcnow
from dashboard_app.observability.metrics import JOB_SECONDS, JOBS_FINISHED

PROGRESS_EVERY_SECONDS = 0.25


def _retry_policy(name: str) -> StepOptions:
    current = runtime.current()
    return {
        "name": name,
        "retries_allowed": True,
        "max_attempts": current.step_attempts,
        "interval_seconds": current.step_retry_seconds,
        "backoff_rate": 2.0,
        # A refusal or a stopped job cannot be helped by trying again.
        "should_retry": lambda error: not isinstance(error, RenderStopped | GeneratorRefused),
    }


# --- Steps --------------------------------------------------------------------------------------


def begin_generation(generation_id: int, attempt: int) -> list[RenderJob]:
    current = runtime.current()
    with session_scope(current.engine) as session:
        return progress.begin_generation(
            session=session,
            generation_id=generation_id,
            attempt=attempt,
            worker_id=current.executor_id,
            timeout_seconds=current.timeout_seconds,
        )


def begin_regeneration(variant_id: int, revision: int) -> list[RenderJob]:
    current = runtime.current()
    with session_scope(current.engine) as session:
        return progress.begin_regeneration(
            session=session,
            variant_id=variant_id,
            revision=revision,
            worker_id=current.executor_id,
            timeout_seconds=current.timeout_seconds,
        )


def _request(job: RenderJob) -> RenderRequest:
    catalog = runtime.current().catalog
    preset = catalog.presets.get(job.preset)
    platform = catalog.platforms.get(job.platform)
    return RenderRequest(
        key=job.key,
        title=job.title,
        topic=job.topic,
        platform=job.platform,
        preset=job.preset,
        format=job.format,  # type: ignore[arg-type]
        position=job.position,
        style=Style(
            background=preset.background if preset else "#111111",
            accent=preset.accent if preset else "#ffffff",
            text=preset.text if preset else "#ffffff",
            platform_name=platform.name if platform else job.platform,
            platform_accent=platform.accent if platform else "#ffffff",
            preset_name=preset.name if preset else job.preset,
        ),
    )


def render_variant(job: RenderJob) -> Rendered:
    """Render, store the files, keep the asset; progress goes to the variant as it moves."""
    current = runtime.current()
    last_report = 0.0

    def report(fraction: float) -> None:
        nonlocal last_report
        moment = time.monotonic()
        if moment - last_report < PROGRESS_EVERY_SECONDS and fraction < 1.0:
            return
        last_report = moment
        with session_scope(current.engine) as session:
            progress.record_progress(
                session=session, job=job, fraction=fraction, worker_id=current.executor_id
            )

    started = time.monotonic()
    result = current.generator.render(_request(job), report)
    elapsed_ms = max(1, round((time.monotonic() - started) * 1000))

    def store(name: str, media) -> StoredFile:  # type: ignore[no-untyped-def]
        key = job.storage_key(f"{name}.{media.extension}")
        current.storage.put(key, media.data, content_type=media.content_type)
        return StoredFile(key=key, content_type=media.content_type, size_bytes=len(media.data))

    media = store("media", result.media)
    thumbnail = store("thumbnail", result.thumbnail)
    poster = store("poster", result.poster) if result.poster is not None else None
    with session_scope(current.engine) as session:
        asset_id = progress.record_render(
            session=session,
            job=job,
            media=media,
            thumbnail=thumbnail,
            poster=poster,
            width=result.width,
            height=result.height,
            duration_ms=result.duration_ms,
        )
    return Rendered(
        variant_id=job.variant_id,
        revision=job.revision,
        asset_id=asset_id,
        processing_ms=elapsed_ms,
    )


def complete_generation(generation_id: int, attempt: int, rendered: list[Rendered]) -> bool:
    with session_scope(runtime.current().engine) as session:
        return progress.complete_generation(
            session=session, generation_id=generation_id, attempt=attempt, rendered=rendered
        )


def complete_regeneration(variant_id: int, revision: int, rendered: Rendered) -> bool:
    with session_scope(runtime.current().engine) as session:
        return progress.complete_regeneration(
            session=session, variant_id=variant_id, revision=revision, rendered=rendered
        )


# --- Ending without a result --------------------------------------------------------------------


def _why(error: BaseException, deadline_passed: bool) -> tuple[str, str | None] | None:
    """(reason, message) for a job that stopped (the member sees the message), or None to
    leave the job alone."""
    if isinstance(error, RenderStopped):
        return error.reason, None
    if deadline_passed:
        return "timed_out", None
    if not isinstance(error, Exception):
        # DBOS cancelled the workflow or handed it to another execution: a member's cancel has
        # already settled the job, a new owner will finish it, and work nobody finishes is
        # ended by housekeeping once past its deadline.
        return None
    if isinstance(error, dbos_errors.DBOSMaxStepRetriesExceeded) and error.errors:
        last = error.errors[-1]
        return "failed", f"Rendering failed after {error.max_retries} tries: {last}"
    return "failed", f"Rendering failed: {error}"


def _settle_generation(generation_id: int, attempt: int, error: BaseException, jobs) -> None:  # type: ignore[no-untyped-def]
    outcome = _why(error, bool(jobs) and utcnow() >= jobs[0].deadline)
    if outcome is None:
        return
    reason, message = outcome
    with session_scope(runtime.current().engine) as session:
        progress.fail_generation(
            session=session,
            generation_id=generation_id,
            attempt=attempt,
            reason=reason,
            error=message,
            timeout_seconds=runtime.current().timeout_seconds,
        )


def _settle_regeneration(variant_id: int, revision: int, error: BaseException, jobs) -> None:  # type: ignore[no-untyped-def]
    outcome = _why(error, bool(jobs) and utcnow() >= jobs[0].deadline)
    if outcome is None:
        return
    reason, message = outcome
    with session_scope(runtime.current().engine) as session:
        progress.fail_regeneration(
            session=session,
            variant_id=variant_id,
            revision=revision,
            reason=reason,
            error=message,
            timeout_seconds=runtime.current().timeout_seconds,
        )


# --- Workflows ----------------------------------------------------------------------------------


@contextmanager
def _measured(kind: str) -> Iterator[Callable[[str], None]]:
    """Counts the workflow's outcome and times its run (recorded when it ends, also when DBOS
    cancels it: outcome `interrupted`)."""
    started = time.perf_counter()
    outcome = ["interrupted"]
    try:
        yield lambda value: outcome.__setitem__(0, value)
    finally:
        JOB_SECONDS.labels(kind=kind).observe(time.perf_counter() - started)
        JOBS_FINISHED.labels(kind=kind, outcome=outcome[0]).inc()


@DBOS.workflow(name="generation")
def generation_workflow(generation_id: int, attempt: int) -> str:
    with _measured("generation") as record:
        jobs: list[RenderJob] = []
        try:
            jobs = DBOS.run_step({"name": "begin"}, begin_generation, generation_id, attempt)
            if not jobs:
                return _ended(record, "nothing to do")
            rendered = [DBOS.run_step(_retry_policy("render"), render_variant, job) for job in jobs]
            delivered = DBOS.run_step(
                {"name": "deliver"}, complete_generation, generation_id, attempt, rendered
            )
            return _ended(record, "succeeded" if delivered else "ended elsewhere")
        except Exception as error:  # noqa: BLE001 - every failure ends the job and frees its credits
            _settle_generation(generation_id, attempt, error, jobs)
            return _ended(record, "stopped")
        except (
            dbos_errors.DBOSWorkflowCancelledError,
            dbos_errors.DBOSWorkflowConflictIDError,
        ) as ended:
            _settle_generation(generation_id, attempt, ended, jobs)
            raise


@DBOS.workflow(name="regeneration")
def regeneration_workflow(variant_id: int, revision: int) -> str:
    with _measured("regeneration") as record:
        jobs: list[RenderJob] = []
        try:
            jobs = DBOS.run_step({"name": "begin"}, begin_regeneration, variant_id, revision)
            if not jobs:
                return _ended(record, "nothing to do")
            rendered = DBOS.run_step(_retry_policy("render"), render_variant, jobs[0])
            delivered = DBOS.run_step(
                {"name": "deliver"}, complete_regeneration, variant_id, revision, rendered
            )
            return _ended(record, "succeeded" if delivered else "ended elsewhere")
        except Exception as error:  # noqa: BLE001
            _settle_regeneration(variant_id, revision, error, jobs)
            return _ended(record, "stopped")
        except (
            dbos_errors.DBOSWorkflowCancelledError,
            dbos_errors.DBOSWorkflowConflictIDError,
        ) as ended:
            _settle_regeneration(variant_id, revision, ended, jobs)
            raise


def _ended(record: Callable[[str], None], outcome: str) -> str:
    record(outcome.replace(" ", "_"))
    return outcome
