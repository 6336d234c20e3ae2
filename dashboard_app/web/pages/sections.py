"""Create, Jobs and Library: each section's page inside the shell."""

from __future__ import annotations

import reflex as rx

from dashboard_app.web.components.cards import empty_state, page_heading
from dashboard_app.web.layout import shell


def create_page() -> rx.Component:
    return shell(
        page_heading("Create", "Start a new generation."),
        empty_state("sparkles", "Generation is not open yet", "New jobs can be started here soon."),
    )


def jobs_page() -> rx.Component:
    return shell(
        page_heading("Jobs", "Your generation jobs and their progress."),
        empty_state("list-todo", "No jobs yet", "Jobs you start from Create appear here."),
    )


def library_page() -> rx.Component:
    return shell(
        page_heading("Library", "Everything you have generated."),
        empty_state("images", "Your library is empty", "Finished results are kept here."),
    )
