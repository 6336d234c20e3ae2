"""Every public event handler of every state, found from the state tree, called over Reflex's
websocket as an attacker would, with real arguments (a real form, a real filter, real ids and
pages, including another member's order and checkout): without a session, as a member against
another member's data, and with payloads of the wrong shape. A handler without an argument
recipe below fails the sweep, so a new handler cannot go unchecked."""

from __future__ import annotations

import itertools
import json
from collections.abc import Callable
from dataclasses import dataclass, field

import pytest
import reflex as rx
from sqlmodel import select

import dashboard_app.dashboard_app  # noqa: F401  (registers every page state)
from dashboard_app.db import session_scope
from dashboard_app.domain import api_keys, credits, profiles
from dashboard_app.domain.catalog import get_catalog
from dashboard_app.domain.generation import drafts, library
from dashboard_app.models import (
    ApiKey,
    Asset,
    AuditEntry,
    CreditEntry,
    Draft,
    Generation,
    Holding,
    HoldingsSync,
    Order,
    Profile,
    StripeEvent,
    UsageEntry,
    User,
    UserSession,
    Variant,
)
from dashboard_app.web.pages.billing import OrderDetailState
from dashboard_app.web.pages.create import CreateState
from dashboard_app.web.pages.history import HistoryState
from dashboard_app.web.pages.jobs import JobsState
from dashboard_app.web.pages.library import LibraryState
from dashboard_app.web.pages.profile import ProfileState
from dashboard_app.web.pages.review import ReviewState
from dashboard_app.web.state.auth import AuthState
from dashboard_app.web.state.payloads import BAD_PAYLOAD
from tests.factories import (
    DEFAULT_PASSWORD,
    count_rows,
    create_member,
    delivered_result,
    synced_holdings,
    unique_email,
)
from tests.support.servers import wait_for
from tests.support.stripe import paid_checkout
from tests.support.tab import TabReplies, sign_in_cookie, talk_now

WALLET = "0x" + "c4" * 20
# The nudge numbers the shell sends poll_live: a new one per call, as after each push (a tab
# skips a number it has handled already, and every page state of a tab shares that memory).
NUDGES = itertools.count(3)


@dataclass
class World:
    """The victim and her data (an order, a job with its variant and saved result, a draft);
    the attacker's own address for the email change."""

    victim: User
    order_id: int
    checkout_id: str
    generation_id: int
    variant_id: int
    asset_id: int
    draft_id: int
    private: list[str]
    event_id: int = 0  # a Stripe event about her payment
    job_id: int = 0  # a failed generation of hers
    api_key_id: int = 0  # a personal API key of hers
    attacker_new_email: str = field(default_factory=lambda: unique_email("moved"))


@dataclass(frozen=True)
class Recipe:
    """Real arguments for a handler and the page it is called from. `optional` arguments may be
    left out (the page's clock tick), every other one is needed and its absence is a bad shape."""

    payload: Callable[[World], dict[str, object]] = lambda world: {}
    path: Callable[[World], str] = lambda world: "/"
    optional: frozenset[str] = frozenset()


def page(path: str) -> Callable[[World], str]:
    return lambda world: path


def profile_form(world: World) -> dict[str, object]:
    return {
        "display_name": "Hacked",
        "address_line1": "1 Attacker Road",
        "address_line2": "",
        "address_city": "Lyon",
        "address_postal_code": "69001",
        "address_country": "FR",
        "wallet_address": "0x" + "ab" * 20,
        "theme": "dark",
        "default_platform": "TikTok",
        "email_notifications": "on",
    }


def create_form(world: World) -> dict[str, object]:
    return {
        "intent": "submit",
        "key": "attacker-form-0001",
        "title": "An attacker's reel",
        "topic": "Anything at all",
        "platform": "tiktok",
        "preset": "neon",
        "format": "video",
        "variants": "2",
    }


def ticked(path: Callable[[World], str]) -> Recipe:
    return Recipe(TICKED.payload, path, TICKED.optional)


def review_of(world: World) -> str:
    return f"/review/{world.generation_id}"


ADMIN_FORM_TOKEN = "sweep-form-token-000001"


def admin_form(**fields: object) -> Callable[[World], dict[str, object]]:
    """An admin action's form: its fields, a reason and the form token."""
    return lambda world: {
        "form": {
            **{k: v(world) if callable(v) else v for k, v in fields.items()},
            "reason": "Sweep",
            "form_token": ADMIN_FORM_TOKEN,
        }
    }


def member_page(world: World) -> str:
    return f"/admin/members/{world.victim.id}"


TICKED = Recipe(payload=lambda world: {"nudge": next(NUDGES)}, optional=frozenset({"nudge"}))
SETVAR = Recipe(payload=lambda world: {"var_name": "available_credits", "value": 987_654})
ORDER_PAGE = page("/billing/orders")

