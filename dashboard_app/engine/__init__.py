"""The job engine: durable generation workflows on DBOS Transact.

`runtime` holds what workflows need in this process (database, storage, generator, catalog);
`workflows` the workflows and steps; `client` enqueues and cancels from any process (web
processes only enqueue); `worker` launches DBOS to run the queue, recovers interrupted work and
keeps house. Progress, status and results live in the app's tables, written through
dashboard_app.domain.generation.progress."""

# One explicit application version for every process (web, workers, clients). DBOS runs and
# recovers only work tagged with its own version: bump it only when the workflows' steps change
# shape, after draining the queue (see the README, "Deploying a change to the workflows").
APP_VERSION = "dashboard-jobs-1"
APP_NAME = "dashboard"
QUEUE_NAME = "generations"
# Holdings refreshes wait on a marketplace: a queue of their own keeps renders moving.
HOLDINGS_QUEUE = "holdings"
HOLDINGS_CONCURRENCY = 2


def prepare_system_database(url: str) -> None:
    """A SQLite system database lives in DATA_DIR, which a fresh checkout does not have yet."""
    from pathlib import Path

    from sqlalchemy.engine import make_url

    parsed = make_url(url)
    if parsed.drivername.startswith("sqlite") and parsed.database not in (None, "", ":memory:"):
        Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
