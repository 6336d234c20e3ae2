"""The admin panel: overview, members, one member, Stripe events, jobs, the audit log and
holdings. Every
state here is an admin page (`base.AdminPage`): its data is loaded only after the role is read
from the database for that event, and dropped when it is not an admin's any more."""

from dashboard_app.web.pages.admin.audit import AdminAuditState, admin_audit_page
from dashboard_app.web.pages.admin.events import AdminEventsState, admin_events_page
from dashboard_app.web.pages.admin.holdings import AdminHoldingsState, admin_holdings_page
from dashboard_app.web.pages.admin.jobs import AdminJobsState, admin_jobs_page
from dashboard_app.web.pages.admin.member import AdminMemberState
from dashboard_app.web.pages.admin.member_view import admin_member_page
from dashboard_app.web.pages.admin.members import AdminMembersState, admin_members_page
from dashboard_app.web.pages.admin.overview import AdminState, admin_page

ADMIN_STATES = (
    AdminState,
    AdminMembersState,
    AdminMemberState,
    AdminEventsState,
    AdminJobsState,
    AdminAuditState,
    AdminHoldingsState,
)

__all__ = [
    "ADMIN_STATES",
    "AdminAuditState",
    "AdminEventsState",
    "AdminHoldingsState",
    "AdminJobsState",
    "AdminMemberState",
    "AdminMembersState",
    "AdminState",
    "admin_page",
    "admin_audit_page",
    "admin_events_page",
    "admin_holdings_page",
    "admin_jobs_page",
    "admin_member_page",
    "admin_members_page",
]
