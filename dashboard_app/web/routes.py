"""Every route string of the dashboard and the URL builders that use them."""

from __future__ import annotations

from urllib.parse import urlencode, urlsplit

OVERVIEW = "/"
CREDITS = "/credits"
CREATE = "/create"
JOBS = "/jobs"
LIBRARY = "/library"
HOLDINGS = "/holdings"
REVIEW = "/review"
BILLING = "/billing"
PROFILE = "/profile"
ADMIN = "/admin"
ADMIN_MEMBERS = "/admin/members"
ADMIN_MEMBER = "/admin/members/[member_id]"
ADMIN_EVENTS = "/admin/stripe-events"
ADMIN_JOBS = "/admin/jobs"
ADMIN_AUDIT = "/admin/audit"
ADMIN_HOLDINGS = "/admin/holdings"
BILLING_SUCCESS = "/billing/success"
ORDERS = "/billing/orders"
SIGN_IN = "/sign-in"
SIGN_UP = "/sign-up"
FORGOT_PASSWORD = "/forgot-password"
RESET_PASSWORD = "/reset-password"

API_SIGN_IN = "/auth/sign-in"
API_SIGN_UP = "/auth/sign-up"
API_SIGN_OUT = "/auth/sign-out"
API_HEALTH = "/healthz"
API_READY = "/readyz"
API_METRICS = "/metrics"
API_VERIFY_EMAIL = "/auth/verify-email"
API_RESEND_VERIFICATION = "/auth/resend-verification"
API_FORGOT_PASSWORD = "/auth/forgot-password"
API_RESET_PASSWORD = "/auth/reset-password"
API_CONFIRM_EMAIL = "/auth/confirm-email"
API_SSO_PREFIX = "/auth/sso"
API_SSO_START = "/auth/sso/start"
API_SSO_CALLBACK = "/auth/sso/callback"
API_AVATAR = "/account/avatar"
API_EXPORT = "/account/export"
API_DELETE_ACCOUNT = "/account/delete"
API_STRIPE_WEBHOOK = "/api/stripe/webhook"
API_FILES = "/files"
API_ADMIN_AUDIT_CSV = "/api/admin/audit.csv"
API_INTERNAL_SYNC_STRIPE = "/internal/sync/stripe"
API_V1 = "/api/v1"  # the REST API (web/api/v1), its document at /api/v1/openapi.json
API_INTERNAL_SYNC_HOLDINGS = "/internal/sync/holdings"
# Test runs only (APP_ENV=test).
API_TEST_TAB_STATEMENTS = "/api/test/tab-statements"

# Files Reflex serves from assets/.
FAVICON = "/favicon.ico"
LOGO = "/logo.svg"
SOCIAL_PREVIEW = "/social-preview.png"

PUBLIC_PAGES = frozenset({SIGN_IN, SIGN_UP, FORGOT_PASSWORD, RESET_PASSWORD})


def safe_next(target: str | None) -> str:
    """A local path to return to after sign-in; anything else (other hosts, schemes) is refused."""
    if not target:
        return OVERVIEW
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not target.startswith("/") or target.startswith("//"):
        return OVERVIEW
    if "\\" in target or parts.path.rstrip("/") in PUBLIC_PAGES:
        return OVERVIEW
    return target


def _with_params(path: str, **params: str | None) -> str:
    present = {key: value for key, value in params.items() if value}
    return f"{path}?{urlencode(present)}" if present else path


def sign_in_url(
    next_path: str | None = None, error: str | None = None, message: str | None = None
) -> str:
    """`message` is a server-signed text (suspension reason, lock-out time) to show as is."""
    target = safe_next(next_path)
    return _with_params(
        SIGN_IN, next=target if target != OVERVIEW else None, error=error, message=message
    )


def with_notice(path: str, notice: str) -> str:
    return _with_params(path, notice=notice)


def with_message(path: str, message: str) -> str:
    """`message` is a server-signed text (e.g. when to try again) the page shows as its notice."""
    return _with_params(path, message=message)


def profile_url(avatar_error: str | None = None) -> str:
    return _with_params(PROFILE, avatar_error=avatar_error)


def review_path(generation_id: int | str) -> str:
    return f"{REVIEW}/{generation_id}"


def draft_url(draft_id: int | str) -> str:
    return _with_params(CREATE, draft=str(draft_id))


def admin_member_path(member_id: int | str) -> str:
    return f"{ADMIN_MEMBERS}/{member_id}"


def file_path(token: str) -> str:
    return f"{API_FILES}/{token}"


def verify_email_path(token: str) -> str:
    return _with_params(API_VERIFY_EMAIL, token=token)


def confirm_email_path(token: str) -> str:
    return _with_params(API_CONFIRM_EMAIL, token=token)


def reset_password_path(token: str, error: str | None = None, message: str | None = None) -> str:
    return _with_params(RESET_PASSWORD, token=token, error=error, message=message)


def sign_up_url(next_path: str | None = None, error: str | None = None) -> str:
    target = safe_next(next_path)
    return _with_params(SIGN_UP, next=target if target != OVERVIEW else None, error=error)
