"""Admin: wallet holdings across members, per collection (how many members hold it and how
many tokens), biggest first; members' current wallets only."""

from __future__ import annotations

import asyncio

import reflex as rx

from dashboard_app.domain import holdings
from dashboard_app.settings import get_settings
from dashboard_app.web.components.cards import empty_state
from dashboard_app.web.pages.admin.base import AdminPage, admin_shell, in_session
from dashboard_app.web.state.auth import AuthState, Viewer


def _collections() -> list[dict[str, str]]:
    return [
        {
            "collection": row.collection,
            "members": f"{row.members:,}",
            "holdings": f"{row.holdings:,}",
        }
        for row in in_session(holdings.collection_summary)
    ]


class AdminHoldingsState(AdminPage, AuthState):
    collections: list[dict[str, str]] = []
    configured: bool = True

    async def _refresh_admin(self, viewer: Viewer) -> None:
        self.configured = get_settings().marketplace_configured
        self.collections = await asyncio.to_thread(_collections)


def _row(row: rx.Var) -> rx.Component:
    return rx.table.row(
        rx.table.row_header_cell(row["collection"]),
        rx.table.cell(row["members"], text_align="right"),
        rx.table.cell(row["holdings"], text_align="right"),
        data_testid="collection-row",
    )


def admin_holdings_page() -> rx.Component:
    return admin_shell(
        "Holdings",
        "Collections held by members' wallets, by how many members hold each.",
        AdminHoldingsState,
        rx.cond(
            ~AdminHoldingsState.configured,
            rx.callout(
                "No marketplace is configured (MARKETPLACE_BASE_URL): holdings are not read.",
                icon="info",
                margin_bottom="1rem",
            ),
        ),
        rx.cond(
            AdminHoldingsState.collections.length() > 0,
            rx.box(
                rx.table.root(
                    rx.table.header(
                        rx.table.row(
                            rx.table.column_header_cell("Collection"),
                            rx.table.column_header_cell("Members", text_align="right"),
                            rx.table.column_header_cell("Tokens", text_align="right"),
                        )
                    ),
                    rx.table.body(rx.foreach(AdminHoldingsState.collections, _row)),
                    width="100%",
                    data_testid="admin-collections",
                ),
                overflow_x="auto",
            ),
            empty_state("wallet", "No holdings yet", "No member's wallet has been read yet."),
        ),
    )