RECIPES: dict[str, Recipe] = {
    "AuthState.load": Recipe(path=page("/create")),
    "AuthState.poll_live": TICKED,
    "AuthState.dismiss_notice": Recipe(path=page("/?notice=email_verified")),
    "PublicPageState.open_sign_in": Recipe(path=page("/sign-in?next=/profile")),
    "PublicPageState.open_sign_up": Recipe(path=page("/sign-up")),
    "PublicPageState.open_public_page": Recipe(path=page("/reset-password?token=abc")),
    "OverviewState.load": Recipe(),
    "OverviewState.poll_live": TICKED,
    "HistoryState.load": Recipe(path=page("/credits")),
    "HistoryState.poll_live": Recipe(TICKED.payload, page("/credits"), TICKED.optional),
    "HistoryState.filter_by": Recipe(lambda world: {"label": "Purchase"}, page("/credits")),
    "HistoryState.load_more": Recipe(path=page("/credits")),
    "ProfileState.load": Recipe(path=page("/profile")),
    "ProfileState.poll_live": Recipe(TICKED.payload, page("/profile"), TICKED.optional),
    "ProfileState.save_profile": Recipe(lambda world: {"form": profile_form(world)}),
    "ProfileState.change_password": Recipe(
        lambda world: {
            "form": {"current_password": DEFAULT_PASSWORD, "new_password": "attacker phrase 12"}
        },
        page("/profile"),
    ),
    "ProfileState.change_email": Recipe(
        lambda world: {"form": {"new_email": world.attacker_new_email}}, page("/profile")
    ),
    "ProfileState.end_other_sessions": Recipe(path=page("/profile")),
    "ProfileState.create_api_key": Recipe(
        lambda world: {"form": {"name": "Attacker key", "scope": "read-write"}}, page("/profile")
    ),
    "ProfileState.revoke_api_key": Recipe(
        lambda world: {"key_id": world.api_key_id}, page("/profile")
    ),
    **{
        f"{state}.{handler}": recipe
        for state, where in (
            ("AdminState", page("/admin")),
            ("AdminMembersState", page("/admin/members")),
            ("AdminMemberState", member_page),
            ("AdminEventsState", page("/admin/stripe-events")),
            ("AdminJobsState", page("/admin/jobs")),
            ("AdminAuditState", page("/admin/audit")),
            ("AdminHoldingsState", page("/admin/holdings")),
        )
        for handler, recipe in (
            ("load", Recipe(path=where)),
            ("poll_live", Recipe(TICKED.payload, where, TICKED.optional)),
            ("open_dialog", Recipe(lambda world: {"name": "grant"}, where)),
            ("close_dialog", Recipe(lambda world: {"_open": False}, where, frozenset({"_open"}))),
        )
    },
    "AdminState.run_ledger_check": Recipe(path=page("/admin")),
    "AdminState.run_reconcile": Recipe(path=page("/admin")),
    "AdminMembersState.search": Recipe(
        lambda world: {
            "form": {
                "text": world.victim.email,
                "plan": "any",
                "status": "active",
                "role": "member",
                "flag": "any",
            }
        },
        page("/admin/members"),
    ),
    "AdminMembersState.load_more": Recipe(path=page("/admin/members")),
    "AdminMemberState.filter_ledger": Recipe(lambda world: {"label": "Purchase"}, member_page),
    "AdminMemberState.more_ledger": Recipe(path=member_page),
    "AdminMemberState.grant": Recipe(admin_form(amount="500"), member_page),
    "AdminMemberState.revoke": Recipe(admin_form(amount="500"), member_page),
    "AdminMemberState.boost": Recipe(admin_form(boost_code="pro_boost"), member_page),
    "AdminMemberState.comp": Recipe(admin_form(plan_code="pro", days="30"), member_page),
    "AdminMemberState.suspend": Recipe(admin_form(), member_page),
    "AdminMemberState.reinstate": Recipe(admin_form(), member_page),
    "AdminMemberState.end_sessions": Recipe(admin_form(), member_page),
    "AdminMemberState.clear_flag": Recipe(admin_form(), member_page),
    "AdminMemberState.change_role": Recipe(admin_form(role="admin"), member_page),
    "AdminMemberState.refund": Recipe(
        admin_form(order_id=lambda world: str(world.order_id), amount="1.00"), member_page
    ),
    "AdminMemberState.sync_stripe": Recipe(admin_form(), member_page),
    "AdminEventsState.filter": Recipe(
        lambda world: {"form": {"status": "processed", "kind": "checkout."}},
        page("/admin/stripe-events"),
    ),
    "AdminEventsState.load_more": Recipe(path=page("/admin/stripe-events")),
    "AdminEventsState.show_event": Recipe(
        lambda world: {"event_id": str(world.event_id)}, page("/admin/stripe-events")
    ),
    "AdminEventsState.replay": Recipe(
        admin_form(event_id=lambda world: str(world.event_id)), page("/admin/stripe-events")
    ),
    "AdminEventsState.force": Recipe(
        admin_form(event_id=lambda world: str(world.event_id)), page("/admin/stripe-events")
    ),
    "AdminJobsState.filter": Recipe(
        lambda world: {"form": {"status": "failed"}}, page("/admin/jobs")
    ),
    "AdminJobsState.load_more": Recipe(path=page("/admin/jobs")),
    "AdminJobsState.show_job": Recipe(
        lambda world: {"job_id": str(world.job_id)}, page("/admin/jobs")
    ),
    "AdminJobsState.retry": Recipe(
        admin_form(job_id=lambda world: str(world.job_id)), page("/admin/jobs")
    ),
    "AdminJobsState.cancel": Recipe(
        admin_form(job_id=lambda world: str(world.job_id)), page("/admin/jobs")
    ),
    "AdminAuditState.filter": Recipe(
        lambda world: {
            "form": {
                "actor": "",
                "member": world.victim.email,
                "action": "",
                "since": "2026-01-01",
                "until": "",
            }
        },
        page("/admin/audit"),
    ),
    "AdminAuditState.load_more": Recipe(path=page("/admin/audit")),
    "BillingState.load": Recipe(path=page("/billing")),
    "BillingState.poll_live": Recipe(TICKED.payload, page("/billing"), TICKED.optional),
    "BillingState.buy": Recipe(lambda world: {"code": "starter"}, page("/billing")),
    "BillingState.manage": Recipe(path=page("/billing")),
    "CheckoutSuccessState.load": Recipe(
        path=lambda world: f"/billing/success?session_id={world.checkout_id}"
    ),
    "CheckoutSuccessState.poll_live": Recipe(
        TICKED.payload,
        lambda world: f"/billing/success?session_id={world.checkout_id}",
        TICKED.optional,
    ),
    "OrdersState.load": Recipe(path=ORDER_PAGE),
    "OrdersState.poll_live": Recipe(TICKED.payload, ORDER_PAGE, TICKED.optional),
    "OrdersState.load_more": Recipe(path=ORDER_PAGE),
    "OrdersState.refresh_stale": Recipe(path=ORDER_PAGE),
    "OrderDetailState.load": Recipe(path=lambda world: f"/billing/orders/{world.order_id}"),
    "OrderDetailState.poll_live": Recipe(
        TICKED.payload, lambda world: f"/billing/orders/{world.order_id}", TICKED.optional
    ),
    # Generation: every id is the victim's.
    "CreateState.load": Recipe(path=lambda world: f"/create?draft={world.draft_id}"),
    "CreateState.poll_live": ticked(page("/create")),
    "CreateState.choose_preset": Recipe(lambda world: {"value": "clean"}, page("/create")),
    "CreateState.choose_format": Recipe(lambda world: {"value": "image"}, page("/create")),
    "CreateState.choose_variants": Recipe(lambda world: {"value": "3"}, page("/create")),
    "CreateState.submit_form": Recipe(lambda world: {"form": create_form(world)}, page("/create")),
    "CreateState.delete_draft": Recipe(lambda world: {"draft_id": world.draft_id}, page("/create")),
    "ReviewState.load": Recipe(path=review_of),
    "ReviewState.poll_live": ticked(review_of),
    "ReviewState.cancel": Recipe(path=review_of),
    "ReviewState.retry": Recipe(path=review_of),
    "ReviewState.regenerate": Recipe(lambda world: {"variant_id": world.variant_id}, review_of),
    "ReviewState.save": Recipe(lambda world: {"variant_id": world.variant_id}, review_of),
    "HoldingsState.load": Recipe(path=page("/holdings")),
    "HoldingsState.poll_live": ticked(page("/holdings")),
    "HoldingsState.refresh": Recipe(path=page("/holdings")),
    "HoldingsState.refresh_if_due": Recipe(path=page("/holdings")),
    "JobsState.load": Recipe(path=page("/jobs")),
    "JobsState.poll_live": ticked(page("/jobs")),
    "JobsState.filter_by": Recipe(lambda world: {"label": "Ready"}, page("/jobs")),
    "JobsState.load_more": Recipe(path=page("/jobs")),
    "JobsState.retry": Recipe(lambda world: {"generation_id": world.generation_id}, page("/jobs")),
    "LibraryState.load": Recipe(path=page("/library")),
    "LibraryState.poll_live": ticked(page("/library")),
    "LibraryState.apply_filters": Recipe(
        lambda world: {
            "form": {"search": "Victoria", "platform": "tiktok", "kind": "video", "tag": "secret"}
        },
        page("/library"),
    ),
    "LibraryState.clear_filters": Recipe(path=page("/library")),
    "LibraryState.load_more": Recipe(path=page("/library")),
    "LibraryState.save_edit": Recipe(
        lambda world: {"form": {"asset_id": str(world.asset_id), "title": "Stolen", "tags": "x"}},
        page("/library"),
    ),
    "LibraryState.delete": Recipe(lambda world: {"asset_id": world.asset_id}, page("/library")),
    "LibraryState.download": Recipe(
        lambda world: {"asset_id": world.asset_id, "request_id": "attacker-download-1"},
        page("/library"),
    ),
}


