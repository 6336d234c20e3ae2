"""Admin: generation jobs across members: queue depth, what runs, what failed in the last day,
jobs by preset over 7 days; each job's error and timings; retry a failed job, cancel one in
flight (its held credits come back)."""

from __future__ import annotations

import asyncio

import reflex as rx

from dashboard_app.db import get_engine
from dashboard_app.domain import admin
from dashboard_app.domain.catalog import get_catalog
from dashboard_app.domain.errors import DomainError, NotFound
from dashboard_app.engine import admin_actions
from dashboard_app.engine.client import get_client
from dashboard_app.models import Generation, User
from dashboard_app.models.jobs import GENERATION_STATUSES
from dashboard_app.web import routes
from dashboard_app.web.components.cards import stat_card
from dashboard_app.web.pages.admin.base import (
    AdminPage,
    action_dialog,
    admin_shell,
    attempt,
    in_session,
)
from dashboard_app.web.state.auth import AuthState, Viewer
from dashboard_app.web.state.payloads import Payload, bad_payload, id_from_text, read_payload

ANY = "any"
TIME = "%Y-%m-%d %H:%M:%S"


class JobFilter(Payload):
    status: str = ANY


class JobForm(Payload):
    job_id: str = ""
    reason: str = ""
    form_token: str = ""


def _seconds(start, end) -> str:  # type: ignore[no-untyped-def]
    return f"{(end - start).total_seconds():.1f} s" if start and end else ""


def _row(job: Generation) -> dict[str, str]:
    return {
        "id": str(job.id),
        "member": str(job.user_id),
        "member_href": routes.admin_member_path(job.user_id),
        "title": job.title or job.prompt[:60],
        "preset": job.preset,
        "status": job.status,
        "attempt": str(job.attempt),
        "created": f"{job.created_at:{TIME}}",
    }


def _overview(status: str | None, before_id: int | None) -> dict:
    figures = in_session(admin.queue_figures)
    page = in_session(admin.list_jobs, status=status, before_id=before_id)
    return {
        "queued": figures.queued,
        "running": figures.running,
        "failed": figures.failed_24h,
        "oldest": f"{figures.oldest_queued_at:{TIME}} UTC" if figures.oldest_queued_at else "",
        "presets": [
            {"preset": preset, **{s: str(counts.get(s, 0)) for s in GENERATION_STATUSES}}
            for preset, counts in figures.by_preset
        ],
        "rows": [_row(j) for j in page.jobs],
        "cursor": page.next_cursor,
    }


def _detail(*, session, job_id: int) -> dict[str, str]:  # type: ignore[no-untyped-def]
    job = session.get(Generation, job_id)
    if job is None:
        raise NotFound("No such job")
    owner = session.get(User, job.user_id)
    return {
        **_row(job),
        "email": owner.email if owner else "",
        "error": job.error or "",
        "credits": str(job.credits_cost),
        "waited": _seconds(job.created_at, job.started_at),
        "ran": _seconds(job.started_at, job.finished_at),
        "started": f"{job.started_at:{TIME}}" if job.started_at else "",
        "finished": f"{job.finished_at:{TIME}}" if job.finished_at else "",
        "worker": job.worker_id or "",
    }


def _job_id(text: str) -> int:
    found = id_from_text(text)
    if found is None:
        raise NotFound("No such job")
    return found


def _cancel(actor: int, job_id: str, **form: str) -> admin.JobAction:
    return admin_actions.cancel_job(
        engine=get_engine(),
        client=get_client(),
        actor_user_id=actor,
        generation_id=_job_id(job_id),
        **form,
    )


def _retry(actor: int, job_id: str, **form: str) -> admin.JobAction:
    return admin_actions.retry_job(
        engine=get_engine(),
        client=get_client(),
        catalog=get_catalog(),
        actor_user_id=actor,
        generation_id=_job_id(job_id),
        **form,
    )


class AdminJobsState(AdminPage, AuthState):
    queued: int = 0
    running: int = 0
    failed: int = 0
    oldest: str = ""
    presets: list[dict[str, str]] = []
    rows: list[dict[str, str]] = []
    has_more: bool = False
    selected: dict[str, str] = {}
    _status: str | None = None
    _cursor: int | None = None

    def _forget_filters(self) -> None:
        self._status, self.selected = None, {}

    async def _refresh_admin(self, viewer: Viewer) -> None:
        found = await asyncio.to_thread(_overview, self._status, None)
        self.queued, self.running, self.failed = found["queued"], found["running"], found["failed"]
        self.oldest, self.presets, self.rows = found["oldest"], found["presets"], found["rows"]
        self._cursor = found["cursor"]
        self.has_more = self._cursor is not None
        if self.selected:
            again = await attempt(in_session, _detail, job_id=int(self.selected["id"]))
            self.selected = {} if isinstance(again, DomainError) else again

    @rx.event
    async def filter(self, form: dict | None = None):
        fields = read_payload(JobFilter, form)
        if fields is None:
            return bad_payload()
        viewer = await self._admin("filter")
        if viewer is None:
            return self._refusal()
        if fields.status != ANY and fields.status not in GENERATION_STATUSES:
            return rx.toast.error("Choose one of the listed statuses.")
        self._status = None if fields.status == ANY else fields.status
        await self._refresh_admin(viewer)
        return None

    @rx.event
    async def load_more(self):
        viewer = await self._admin("load_more")
        if viewer is None:
            return self._refusal()
        if self._cursor is not None:
            found = await asyncio.to_thread(_overview, self._status, self._cursor)
            self.rows = self.rows + found["rows"]
            self._cursor = found["cursor"]
            self.has_more = self._cursor is not None
        return None

    @rx.event
    async def show_job(self, job_id: str | None = None):
        found_id = id_from_text(job_id)
        if found_id is None:
            return bad_payload()
        viewer = await self._admin("show_job")
        if viewer is None:
            return self._refusal()
        found = await attempt(in_session, _detail, job_id=found_id)
        if isinstance(found, DomainError):
            return rx.toast.error(found.message)
        self.selected = found
        return None

    async def _run(self, name: str, form: object, run):  # type: ignore[no-untyped-def]
        fields = read_payload(JobForm, form)
        if fields is None:
            return bad_payload()
        viewer = await self._admin(name)
        if viewer is None:
            return self._refusal()
        outcome = await attempt(run, actor=viewer.user_id, **fields.model_dump())
        if isinstance(outcome, DomainError):
            self.action_error = outcome.message
            return None
        await self._refresh_admin(viewer)
        return self._done(outcome.message)

    @rx.event
    async def retry(self, form: dict | None = None):
        return await self._run("retry", form, _retry)

    @rx.event
    async def cancel(self, form: dict | None = None):
        return await self._run("cancel", form, _cancel)


