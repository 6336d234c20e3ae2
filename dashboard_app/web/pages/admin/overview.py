"""Admin overview: the business at a glance (figures for today, 7 and 30 days, charts over 30
days), webhook events waiting or failed, the last ledger check and reconciliation, with
buttons to run them now, and the last run of each scheduled job."""

from __future__ import annotations

import asyncio

import reflex as rx

from dashboard_app.db import session_scope
from dashboard_app.domain import admin, schedules
from dashboard_app.domain.billing import format_money
from dashboard_app.domain.catalog import get_catalog
from dashboard_app.domain.errors import DomainError
from dashboard_app.integrations.stripe_gateway import get_gateway
from dashboard_app.models import OperatorCheck, ScheduledRun
from dashboard_app.settings import get_settings
from dashboard_app.web import routes
from dashboard_app.web.components.cards import stat_card
from dashboard_app.web.pages.admin.base import AdminPage, admin_shell
from dashboard_app.web.state.auth import AuthState, Viewer

CHECK_LABELS = {"ledger_check": "Ledger check", "reconcile": "Stripe reconciliation"}


def _percent(rate: float | None) -> str:
    return "-" if rate is None else f"{rate:.0%}"


def _figures() -> dict:
    with session_scope() as session:
        figures = admin.overview_figures(session=session)
        latest = schedules.latest_runs(session=session)
    currency = get_catalog().currency
    rows: list[dict[str, str]] = []

    def row(label: str, value) -> None:  # type: ignore[no-untyped-def]
        rows.append({"label": label, **{p.label: value(p) for p in figures.periods}})

    row("Sign-ups", lambda p: f"{p.signups:,}")
    row("Active members", lambda p: f"{p.active_members:,}")
    row("Paying members", lambda p: f"{p.paying_members:,}")
    row("Revenue", lambda p: format_money(p.revenue, currency))
    row("Refunds", lambda p: format_money(p.refunds, currency))
    row("Credits granted", lambda p: f"{p.granted:,}")
    row("Credits bought", lambda p: f"{p.bought:,}")
    row("Credits spent", lambda p: f"{p.spent:,}")
    row("Credits expired", lambda p: f"{p.expired:,}")
    for status in ("queued", "running", "succeeded", "failed", "cancelled"):
        row(f"Jobs {status}", lambda p, s=status: f"{p.jobs.get(s, 0):,}")
    row("Job failure rate", lambda p: _percent(p.failure_rate))
    days = [
        {
            "day": f"{d.day:%d %b}",
            "revenue": d.revenue / 100,
            "refunds": d.refunds / 100,
            "granted": d.granted,
            "bought": d.bought,
            "spent": d.spent,
            "expired": d.expired,
            "signups": d.signups,
            "failed": d.jobs.get("failed", 0),
            "succeeded": d.jobs.get("succeeded", 0),
        }
        for d in figures.days
    ]
    return {
        "rows": rows,
        "days": days,
        "waiting": figures.events_waiting,
        "failed": figures.events_failed,
        "checks": [_check_row(kind, row) for kind, row in figures.checks.items()],
        "scheduled": _scheduled_rows(latest),
    }


OUTCOME_COLORS = {"succeeded": "grass", "failed": "tomato", "running": "blue"}


def _summary_text(summary: dict) -> str:
    return ", ".join(
        f"{name.replace('_', ' ')}: {value}"
        for name, value in summary.items()
        if not isinstance(value, list | dict)
    )


def _scheduled_rows(latest: dict[str, ScheduledRun | None]) -> list[dict[str, str]]:
    from dashboard_app.engine.schedules import planned_schedules

    planned = planned_schedules(get_settings())
    rows = []
    for name, run in latest.items():
        row = {
            "job": name,
            "label": schedules.JOBS[name].label,
            "cron": f"{planned[name]} (UTC)" if name in planned else "Not scheduled",
            "result": "Never run",
            "color": "gray",
            "when": "",
            "summary": "",
            "details": "",
        }
        if run is not None:
            finished = f", finished {run.finished_at:%H:%M:%S}" if run.finished_at else ""
            row |= {
                "result": run.outcome.capitalize(),
                "color": OUTCOME_COLORS.get(run.outcome, "gray"),
                "when": f"Started {run.started_at:%Y-%m-%d %H:%M:%S} UTC{finished}, "
                f"by the {'scheduler' if run.source == 'schedule' else 'command line'}",
                "summary": run.error or _summary_text(run.summary),
                "details": "\n".join(run.summary.get("details", [])[:20]),
            }
        rows.append(row)
    return rows