def our_states() -> list[type[rx.State]]:
    found, todo = [], [rx.State]
    while todo:
        state = todo.pop()
        todo.extend(state.get_substates())
        if state.__module__.startswith("dashboard_app."):
            found.append(state)
    return found


def our_handlers() -> dict[str, str]:
    """'State.handler' -> the full event name, for every public handler in the state tree
    (Reflex's generic `setvar`, which every state has, included)."""
    return {
        f"{state.__name__}.{name}": f"{state.get_full_name()}.{name}"
        for state in our_states()
        for name in state.event_handlers
        if not name.startswith("_")
    }


def recipe_for(handler: str) -> Recipe:
    return SETVAR if handler.endswith(".setvar") else RECIPES[handler]


def real_calls(world: World) -> list[tuple[str, object, str]]:
    return [
        (event, recipe_for(handler).payload(world), recipe_for(handler).path(world))
        for handler, event in sorted(our_handlers().items())
    ]


def test_every_public_handler_has_an_argument_recipe() -> None:
    handlers = {h for h in our_handlers() if not h.endswith(".setvar")}
    # No setter may exist: a client could call it to write any public var.
    assert not [h for h in handlers if h.rsplit(".", 1)[1].startswith("set_")], handlers
    assert sorted(handlers - RECIPES.keys()) == [], "handlers without a recipe: add one above"
    assert sorted(RECIPES.keys() - handlers) == [], "recipes for handlers that no longer exist"


