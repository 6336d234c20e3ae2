"""Operations: one logging setup, the slow-query log, and the figures /metrics serves.

`logs.configure_logging` runs once at start-up in every kind of process (backend, CLI, job
worker); `queries.watch_queries` times every statement of an engine; `metrics` names every
Prometheus figure the app records."""
