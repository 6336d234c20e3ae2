"""One member's page as plain rows for the admin member page's vars."""

from __future__ import annotations

from typing import Any

from sqlmodel import Session

from dashboard_app.domain import admin
from dashboard_app.domain.billing import format_money
from dashboard_app.domain.catalog import Catalog
from dashboard_app.web import routes
from dashboard_app.web.pages.billing.common import STATUS_LABELS
from dashboard_app.web.pages.history import KIND_LABELS

TIME = "%Y-%m-%d %H:%M"


def _ledger_row(entry) -> dict[str, str]:  # type: ignore[no-untyped-def]
    change = entry.amount if entry.kind != "capture" else entry.held_change
    return {
        "when": f"{entry.created_at:{TIME}}",
        "kind": KIND_LABELS.get(entry.kind, entry.kind),
        "amount": f"{change:+,d}" if change else "0",
        "balance": f"{entry.balance_after:,}",
        "what": entry.reason or entry.reference,
    }


def _values(values: dict | None) -> str:
    if not values:
        return ""
    shown = {k: v for k, v in values.items() if k != "form"}
    return ", ".join(f"{k}: {v}" for k, v in shown.items())


def detail_vars(
    *,
    session: Session,
    member_id: int,
    catalog: Catalog,
    ledger_kind: str | None = None,
    ledger_before: int | None = None,
) -> dict[str, Any]:
    found = admin.member_detail(
        session=session,
        member_id=member_id,
        catalog=catalog,
        ledger_kind=ledger_kind,
        ledger_before=ledger_before,
    )
    user, profile, balances = found.user, found.profile, found.balances
    limits, usage = found.limits, found.usage
    return {
        "member": {
            "id": str(user.id),
            "email": user.email,
            "name": (profile.display_name if profile else "") or "",
            "role": user.role,
            "status": found.status,
            "suspended_reason": user.suspended_reason or "",
            "joined": f"{user.created_at:{TIME}} UTC",
            "verified": "yes" if user.email_verified_at else "no",
            "stripe_customer": user.stripe_customer_id or "",
            "country": (profile.address_country if profile else "") or "",
        },
        "balances": [
            {"label": label, "value": f"{value:,}", "testid": f"member-{key}"}
            for key, label, value in (
                ("available", "Available", balances.available),
                ("reserved", "Reserved for jobs", balances.reserved),
                ("frozen", "Frozen (disputes)", balances.frozen),
                ("lifetime", "Lifetime", balances.lifetime),
                ("spent", "Spent", balances.spent),
                ("shortfall", "Clawback shortfall", found.clawback_shortfall),
            )
        ],
        "flags": found.flags,
        "ledger": [_ledger_row(e) for e in found.ledger.entries],
        "ledger_has_more": found.ledger.next_cursor is not None,
        "_cursor": found.ledger.next_cursor,
        "meters": [
            {"label": "Exports", "used": f"{usage.exports} of {limits.monthly_exports}"},
            {
                "label": "Processing minutes",
                "used": f"{usage.processing_minutes} of {limits.monthly_minutes}",
            },
            {"label": "Jobs at once", "used": str(limits.concurrent_jobs)},
            {"label": "Jobs per hour", "used": str(limits.hourly_burst)},
        ],
        "plan": {
            "name": found.plan_name,
            "comp": "comped" if found.plan_is_comp else "",
            "ends": f"{found.plan_ends_at:%d %b %Y}" if found.plan_ends_at else "",
        },
        "boosts": [f"{name} until {ends:%d %b %Y, %H:%M} UTC" for name, ends in found.boosts],
        "jobs": [
            {
                "id": str(job.id),
                "title": job.title or job.prompt[:60],
                "status": job.status,
                "created": f"{job.created_at:{TIME}}",
                "error": job.error or "",
            }
            for job in found.jobs
        ],
        "counts": {"jobs": f"{found.job_count:,}", "library": f"{found.library_count:,}"},
        "orders": [
            {
                "id": str(order.id),
                "date": f"{order.created_at:%Y-%m-%d}",
                "what": order.product_code or order.kind,
                "amount": format_money(order.amount_total, order.currency),
                "refunded": format_money(order.amount_refunded, order.currency)
                if order.amount_refunded
                else "",
                "left": f"{(order.amount_total - order.amount_refunded) / 100:.2f}",
                "status": STATUS_LABELS.get(order.status, order.status),
                "credits": f"{order.credits:,}",
                "refundable": "yes"
                if order.status in ("paid", "partially_refunded") and order.stripe_charge_id
                else "",
            }
            for order in found.orders
        ],
        "subscription": (
            {
                "plan": catalog.plan(found.subscription.plan_code).name,
                "status": found.subscription.status,
                "ends": f"{found.subscription.current_period_end:%d %b %Y}"
                if found.subscription.current_period_end
                else "",
                "stripe": found.subscription.stripe_subscription_id or "comped (no Stripe)",
            }
            if found.subscription
            else {}
        ),
        "sessions": [
            {
                "started": f"{s.created_at:{TIME}}",
                "seen": f"{s.last_seen_at:{TIME}}",
                "device": s.user_agent[:80] or "unknown",
                "address": s.ip_address,
            }
            for s in found.sessions
        ],
        "trail": [
            {
                "when": f"{r.created_at:{TIME}}",
                "action": r.action,
                "actor": f"#{r.actor_user_id}" if r.actor_user_id else "system",
                "before": _values(r.before),
                "after": _values(r.after),
            }
            for r in found.trail
        ],
    }


def member_href(member_id: int) -> str:
    return routes.admin_member_path(member_id)