# --- The victim and what must never reach anyone else -------------------------------------------


@pytest.fixture
def world(app) -> World:
    return make_world(app)


def make_world(app) -> World:
    """The victim, with a profile, a balance, a live session, a paid order, its Stripe event and
    a failed job."""
    victim = create_member(app.engine, display_name="Victoria Target", credits_granted=61_403)
    with session_scope(app.engine) as session:
        profiles.update_profile(
            session=session,
            user=session.get(User, victim.id),
            changes=profiles.ProfileChanges(
                display_name="Victoria Target",
                address_line1="4 Hidden Lane",
                address_line2="",
                address_city="Quimper",
                address_postal_code="29000",
                address_country="FR",
                wallet_address=WALLET,
                theme="light",
                default_platform="youtube_shorts",
                email_notifications=False,
            ),
        )
    sign_in_cookie(app.base_url, victim.email)  # a live session of hers that must survive
    checkout_id = paid_checkout(app.engine, app.stripe.gateway(), victim.id)
    wait_for(
        lambda: (
            count_rows(app.engine, Order, Order.user_id == victim.id, Order.status == "paid") == 1
        ),
        timeout=30,
        what="the victim's order to be paid",
    )
    with session_scope(app.engine) as session:
        order_id = session.exec(select(Order.id).where(Order.user_id == victim.id)).one()
        event_id = session.exec(
            select(StripeEvent.id).where(StripeEvent.object_id == checkout_id)
        ).first()
    job_id = failed_job(app.engine, victim.id)
    with session_scope(app.engine) as session:
        available = credits.get_balances(session=session, user_id=victim.id).available
    assert available == 61_403 + get_catalog().packs["starter"].credits
    assert event_id is not None
    generation_id, variant_id, asset_id = delivered_result(
        app.engine, victim.id, title="Victoria's confidential reel"
    )
    with session_scope(app.engine) as session:
        library.edit_asset(
            session=session,
            user_id=victim.id,
            asset_id=asset_id,
            title="Victoria's confidential reel",
            tags=["secret"],
        )
        draft_id = drafts.save_draft(
            session=session, user_id=victim.id, catalog=get_catalog(), topic="An old idea"
        ).id
        # One the sweep's own calls leave alone (delete_draft takes the first): her drafts list
        # shows it to her, and to nobody else.
        drafts.save_draft(
            session=session,
            user_id=victim.id,
            catalog=get_catalog(),
            topic="Victoria's unannounced product launch",
        )
    with session_scope(app.engine) as session:
        victim_key = api_keys.create_api_key(
            session=session, user_id=victim.id, name="Victoria's deploy key", scope="read-write"
        ).key
    synced_holdings(app.engine, victim.id, WALLET, ("Victoria Vault", "Victoria Secret Token"))
    return World(
        api_key_id=victim_key.id,
        victim=victim,
        order_id=order_id,
        checkout_id=checkout_id,
        generation_id=generation_id,
        variant_id=variant_id,
        asset_id=asset_id,
        draft_id=draft_id,
        event_id=event_id,
        job_id=job_id,
        private=[
            "Victoria's confidential reel",
            "unannounced product launch",
            "Victoria's deploy key",
            api_keys.display_prefix(victim_key),
            "Victoria Secret Token",  # her wallet's holdings
            victim.email,
            "Victoria Target",
            "Hidden Lane",
            "Quimper",
            WALLET,
            str(available),
            f"{available:,}",
        ],
    )


