"""The embedded default: the app's backend process runs the workers too (`make run`), unless
JOBS_EMBEDDED_WORKER=false (at scale, when standalone workers run the queue)."""

from __future__ import annotations

import asyncio
import logging

from dashboard_app.domain.catalog import get_catalog
from dashboard_app.engine import runtime, worker
from dashboard_app.engine.client import get_client
from dashboard_app.settings import get_settings

log = logging.getLogger(__name__)


async def run_embedded_worker() -> None:
    """A lifespan task: launch the workers, keep house while the app runs, stop with it."""
    settings = get_settings()
    if not settings.jobs_embedded_worker:
        return
    worker_runtime = runtime.from_settings(
        settings, catalog=get_catalog(), executor_id=settings.jobs_executor_id
    )
    await asyncio.to_thread(worker.start, settings, worker_runtime=worker_runtime)
    client = get_client(settings)
    try:
        while True:
            await asyncio.sleep(worker.HOUSEKEEPING_SECONDS)
            try:
                await asyncio.to_thread(worker.keep_house, client)
            except Exception:  # noqa: BLE001 - the loop must outlive a database hiccup
                log.exception("job housekeeping failed")
    finally:
        await asyncio.to_thread(worker.stop)
