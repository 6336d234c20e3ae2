"""Enqueue and cancel generation work from any process, through the DBOS system database.
Web processes use only this; they never run workflows themselves unless they embed a worker."""

from __future__ import annotations

import threading
from functools import lru_cache

from dbos import DBOS, DBOSClient, EnqueueOptions
from dbos import error as dbos_errors

from dashboard_app.engine import (
    APP_NAME,
    APP_VERSION,
    HOLDINGS_QUEUE,
    QUEUE_NAME,
    prepare_system_database,
)
from dashboard_app.settings import Settings, get_settings

# DBOS's own workflow timeout is a backstop behind the engine's deadline checks.
TIMEOUT_GRACE_SECONDS = 30
# A holdings refresh: pages of the marketplace, each retried a few times.
HOLDINGS_TIMEOUT_SECONDS = 600


class JobsClient:
    def __init__(self, *, system_database_url: str, schema: str) -> None:
        # The client never creates the system tables; make sure they exist (a no-op when they do).
        prepare_system_database(system_database_url)
        DBOS.migrate(system_database_url, schema=schema)
        self.client = DBOSClient(
            system_database_url=system_database_url,
            dbos_system_schema=schema,
            application_name=APP_NAME,
        )

    def _enqueue(self, workflow: str, workflow_id: str, timeout: int, *args: int) -> str:
        options: EnqueueOptions = {
            "queue_name": QUEUE_NAME,
            "workflow_name": workflow,
            "workflow_id": workflow_id,
            "app_version": APP_VERSION,
            "workflow_timeout": timeout + TIMEOUT_GRACE_SECONDS,
        }
        return self.client.enqueue(options, *args).get_workflow_id()

    def enqueue_generation(
        self, *, workflow_id: str, generation_id: int, attempt: int, timeout_seconds: int
    ) -> str:
        """Queue one attempt of a generation; the same workflow id twice runs once."""
        return self._enqueue("generation", workflow_id, timeout_seconds, generation_id, attempt)

    def enqueue_regeneration(
        self, *, workflow_id: str, variant_id: int, revision: int, timeout_seconds: int
    ) -> str:
        return self._enqueue("regeneration", workflow_id, timeout_seconds, variant_id, revision)

    def enqueue_holdings_refresh(self, *, workflow_id: str, user_id: int, queued_at: str) -> str:
        """Queue one member's holdings refresh; the same workflow id twice runs once."""
        options: EnqueueOptions = {
            "queue_name": HOLDINGS_QUEUE,
            "workflow_name": "holdings_refresh",
            "workflow_id": workflow_id,
            "app_version": APP_VERSION,
            "workflow_timeout": HOLDINGS_TIMEOUT_SECONDS,
        }
        return self.client.enqueue(options, user_id, queued_at).get_workflow_id()

    def cancel(self, workflow_ids: list[str]) -> None:
        """Stop queued workflows from starting (the member's cancel already ended the job)."""
        for workflow_id in workflow_ids:
            try:
                self.client.cancel_workflow(workflow_id)
            except Exception:  # noqa: BLE001 - a workflow never enqueued has nothing to cancel
                continue

    def status(self, workflow_id: str) -> str | None:
        """DBOS's status of the workflow (ENQUEUED, PENDING, SUCCESS, ...), None if unknown."""
        try:
            return self.client.retrieve_workflow(workflow_id).get_status().status
        except dbos_errors.DBOSNonExistentWorkflowError:
            return None

    def close(self) -> None:
        self.client.destroy()


_lock = threading.Lock()


@lru_cache(maxsize=4)
def _client_for(url: str, schema: str) -> JobsClient:
    return JobsClient(system_database_url=url, schema=schema)


def get_client(settings: Settings | None = None) -> JobsClient:
    settings = settings or get_settings()
    with _lock:
        return _client_for(settings.jobs_system_database_url, settings.jobs_system_schema)