def failed_job(engine, user_id: int) -> int:
    """A generation of the member that failed (it stays so: nothing retries it on its own)."""
    from dashboard_app.domain.generation import progress, submit

    with session_scope(engine) as session:
        generation = submit.submit_generation(
            session=session,
            user_id=user_id,
            catalog=get_catalog(),
            idempotency_key=f"sweep-job-{user_id}",
            topic="Quiet lakes",
            platform="tiktok",
            preset="neon",
            format="video",
            variants=1,
        ).generation
        progress.fail_generation(
            session=session,
            generation_id=generation.id,
            attempt=generation.attempt,
            error="Renderer crashed",
        )
        return generation.id


def snapshot(engine, user_id: int) -> dict[str, object]:
    """Everything of a member's that a handler could change."""
    with session_scope(engine) as session:
        user, profile = session.get(User, user_id), session.get(Profile, user_id)
        return {
            "user": (user.email, user.password_hash, user.status, user.stripe_customer_id),
            "profile": profile.model_dump(exclude={"updated_at"}),
            "sessions": session.exec(
                select(UserSession.id, UserSession.revoked_at).where(UserSession.user_id == user_id)
            ).all(),
            "ledger": session.exec(
                select(CreditEntry.id).where(CreditEntry.user_id == user_id)
            ).all(),
            "orders": session.exec(
                select(Order.id, Order.status, Order.credits).where(Order.user_id == user_id)
            ).all(),
            "audit": session.exec(
                select(AuditEntry.id).where(AuditEntry.subject_user_id == user_id)
            ).all(),
            "balance": credits.get_balances(session=session, user_id=user_id),
            "jobs": session.exec(
                select(Generation.id, Generation.status, Generation.attempt).where(
                    Generation.user_id == user_id
                )
            ).all(),
            "variants": session.exec(
                select(Variant.id, Variant.status, Variant.revision)
                .join(Generation, Generation.id == Variant.generation_id)
                .where(Generation.user_id == user_id)
            ).all(),
            "assets": [
                (a.id, a.title, a.tags, a.saved_at, a.deleted_at)
                for a in session.exec(select(Asset).where(Asset.owner_id == user_id))
            ],
            "drafts": [
                (d.id, d.prompt, d.options, d.submitted_at)
                for d in session.exec(select(Draft).where(Draft.user_id == user_id))
            ],
            "usage": session.exec(select(UsageEntry.id).where(UsageEntry.user_id == user_id)).all(),
            "api_keys": session.exec(
                select(ApiKey.id, ApiKey.revoked_at, ApiKey.last_used_at).where(
                    ApiKey.user_id == user_id
                )
            ).all(),
            "holdings": session.exec(
                select(Holding.id, Holding.name).where(Holding.user_id == user_id)
            ).all(),
            "holdings_sync": session.exec(
                select(HoldingsSync.refresh_queued_at, HoldingsSync.last_attempt_at).where(
                    HoldingsSync.user_id == user_id
                )
            ).all(),
        }


def leaks(world: World, replies: TabReplies) -> list[str]:
    text = replies.text()
    return [value for value in world.private if value in text]


def signed_in_flag(replies: TabReplies) -> object:
    return replies.sent_vars().get(f"{AuthState.get_full_name()}.signed_in_rx_state_")


def new_log(app, start: int) -> str:
    return app.server.log_path.read_text(errors="replace")[start:]


def log_size(app) -> int:
    return len(app.server.log_path.read_text(errors="replace"))


# --- The sweeps ---------------------------------------------------------------------------------


@pytest.mark.parametrize("cookie", [None, "dash_session=forged-token-value"])
def test_every_handler_called_without_a_session_gives_and_changes_nothing(
    app, world, cookie
) -> None:
    before = snapshot(app.engine, world.victim.id)
    replies = talk_now(app.base_url, cookie=cookie, calls=real_calls(world))
    assert leaks(world, replies) == []
    assert signed_in_flag(replies) is not True
    assert snapshot(app.engine, world.victim.id) == before