def _check_row(kind: str, row: OperatorCheck | None) -> dict[str, str]:
    if row is None:
        return {"label": CHECK_LABELS[kind], "result": "Never run", "color": "gray", "when": ""}
    return {
        "label": CHECK_LABELS[kind],
        "result": "OK" if row.ok else "Problems",
        "color": "grass" if row.ok else "tomato",
        "when": f"{row.finished_at:%Y-%m-%d %H:%M} UTC, from the {row.source}",
        "summary": row.summary,
        "details": "\n".join(row.details[:20]),
    }


def _run_ledger_check(actor: int) -> str:
    row, _ = admin.run_ledger_check(engine=None, source="admin", actor_user_id=actor)
    return row.summary


def _run_reconcile(actor: int) -> str:
    gateway = get_gateway()
    if gateway is None:
        raise DomainError("Stripe is not configured on this server.")
    row, _, _ = admin.run_reconcile(
        engine=None, gateway=gateway, catalog=get_catalog(), source="admin", actor_user_id=actor
    )
    return row.summary


class AdminState(AdminPage, AuthState):
    figure_rows: list[dict[str, str]] = []
    days: list[dict[str, str | int | float]] = []
    events_waiting: int = 0
    events_failed: int = 0
    checks: list[dict[str, str]] = []
    scheduled: list[dict[str, str]] = []
    running: str = ""

    async def _refresh_admin(self, viewer: Viewer) -> None:
        found = await asyncio.to_thread(_figures)
        self.figure_rows, self.days = found["rows"], found["days"]
        self.events_waiting, self.events_failed = found["waiting"], found["failed"]
        self.checks = found["checks"]
        self.scheduled = found["scheduled"]

    async def _run(self, what: str, work):  # type: ignore[no-untyped-def]
        viewer = await self._admin(what)
        if viewer is None:
            yield self._refusal()
            return
        self.running = what
        yield
        try:
            summary = await asyncio.to_thread(work, viewer.user_id)
        except DomainError as error:
            self.running = ""
            yield rx.toast.error(error.message)
            return
        self.running = ""
        await self._refresh_admin(viewer)
        yield rx.toast.success(summary)

    @rx.event
    async def run_ledger_check(self):
        async for update in self._run("run_ledger_check", _run_ledger_check):
            yield update

    @rx.event
    async def run_reconcile(self):
        async for update in self._run("run_reconcile", _run_reconcile):
            yield update


def _figure_row(row: rx.Var) -> rx.Component:
    return rx.table.row(
        rx.table.row_header_cell(row["label"]),
        rx.table.cell(row["Today"], text_align="right"),
        rx.table.cell(row["7 days"], text_align="right"),
        rx.table.cell(row["30 days"], text_align="right"),
        data_testid="figure-row",
    )


def _figures_table() -> rx.Component:
    return rx.card(
        rx.table.root(
            rx.table.header(
                rx.table.row(
                    rx.table.column_header_cell("Figure"),
                    rx.table.column_header_cell("Today", text_align="right"),
                    rx.table.column_header_cell("7 days", text_align="right"),
                    rx.table.column_header_cell("30 days", text_align="right"),
                )
            ),
            rx.table.body(rx.foreach(AdminState.figure_rows, _figure_row)),
            width="100%",
            data_testid="admin-figures",
        ),
        width="100%",
    )


def _chart(title: str, *series: tuple[str, str, str], kind: str = "line") -> rx.Component:
    chart = rx.recharts.line_chart if kind == "line" else rx.recharts.bar_chart
    draw = rx.recharts.line if kind == "line" else rx.recharts.bar
    return rx.card(
        rx.vstack(
            rx.heading(title, size="3"),
            chart(
                *[
                    draw(data_key=key, name=label, stroke=color, fill=color)
                    if kind == "bar"
                    else draw(data_key=key, name=label, stroke=color, dot=False)
                    for key, label, color in series
                ],
                rx.recharts.x_axis(data_key="day", interval="preserveStartEnd"),
                rx.recharts.y_axis(width=50),
                rx.recharts.graphing_tooltip(),
                rx.recharts.legend(),
                data=AdminState.days,
                width="100%",
                height=220,
            ),
            width="100%",
        ),
        width="100%",
    )


