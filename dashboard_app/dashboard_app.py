"""The Reflex app: server routes in front, then page registration."""

import reflex as rx

from dashboard_app.engine.embedded import run_embedded_worker
from dashboard_app.observability.logs import configure_logging
from dashboard_app.observability.reflex_events import ObservedApp
from dashboard_app.settings import get_settings
from dashboard_app.web import routes
from dashboard_app.web.api.app import build_api
from dashboard_app.web.api.stripe_webhook import retry_stripe_events
from dashboard_app.web.components.brand import head_components, social_preview_url
from dashboard_app.web.live_tabs import push_live_updates
from dashboard_app.web.pages.admin import (
    AdminAuditState,
    AdminEventsState,
    AdminHoldingsState,
    AdminJobsState,
    AdminMembersState,
    AdminMemberState,
    AdminState,
    admin_audit_page,
    admin_events_page,
    admin_holdings_page,
    admin_jobs_page,
    admin_member_page,
    admin_members_page,
    admin_page,
)
from dashboard_app.web.pages.billing import (
    BillingState,
    CheckoutSuccessState,
    OrderDetailState,
    OrdersState,
    billing_page,
    checkout_success_page,
    order_detail_page,
    orders_page,
)
from dashboard_app.web.pages.create import CreateState, create_page
from dashboard_app.web.pages.history import HistoryState, history_page
from dashboard_app.web.pages.holdings import HoldingsState, holdings_page
from dashboard_app.web.pages.jobs import JobsState, jobs_page
from dashboard_app.web.pages.library import LibraryState, library_page
from dashboard_app.web.pages.overview import OverviewState, overview_page
from dashboard_app.web.pages.profile import ProfileState, profile_page
from dashboard_app.web.pages.review import ReviewState, review_page
from dashboard_app.web.pages.sign_in import (
    forgot_password_page,
    reset_password_page,
    sign_in_page,
    sign_up_page,
)
from dashboard_app.web.state.auth import PublicPageState
from dashboard_app.web.state.guards import PayloadGuard, SessionGuard

# Once per backend process, before anything logs.
configure_logging(get_settings())
PUBLIC_BASE_URL = get_settings().public_base_url

app = ObservedApp(
    api_transformer=build_api(),
    head_components=[
        rx.el.meta(name="viewport", content="width=device-width, initial-scale=1"),
        *head_components(PUBLIC_BASE_URL),
    ],
)
app.register_lifespan_task(retry_stripe_events)
app.register_lifespan_task(run_embedded_worker)
app.register_lifespan_task(push_live_updates)
# Before any handler runs, hydrate included: a payload of the wrong shape is refused, then a tab
# whose cookie now resolves to another session (or none) is reset.
app.add_middleware(PayloadGuard(), index=0)
app.add_middleware(SessionGuard(), index=1)


def add_page(component, **options) -> None:
    """A page whose og:image is the link-preview image (Reflex's default is the favicon)."""
    app.add_page(component, image=social_preview_url(PUBLIC_BASE_URL), **options)


add_page(sign_in_page, route=routes.SIGN_IN, title="Sign in", on_load=PublicPageState.open_sign_in)
add_page(sign_up_page, route=routes.SIGN_UP, title="Sign up", on_load=PublicPageState.open_sign_up)
add_page(
    forgot_password_page,
    route=routes.FORGOT_PASSWORD,
    title="Forgot password",
    on_load=PublicPageState.open_public_page,
)
add_page(
    reset_password_page,
    route=routes.RESET_PASSWORD,
    title="Reset password",
    on_load=PublicPageState.open_public_page,
)
add_page(overview_page, route=routes.OVERVIEW, title="Overview", on_load=OverviewState.load)
add_page(history_page, route=routes.CREDITS, title="Credit history", on_load=HistoryState.load)
add_page(create_page, route=routes.CREATE, title="Create", on_load=CreateState.load)
add_page(
    review_page,
    route=routes.REVIEW + "/[generation_id]",
    title="Review",
    on_load=ReviewState.load,
)
add_page(jobs_page, route=routes.JOBS, title="Jobs", on_load=JobsState.load)
add_page(library_page, route=routes.LIBRARY, title="Library", on_load=LibraryState.load)
add_page(holdings_page, route=routes.HOLDINGS, title="Holdings", on_load=HoldingsState.load)
add_page(billing_page, route=routes.BILLING, title="Billing", on_load=BillingState.load)
add_page(
    checkout_success_page,
    route=routes.BILLING_SUCCESS,
    title="Checkout",
    on_load=CheckoutSuccessState.load,
)
add_page(orders_page, route=routes.ORDERS, title="Orders", on_load=OrdersState.load)
add_page(
    order_detail_page,
    route=routes.ORDERS + "/[order_id]",
    title="Order",
    on_load=OrderDetailState.load,
)
add_page(profile_page, route=routes.PROFILE, title="Profile", on_load=ProfileState.load)
add_page(admin_page, route=routes.ADMIN, title="Admin", on_load=AdminState.load)
add_page(
    admin_members_page,
    route=routes.ADMIN_MEMBERS,
    title="Admin: members",
    on_load=AdminMembersState.load,
)
add_page(
    admin_member_page,
    route=routes.ADMIN_MEMBER,
    title="Admin: member",
    on_load=AdminMemberState.load,
)
add_page(
    admin_events_page,
    route=routes.ADMIN_EVENTS,
    title="Admin: Stripe events",
    on_load=AdminEventsState.load,
)
add_page(admin_jobs_page, route=routes.ADMIN_JOBS, title="Admin: jobs", on_load=AdminJobsState.load)
add_page(
    admin_audit_page,
    route=routes.ADMIN_AUDIT,
    title="Admin: audit log",
    on_load=AdminAuditState.load,
)
add_page(
    admin_holdings_page,
    route=routes.ADMIN_HOLDINGS,
    title="Admin: holdings",
    on_load=AdminHoldingsState.load,
)
