"""The database's figures as Prometheus gauges, computed once per scrape."""

from __future__ import annotations

from collections.abc import Iterator

import structlog
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from dashboard_app.db import get_engine, session_scope
from dashboard_app.domain.operations import operations_figures

log = structlog.get_logger(__name__)


class DatabaseFigures(Collector):
    def collect(self) -> Iterator[GaugeMetricFamily]:
        try:
            with session_scope(get_engine()) as session:
                figures = operations_figures(session=session)
        except Exception as error:  # noqa: BLE001 - a scrape reports the database as down
            log.error("metrics: database figures unavailable", error=str(error))
            yield GaugeMetricFamily("dashboard_database_up", "The database answered.", value=0)
            return
        yield GaugeMetricFamily("dashboard_database_up", "The database answered.", value=1)
        jobs = GaugeMetricFamily("dashboard_jobs", "Generation jobs by status.", labels=["status"])
        jobs.add_metric(["queued"], figures.jobs_queued)
        jobs.add_metric(["running"], figures.jobs_running)
        yield jobs
        yield GaugeMetricFamily(
            "dashboard_jobs_oldest_queued_seconds",
            "Age of the oldest job still waiting for a worker (0: none).",
            value=figures.oldest_queued_seconds,
        )
        yield GaugeMetricFamily(
            "dashboard_stripe_events_unapplied",
            "Stored Stripe events not yet applied (received or failed).",
            value=figures.stripe_unapplied,
        )
        yield GaugeMetricFamily(
            "dashboard_stripe_events_oldest_unapplied_seconds",
            "Age of the oldest stored Stripe event not yet applied (0: none).",
            value=figures.oldest_unapplied_seconds,
        )
        if figures.ledger_check_ok is not None:
            yield GaugeMetricFamily(
                "dashboard_ledger_check_ok",
                "1 when the last `ledger check` found the ledger consistent, else 0.",
                value=int(figures.ledger_check_ok),
            )
            yield GaugeMetricFamily(
                "dashboard_ledger_check_problems",
                "Problems the last ledger check reported.",
                value=figures.ledger_check_problems,
            )
            assert figures.ledger_check_finished_at is not None
            yield GaugeMetricFamily(
                "dashboard_ledger_check_finished_timestamp_seconds",
                "When the last ledger check finished (Unix time).",
                value=figures.ledger_check_finished_at.timestamp(),
            )