def test_every_handler_called_by_a_member_touches_only_their_own_account(app, world) -> None:
    attacker = create_member(app.engine, display_name="Mallory Member")
    cookie = sign_in_cookie(app.base_url, attacker.email)
    before = snapshot(app.engine, world.victim.id)
    replies = talk_now(app.base_url, cookie=cookie, calls=real_calls(world))
    assert leaks(world, replies) == []
    assert snapshot(app.engine, world.victim.id) == before
    # The handlers' bodies ran with their real arguments, as the attacker, on their own account.
    assert signed_in_flag(replies) is True
    with session_scope(app.engine) as session:
        assert session.get(Profile, attacker.id).display_name == "Hacked"
        assert session.get(User, attacker.id).stripe_customer_id is not None  # `buy` ran
        # create_api_key ran for the attacker (revoke_api_key, given her key, did nothing).
        assert [
            key.name for key in api_keys.list_api_keys(session=session, user_id=attacker.id)
        ] == ["Attacker key"]
        assert session.get(User, attacker.id).password_hash != attacker.password_hash
    sent = replies.sent_vars()
    assert sent[f"{HistoryState.get_full_name()}.filter_label_rx_state_"] == "Purchase"
    assert world.attacker_new_email in sent[f"{ProfileState.get_full_name()}.email_sent_rx_state_"]
    assert sent[f"{OrderDetailState.get_full_name()}.missing_rx_state_"] is True
    assert sent[f"{ReviewState.get_full_name()}.missing_rx_state_"] is True
    assert sent[f"{JobsState.get_full_name()}.filter_label_rx_state_"] == "Ready"
    assert sent[f"{LibraryState.get_full_name()}.items_rx_state_"] == []


def test_the_sweep_sees_private_data_when_it_is_sent(app, world) -> None:
    # The control: the victim's own calls do carry her data, so the checks above can fail.
    replies = talk_now(
        app.base_url,
        cookie=sign_in_cookie(app.base_url, world.victim.email),
        calls=real_calls(world),
    )
    assert set(leaks(world, replies)) == set(world.private)


def bad_shapes(recipe: Recipe, world: World) -> list[object]:
    """Payloads of the wrong shape for a handler: not a mapping at all, an argument it does not
    take, and for each argument: missing (unless optional), None, a number, a list, and for a
    form, the right keys with numbers for values."""
    real = recipe.payload(world)
    shapes: list[object] = [None, 42, [1, 2], "form", {**real, "unexpected": 1}]
    for name, value in real.items():
        if name not in recipe.optional:
            shapes.append({key: v for key, v in real.items() if key != name})
        # An id is a whole number: 42 is one, a word or a fraction is not.
        wrongs = (None, "forty-two", [1, 2], 2.5) if isinstance(value, int) else (None, 42, [1, 2])
        for wrong in wrongs:
            shapes.append({**real, name: wrong})
        if isinstance(value, dict):
            shapes.append({**real, name: dict.fromkeys(value, 7)})
    return shapes


def test_every_handler_answers_a_bad_payload_with_one_message_and_changes_nothing(
    app, world
) -> None:
    member = create_member(app.engine, display_name="Shape Tester", credits_granted=5)
    cookie = sign_in_cookie(app.base_url, member.email)
    start = log_size(app)
    before = snapshot(app.engine, member.id)
    unanswered: dict[str, int] = {}
    for handler, event in sorted(our_handlers().items()):
        recipe = recipe_for(handler)
        shapes = bad_shapes(recipe, world)

        def answered(replies: TabReplies) -> int:
            return sum(BAD_PAYLOAD in json.dumps(update) for update in replies.updates)

        # Background handlers answer after the hydrate that follows them: wait for the answers.
        try:
            talk_now(
                app.base_url,
                cookie=cookie,
                calls=[(event, shape, recipe.path(world)) for shape in shapes],
                until=lambda replies, expected=len(shapes): answered(replies) >= expected,
                timeout=20,
            )
        except TimeoutError as error:
            unanswered[handler] = str(error)[:300]
    assert unanswered == {}, "bad payloads that did not get the one message"
    assert snapshot(app.engine, member.id) == before
    assert "Traceback" not in new_log(app, start)


# --- Focused checks -----------------------------------------------------------------------------


