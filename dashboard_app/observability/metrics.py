"""Every Prometheus figure the app records, by name, and the page /metrics serves.

Several backend processes and job workers run at once on a machine, so the figures use
prometheus-client's multiprocess mode: each process writes its counters and histograms to files
in METRICS_DIR (default DATA_DIR/metrics) and /metrics, on whichever backend process answers,
adds up every process's files. The directory is chosen before prometheus_client is imported
(the library decides its mode at import), which is why this module reads the settings when it
is imported. Figures read from the database (queue depth, the last ledger check, the Stripe
backlog) are computed at scrape time, once, not per process.
"""

from __future__ import annotations

import os
from pathlib import Path

from dashboard_app.settings import get_settings


def _choose_directory() -> Path:
    chosen = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    path = Path(chosen) if chosen else get_settings().metrics_dir
    assert path is not None
    path.mkdir(parents=True, exist_ok=True)
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(path)
    return path


METRICS_DIR = _choose_directory()

from prometheus_client import (  # noqa: E402
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
    multiprocess,
)

_SECONDS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30)
_LAG_SECONDS = (0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600, 21600)
_JOB_SECONDS = (0.1, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800)

# Reflex event handlers, from the event's arrival at the processor to its last delta.
EVENT_SECONDS = Histogram(
    "dashboard_event_seconds",
    "Time a Reflex event handler took, state lock included.",
    ["handler", "outcome"],
    buckets=_SECONDS,
)
# Stripe webhooks: lag from the event's creation at Stripe to its effect applied here.
STRIPE_EVENT_LAG_SECONDS = Histogram(
    "dashboard_stripe_event_lag_seconds",
    "From a Stripe event's `created` to its processing finished here (applied or ignored).",
    buckets=_LAG_SECONDS,
)
STRIPE_EVENTS = Counter(
    "dashboard_stripe_events",
    "Stripe events processed, by outcome (processed, ignored, failed, busy) and path (webhook: "
    "after the answer; payload: applied from its payload as it arrived; retry).",
    ["outcome", "path"],
)
STRIPE_WEBHOOKS_REFUSED = Counter(
    "dashboard_stripe_webhooks_refused",
    "Webhook deliveries refused before storing (bad signature, too large, not JSON, ...).",
    ["reason"],
)
# Generation jobs, as the workers run them.
JOBS_FINISHED = Counter(
    "dashboard_jobs_finished",
    "Generation workflows that ended, by kind (generation, regeneration) and outcome.",
    ["kind", "outcome"],
)
JOB_SECONDS = Histogram(
    "dashboard_job_seconds",
    "A generation workflow's run time on a worker, from its start to its end.",
    ["kind"],
    buckets=_JOB_SECONDS,
)
# Live updates: pushed by the backend process that holds a member's tabs. The push code calls
# LIVE_UPDATES_PUSHED.labels(kind=...).inc() once per change pushed and
# LIVE_UPDATE_TABS.observe(n) with the number of tabs it reached.
LIVE_UPDATES_PUSHED = Counter(
    "dashboard_live_updates_pushed",
    "Changes pushed to open tabs (ledger, job, order, subscription, session, admin).",
    ["kind"],
)
LIVE_UPDATE_TABS = Histogram(
    "dashboard_live_update_tabs",
    "Open tabs one pushed change reached (fan-out).",
    buckets=(0, 1, 2, 4, 8, 16, 32, 64, 128),
)


def render_metrics(database_figures: object | None = None) -> tuple[bytes, str]:
    """The text page for a scrape: every process's figures added up, plus the database's."""
    registry = CollectorRegistry()
    multiprocess.MultiProcessCollector(registry, path=str(METRICS_DIR))
    if database_figures is not None:
        registry.register(database_figures)  # type: ignore[arg-type]
    return generate_latest(registry), CONTENT_TYPE_LATEST
