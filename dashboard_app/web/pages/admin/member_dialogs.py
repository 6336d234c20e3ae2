"""The actions on a member, each a button that opens a dialog asking for what it needs and a
reason, and acts only when confirmed: credits, a boost, a comped plan, suspension, sessions, a
refund, a sync with Stripe, the billing flag and the role."""

from __future__ import annotations

import reflex as rx

from dashboard_app.domain.catalog import get_catalog
from dashboard_app.web.pages.admin.base import action_dialog, text_field
from dashboard_app.web.pages.admin.member import AdminMemberState

S = AdminMemberState


def _select_field(name: str, label: str, options: list[tuple[str, str]]) -> rx.Component:
    return rx.vstack(
        rx.el.label(label, html_for=f"{name}-field", style={"fontWeight": 500, "fontSize": "14px"}),
        rx.el.select(
            *[rx.el.option(text, value=value) for value, text in options],
            name=name,
            id=f"{name}-field",
            style={"padding": "0.35rem", "borderRadius": "var(--radius-2)", "width": "100%"},
        ),
        spacing="1",
        width="100%",
    )


def member_actions() -> rx.Component:
    catalog = get_catalog()
    credits_field = text_field("amount", "Credits", inputmode="numeric", required=True)
    refundable = rx.foreach(
        S.orders,
        lambda o: rx.cond(
            o["refundable"] == "yes",
            rx.el.option(
                "#" + o["id"] + " " + o["what"] + " (up to " + o["left"] + ")", value=o["id"]
            ),
        ),
    )
    return rx.hstack(
        action_dialog(
            S,
            "grant",
            "Grant credits",
            "Grant credits",
            "The credits are added to the member's available balance at once.",
            [credits_field],
            S.grant,
            "Confirm grant",
        ),
        action_dialog(
            S,
            "revoke",
            "Revoke credits",
            "Revoke credits",
            "Only available credits can be revoked; held and frozen credits stay.",
            [credits_field],
            S.revoke,
            "Confirm revoke",
            color="tomato",
        ),
        action_dialog(
            S,
            "boost",
            "Grant a boost",
            "Grant a boost",
            "The boost raises the member's limits for its length.",
            [
                _select_field(
                    "boost_code", "Boost", [(c, b.name) for c, b in catalog.boosts.items()]
                )
            ],
            S.boost,
            "Confirm boost",
        ),
        action_dialog(
            S,
            "comp",
            "Comp a plan",
            "Comp a plan",
            f"The member gets the plan free of charge; choose "
            f"{catalog.plan(catalog.default_plan).name} to end a comp. A plan the member pays "
            "for changes through Stripe.",
            [
                _select_field("plan_code", "Plan", [(c, p.name) for c, p in catalog.plans.items()]),
                text_field("days", "Days", inputmode="numeric", default_value="30"),
            ],
            S.comp,
            "Confirm plan",
        ),
        rx.cond(
            S.member["status"] == "suspended",
            action_dialog(
                S,
                "reinstate",
                "Reinstate",
                "Reinstate this member",
                "They can sign in again.",
                [],
                S.reinstate,
                "Confirm reinstate",
            ),
            action_dialog(
                S,
                "suspend",
                "Suspend",
                "Suspend this member",
                "Every session ends now; they cannot sign in and are shown the reason.",
                [],
                S.suspend,
                "Confirm suspension",
                color="tomato",
            ),
        ),
        action_dialog(
            S,
            "end_sessions",
            "End all sessions",
            "End all sessions",
            "Every browser signed in as this member is signed out.",
            [],
            S.end_sessions,
            "Confirm",
            color="tomato",
        ),
        action_dialog(
            S,
            "refund",
            "Refund an order",
            "Refund an order through Stripe",
            "Stripe refunds the money; the credits are taken back when Stripe confirms it.",
            [
                rx.vstack(
                    rx.el.label(
                        "Order",
                        html_for="order_id-field",
                        style={"fontWeight": 500, "fontSize": "14px"},
                    ),
                    rx.el.select(
                        refundable,
                        name="order_id",
                        id="order_id-field",
                        style={"padding": "0.35rem", "width": "100%"},
                    ),
                    spacing="1",
                    width="100%",
                ),
                text_field("amount", f"Amount ({catalog.currency.upper()})", required=True),
            ],
            S.refund,
            "Confirm refund",
            color="tomato",
        ),
        action_dialog(
            S,
            "sync_stripe",
            "Sync with Stripe",
            "Sync this member with Stripe now",
            "Every order and subscription of theirs is read again from Stripe and applied.",
            [],
            S.sync_stripe,
            "Confirm sync",
        ),
        rx.cond(
            S.flags.length() > 0,
            action_dialog(
                S,
                "clear_flag",
                "Clear billing flag",
                "Clear the billing flag",
                "Say why in the note: it is kept in the audit log.",
                [],
                S.clear_flag,
                "Confirm",
            ),
        ),
        action_dialog(
            S,
            "change_role",
            rx.cond(S.member["role"] == "admin", "Remove admin", "Make admin"),
            "Change the role",
            "Admins see every member and act on their accounts.",
            [_select_field("role", "Role", [("admin", "Admin"), ("member", "Member")])],
            S.change_role,
            "Confirm role",
        ),
        wrap="wrap",
        spacing="2",
    )