def test_hydrate_for_a_member_carries_no_secret_hash_or_token(app) -> None:
    member = create_member(app.engine)
    cookie = sign_in_cookie(app.base_url, member.email)
    text = talk_now(app.base_url, cookie=cookie, calls=[]).text()
    with session_scope(app.engine) as session:
        user = session.get(User, member.id)
        hashes = session.exec(
            select(UserSession.token_hash).where(UserSession.user_id == member.id)
        ).all()
    assert user.password_hash not in text
    assert all(h not in text for h in hashes)
    assert cookie.split("=", 1)[1] not in text
    assert app.secret_key not in text


def test_the_generic_setvar_handler_cannot_write_state(app) -> None:
    from dashboard_app.web.pages.admin import AdminMembersState

    member = create_member(app.engine, credits_granted=3)
    cookie = sign_in_cookie(app.base_url, member.email)
    auth, admin = AuthState.get_full_name(), AdminMembersState.get_full_name()
    calls = [
        (f"{auth}.setvar", {"var_name": "signed_in", "value": True}),
        (f"{auth}.setvar", {"var_name": "available_credits", "value": 987654}),
        (
            f"{auth}.setvar",
            {"var_name": "nav_links", "value": [{"label": "Admin", "href": "/admin"}]},
        ),
        (f"{admin}.setvar", {"var_name": "rows", "value": [{"email": "424242"}]}),
    ]
    for who in (None, cookie):
        replies = talk_now(app.base_url, cookie=who, calls=calls)
        assert "987654" not in replies.text() and "424242" not in replies.text()
        assert '"label": "Admin"' not in replies.text()
        if who is None:
            assert signed_in_flag(replies) is not True


def test_an_unknown_history_filter_gets_a_message_and_changes_nothing(app) -> None:
    member = create_member(app.engine, credits_granted=8)
    cookie = sign_in_cookie(app.base_url, member.email)
    state = HistoryState.get_full_name()
    replies = talk_now(
        app.base_url,
        cookie=cookie,
        calls=[(f"{state}.load", {}), (f"{state}.filter_by", {"label": "'; DROP TABLE x"})],
    )
    sent = replies.sent_vars()
    assert sent[f"{state}.error_rx_state_"] == "Choose one of the listed kinds of entry."
    assert sent[f"{state}.filter_label_rx_state_"] == "All entries"
    assert len(sent[f"{state}.rows_rx_state_"]) == 1


def test_buying_something_not_in_the_catalog_gets_a_message_and_changes_nothing(app) -> None:
    from dashboard_app.web.pages.billing import BillingState

    member = create_member(app.engine)
    cookie = sign_in_cookie(app.base_url, member.email)
    state = BillingState.get_full_name()
    for code in ("diamond", "x" * 500, "../starter"):
        replies = talk_now(
            app.base_url,
            cookie=cookie,
            calls=[(f"{state}.load", {}), (f"{state}.buy", {"code": code})],
        )
        assert replies.sent_vars()[f"{state}.error_rx_state_"] == "There is no such pack or plan"
        assert "redirect" not in replies.text()
    assert count_rows(app.engine, Order, Order.user_id == member.id) == 0
    assert (
        count_rows(app.engine, User, User.id == member.id, User.stripe_customer_id.is_not(None))
        == 0
    )


# --- Generation ---------------------------------------------------------------------------------

MISSING_ID = 987_654_321


def answer(app, cookie: str, state, handler: str, payload: dict, path: str, var: str) -> object:
    """What the page shows in `var` after `handler` is called from the page at `path`."""
    replies = talk_now(
        app.base_url,
        cookie=cookie,
        calls=[
            (f"{state.get_full_name()}.load", {}, path),
            (f"{state.get_full_name()}.{handler}", payload, path),
        ],
    )
    return replies.sent_vars().get(f"{state.get_full_name()}.{var}_rx_state_")


def test_another_members_job_variant_asset_and_draft_get_the_answer_of_a_missing_one(
    app, world
) -> None:
    member = create_member(app.engine, credits_granted=500)
    cookie = sign_in_cookie(app.base_url, member.email)
    before = snapshot(app.engine, world.victim.id)
    theirs, missing = world, MISSING_ID
    cases = [  # state, handler, payload for an id, page for an id, the var that answers
        (ReviewState, "cancel", lambda i: {}, lambda i: f"/review/{i}", "missing"),
        (ReviewState, "regenerate", lambda i: {"variant_id": i}, lambda i: "/review/1", "message"),
        (ReviewState, "save", lambda i: {"variant_id": i}, lambda i: "/review/1", "message"),
        (JobsState, "retry", lambda i: {"generation_id": i}, lambda i: "/jobs", "error"),
        (LibraryState, "delete", lambda i: {"asset_id": i}, lambda i: "/library", "error"),
        (
            LibraryState,
            "download",
            lambda i: {"asset_id": i, "request_id": "probe-download-1"},
            lambda i: "/library",
            "message",
        ),
        (
            LibraryState,
            "save_edit",
            lambda i: {"form": {"asset_id": str(i), "title": "Mine now", "tags": ""}},
            lambda i: "/library",
            "error",
        ),
        (CreateState, "delete_draft", lambda i: {"draft_id": i}, lambda i: "/create", "error"),
        (CreateState, "poll_live", lambda i: {}, lambda i: f"/create?draft={i}", "error"),
    ]
    ids = {
        "cancel": theirs.generation_id,
        "retry": theirs.generation_id,
        "regenerate": theirs.variant_id,
        "save": theirs.variant_id,
        "delete": theirs.asset_id,
        "download": theirs.asset_id,
        "save_edit": theirs.asset_id,
        "delete_draft": theirs.draft_id,
        "poll_live": theirs.draft_id,
    }
    for state, handler, payload, path, var in cases:
        mine = answer(app, cookie, state, handler, payload(ids[handler]), path(ids[handler]), var)
        absent = answer(app, cookie, state, handler, payload(missing), path(missing), var)
        assert mine == absent and mine not in ("", None, False), (handler, mine, absent)
    assert snapshot(app.engine, world.victim.id) == before


