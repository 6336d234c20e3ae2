"""The admin member page's layout: who they are, their flags, the actions (member_dialogs.py),
balances, plan and usage, ledger, orders, jobs, sessions and audit trail."""

from __future__ import annotations

import reflex as rx

from dashboard_app.web import routes
from dashboard_app.web.pages.admin.base import admin_shell
from dashboard_app.web.pages.admin.member import ALL_ENTRIES, AdminMemberState
from dashboard_app.web.pages.admin.member_dialogs import member_actions
from dashboard_app.web.pages.history import KIND_LABELS

S = AdminMemberState


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
                member_actions(),
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