def _check_card(check: rx.Var) -> rx.Component:
    return rx.card(
        rx.vstack(
            rx.hstack(
                rx.heading(check["label"], size="3"),
                rx.badge(check["result"], color_scheme=check["color"], high_contrast=True),
                align="center",
            ),
            rx.text(check["when"], size="1", color_scheme="gray"),
            rx.text(check["summary"], size="2"),
            rx.cond(
                check["details"].to(str) != "",
                rx.code_block(check["details"], language="log", width="100%"),
            ),
            spacing="1",
            width="100%",
        ),
        width="100%",
        data_testid="check-result",
    )


def _scheduled_row(run: rx.Var) -> rx.Component:
    return rx.table.row(
        rx.table.row_header_cell(run["label"]),
        rx.table.cell(run["cron"]),
        rx.table.cell(rx.badge(run["result"], color_scheme=run["color"], high_contrast=True)),
        rx.table.cell(
            rx.vstack(
                rx.text(run["when"], size="1", color_scheme="gray"),
                rx.text(run["summary"], size="2"),
                rx.cond(
                    run["details"].to(str) != "",
                    rx.code_block(run["details"], language="log", width="100%"),
                ),
                spacing="1",
            )
        ),
        data_testid="scheduled-run",
    )


def _scheduled_table() -> rx.Component:
    return rx.card(
        rx.table.root(
            rx.table.header(
                rx.table.row(
                    rx.table.column_header_cell("Job"),
                    rx.table.column_header_cell("Schedule"),
                    rx.table.column_header_cell("Last run"),
                    rx.table.column_header_cell("What it found"),
                )
            ),
            rx.table.body(rx.foreach(AdminState.scheduled, _scheduled_row)),
            width="100%",
            data_testid="scheduled-work",
        ),
        width="100%",
    )


def admin_page() -> rx.Component:
    return admin_shell(
        "Admin",
        "The business at a glance.",
        AdminState,
        rx.vstack(
            rx.grid(
                stat_card("Webhook events waiting", AdminState.events_waiting, "events-waiting"),
                stat_card("Webhook events failed", AdminState.events_failed, "events-failed"),
                columns=rx.breakpoints(initial="1", sm="2"),
                spacing="4",
                width="100%",
            ),
            rx.cond(
                AdminState.events_failed > 0,
                rx.link("See the failed events", href=routes.ADMIN_EVENTS + "?status=failed"),
            ),
            _figures_table(),
            rx.grid(
                _chart(
                    "Credits per day",
                    ("granted", "Granted", "#3e63dd"),
                    ("bought", "Bought", "#30a46c"),
                    ("spent", "Spent", "#e5484d"),
                    ("expired", "Expired", "#8d8d8d"),
                ),
                _chart(
                    "Money per day",
                    ("revenue", "Revenue", "#30a46c"),
                    ("refunds", "Refunds", "#e5484d"),
                    kind="bar",
                ),
                _chart(
                    "Sign-ups and jobs per day",
                    ("signups", "Sign-ups", "#3e63dd"),
                    ("succeeded", "Jobs succeeded", "#30a46c"),
                    ("failed", "Jobs failed", "#e5484d"),
                ),
                columns=rx.breakpoints(initial="1", lg="2"),
                spacing="4",
                width="100%",
            ),
            rx.heading("Checks", size="4"),
            rx.grid(
                rx.foreach(AdminState.checks, _check_card),
                columns=rx.breakpoints(initial="1", md="2"),
                spacing="4",
                width="100%",
            ),
            rx.hstack(
                rx.button(
                    "Run the ledger check",
                    on_click=AdminState.run_ledger_check,
                    loading=AdminState.running == "run_ledger_check",
                    data_testid="run-ledger-check",
                ),
                rx.button(
                    "Reconcile the last 7 days with Stripe",
                    variant="soft",
                    on_click=AdminState.run_reconcile,
                    loading=AdminState.running == "run_reconcile",
                    data_testid="run-reconcile",
                ),
                wrap="wrap",
            ),
            rx.heading("Scheduled work", size="4"),
            _scheduled_table(),
            spacing="4",
            width="100%",
        ),
    )