BAD_FORMS = [  # (what is wrong, the form's changed fields, the message or field that answers)
    ("an empty topic", {"topic": "   "}, "topic"),
    ("a 10,000-character topic", {"topic": "x" * 10_000}, "topic"),
    ("an unknown platform", {"platform": "myspace"}, "platform"),
    ("an unknown preset", {"preset": "gold"}, "preset"),
    ("0 variants", {"variants": "0"}, "variants"),
    ("50 variants", {"variants": "50"}, "variants"),
    ("variants in words", {"variants": "three"}, "variants"),
    ("a fraction of a variant", {"variants": 2.5}, BAD_PAYLOAD),
    ("variants as a list", {"variants": [1, 2]}, BAD_PAYLOAD),
    ("an unknown format", {"format": "gif"}, "format"),
    ("no form token", {"key": ""}, "This form has expired"),
]


@pytest.mark.parametrize(
    ("wrong", "changes", "answered_by"), BAD_FORMS, ids=[b[0] for b in BAD_FORMS]
)
def test_bad_create_input_over_the_websocket_gets_a_message_and_creates_nothing(
    app, wrong: str, changes: dict, answered_by: str
) -> None:
    member = create_member(app.engine, credits_granted=500)
    cookie = sign_in_cookie(app.base_url, member.email)
    state = CreateState.get_full_name()
    form = {**create_form(None), **changes}  # type: ignore[arg-type]
    replies = talk_now(
        app.base_url,
        cookie=cookie,
        calls=[
            (f"{state}.load", {}, "/create"),
            (f"{state}.submit_form", {"form": form}, "/create"),
        ],
    )
    sent = replies.sent_vars()
    if answered_by == BAD_PAYLOAD:
        assert BAD_PAYLOAD in replies.text()
    elif answered_by.islower():
        assert answered_by in sent[f"{state}.field_errors_rx_state_"], sent
    else:
        assert answered_by in sent[f"{state}.error_rx_state_"]
    assert "redirect" not in replies.text()
    for model in (Generation, Draft):
        assert count_rows(app.engine, model, model.user_id == member.id) == 0
    with session_scope(app.engine) as session:
        assert credits.get_balances(session=session, user_id=member.id).reserved == 0


def test_an_id_that_is_digits_but_not_a_number_changes_nothing_and_logs_no_error(
    app, world
) -> None:
    """`"²".isdigit()` holds but `int("²")` raises, and twenty digits overflow the database's
    ids: ids read from a page address or a form answer such text as a missing record."""
    member = create_member(app.engine, display_name="Digit Tester")
    cookie = sign_in_cookie(app.base_url, member.email)
    handlers = our_handlers()
    start = log_size(app)
    before = snapshot(app.engine, member.id)
    calls: list[tuple[str, object, str]] = []
    for text in ("²", "9" * 20):
        calls += [
            (handlers["ReviewState.load"], {}, f"/review/{text}"),
            (handlers["CreateState.load"], {}, f"/create?draft={text}"),
            (
                handlers["LibraryState.save_edit"],
                {"form": {"asset_id": text, "title": "T", "tags": ""}},
                "/library",
            ),
        ]
    talk_now(app.base_url, cookie=cookie, calls=calls)
    admin_calls = [
        (handlers["AdminMemberState.load"], {}, f"/admin/members/{text}")
        for text in ("²", "9" * 20)
    ]
    admin = create_member(app.engine, role="admin")
    talk_now(app.base_url, cookie=sign_in_cookie(app.base_url, admin.email), calls=admin_calls)
    assert snapshot(app.engine, member.id) == before
    assert "Traceback" not in new_log(app, start)
