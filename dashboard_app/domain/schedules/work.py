"""What each scheduled job does. Every job is safe to run again (a run repeated after a crash,
or an operator's run beside the scheduler's): expiry and repairs go through the ledger's
idempotency keys, refreshes bring snapshots to Stripe's current state, retention deletes by age.
Each returns a short summary of what it found, kept with the run."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Engine, delete
from sqlmodel import col

from dashboard_app.db import session_scope
from dashboard_app.domain import billing, credits, holdings, rate_limits
from dashboard_app.domain.catalog import Catalog
from dashboard_app.domain.errors import DomainError
from dashboard_app.domain.stripe_sync import reconcile
from dashboard_app.integrations.marketplace import (
    Inventory,
    MarketplaceClient,
    MarketplaceConfig,
)
from dashboard_app.integrations.stripe_gateway import StripeGateway
from dashboard_app.models import ScheduledRun, SignInAttempt

MAX_SUMMARY_LINES = 20
# Members whose holdings one run refreshes, oldest first (the next run takes the rest).
HOLDINGS_PER_RUN = 200


@dataclass(frozen=True)
class WorkContext:
    """What a job needs, built by whoever runs it (a worker or the CLI) from the settings."""

    engine: Engine | None
    catalog: Catalog
    gateway: StripeGateway | None
    now: datetime
    reconcile_lookback: timedelta = timedelta(hours=48)
    sign_in_attempts_retention: timedelta = timedelta(days=30)
    rate_limit_retention: timedelta = timedelta(days=2)
    scheduled_runs_retention: timedelta = timedelta(days=90)
    marketplace: MarketplaceConfig | None = None
    holdings_fresh_for: timedelta = timedelta(hours=6)

    def require_marketplace(self) -> MarketplaceConfig:
        if self.marketplace is None:
            raise DomainError("No marketplace is configured on this server (MARKETPLACE_BASE_URL).")
        return self.marketplace

    def require_gateway(self) -> StripeGateway:
        if self.gateway is None:
            raise DomainError("Stripe is not configured on this server (STRIPE_SECRET_KEY).")
        return self.gateway


Summary = dict[str, Any]


def reconcile_stripe(context: WorkContext) -> Summary:
    """Repair whatever a lost webhook missed over the look-back window."""
    since = context.now - context.reconcile_lookback
    repaired, problems = reconcile(
        engine=context.engine,
        gateway=context.require_gateway(),
        catalog=context.catalog,
        since=since,
    )
    return {
        "since": since.isoformat(),
        "repaired": len(repaired),
        "could_not_repair": len(problems),
        "details": (
            [f"repaired {line}" for line in repaired]
            + [f"could not repair {line}" for line in problems]
        )[:MAX_SUMMARY_LINES],
    }


def expire_ledger_credits(context: WorkContext) -> Summary:
    """Move every credit past its expiry out of the balances, one member per transaction."""
    with session_scope(context.engine) as session:
        user_ids = credits.users_with_due_expiry(session=session, now=context.now)
    expired = 0
    for user_id in user_ids:
        with session_scope(context.engine) as session:
            entries = credits.expire_credits(session=session, user_id=user_id, now=context.now)
            expired += sum(-entry.amount for entry in entries)
    return {"members": len(user_ids), "credits_expired": expired}


def refresh_stale_orders(context: WorkContext) -> Summary:
    """Bring every member's stale order snapshots up to date from Stripe (a batch per run)."""
    refreshed, failed = billing.refresh_all_stale_orders(
        engine=context.engine, gateway=context.require_gateway(), catalog=context.catalog
    )
    return {"refreshed": len(refreshed), "failed": len(failed), "failed_orders": failed[:20]}


def prune_old_records(context: WorkContext) -> Summary:
    """Forget sign-in attempts, rate-limit uses and run records past their retention."""
    with session_scope(context.engine) as session:
        attempts = session.exec(  # type: ignore[call-overload]
            delete(SignInAttempt).where(
                col(SignInAttempt.created_at) < context.now - context.sign_in_attempts_retention
            )
        ).rowcount
        hits = rate_limits.prune(
            session=session, older_than=context.rate_limit_retention, now=context.now
        )
        runs = session.exec(  # type: ignore[call-overload]
            delete(ScheduledRun)
            .where(col(ScheduledRun.started_at) < context.now - context.scheduled_runs_retention)
            .where(col(ScheduledRun.outcome) != "running")
        ).rowcount
    return {"sign_in_attempts": attempts or 0, "rate_limit_hits": hits, "scheduled_runs": runs or 0}


def refresh_stale_holdings(context: WorkContext) -> Summary:
    """Read the wallets of members whose holdings are stale, one at a time (a member with a
    refresh in flight already is left to it); a failure keeps that member's last good set."""
    config = context.require_marketplace()
    with session_scope(context.engine) as session:
        members = holdings.stale_members(
            session=session,
            chain=config.chain,
            fresh_for=context.holdings_fresh_for,
            now=context.now,
            limit=HOLDINGS_PER_RUN,
        )
    refreshed, failed, busy = 0, [], 0
    with MarketplaceClient(config) as client:

        def fetch(wallet: str) -> Inventory:
            return client.fetch_holdings(wallet)

        for member in members:
            with session_scope(context.engine) as session:
                queued_at = holdings.request_refresh(session=session, user_id=member)
            if queued_at is None:
                busy += 1
                continue
            outcome = holdings.refresh_holdings(
                engine=context.engine,
                fetch=fetch,
                user_id=member,
                chain=config.chain,
                queued_at=queued_at,
            )
            if outcome is not None and outcome.refreshed:
                refreshed += 1
            elif outcome is not None:
                failed.append(f"member {member}: {outcome.error}")
    return {
        "members": len(members),
        "refreshed": refreshed,
        "failed": len(failed),
        "already_running": busy,
        "details": failed[:MAX_SUMMARY_LINES],
    }


@dataclass(frozen=True)
class Job:
    name: str
    label: str  # what an admin reads
    run: Callable[[WorkContext], Summary]
    needs_stripe: bool = False
    needs_marketplace: bool = False


# The order the admin overview lists them in. A new job is one entry here, one cron setting,
# and its line in engine/schedules.py's SCHEDULE_SETTINGS.
JOBS: dict[str, Job] = {
    job.name: job
    for job in (
        Job("stripe_reconcile", "Stripe reconciliation", reconcile_stripe, needs_stripe=True),
        Job("ledger_expiry", "Credit expiry", expire_ledger_credits),
        Job("stale_orders", "Stale order refresh", refresh_stale_orders, needs_stripe=True),
        Job("retention", "Retention of old records", prune_old_records),
        Job(
            "holdings_refresh",
            "Holdings refresh",
            refresh_stale_holdings,
            needs_marketplace=True,
        ),
    )
}
