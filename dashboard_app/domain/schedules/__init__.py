"""The app's scheduled work: what each job does (`work`), and the record of each run (`runs`).
The engine (dashboard_app/engine/schedules.py) runs them on their cron; the CLI on demand."""

from dashboard_app.domain.schedules.runs import (
    latest_runs,
    recent_runs,
    run_job,
)
from dashboard_app.domain.schedules.work import JOBS, Job, WorkContext

__all__ = ["JOBS", "Job", "WorkContext", "latest_runs", "recent_runs", "run_job"]
