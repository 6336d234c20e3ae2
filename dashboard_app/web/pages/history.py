"""Credit history: the member's ledger, newest first, filterable, paged by cursor, live."""

from __future__ import annotations

import reflex as rx
from sqlmodel import Session

from dashboard_app.db import read
from dashboard_app.domain import credits
from dashboard_app.domain.errors import InvalidInput
from dashboard_app.models import CreditEntry
from dashboard_app.web.components.cards import page_heading
from dashboard_app.web.layout import shell
from dashboard_app.web.state.auth import AuthState, LivePage, Viewer
from dashboard_app.web.state.payloads import Payload, bad_payload, read_payload

PAGE_SIZE = 25
KIND_LABELS = {
    "grant": "Bonus",
    "purchase": "Purchase",
    "allowance": "Plan allowance",
    "spend": "Spent",
    "reserve": "Held for a job",
    "capture": "Job charged",
    "release": "Hold returned",
    "refund_clawback": "Refund",
    "expiry": "Expired",
    "adjustment": "Adjustment",
    "freeze": "Frozen (payment disputed)",
    "thaw": "Unfrozen",
}
ALL = "All entries"
FILTERS = [ALL, *KIND_LABELS.values()]
KIND_BY_LABEL = {label: kind for kind, label in KIND_LABELS.items()}


def _row(entry: CreditEntry) -> dict[str, str]:
    change = entry.amount if entry.kind != "capture" else entry.held_change
    return {
        "id": str(entry.id),
        "when": f"{entry.created_at:%Y-%m-%d %H:%M}",
        "kind": KIND_LABELS.get(entry.kind, entry.kind),
        "amount": f"{change:+d}" if change else "0",
        "direction": "up" if change > 0 else "down" if change < 0 else "none",
        "balance": str(entry.balance_after),
        "what": entry.reason or entry.reference,
    }


def _fetch(
    session: Session,
    user_id: int,
    kind: str | None,
    before_id: int | None = None,
    after_id: int | None = None,
) -> credits.HistoryPage:
    return credits.history(
        session=session,
        user_id=user_id,
        kind=kind,
        before_id=before_id,
        after_id=after_id,
        limit=PAGE_SIZE if after_id is None else 100,
    )


class FilterChoice(Payload):
    label: str


class HistoryState(LivePage, AuthState):
    rows: list[dict[str, str]] = []
    filter_label: str = ALL
    has_more: bool = False
    error: str = ""
    _kind: str | None = None
    _cursor: int | None = None

    def _top_id(self) -> int | None:
        return int(self.rows[0]["id"]) if self.rows else None

    async def _refresh_page(self, viewer: Viewer) -> None:
        """First load: the newest page. Later: prepend only what arrived since."""
        top = self._top_id()
        if top is None:
            page = await read(_fetch, viewer.user_id, self._kind)
            self.rows = [_row(e) for e in page.entries]
            self._cursor = page.next_cursor
            self.has_more = page.next_cursor is not None
            return
        page = await read(_fetch, viewer.user_id, self._kind, None, top)
        if page.next_cursor is not None:  # more than fits: start again from the top
            self.rows = []
            await self._refresh_page(viewer)
            return
        self.rows = [_row(e) for e in page.entries] + self.rows

    @rx.event
    async def filter_by(self, label: str | None = None):
        viewer = await self._viewer()
        if viewer is None:
            return self._to_sign_in()
        choice = read_payload(FilterChoice, {"label": label})
        if choice is None:
            return bad_payload()
        label = choice.label
        if label not in FILTERS:
            self.error = "Choose one of the listed kinds of entry."
            return None
        self.error = ""
        self.filter_label = label
        self._kind = KIND_BY_LABEL.get(label)
        self.rows = []
        await self._refresh_page(viewer)
        return None

    @rx.event
    async def load_more(self):
        viewer = await self._viewer()
        if viewer is None:
            return self._to_sign_in()
        if self._cursor is None:
            return None
        try:
            page = await read(_fetch, viewer.user_id, self._kind, self._cursor)
        except InvalidInput as error:
            self.error = error.message
            return None
        self.rows = self.rows + [_row(e) for e in page.entries]
        self._cursor = page.next_cursor
        self.has_more = page.next_cursor is not None
        return None


def _entry_row(row: rx.Var) -> rx.Component:
    return rx.table.row(
        rx.table.cell(row["when"], white_space="nowrap"),
        rx.table.cell(rx.badge(row["kind"], variant="soft")),
        rx.table.cell(
            rx.text(
                row["amount"],
                weight="bold",
                color=rx.match(
                    row["direction"],
                    ("up", rx.color("grass", 11)),
                    ("down", rx.color("tomato", 11)),
                    rx.color("gray", 11),
                ),
            ),
            text_align="right",
        ),
        rx.table.cell(row["balance"], text_align="right"),
        rx.table.cell(row["what"]),
        data_testid="history-row",
    )


def history_page() -> rx.Component:
    return shell(
        page_heading("Credit history", "Every change to your credits, newest first (UTC)."),
        rx.hstack(
            rx.select(
                FILTERS,
                value=HistoryState.filter_label,
                on_change=HistoryState.filter_by,
                # The select's own aria_label would land on its root, which renders nothing.
                custom_attrs={"aria-label": "Kind of entry"},
                data_testid="history-filter",
            ),
            rx.cond(HistoryState.error != "", rx.text(HistoryState.error, color_scheme="red")),
            margin_bottom="1rem",
            align="center",
        ),
        rx.cond(
            HistoryState.rows.length() > 0,
            rx.box(
                rx.table.root(
                    rx.table.header(
                        rx.table.row(
                            rx.table.column_header_cell("When"),
                            rx.table.column_header_cell("Kind"),
                            rx.table.column_header_cell("Credits", text_align="right"),
                            rx.table.column_header_cell("Balance", text_align="right"),
                            rx.table.column_header_cell("For"),
                        )
                    ),
                    rx.table.body(rx.foreach(HistoryState.rows, _entry_row)),
                    width="100%",
                    data_testid="history-table",
                ),
                overflow_x="auto",
                width="100%",
            ),
            rx.text("No entries yet.", color_scheme="gray", data_testid="history-empty"),
        ),
        rx.cond(
            HistoryState.has_more,
            rx.button(
                "Load more",
                on_click=HistoryState.load_more,
                variant="soft",
                margin_top="1rem",
            ),
        ),
        live=HistoryState,
    )
