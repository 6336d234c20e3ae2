"""Operator commands: python -m dashboard_app ..."""

from __future__ import annotations

import re
import secrets
from datetime import UTC, datetime

import typer

from dashboard_app.db import session_scope
from dashboard_app.domain import accounts, api_access, credits, plans
from dashboard_app.domain.admin.checks import run_ledger_check, run_reconcile
from dashboard_app.domain.catalog import Catalog, CatalogError, get_catalog
from dashboard_app.domain.demo import seed_demo
from dashboard_app.domain.errors import DomainError
from dashboard_app.settings import SettingsError, get_settings

cli = typer.Typer(help="Operate the credit dashboard.", no_args_is_help=True)
ledger_cli = typer.Typer(help="Inspect and maintain the credit ledger.", no_args_is_help=True)
cli.add_typer(ledger_cli, name="ledger")
catalog_cli = typer.Typer(help="The plans and boosts of catalog.toml.", no_args_is_help=True)
cli.add_typer(catalog_cli, name="catalog")
stripe_cli = typer.Typer(help="Stripe catalog, reconciliation, events.", no_args_is_help=True)
cli.add_typer(stripe_cli, name="stripe")
schedules_cli = typer.Typer(
    help="The scheduled work: list it, run a job now.", no_args_is_help=True
)
cli.add_typer(schedules_cli, name="schedules")


def _fail(message: str) -> None:
    typer.secho(message, fg=typer.colors.RED, err=True)
    raise typer.Exit(code=1)


@cli.command("seed-demo")
def seed_demo_command() -> None:
    """Create the demo member and admin if absent and print their credentials."""
    settings = get_settings()
    if settings.is_production:
        _fail("Refusing to create demo accounts with APP_ENV=production.")
    with session_scope() as session:
        plans.sync_plans(session=session, catalog=_catalog())
        demo_accounts = seed_demo(
            session=session, credentials_file=settings.data_dir / "demo-credentials.json"
        )
    typer.echo(f"Demo accounts (sign in at {settings.public_base_url}/sign-in):")
    for account in demo_accounts:
        password = (
            account.password or "(set before; unknown - reset it with create-admin --password)"
        )
        typer.echo(f"  {account.role:<7} {account.email:<22} password: {password}")


@cli.command("create-admin")
def create_admin(
    email: str,
    password: str | None = typer.Option(
        None, help="Password for a new account; a random one is printed when omitted."
    ),
) -> None:
    """Make EMAIL an admin, creating the account when it does not exist."""
    try:
        with session_scope() as session:
            user = accounts.find_user_by_email(session=session, email=email)
            if user is None:
                chosen = password or secrets.token_urlsafe(16)
                accounts.create_user(
                    session=session, email=email, password=chosen, role="admin", email_verified=True
                )
                typer.echo(f"Created admin {email.strip().lower()}")
                if password is None:
                    typer.echo(f"  password: {chosen}")
                return
            accounts.set_role(session=session, user=user, role="admin", actor_user_id=None)
            typer.echo(f"{user.email} is now an admin")
    except DomainError as error:
        _fail(error.message)


def _member(session, email: str):  # type: ignore[no-untyped-def]
    user = accounts.find_user_by_email(session=session, email=email)
    if user is None or user.deleted_at is not None:
        _fail(f"No member has the email {email.strip().lower()}.")
    return user


@cli.command("suspend")
def suspend(
    email: str,
    reason: str = typer.Option(..., help="Shown to the member when they try to sign in."),
) -> None:
    """Suspend EMAIL: every session ends and sign-in is refused with the reason."""
    try:
        with session_scope() as session:
            user = _member(session, email)
            accounts.suspend_member(session=session, user=user, reason=reason, actor_user_id=None)
            typer.echo(f"{user.email} is suspended; their sessions have ended.")
    except DomainError as error:
        _fail(error.message)


@cli.command("reinstate")
def reinstate(email: str) -> None:
    """Lift the suspension of EMAIL."""
    with session_scope() as session:
        user = _member(session, email)
        accounts.reinstate_member(session=session, user=user, actor_user_id=None)
        typer.echo(f"{user.email} can sign in again.")


