"""The operator commands, run as an operator runs them: python -m dashboard_app ..."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from datetime import timedelta

from sqlalchemy import text
from sqlmodel import select

from dashboard_app.db import session_scope
from dashboard_app.domain import credits
from dashboard_app.models import User
from dashboard_app.models.base import utcnow
from tests.factories import create_member
from tests.support.servers import PROJECT_ROOT


def run_cli(db_url: str, data_dir, *args: str, app_env: str = "development", extra_env=None):
    env = {
        **os.environ,
        "DATABASE_URL": db_url,
        "DATA_DIR": str(data_dir),
        "APP_ENV": app_env,
        **(extra_env or {}),
    }
    return subprocess.run(
        [sys.executable, "-m", "dashboard_app", *args],
        cwd=PROJECT_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_seed_demo_creates_both_accounts_once_and_prints_working_credentials(
    db_url, engine, tmp_path
) -> None:
    first = run_cli(db_url, tmp_path, "seed-demo")
    assert first.returncode == 0, first.stderr
    second = run_cli(db_url, tmp_path, "seed-demo")
    assert second.returncode == 0, second.stderr
    passwords = dict(re.findall(r"(\S+@example\.com)\s+password: (\S+)", first.stdout))
    assert set(passwords) == {"member@example.com", "admin@example.com"}
    assert dict(re.findall(r"(\S+@example\.com)\s+password: (\S+)", second.stdout)) == passwords
    assert json.loads((tmp_path / "demo-credentials.json").read_text()) == passwords

    from dashboard_app.domain import accounts

    with session_scope(engine) as session:
        users = {u.email: u for u in session.exec(select(User)).all()}
        assert {e: u.role for e, u in users.items()} == {
            "member@example.com": "member",
            "admin@example.com": "admin",
        }
        for email, password in passwords.items():
            assert (
                accounts.authenticate(session=session, email=email, password=password).email
                == email
            )
        # The demo history was written once, however many times seeding ran:
        # 100 + 50 granted, 4 + 9 + 3 + 12 + 6 spent.
        member = users["member@example.com"].id
        assert credits.get_balances(session=session, user_id=member) == credits.Balances(
            available=116, reserved=0, lifetime=150, spent=34
        )


def test_seed_demo_refuses_production(db_url, tmp_path) -> None:
    result = run_cli(db_url, tmp_path, "seed-demo", app_env="production")
    assert result.returncode == 1
    assert "Refusing to create demo accounts" in result.stderr


def test_create_admin_promotes_an_existing_member(db_url, engine, tmp_path) -> None:
    member = create_member(engine, email="boss@example.com")
    result = run_cli(db_url, tmp_path, "create-admin", "Boss@Example.com")
    assert result.returncode == 0, result.stderr
    assert "boss@example.com is now an admin" in result.stdout
    with session_scope(engine) as session:
        assert session.get(User, member.id).role == "admin"


def test_create_admin_creates_a_new_admin_with_a_printed_password(db_url, engine, tmp_path) -> None:
    result = run_cli(db_url, tmp_path, "create-admin", "new-admin@example.com")
    assert result.returncode == 0, result.stderr
    password = re.search(r"password: (\S+)", result.stdout).group(1)
    from dashboard_app.domain import accounts

    with session_scope(engine) as session:
        user = accounts.authenticate(
            session=session, email="new-admin@example.com", password=password
        )
        assert user.role == "admin"


def test_create_admin_rejects_a_malformed_email_and_changes_nothing(
    db_url, engine, tmp_path
) -> None:
    result = run_cli(db_url, tmp_path, "create-admin", "not-an-email")
    assert result.returncode == 1
    assert "valid email address" in result.stderr
    with session_scope(engine) as session:
        assert session.exec(select(User)).all() == []


def test_ledger_check_passes_on_demo_data_and_fails_readably_on_broken_data(
    db_url, engine, tmp_path
) -> None:
    assert run_cli(db_url, tmp_path, "seed-demo").returncode == 0
    healthy = run_cli(db_url, tmp_path, "ledger", "check")
    assert healthy.returncode == 0, healthy.stderr
    assert "consistent" in healthy.stdout

    member = create_member(engine, email="broken@example.com", credits_granted=10)
    with session_scope(engine) as session:
        session.exec(text(f"UPDATE credit_accounts SET available = 3 WHERE user_id = {member.id}"))
    broken = run_cli(db_url, tmp_path, "ledger", "check")
    assert broken.returncode == 1
    assert f"member {member.id} (broken@example.com): available balance is 3" in broken.stderr
    assert "member@example.com" not in broken.stderr  # healthy members are not reported


def test_ledger_check_and_reconcile_record_their_results_for_the_admin_overview(
    db_url, engine, tmp_path, stripe_standin
) -> None:
    from dashboard_app.models import OperatorCheck
    from tests.support.stripe import SECRET_KEY

    member = create_member(engine, credits_granted=10)
    assert run_cli(db_url, tmp_path, "ledger", "check").returncode == 0
    with session_scope(engine) as session:
        session.exec(text(f"UPDATE credit_accounts SET available = 4 WHERE user_id = {member.id}"))
    assert run_cli(db_url, tmp_path, "ledger", "check").returncode == 1
    stripe_env = {"STRIPE_SECRET_KEY": SECRET_KEY, "STRIPE_API_BASE": stripe_standin.url}
    env = {**os.environ, "DATABASE_URL": db_url, "DATA_DIR": str(tmp_path), **stripe_env}
    reconciled = subprocess.run(
        [sys.executable, "-m", "dashboard_app", "stripe", "reconcile", "--since", "2026-01-01"],
        cwd=PROJECT_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    # The stand-in is shared by the whole run: sessions of other tests' databases may be
    # reported as not ours (exit 1). Either way the run is recorded as it ended.
    assert reconciled.returncode in (0, 1), reconciled.stderr
    with session_scope(engine) as session:
        runs = session.exec(select(OperatorCheck).order_by(OperatorCheck.id)).all()
        assert [(r.kind, r.ok, r.source) for r in runs] == [
            ("ledger_check", True, "cli"),
            ("ledger_check", False, "cli"),
            ("reconcile", reconciled.returncode == 0, "cli"),
        ]
        assert "available balance is 4" in runs[1].details[0]
        assert runs[2].summary.startswith("Since 2026-01-01")
        problems = [line for line in runs[2].details if line.startswith("could not repair")]
        assert len(problems) == reconciled.stderr.count("could not repair")


def test_ledger_expire_moves_due_credits_out(db_url, engine, tmp_path) -> None:
    member = create_member(engine)
    granted_at = utcnow() - timedelta(hours=2)
    with session_scope(engine) as session:
        credits.grant_credits(
            session=session,
            user_id=member.id,
            amount=9,
            idempotency_key="promo",
            expires_at=granted_at + timedelta(hours=1),
            now=granted_at,
        )
    result = run_cli(db_url, tmp_path, "ledger", "expire")
    assert result.returncode == 0, result.stderr
    assert "Expired 9 credits across 1 member(s)." in result.stdout
    with session_scope(engine) as session:
        assert credits.get_balances(session=session, user_id=member.id).available == 0


def test_suspend_ends_sessions_and_reinstate_lifts_it(db_url, engine, tmp_path) -> None:
    from datetime import timedelta as td

    from dashboard_app.domain import accounts
    from dashboard_app.models import UserSession

    member = create_member(engine, email="rowdy@example.com")
    policy = accounts.SessionPolicy(secret_key="k" * 48, idle=td(hours=1), absolute=td(days=1))
    with session_scope(engine) as session:
        accounts.start_session(session=session, user=session.get(User, member.id), policy=policy)
    missing_reason = run_cli(db_url, tmp_path, "suspend", "rowdy@example.com", "--reason", " ")
    assert missing_reason.returncode == 1 and "reason" in missing_reason.stderr
    result = run_cli(db_url, tmp_path, "suspend", "rowdy@example.com", "--reason", "Chargebacks")
    assert result.returncode == 0, result.stderr
    with session_scope(engine) as session:
        assert session.get(User, member.id).status == "suspended"
        live = session.exec(select(UserSession).where(UserSession.revoked_at.is_(None))).all()
        assert live == []
    assert run_cli(db_url, tmp_path, "reinstate", "rowdy@example.com").returncode == 0
    with session_scope(engine) as session:
        assert session.get(User, member.id).status == "active"
    unknown = run_cli(db_url, tmp_path, "suspend", "ghost@example.com", "--reason", "x")
    assert unknown.returncode == 1 and "No member has the email" in unknown.stderr


def test_schedules_run_starts_a_job_on_demand_and_records_it(db_url, engine, tmp_path) -> None:
    from dashboard_app.models import ScheduledRun

    member = create_member(engine)
    granted_at = utcnow() - timedelta(hours=2)
    with session_scope(engine) as session:
        credits.grant_credits(
            session=session,
            user_id=member.id,
            amount=4,
            idempotency_key="promo",
            expires_at=granted_at + timedelta(hours=1),
            now=granted_at,
        )
    result = run_cli(db_url, tmp_path, "schedules", "run", "ledger_expiry")
    assert result.returncode == 0, result.stderr
    assert "Credit expiry succeeded" in result.stdout
    assert '"credits_expired": 4' in result.stdout
    with session_scope(engine) as session:
        assert credits.get_balances(session=session, user_id=member.id).available == 0
        run = session.exec(select(ScheduledRun)).one()
        assert (run.job, run.source, run.outcome) == ("ledger_expiry", "cli", "succeeded")

    listed = run_cli(db_url, tmp_path, "schedules", "list")
    assert listed.returncode == 0, listed.stderr
    assert re.search(r"ledger_expiry\s+5 \* \* \* \*\s+succeeded", listed.stdout)
    assert re.search(r"retention\s+45 4 \* \* \*\s+never run", listed.stdout)

    unknown = run_cli(db_url, tmp_path, "schedules", "run", "holdings")
    assert unknown.returncode != 0
    assert "No scheduled job is called holdings" in unknown.stderr

    failed = run_cli(db_url, tmp_path, "schedules", "run", "stripe_reconcile")
    assert failed.returncode == 1
    assert "Stripe is not configured" in failed.stderr


def test_link_api_subject_links_a_token_subject_to_a_member_by_email(
    db_url, engine, tmp_path
) -> None:
    from dashboard_app.domain import api_access, audit

    member = create_member(engine)
    issuer = "https://partner-id.example"
    # The configured issuer is the default; the operator names another with --issuer.
    env = {"API_JWT_ISSUER": issuer, "API_JWT_AUDIENCE": "api", "API_JWT_SECRET": "k" * 32}
    result = run_cli(
        db_url, tmp_path, "link-api-subject", member.email, "partner-42", extra_env=env
    )
    other_issuer = run_cli(
        db_url, tmp_path, "link-api-subject", member.email, "p-2", "--issuer", "https://x.example"
    )
    unknown = run_cli(
        db_url, tmp_path, "link-api-subject", "nobody@example.com", "p-3", extra_env=env
    )
    assert result.returncode == 0, result.stderr
    assert f"partner-42 at {issuer} now speaks for {member.email}" in result.stdout
    assert other_issuer.returncode == 0, other_issuer.stderr
    assert unknown.returncode == 1
    assert "No member has the email nobody@example.com" in unknown.stderr
    with session_scope(engine) as session:
        assert api_access.member_for_subject(session, issuer, "partner-42") == member.id
        assert api_access.member_for_subject(session, "https://x.example", "p-2") == member.id
        actions = [e.action for e in audit.audit_trail(session=session, subject_user_id=member.id)]
    assert actions.count("user.api_subject_linked") == 2


def test_link_api_subject_needs_an_issuer(db_url, engine, tmp_path) -> None:
    member = create_member(engine)
    result = run_cli(db_url, tmp_path, "link-api-subject", member.email, "partner-42")
    assert result.returncode == 1
    assert "--issuer" in result.stderr
