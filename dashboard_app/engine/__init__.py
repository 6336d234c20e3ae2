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
