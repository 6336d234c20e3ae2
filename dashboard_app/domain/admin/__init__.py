"""The admin panel's rules, in the admin's words: figures (the overview), members (search and
one member's page), credit actions (credits, boosts, comped plans), account actions (suspension,
sessions, the billing flag, roles), billing actions (refunds and a sync with Stripe, which call
Stripe), Stripe events, jobs, the audit log, and the check runs the overview reports.

Every function takes the session (or, for those that call Stripe, the engine) first and keyword
arguments only; the caller owns the transaction. Every action re-reads the actor from the
database (`guard.require_admin`), needs a reason, happens once per form token, and is audited
with who, before, after and the reason. Nothing here imports Reflex, Starlette or stripe."""

from dashboard_app.domain.admin import account_actions
from dashboard_app.domain.admin.account_actions import (
    clear_billing_flag,
    end_member_sessions,
    reinstate_member,
    set_member_role,
    suspend_member,
)
from dashboard_app.domain.admin.amounts import read_credit_amount, read_money
from dashboard_app.domain.admin.audit_log import (
    CSV_COLUMNS,
    AuditFilters,
    AuditPage,
    csv_batch,
    read_audit_filters,
    search_audit,
)
from dashboard_app.domain.admin.billing_actions import refund_order, sync_member
from dashboard_app.domain.admin.checks import latest_checks, run_ledger_check, run_reconcile
from dashboard_app.domain.admin.credit_actions import (
    comp_plan,
    grant_boost,
    grant_credits,
    revoke_credits,
)
from dashboard_app.domain.admin.events import event_types, list_events, payload_text, replay_event
from dashboard_app.domain.admin.figures import Figures, overview_figures
from dashboard_app.domain.admin.guard import Done, NotAnAdmin, record_refusal, require_admin
from dashboard_app.domain.admin.jobs import (
    JobAction,
    cancel_job,
    list_jobs,
    queue_figures,
    retry_job,
)
from dashboard_app.domain.admin.members import (
    MemberDetail,
    MemberFilters,
    member_detail,
    search_members,
)

__all__ = [
    "account_actions",
    "AuditFilters",
    "AuditPage",
    "Done",
    "Figures",
    "JobAction",
    "MemberDetail",
    "MemberFilters",
    "NotAnAdmin",
    "cancel_job",
    "clear_billing_flag",
    "comp_plan",
    "CSV_COLUMNS",
    "csv_batch",
    "end_member_sessions",
    "event_types",
    "grant_boost",
    "grant_credits",
    "latest_checks",
    "list_events",
    "list_jobs",
    "member_detail",
    "overview_figures",
    "payload_text",
    "queue_figures",
    "read_credit_amount",
    "read_audit_filters",
    "read_money",
    "record_refusal",
    "refund_order",
    "reinstate_member",
    "replay_event",
    "require_admin",
    "retry_job",
    "revoke_credits",
    "run_ledger_check",
    "run_reconcile",
    "search_audit",
    "search_members",
    "set_member_role",
    "suspend_member",
    "sync_member",
]