@cli.command("link-api-subject")
def link_api_subject(
    email: str,
    subject: str,
    issuer: str = typer.Option(
        "", help="The identity service's issuer (`iss`); default API_JWT_ISSUER."
    ),
) -> None:
    """Let API tokens whose subject (`sub`) is SUBJECT speak for the member EMAIL."""
    issuer = issuer.strip() or get_settings().api_jwt_issuer.strip()
    if not issuer:
        _fail("No issuer: set API_JWT_ISSUER or pass --issuer.")
    try:
        with session_scope() as session:
            api_access.link_subject(session=session, issuer=issuer, subject=subject, email=email)
    except DomainError as error:
        _fail(error.message)
    typer.echo(f"{subject.strip()} at {issuer} now speaks for {email.strip().lower()}.")


@cli.command("check-settings")
def check_settings() -> None:
    """Validate the settings as the server would at start-up."""
    try:
        settings = get_settings()
        settings.check_start_up()
    except SettingsError as error:
        _fail(str(error))
    typer.echo(f"Settings are valid for APP_ENV={settings.app_env}.")


def _catalog() -> Catalog:
    try:
        return get_catalog()
    except CatalogError as error:
        _fail(str(error))
        raise


@catalog_cli.command("sync")
def catalog_sync() -> None:
    """Copy the plans of catalog.toml into the database (safe to run any number of times)."""
    catalog = _catalog()
    with session_scope() as session:
        plans.sync_plans(session=session, catalog=catalog)
    typer.echo(f"Plans in the database: {', '.join(catalog.plans)}.")


@ledger_cli.command("check")
def ledger_check() -> None:
    """Verify every ledger invariant in one snapshot; exit 1 with what is wrong and for whom.
    The result is kept for the admin overview."""
    _, problems = run_ledger_check(engine=None, source="cli")
    if problems:
        typer.secho(f"The ledger has {len(problems)} problem(s):", fg=typer.colors.RED, err=True)
        for problem in problems:
            typer.echo(f"  - {problem}", err=True)
        raise typer.Exit(code=1)
    typer.echo("The ledger is consistent: entries, balances, lots, holds and freezes agree.")


@ledger_cli.command("expire")
def ledger_expire() -> None:
    """Move every credit past its expiry out of the balances (safe to run on a schedule)."""
    with session_scope() as session:
        user_ids = credits.users_with_due_expiry(session=session)
    expired = 0
    for user_id in user_ids:
        with session_scope() as session:
            expired += sum(
                -e.amount for e in credits.expire_credits(session=session, user_id=user_id)
            )
    typer.echo(f"Expired {expired} credits across {len(user_ids)} member(s).")


def main() -> None:
    from dashboard_app.observability.logs import configure_logging

    # Once per CLI or worker process, before anything logs.
    configure_logging(get_settings())
    cli()


# --- Stripe -------------------------------------------------------------------------------------


def _gateway():  # type: ignore[no-untyped-def]
    from dashboard_app.integrations.stripe_gateway import get_gateway

    gateway = get_gateway()
    if gateway is None:
        _fail("Stripe is not configured: set STRIPE_SECRET_KEY (see the README's Stripe section).")
    return gateway


@stripe_cli.command("sync-catalog")
def stripe_sync_catalog() -> None:
    """Create or update Stripe's products and prices from catalog.toml (safe to run twice)."""
    from dashboard_app.domain.stripe_sync import sync_catalog

    try:
        actions = sync_catalog(gateway=_gateway(), catalog=_catalog())
    except DomainError as error:
        _fail(error.message)
        return
    for action in actions:
        typer.echo(action)
    typer.echo("Stripe matches the catalog." if not actions else f"{len(actions)} change(s).")


@stripe_cli.command("reconcile")
def stripe_reconcile(
    since: datetime = typer.Option(..., formats=["%Y-%m-%d"], help="First day (UTC) to check."),
) -> None:
    """Repair any fulfilment a lost webhook missed since DATE; prints what it repaired. The
    result is kept for the admin overview."""
    start = since.replace(tzinfo=UTC)
    try:
        _, repaired, problems = run_reconcile(
            engine=None, gateway=_gateway(), catalog=_catalog(), since=start, source="cli"
        )
    except DomainError as error:
        _fail(error.message)
        return
    for line in repaired:
        typer.echo(f"repaired {line}")
    for line in problems:
        typer.secho(f"could not repair {line}", fg=typer.colors.YELLOW, err=True)
    typer.echo(f"Reconciled since {start:%Y-%m-%d}: {len(repaired)} repaired.")
    if problems:
        raise typer.Exit(code=1)


