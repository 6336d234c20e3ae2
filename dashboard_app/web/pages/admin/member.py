"""Admin: one member's page (profile, balances, ledger, usage, jobs, library, orders,
subscription, sessions, audit trail, flags) and the actions on their account. Which member is
read from the page's own address on every event; every action re-checks the admin in the
database (here and in the domain) and is confirmed in a dialog first."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import reflex as rx

from dashboard_app.db import session_scope
from dashboard_app.domain import admin, credits
from dashboard_app.domain.catalog import get_catalog
from dashboard_app.domain.errors import DomainError
from dashboard_app.integrations.stripe_gateway import get_gateway
from dashboard_app.web.pages.admin.base import AdminPage, attempt, in_session
from dashboard_app.web.pages.admin.member_rows import detail_vars
from dashboard_app.web.pages.history import KIND_BY_LABEL
from dashboard_app.web.state.auth import AuthState, Viewer
from dashboard_app.web.state.payloads import Payload, bad_payload, id_from_text, read_payload

ALL_ENTRIES = "All entries"


class ActionForm(Payload):
    reason: str = ""
    form_token: str = ""


class AmountForm(ActionForm):
    amount: str = ""


class BoostForm(ActionForm):
    boost_code: str = ""


class CompForm(ActionForm):
    plan_code: str = ""
    days: str = ""


class RefundForm(ActionForm):
    order_id: str = ""
    amount: str = ""


class RoleForm(ActionForm):
    role: str = ""


class LedgerFilter(Payload):
    label: str


def _member_version(member_id: int) -> str:
    with session_scope() as session:
        version = credits.account_version(session=session, user_id=member_id)
        return version.isoformat() if version else ""


def _whole(text: str, field: str) -> int:
    cleaned = text.strip()
    if not cleaned.isdigit():
        raise DomainError(f"Enter the {field} as a whole number")
    return int(cleaned)


def _refund(actor: int, member_id: int, order_id: str, amount: str, **form: Any):
    gateway = get_gateway()
    if gateway is None:
        raise DomainError("Stripe is not configured on this server.")
    amount_cents = admin.read_money(amount, get_catalog().currency)
    return admin.refund_order(
        engine=None,
        gateway=gateway,
        actor_user_id=actor,
        member_id=member_id,
        order_id=_whole(order_id, "order"),
        amount_cents=amount_cents,
        **form,
    )


def _sync(actor: int, member_id: int, **form: Any):
    gateway = get_gateway()
    if gateway is None:
        raise DomainError("Stripe is not configured on this server.")
    return admin.sync_member(
        engine=None,
        gateway=gateway,
        catalog=get_catalog(),
        actor_user_id=actor,
        member_id=member_id,
        **form,
    )


def _comp(actor: int, member_id: int, plan_code: str, days: str, **form: Any):
    catalog = get_catalog()
    length = 0 if plan_code == catalog.default_plan else _whole(days or "0", "number of days")
    return in_session(
        admin.comp_plan,
        actor_user_id=actor,
        member_id=member_id,
        plan_code=plan_code,
        days=length,
        catalog=catalog,
        **form,
    )


def _in_session_action(function: Callable[..., Any], **extra: Any) -> Callable[..., Any]:
    def run(actor: int, member_id: int, **form: Any) -> Any:
        if "amount" in form:
            form["amount"] = admin.read_credit_amount(form["amount"])
        return in_session(function, actor_user_id=actor, member_id=member_id, **extra, **form)

    return run


class AdminMemberState(AdminPage, AuthState):
    missing: bool = False
    member: dict[str, str] = {}
    balances: list[dict[str, str]] = []
    flags: list[str] = []
    ledger: list[dict[str, str]] = []
    ledger_label: str = ALL_ENTRIES
    ledger_has_more: bool = False
    meters: list[dict[str, str]] = []
    plan: dict[str, str] = {}
    boosts: list[str] = []
    jobs: list[dict[str, str]] = []
    counts: dict[str, str] = {}
    orders: list[dict[str, str]] = []
    subscription: dict[str, str] = {}
    sessions: list[dict[str, str]] = []
    trail: list[dict[str, str]] = []
    _seen_member_version: str = ""
    _ledger_cursor: int | None = None

    def _forget_filters(self) -> None:
        self.ledger_label = ALL_ENTRIES

    def _also_watched(self) -> tuple[int, ...]:
        """The member shown: their changes are pushed to this tab too."""
        member = self._member_id()
        return (member,) if member else ()

    def _member_id(self) -> int:
        raw = str(self.router.url.path).rstrip("/").rsplit("/", 1)[-1]
        return id_from_text(raw) or 0

    async def _refresh_admin(self, viewer: Viewer) -> None:
        # The version before the read: a change landing during the read shows at the next push.
        version = await asyncio.to_thread(_member_version, self._member_id())
        kind = KIND_BY_LABEL.get(self.ledger_label)
        found = await attempt(
            in_session,
            detail_vars,
            member_id=self._member_id(),
            catalog=get_catalog(),
            ledger_kind=kind,
        )
        if isinstance(found, DomainError):
            self.missing, self.member = True, {}
            return
        self.missing = False
        for name, value in found.items():
            if not name.startswith("_"):
                setattr(self, name, value)
        self._ledger_cursor = found.get("_cursor")  # type: ignore[assignment]
        self._seen_member_version = version

    async def _each_second(self, viewer: Viewer) -> None:
        if self.missing or not self.member:
            return
        version = await asyncio.to_thread(_member_version, self._member_id())
        if version != self._seen_member_version:
            await self._refresh_admin(viewer)

    @rx.event
    async def filter_ledger(self, label: str | None = None):
        choice = read_payload(LedgerFilter, {"label": label})
        if choice is None:
            return bad_payload()
        viewer = await self._admin("filter_ledger")
        if viewer is None:
            return self._refusal()
        if choice.label != ALL_ENTRIES and choice.label not in KIND_BY_LABEL:
            return rx.toast.error("Choose one of the listed kinds of entry.")
        self.ledger_label = choice.label
        await self._refresh_admin(viewer)
        return None

    @rx.event
    async def more_ledger(self):
        viewer = await self._admin("more_ledger")
        if viewer is None:
            return self._refusal()
        if self._ledger_cursor is None:
            return None
        found = await attempt(
            in_session,
            detail_vars,
            member_id=self._member_id(),
            catalog=get_catalog(),
            ledger_kind=KIND_BY_LABEL.get(self.ledger_label),
            ledger_before=self._ledger_cursor,
        )
        if isinstance(found, DomainError):
            return rx.toast.error(found.message)
        self.ledger = self.ledger + found["ledger"]
        self._ledger_cursor = found.get("_cursor")  # type: ignore[assignment]
        self.ledger_has_more = bool(found["ledger_has_more"])
        return None

    async def _act(self, name: str, model: type[ActionForm], form: object, run: Callable[..., Any]):
        fields = read_payload(model, form)  # the shape first: it needs no database
        if fields is None:
            return bad_payload()
        viewer = await self._admin(name)
        if viewer is None:
            return self._refusal()
        values = fields.model_dump()
        outcome = await attempt(run, actor=viewer.user_id, member_id=self._member_id(), **values)
        if isinstance(outcome, DomainError):
            self.action_error = outcome.message
            return None
        await self._refresh_admin(viewer)
        return self._done(outcome.message)

    @rx.event
    async def grant(self, form: dict | None = None):
        return await self._act("grant", AmountForm, form, _in_session_action(admin.grant_credits))

    @rx.event
    async def revoke(self, form: dict | None = None):
        return await self._act("revoke", AmountForm, form, _in_session_action(admin.revoke_credits))

    @rx.event
    async def boost(self, form: dict | None = None):
        return await self._act(
            "boost",
            BoostForm,
            form,
            _in_session_action(admin.grant_boost, catalog=get_catalog()),
        )

    @rx.event
    async def comp(self, form: dict | None = None):
        return await self._act("comp", CompForm, form, _comp)

    @rx.event
    async def suspend(self, form: dict | None = None):
        return await self._act(
            "suspend", ActionForm, form, _in_session_action(admin.suspend_member)
        )

    @rx.event
    async def reinstate(self, form: dict | None = None):
        return await self._act(
            "reinstate", ActionForm, form, _in_session_action(admin.reinstate_member)
        )

    @rx.event
    async def end_sessions(self, form: dict | None = None):
        return await self._act(
            "end_sessions", ActionForm, form, _in_session_action(admin.end_member_sessions)
        )

    @rx.event
    async def clear_flag(self, form: dict | None = None):
        return await self._act(
            "clear_flag", ActionForm, form, _in_session_action(admin.clear_billing_flag)
        )

    @rx.event
    async def change_role(self, form: dict | None = None):
        return await self._act(
            "change_role", RoleForm, form, _in_session_action(admin.set_member_role)
        )

    @rx.event
    async def refund(self, form: dict | None = None):
        return await self._act("refund", RefundForm, form, _refund)

    @rx.event
    async def sync_stripe(self, form: dict | None = None):
        return await self._act("sync_stripe", ActionForm, form, _sync)
