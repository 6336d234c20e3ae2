"""The admin member page's layout: who they are, their flags, the actions (each confirmed in a
dialog), balances, plan and usage, ledger, orders, jobs, sessions and audit trail."""

from __future__ import annotations

import reflex as rx

from dashboard_app.domain.catalog import get_catalog
from dashboard_app.web import routes
from dashboard_app.web.pages.admin.base import action_dialog, admin_shell, text_field
from dashboard_app.web.pages.admin.member import ALL_ENTRIES, AdminMemberState
from dashboard_app.web.pages.history import KIND_LABELS

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


def _table(testid: str, headers: list[str], rows: rx.Var, cells) -> rx.Component:  # type: ignore[no-untyped-def]
    return rx.box(
        rx.table.root(
            rx.table.header(rx.table.row(*[rx.table.column_header_cell(h) for h in headers])),
            rx.table.body(
                rx.foreach(
                    rows,
                    lambda row: rx.table.row(
                        *[rx.table.cell(c) for c in cells(row)], data_testid=testid
                    ),
                )
            ),
            width="100%",
            size="1",
        ),
        overflow_x="auto",
        width="100%",
    )


def _section(title: str, *content: rx.Component) -> rx.Component:
    return rx.card(
        rx.vstack(rx.heading(title, size="4"), *content, spacing="2", width="100%"), width="100%"
    )


def _actions() -> rx.Component:
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


def _header() -> rx.Component:
    return rx.vstack(
        rx.hstack(
            rx.heading(S.member["email"], size="5", data_testid="member-email"),
            rx.badge(S.member["role"], high_contrast=True, data_testid="member-role"),
            rx.badge(
                S.member["status"],
                color_scheme=rx.cond(S.member["status"] == "active", "grass", "tomato"),
                high_contrast=True,
                data_testid="member-status",
            ),
            align="center",
            wrap="wrap",
        ),
        rx.text(
            S.member["name"],
            " · joined ",
            S.member["joined"],
            " · email verified: ",
            S.member["verified"],
            size="2",
            color_scheme="gray",
        ),
        rx.cond(
            S.member["suspended_reason"] != "",
            rx.text("Suspended: ", S.member["suspended_reason"], size="2"),
        ),
        rx.foreach(
            S.flags,
            lambda flag: rx.callout(
                flag,
                icon="flag",
                color_scheme="amber",
                high_contrast=True,
                data_testid="member-flag",
            ),
        ),
        spacing="2",
        width="100%",
    )


def _balances() -> rx.Component:
    return rx.grid(
        rx.foreach(
            S.balances,
            lambda b: rx.card(
                rx.text(b["label"], size="2", color_scheme="gray"),
                rx.heading(b["value"], size="5", data_testid=b["testid"]),
            ),
        ),
        columns=rx.breakpoints(initial="2", md="3", lg="6"),
        spacing="3",
        width="100%",
    )


def _plan_and_usage() -> rx.Component:
    return _section(
        "Plan and usage",
        rx.text(
            rx.text.strong(S.plan["name"], data_testid="member-plan"),
            rx.cond(S.plan["comp"] != "", " (comped)", ""),
            rx.cond(S.plan["ends"] != "", " until " + S.plan["ends"], ""),
        ),
        rx.foreach(S.boosts, lambda b: rx.badge(b, color_scheme="amber", high_contrast=True)),
        rx.cond(
            S.subscription.length() > 0,
            rx.text(
                "Subscription: ",
                S.subscription["plan"],
                ", ",
                S.subscription["status"],
                ", ",
                S.subscription["stripe"],
                size="2",
            ),
        ),
        rx.foreach(S.meters, lambda m: rx.text(m["label"], ": ", m["used"], size="2")),
        rx.text(
            "Jobs: ", S.counts["jobs"], " · saved in the library: ", S.counts["library"], size="2"
        ),
    )


def _ledger() -> rx.Component:
    return _section(
        "Ledger",
        rx.hstack(
            rx.el.label("Kind of entry", html_for="ledger-kind", style={"fontWeight": 500}),
            rx.el.select(
                *[
                    rx.el.option(label, value=label)
                    for label in [ALL_ENTRIES, *KIND_LABELS.values()]
                ],
                id="ledger-kind",
                value=S.ledger_label,
                on_change=S.filter_ledger,
                style={"padding": "0.35rem"},
            ),
            align="center",
        ),
        _table(
            "member-ledger-row",
            ["When (UTC)", "Kind", "Change", "Balance", "What"],
            S.ledger,
            lambda r: [r["when"], r["kind"], r["amount"], r["balance"], r["what"]],
        ),
        rx.cond(
            S.ledger_has_more,
            rx.button("Load more", variant="soft", on_click=S.more_ledger, size="1"),
        ),
    )


def admin_member_page() -> rx.Component:
    return admin_shell(
        "Member",
        "One member's account: read it, act on it.",
        AdminMemberState,
        rx.cond(
            S.missing,
            rx.callout(
                "There is no such member.", icon="info", data_testid="member-missing", width="100%"
            ),
            rx.vstack(
                rx.link("Back to members", href=routes.ADMIN_MEMBERS, size="2"),
                _header(),
                _actions(),
                _balances(),
                _plan_and_usage(),
                _ledger(),
                _section(
                    "Orders",
                    _table(
                        "member-order-row",
                        ["#", "Date", "What", "Amount", "Refunded", "Credits", "Status"],
                        S.orders,
                        lambda o: [
                            o["id"],
                            o["date"],
                            o["what"],
                            o["amount"],
                            o["refunded"],
                            o["credits"],
                            o["status"],
                        ],
                    ),
                ),
                _section(
                    "Jobs",
                    _table(
                        "member-job-row",
                        ["#", "Title", "Status", "Created", "Error"],
                        S.jobs,
                        lambda j: [j["id"], j["title"], j["status"], j["created"], j["error"]],
                    ),
                ),
                _section(
                    "Sessions",
                    _table(
                        "member-session-row",
                        ["Started", "Last seen", "Device", "Address"],
                        S.sessions,
                        lambda s: [s["started"], s["seen"], s["device"], s["address"]],
                    ),
                ),
                _section(
                    "Audit trail",
                    _table(
                        "member-audit-row",
                        ["When (UTC)", "Action", "By", "Before", "After"],
                        S.trail,
                        lambda a: [a["when"], a["action"], a["actor"], a["before"], a["after"]],
                    ),
                ),
                spacing="4",
                width="100%",
            ),
        ),
    )