def _selected() -> rx.Component:
    s = AdminJobsState.selected
    hidden = rx.el.input(type="hidden", name="job_id", value=s["id"])
    return rx.cond(
        s.length() > 0,
        rx.card(
            rx.vstack(
                rx.heading("Job #", s["id"], ": ", s["title"], size="4"),
                rx.text(
                    s["email"], " · ", s["preset"], " · ", s["status"], " · attempt ", s["attempt"]
                ),
                rx.text(
                    "Waited ",
                    s["waited"],
                    " in the queue; ran ",
                    s["ran"],
                    "; ",
                    s["credits"],
                    " credits; worker ",
                    s["worker"],
                    size="2",
                ),
                rx.cond(s["error"] != "", rx.text("Error: ", s["error"], color_scheme="red")),
                rx.cond(
                    s["status"] == "failed",
                    action_dialog(
                        AdminJobsState,
                        "retry",
                        "Retry",
                        "Retry this job",
                        "It runs again as a new attempt, on the member's credits and limits.",
                        [hidden],
                        AdminJobsState.retry,
                        "Confirm retry",
                    ),
                ),
                rx.cond(
                    (s["status"] == "queued") | (s["status"] == "running"),
                    action_dialog(
                        AdminJobsState,
                        "cancel",
                        "Cancel",
                        "Cancel this job",
                        "It stops; the credits held for it go back to the member.",
                        [hidden],
                        AdminJobsState.cancel,
                        "Confirm cancel",
                        color="tomato",
                    ),
                ),
                data_testid="job-detail",
                width="100%",
            ),
            width="100%",
        ),
    )


def admin_jobs_page() -> rx.Component:
    statuses = [(ANY, "Any"), *[(s, s) for s in GENERATION_STATUSES]]
    return admin_shell(
        "Jobs",
        "Generation jobs of every member.",
        AdminJobsState,
        rx.grid(
            stat_card("Queued", AdminJobsState.queued, "jobs-queued"),
            stat_card("Running", AdminJobsState.running, "jobs-running"),
            stat_card("Failed, last 24 hours", AdminJobsState.failed, "jobs-failed"),
            columns=rx.breakpoints(initial="1", sm="3"),
            spacing="4",
            width="100%",
        ),
        rx.cond(AdminJobsState.oldest != "", rx.text("Oldest queued job: ", AdminJobsState.oldest)),
        rx.heading("Last 7 days by preset", size="4", margin_top="1rem"),
        rx.table.root(
            rx.table.header(
                rx.table.row(
                    rx.table.column_header_cell("Preset"),
                    *[rx.table.column_header_cell(s) for s in GENERATION_STATUSES],
                )
            ),
            rx.table.body(
                rx.foreach(
                    AdminJobsState.presets,
                    lambda p: rx.table.row(
                        rx.table.cell(p["preset"]),
                        *[rx.table.cell(p[s]) for s in GENERATION_STATUSES],
                    ),
                )
            ),
            size="1",
        ),
        rx.form(
            rx.hstack(
                rx.el.label("Status", html_for="job-status", style={"fontWeight": 500}),
                rx.el.select(
                    *[rx.el.option(t, value=v) for v, t in statuses],
                    name="status",
                    id="job-status",
                    style={"padding": "0.35rem"},
                ),
                rx.button("Filter", type="submit", data_testid="jobs-filter"),
                align="center",
            ),
            on_submit=AdminJobsState.filter,
            margin_y="1rem",
        ),
        _selected(),
        rx.box(
            rx.table.root(
                rx.table.header(
                    rx.table.row(
                        *[
                            rx.table.column_header_cell(h)
                            for h in ("Job", "Member", "Preset", "Status", "Attempt", "Created")
                        ]
                    )
                ),
                rx.table.body(
                    rx.foreach(
                        AdminJobsState.rows,
                        lambda r: rx.table.row(
                            rx.table.cell(
                                rx.button(
                                    "#" + r["id"] + " " + r["title"],
                                    variant="ghost",
                                    size="1",
                                    on_click=AdminJobsState.show_job(r["id"]),
                                )
                            ),
                            rx.table.cell(rx.link("#" + r["member"], href=r["member_href"])),
                            rx.table.cell(r["preset"]),
                            rx.table.cell(r["status"]),
                            rx.table.cell(r["attempt"]),
                            rx.table.cell(r["created"], white_space="nowrap"),
                            data_testid="job-row",
                        ),
                    )
                ),
                width="100%",
                data_testid="admin-jobs",
            ),
            overflow_x="auto",
            width="100%",
        ),
        rx.cond(
            AdminJobsState.has_more,
            rx.button("Load more", variant="soft", on_click=AdminJobsState.load_more),
        ),
    )
