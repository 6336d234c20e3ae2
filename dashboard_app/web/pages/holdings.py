"""Holdings: the tokens the member's preferred wallet holds, as a grid, with when they were last
read from the marketplace. Holdings older than the freshness window are refreshed in the
background once the page has answered; the Refresh button asks for one now. Refreshes run on
the job engine, and the live push reloads the page when one commits."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import timedelta

import reflex as rx
from sqlmodel import Session

from dashboard_app.db import read
from dashboard_app.domain import holdings
from dashboard_app.domain.errors import DomainError
from dashboard_app.engine import holdings as holdings_engine
from dashboard_app.engine.client import get_client
from dashboard_app.models import Holding
from dashboard_app.settings import get_settings
from dashboard_app.web import routes
from dashboard_app.web.auth_cookie import session_policy
from dashboard_app.web.components.cards import empty_state, page_heading
from dashboard_app.web.components.jobs import when
from dashboard_app.web.layout import shell
from dashboard_app.web.state.auth import AuthState, LivePage, Viewer


@dataclass
class HoldingCard:
    id: int
    name: str
    collection: str
    image_url: str
    token: str


def _card(holding: Holding) -> HoldingCard:
    token = holding.token_id if len(holding.token_id) <= 12 else holding.token_id[:10] + "…"
    return HoldingCard(
        id=holding.id or 0,
        name=holding.name or f"#{token}",
        collection=holding.collection or "No collection",
        image_url=holding.image_url,
        token=f"#{token}",
    )


def _read(session: Session, user_id: int) -> holdings.HoldingsView:
    settings = get_settings()
    return holdings.holdings_view(
        session=session,
        user_id=user_id,
        chain=settings.marketplace_chain,
        fresh_for=timedelta(hours=settings.holdings_fresh_hours),
    )


def _ask_for_refresh(user_id: int, *, by_member: bool) -> bool:
    """Enqueue a refresh (the member's button counts against their limit); False when one is
    already in flight."""
    return holdings_engine.request_refresh(
        engine=None,
        client=get_client(),
        user_id=user_id,
        member_secret=session_policy().secret_key if by_member else None,
    )


class HoldingsState(LivePage, AuthState):
    cards: list[HoldingCard] = []
    configured: bool = True
    has_wallet: bool = False
    wallet: str = ""
    synced: bool = False
    last_synced: str = ""
    failure: str = ""
    refreshing: bool = False
    error: str = ""
    _due: bool = False

    async def _refresh_page(self, viewer: Viewer) -> None:
        self.configured = get_settings().marketplace_configured
        view = await read(_read, viewer.user_id)
        self.has_wallet, self.wallet = bool(view.wallet), view.wallet
        self.cards = [_card(holding) for holding in view.holdings]
        self.synced = view.last_synced_at is not None
        self.last_synced = when(view.last_synced_at)
        self.failure = view.last_error or ""
        self.refreshing = view.refreshing
        self._due = self.configured and self.has_wallet and view.due

    @rx.event
    async def load(self):
        result = await self._load_page()
        if result is not None:
            return result
        return HoldingsState.refresh_if_due if self._due else None

    @rx.event
    async def refresh_if_due(self):
        """Holdings older than the freshness window: ask for a refresh after the page has
        answered (the page shows what it has meanwhile)."""
        viewer = await self._viewer()
        if viewer is None:
            return self._to_sign_in()
        if not self._due:
            return None
        self._due = False
        try:
            asked = await asyncio.to_thread(_ask_for_refresh, viewer.user_id, by_member=False)
        except DomainError as refused:
            self.error = refused.message
            return None
        self.refreshing = self.refreshing or asked
        return None

    @rx.event
    async def refresh(self):
        viewer = await self._viewer()
        if viewer is None:
            return self._to_sign_in()
        await self._refresh_page(viewer)
        if not self.configured or not self.has_wallet:
            self.error = "There is nothing to refresh: see the note above."
            return None
        if self.refreshing:
            self.error = ""
            return rx.toast.info("A refresh is already running.")
        try:
            asked = await asyncio.to_thread(_ask_for_refresh, viewer.user_id, by_member=True)
        except DomainError as refused:
            self.error = refused.message
            return None
        self.error, self.refreshing = "", True
        if not asked:
            return rx.toast.info("A refresh is already running.")
        return None


def _holding_card(card: rx.Var) -> rx.Component:
    return rx.card(
        rx.vstack(
            rx.cond(
                card.image_url != "",
                rx.image(
                    src=card.image_url,
                    alt=card.name,
                    width="100%",
                    aspect_ratio="1",
                    object_fit="cover",
                    border_radius="var(--radius-2)",
                    loading="lazy",
                    referrer_policy="no-referrer",
                ),
                rx.center(
                    rx.icon("image-off", size=32, color=rx.color("gray", 9)),
                    width="100%",
                    aspect_ratio="1",
                    background=rx.color("gray", 3),
                    border_radius="var(--radius-2)",
                ),
            ),
            rx.text(card.name, weight="medium", size="2", data_testid="holding-name"),
            rx.text(
                card.collection,
                " ",
                card.token,
                size="1",
                color_scheme="gray",
                data_testid="holding-collection",
            ),
            spacing="1",
        ),
        data_testid="holding",
    )


def _status() -> rx.Component:
    return rx.vstack(
        rx.hstack(
            rx.button(
                rx.icon("refresh-cw", size=16),
                "Refresh",
                on_click=HoldingsState.refresh,
                disabled=HoldingsState.refreshing,
                data_testid="holdings-refresh",
            ),
            rx.cond(
                HoldingsState.refreshing,
                rx.hstack(
                    rx.spinner(size="2"),
                    rx.text("Refreshing from the marketplace…", size="2"),
                    align="center",
                    role="status",
                    data_testid="holdings-refreshing",
                ),
            ),
            rx.cond(
                HoldingsState.synced,
                rx.text(
                    "Last synced ",
                    HoldingsState.last_synced,
                    size="2",
                    color_scheme="gray",
                    data_testid="holdings-synced",
                ),
            ),
            align="center",
            wrap="wrap",
            spacing="3",
        ),
        rx.cond(
            HoldingsState.failure != "",
            rx.callout(
                rx.text(
                    "Could not refresh: ",
                    HoldingsState.failure,
                    ". ",
                    rx.cond(
                        HoldingsState.synced,
                        rx.text.span("Showing holdings from ", HoldingsState.last_synced, "."),
                        rx.text.span("No holdings could be read yet."),
                    ),
                ),
                icon="triangle-alert",
                color_scheme="amber",
                high_contrast=True,  # amber text on amber is too pale in the light theme
                data_testid="holdings-failure",
            ),
        ),
        rx.cond(
            HoldingsState.error != "",
            rx.text(HoldingsState.error, color_scheme="red", data_testid="holdings-error"),
        ),
        spacing="2",
        margin_bottom="1rem",
        width="100%",
    )


def _grid() -> rx.Component:
    return rx.cond(
        HoldingsState.cards.length() > 0,
        rx.grid(
            rx.foreach(HoldingsState.cards, _holding_card),
            columns=rx.breakpoints(initial="2", sm="3", md="4"),
            spacing="3",
            width="100%",
            data_testid="holdings-grid",
        ),
        rx.cond(
            HoldingsState.synced,
            empty_state("wallet", "No tokens", "The marketplace lists no tokens for this wallet."),
        ),
    )


def holdings_page() -> rx.Component:
    return shell(
        page_heading("Holdings", "The tokens your preferred wallet holds."),
        rx.cond(
            ~HoldingsState.configured,
            empty_state(
                "plug-zap",
                "Holdings are not available",
                "This server is not connected to a marketplace.",
            ),
            rx.cond(
                HoldingsState.has_wallet,
                rx.vstack(
                    rx.text(
                        "Wallet ",
                        rx.code(HoldingsState.wallet),
                        size="2",
                        color_scheme="gray",
                    ),
                    _status(),
                    _grid(),
                    width="100%",
                ),
                rx.card(
                    rx.vstack(
                        rx.icon("wallet", size=32, color=rx.color("gray", 9)),
                        rx.heading("No wallet yet", size="4"),
                        rx.text(
                            "Add your preferred wallet address on your ",
                            rx.link("profile", href=routes.PROFILE, data_testid="holdings-profile"),
                            " to see what it holds.",
                            text_align="center",
                        ),
                        align="center",
                        spacing="2",
                        padding="1.5rem",
                    ),
                    width="100%",
                    data_testid="holdings-no-wallet",
                ),
            ),
        ),
        live=HoldingsState,
    )
