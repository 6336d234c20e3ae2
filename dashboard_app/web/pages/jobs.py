"""Jobs: every generation job of the member, newest first, with its status, progress, cost,
time and error; filtered by status, paged by cursor, live; a failed job can be retried."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

import reflex as rx
from sqlmodel import Session

from dashboard_app.db import read
from dashboard_app.domain.catalog import get_catalog
from dashboard_app.domain.errors import DomainError
from dashboard_app.domain.generation import review
from dashboard_app.engine import actions
from dashboard_app.engine.client import get_client
from dashboard_app.models import Generation
from dashboard_app.web import routes
from dashboard_app.web.components.cards import page_heading
from dashboard_app.web.components.jobs import (
    STATUS_LABELS,
    platform_name,
    progress_bar,
    status_badge,
    when,
)
from dashboard_app.web.layout import shell
from dashboard_app.web.state.auth import AuthState, LivePage, Viewer
from dashboard_app.web.state.payloads import Payload, bad_payload, read_payload

PAGE_SIZE = 20
MOST_SHOWN_LIVE = 100  # rows re-read each time the member's jobs change
ALL = "All jobs"
FILTERS = [ALL, *STATUS_LABELS.values()]
STATUS_BY_LABEL = {label: status for status, label in STATUS_LABELS.items()}


@dataclass
class JobRow:
    id: int
    title: str
    href: str
    platform: str
    status: str
    progress: int
    cost: int
    created: str
    finished: str
    error: str


def _row(job: Generation) -> JobRow:
    return JobRow(
        id=job.id or 0,
        title=job.title,
        href=routes.review_path(job.id or 0),
        platform=platform_name(job.platform),
        status=job.status,
        progress=job.progress,
        cost=job.credits_cost,
        created=when(job.created_at),
        finished=when(job.finished_at),
        error=job.error or "",
    )


def _fetch(
    session: Session, user_id: int, status: str | None, cursor: str | None, limit: int
) -> review.JobsPage:
    return review.list_jobs(
        session=session, user_id=user_id, status=status, cursor=cursor, limit=limit
    )


class StatusChoice(Payload):
    label: str


class JobsState(LivePage, AuthState):
    rows: list[JobRow] = []
    filter_label: str = ALL
    has_more: bool = False
    error: str = ""
    _status: str | None = None
    _cursor: str | None = None

    async def _refresh_page(self, viewer: Viewer) -> None:
        """The rows shown, read again (jobs change in place); pages further down stay as they
        are, and `load_more` goes on from the last row shown."""
        shown = len(self.rows)
        limit = min(MOST_SHOWN_LIVE, max(PAGE_SIZE, shown))
        page = await read(_fetch, viewer.user_id, self._status, None, limit)
        fresh = [_row(job) for job in page.jobs]
        if shown <= limit:
            self.rows = fresh
            self._cursor = page.next_cursor
            self.has_more = page.next_cursor is not None
            return
        fresh_ids = {row.id for row in fresh}
        last = fresh[-1].id if fresh else 0
        self.rows = fresh + [row for row in self.rows if row.id < last and row.id not in fresh_ids]

    @rx.event
    async def filter_by(self, label: str | None = None):
        viewer = await self._viewer()
        if viewer is None:
            return self._to_sign_in()
        choice = read_payload(StatusChoice, {"label": label})
        if choice is None:
            return bad_payload()
        if choice.label not in FILTERS:
            self.error = "Choose one of the listed statuses."
            return None
        self.error, self.filter_label = "", choice.label
        self._status = STATUS_BY_LABEL.get(choice.label)
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
            page = await read(_fetch, viewer.user_id, self._status, self._cursor, PAGE_SIZE)
        except DomainError as error:
            self.error = error.message
            return None
        self.rows = self.rows + [_row(job) for job in page.jobs]
        self._cursor = page.next_cursor
        self.has_more = page.next_cursor is not None
        return None

    @rx.event
    async def retry(self, generation_id: int | None = None):
        viewer = await self._viewer()
        if viewer is None:
            return self._to_sign_in()
        if generation_id is None:
            return bad_payload()

        def work() -> None:
            actions.retry(
                engine=None,
                client=get_client(),
                catalog=get_catalog(),
                user_id=viewer.user_id,
                generation_id=generation_id,
            )

        try:
            await asyncio.to_thread(work)
        except DomainError as error:
            self.error = error.message
            return None
        self.error = ""
        await self._refresh_page(viewer)
        return rx.toast.success("The job is queued again.")


def _job_row(row: rx.Var) -> rx.Component:
    return rx.table.row(
        rx.table.cell(
            rx.vstack(
                rx.link(row.title, href=row.href, weight="medium"),
                rx.text(row.platform, size="1", color_scheme="gray"),
                spacing="0",
            )
        ),
        rx.table.cell(status_badge(row.status)),
        rx.table.cell(
            rx.cond(
                (row.status == "queued") | (row.status == "running"),
                progress_bar(row.progress, "Progress of " + row.title, "job-progress"),
                rx.text(row.progress.to(str) + "%", size="2"),
            ),
            min_width="8rem",
        ),
        rx.table.cell(row.cost.to(str), text_align="right"),
        rx.table.cell(
            rx.text(row.created, size="2"),
            rx.cond(
                row.finished != "",
                rx.text("ended ", row.finished, size="1", color_scheme="gray"),
            ),
            white_space="nowrap",
        ),
        rx.table.cell(
            rx.cond(
                row.error != "",
                rx.text(row.error, size="2", color_scheme="red", data_testid="job-error"),
            ),
            rx.cond(
                row.status == "failed",
                rx.button(
                    "Retry",
                    size="1",
                    variant="soft",
                    on_click=JobsState.retry(row.id),
                    data_testid="job-retry",
                ),
            ),
        ),
        data_testid="job-row",
    )


def jobs_page() -> rx.Component:
    return shell(
        page_heading("Jobs", "Your generation jobs and their progress, newest first (UTC)."),
        rx.hstack(
            rx.select(
                FILTERS,
                value=JobsState.filter_label,
                on_change=JobsState.filter_by,
                custom_attrs={"aria-label": "Status"},
                data_testid="jobs-filter",
            ),
            rx.link("Create a new job", href=routes.CREATE, size="2"),
            rx.cond(
                JobsState.error != "",
                rx.text(JobsState.error, color_scheme="red", data_testid="jobs-error"),
            ),
            margin_bottom="1rem",
            align="center",
            wrap="wrap",
        ),
        rx.cond(
            JobsState.rows.length() > 0,
            rx.box(
                rx.table.root(
                    rx.table.header(
                        rx.table.row(
                            rx.table.column_header_cell("Job"),
                            rx.table.column_header_cell("Status"),
                            rx.table.column_header_cell("Progress"),
                            rx.table.column_header_cell("Credits", text_align="right"),
                            rx.table.column_header_cell("Time"),
                            rx.table.column_header_cell("Error"),
                        )
                    ),
                    rx.table.body(rx.foreach(JobsState.rows, _job_row)),
                    width="100%",
                    data_testid="jobs-table",
                ),
                overflow_x="auto",
                width="100%",
            ),
            rx.text("No jobs here yet.", color_scheme="gray", data_testid="jobs-empty"),
        ),
        rx.cond(
            JobsState.has_more,
            rx.button("Load more", on_click=JobsState.load_more, variant="soft", margin_top="1rem"),
        ),
        live=JobsState,
    )
