"""A real scrape of /metrics on the running app (production mode) after a real signed webhook,
a real job run by the app's embedded worker, and a real Reflex event over the websocket."""

from __future__ import annotations

import httpx
from prometheus_client.parser import text_string_to_metric_families
from sqlmodel import Session, select

from dashboard_app.db import session_scope
from dashboard_app.domain.catalog import get_catalog
from dashboard_app.domain.generation import submit
from dashboard_app.engine.client import JobsClient
from dashboard_app.models import Generation, StripeEvent
from dashboard_app.web.pages.overview import OverviewState
from tests.factories import create_member
from tests.support.servers import wait_for
from tests.support.stripe import make_event, paid_checkout, signed
from tests.support.tab import HYDRATE, talk_now


def scrape(app) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    response = httpx.get(app.url("/metrics"), timeout=30)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain")
    samples = {}
    for family in text_string_to_metric_families(response.text):
        for sample in family.samples:
            samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return samples


def value(samples, name: str, **labels: str) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


def jobs_system_database(app) -> str:
    url = app.engine.url
    if url.drivername.startswith("sqlite"):
        return f"sqlite:///{app.data_dir / 'dbos.sqlite'}"
    return url.render_as_string(hide_password=False)


def run_a_job(app) -> int:
    member = create_member(app.engine, credits_granted=1_000)
    with session_scope(app.engine) as session:
        generation = submit.submit_generation(
            session=session,
            user_id=member.id,
            catalog=get_catalog(),
            idempotency_key="metrics-scrape-job",
            topic="A job the metrics count",
            platform="tiktok",
            preset="clean",
            format="video",
            variants=1,
        ).generation
    client = JobsClient(system_database_url=jobs_system_database(app), schema="dbos")
    try:
        client.enqueue_generation(
            workflow_id=submit.workflow_id(generation),
            generation_id=generation.id,
            attempt=1,
            timeout_seconds=600,
        )
    finally:
        client.close()

    def finished() -> bool:
        with Session(app.engine) as session:
            row = session.get(Generation, generation.id)
            return row is not None and row.status == "succeeded"

    wait_for(finished, timeout=120, what="the job to succeed")
    return generation.id


def event_status(app, stripe_event_id: str) -> str | None:
    with Session(app.engine) as session:
        row = session.exec(
            select(StripeEvent).where(StripeEvent.stripe_event_id == stripe_event_id)
        ).first()
        return row.status if row is not None else None


def test_a_scrape_after_webhooks_a_job_and_an_event_shows_their_figures(app) -> None:
    before = scrape(app)
    # A paid Checkout: the stand-in delivers checkout.session.completed, the app applies it.
    member = create_member(app.engine)
    paid_checkout(app.engine, app.stripe.gateway(), member.id)
    # A dispute Stripe does not know: stored, then its processing fails.
    failing = make_event("charge.dispute.created", {"id": "dp_metrics", "object": "dispute"})
    body, headers = signed(failing)
    assert (
        httpx.post(app.url("/api/stripe/webhook"), content=body, headers=headers).status_code == 200
    )
    unsigned = httpx.post(app.url("/api/stripe/webhook"), content=b"{}", headers={})
    assert unsigned.status_code == 400
    wait_for(
        lambda: event_status(app, failing["id"]) == "failed", timeout=60, what="the dispute to fail"
    )
    run_a_job(app)
    talk_now(app.base_url, calls=[])  # a hydrate, handled by the event processor

    def grew(samples, name: str, **labels: str) -> bool:
        return value(samples, name, **labels) > value(before, name, **labels)

    def counted() -> bool:
        now = scrape(app)
        return (
            grew(now, "dashboard_stripe_events_total", outcome="processed", path="webhook")
            and grew(now, "dashboard_stripe_events_total", outcome="failed", path="webhook")
            and grew(now, "dashboard_jobs_finished_total", kind="generation", outcome="succeeded")
        )

    wait_for(counted, timeout=60, what="the webhooks and the job in the scrape")
    after = scrape(app)
    for name, labels in [
        ("dashboard_stripe_event_lag_seconds_count", {}),
        ("dashboard_stripe_webhooks_refused_total", {"reason": "signature"}),
        ("dashboard_job_seconds_count", {"kind": "generation"}),
        ("dashboard_event_seconds_count", {"handler": HYDRATE, "outcome": "ok"}),
    ]:
        assert grew(after, name, **labels), name
    # Figures read from the database at scrape time.
    assert value(after, "dashboard_database_up") == 1
    assert ("dashboard_jobs", (("status", "queued"),)) in after
    assert value(after, "dashboard_stripe_events_unapplied") >= 1  # the failed refund
    # The live-update fan-out exists before the first push (the push code records it).
    assert ("dashboard_live_update_tabs_count", ()) in after


def test_log_lines_of_a_reflex_event_carry_its_event_id(app) -> None:
    handler = f"{OverviewState.get_full_name()}.load"
    talk_now(app.base_url, calls=[(handler, {"not_an_argument": 1})])

    def logged() -> list[str]:
        return [
            line
            for line in app.server.log_path.read_text(errors="replace").splitlines()
            if "event payload refused" in line and handler in line
        ]

    wait_for(lambda: bool(logged()), timeout=30, what="the refusal in the app's log")
    assert "event_id=" in logged()[-1]