@stripe_cli.command("process-events")
def stripe_process_events() -> None:
    """Process stored webhook events that are due now (the servers also do this on their own)."""
    from dashboard_app.domain.stripe_events import process_due_events

    results = process_due_events(engine=None, gateway=_gateway(), catalog=_catalog())
    for event_id, status in results.items():
        typer.echo(f"event {event_id}: {status or 'busy elsewhere'}")
    typer.echo(f"{len(results)} event(s) due.")


# --- Workers ------------------------------------------------------------------------------------


@cli.command("worker")
def worker_command(
    executor_id: str = typer.Option(
        ...,
        "--executor-id",
        help="This worker's stable name (a systemd instance, a pod ordinal). Restarted under "
        "the same name, it resumes the work it was doing when it stopped.",
    ),
    recover: list[str] = typer.Option(
        [],
        "--recover",
        help="Also resume the interrupted work of a worker that will not come back (its "
        "executor id). Only for workers that are really gone. Repeatable.",
    ),
) -> None:
    """Run generation workers until stopped (SIGTERM or Ctrl-C)."""
    import signal
    import threading

    from dashboard_app.engine import runtime, worker
    from dashboard_app.engine.client import get_client

    settings = get_settings()
    if not re.fullmatch(r"[A-Za-z0-9_.-]{1,64}", executor_id):
        _fail("The executor id is 1 to 64 letters, digits, '.', '_' or '-'.")
    worker_runtime = runtime.from_settings(settings, catalog=_catalog(), executor_id=executor_id)
    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    worker.start(settings, worker_runtime=worker_runtime, recover_executors=tuple(recover))
    client = get_client(settings)
    typer.echo(
        f"Worker {executor_id} is running {settings.jobs_worker_concurrency} job(s) at a time."
    )
    try:
        worker.housekeeping_loop(client, stop)
    finally:
        worker.stop()
    typer.echo(f"Worker {executor_id} stopped.")


# --- Scheduled work -----------------------------------------------------------------------------


@schedules_cli.command("list")
def schedules_list() -> None:
    """Each scheduled job, its cron (UTC) and how its last run ended."""
    from dashboard_app.domain.schedules import JOBS, latest_runs
    from dashboard_app.engine.schedules import SCHEDULE_SETTINGS

    settings = get_settings()
    with session_scope() as session:
        latest = latest_runs(session=session)
    for name, job in JOBS.items():
        cron = getattr(settings, SCHEDULE_SETTINGS[name]) or "off"
        if job.needs_stripe and not settings.stripe_configured:
            cron += " (off: no Stripe)"
        run = latest[name]
        last = f"{run.outcome} at {run.started_at:%Y-%m-%d %H:%M} UTC" if run else "never run"
        typer.echo(f"{name:<18} {cron:<24} {last}")


@schedules_cli.command("run")
def schedules_run(job: str) -> None:
    """Run JOB now, in this process (safe beside the scheduler: every job can run twice).
    Exits 1 when the run fails; the run is recorded either way."""
    import json
    import uuid

    from dashboard_app.db import get_engine
    from dashboard_app.domain.schedules import JOBS, run_job
    from dashboard_app.engine.schedules import work_context

    if job not in JOBS:
        _fail(f"No scheduled job is called {job}; the jobs are: {', '.join(JOBS)}.")
    context = work_context(get_settings(), engine=get_engine(), catalog=_catalog())
    run = run_job(
        engine=None,
        job=job,
        context=context,
        run_key=f"cli-{job}-{uuid.uuid4().hex}",
        source="cli",
    )
    assert run is not None  # a fresh key never ran
    typer.echo(f"{JOBS[job].label} {run.outcome}: {json.dumps(run.summary, default=str)}")
    if run.outcome != "succeeded":
        _fail(run.error or "The run failed.")
