"""Deleting an account erases the member's personal data from every table, the append-only audit
log included, while admins can still read the audit trail of living members."""

from __future__ import annotations

import json
import uuid
from datetime import timedelta

from sqlalchemy import select as sa_select
from sqlmodel import SQLModel, select

import dashboard_app.models  # noqa: F401 - every table registered in SQLModel.metadata
from alembic import command
from dashboard_app.db import build_engine, session_scope
from dashboard_app.domain import accounts, audit, links, profiles
from dashboard_app.domain.sign_in_limits import SignInLimits, begin_sign_in, finish_sign_in
from dashboard_app.domain.stripe_events import record_event
from dashboard_app.models import AuditEntry, User
from dashboard_app.models.base import utcnow
from tests.factories import DEFAULT_PASSWORD, create_member
from tests.support.databases import alembic_config, revision_before

POLICY = accounts.SessionPolicy(
    secret_key="e" * 48, idle=timedelta(hours=1), absolute=timedelta(days=1)
)
LIMITS = SignInLimits(delay_base_seconds=0, lock_after=3)


def leftovers(engine, values: list[str]) -> list[str]:
    """Every table.column (of every table the models declare) that still holds one of
    `values`, compared case-insensitively on the column's text or JSON."""
    found = []
    with engine.connect() as connection:
        for table in SQLModel.metadata.sorted_tables:
            for row in connection.execute(sa_select(table)):
                for column, value in zip(table.columns, row, strict=True):
                    if value is None:
                        continue
                    text = (
                        json.dumps(value, ensure_ascii=False)
                        if isinstance(value, dict | list)
                        else str(value)
                    ).lower()
                    found += [
                        f"{table.name}.{column.name} holds {wanted!r}"
                        for wanted in values
                        if wanted.lower() in text
                    ]
    return found


def changes(**overrides) -> profiles.ProfileChanges:
    values = dict(
        display_name="",
        address_line1="",
        address_line2="",
        address_city="",
        address_postal_code="",
        address_country="",
        wallet_address="",
        theme="system",
        default_platform="",
        email_notifications=True,
    )
    values.update(overrides)
    return profiles.ProfileChanges(**values)


def checkout_event(customer: str, email: str, name: str, line1: str) -> dict:
    return {
        "id": f"evt_{uuid.uuid4().hex}",
        "object": "event",
        "type": "checkout.session.completed",
        "data": {
            "object": {
                "id": f"cs_{uuid.uuid4().hex}",
                "object": "checkout.session",
                "customer": customer,
                "customer_email": email,
                "customer_details": {
                    "email": email,
                    "name": name,
                    "address": {"line1": line1, "city": "Paris", "country": "FR"},
                },
                "metadata": {"product": "starter"},
            }
        },
    }


def build_a_life(engine, tag: str) -> tuple[int, list[str]]:
    """A member who signed up, filled in a profile, changed email, linked single sign-on,
    failed to sign in, asked for mail and paid through Stripe; returns (id, personal values)."""
    first_email = f"first-{tag}@example.com"
    second_email = f"second-{tag}@example.com"
    pending_email = f"pending-{tag}@example.com"
    name = f"Zelda Quixote {tag}"
    line1, line2 = f"742 Evergreen Terrace {tag}", f"Apartment {tag}"
    city, postal = f"Springfield{tag}", "X1Y 2Z3"
    wallet = "0x" + uuid.uuid4().hex + uuid.uuid4().hex[:8]
    customer = f"cus_{tag}"
    member = create_member(engine, email=first_email, display_name=name)
    with session_scope(engine) as session:
        user = session.get(User, member.id)
        profiles.update_profile(
            session=session,
            user=user,
            changes=changes(
                display_name=name,
                address_line1=line1,
                address_line2=line2,
                address_city=city,
                address_postal_code=postal,
                address_country="FR",
                wallet_address=wallet,
            ),
        )
        _, raw = links.request_email_change(
            session=session, user=user, new_email=second_email, policy=POLICY
        )
    with session_scope(engine) as session:
        links.confirm_email_change(session=session, raw=raw, policy=POLICY)
    with session_scope(engine) as session:
        user = session.get(User, member.id)
        links.request_email_change(
            session=session, user=user, new_email=pending_email, policy=POLICY
        )
        links.request_password_reset(session=session, email=second_email, policy=POLICY)
        accounts.sign_in_with_sso(
            session=session,
            issuer="https://idp.example",
            subject=f"sub-{tag}",
            email=second_email,
            email_verified=True,
        )
        for _ in range(LIMITS.lock_after):
            ticket = begin_sign_in(
                session=session,
                email=second_email,
                ip_address="192.0.2.1",
                limits=LIMITS,
                secret=POLICY.secret_key,
            )
            finish_sign_in(
                session=session,
                ticket=ticket,
                password_matched=False,
                limits=LIMITS,
                user_id=member.id,
            )
        user.stripe_customer_id = customer
        session.add(user)
        record_event(session=session, event=checkout_event(customer, second_email, name, line1))
    return member.id, [first_email, second_email, pending_email, name, line1, line2, city, wallet]


def test_after_deletion_no_table_holds_the_members_personal_data(engine, tmp_path) -> None:
    gone_id, gone_values = build_a_life(engine, "gone")
    kept_id, kept_values = build_a_life(engine, "kept")
    # Before deletion the data is there (so the scan below can find it), for both members.
    assert leftovers(engine, gone_values) and leftovers(engine, kept_values)

    with session_scope(engine) as session:
        profiles.delete_account(
            session=session,
            user=session.get(User, gone_id),
            password=DEFAULT_PASSWORD,
            storage=tmp_path,
        )

    assert leftovers(engine, gone_values) == []
    # The other member's data is untouched, their Stripe event included.
    still_there = leftovers(engine, kept_values)
    assert any(place.startswith("stripe_events.payload") for place in still_there)
    assert any(place.startswith("profiles.") for place in still_there)
    # The audit trail keeps its shape: the same entries, the same fields, no values.
    with session_scope(engine) as session:
        trail = audit.audit_trail(session=session, subject_user_id=gone_id)
    email_change = next(entry for entry in trail if entry.action == "user.email_changed")
    assert email_change.before == {"email": audit.ERASED}
    assert email_change.after == {"email": audit.ERASED}
    assert {entry.action for entry in trail} >= {
        "user.created",
        "profile.updated",
        "user.email_changed",
        "user.sso_linked",
        "sign_in.failure_burst",
        "user.deleted",
    }


def test_the_audit_log_stores_personal_values_sealed_and_admins_read_them(engine) -> None:
    member = create_member(engine, display_name="Before Name")
    with session_scope(engine) as session:
        profiles.update_profile(
            session=session,
            user=session.get(User, member.id),
            changes=changes(display_name="After Name", wallet_address="0x" + "ab" * 20),
        )
        accounts.set_role(
            session=session, user=session.get(User, member.id), role="admin", actor_user_id=None
        )
    with session_scope(engine) as session:
        stored = session.exec(
            select(AuditEntry).where(AuditEntry.action == "profile.updated")
        ).one()
        # In the table: the same fields, but no readable value.
        assert set(stored.before) == {"display_name", "wallet_address"}
        assert set(stored.after) == {"display_name", "wallet_address"}
        assert "Name" not in json.dumps([stored.before, stored.after])
        assert "ab" * 20 not in json.dumps(stored.after)
        trail = audit.audit_trail(session=session, subject_user_id=member.id)
    update = next(entry for entry in trail if entry.action == "profile.updated")
    assert update.before == {"display_name": "Before Name", "wallet_address": ""}
    assert update.after == {"display_name": "After Name", "wallet_address": "0x" + "ab" * 20}
    created = next(entry for entry in trail if entry.action == "user.created")
    assert created.after == {"email": member.email, "role": "member"}
    # Values that are not personal are stored as they are.
    role = next(entry for entry in trail if entry.action == "user.role_changed")
    assert (role.before, role.after) == ({"role": "member"}, {"role": "admin"})


def test_the_migration_seals_the_values_already_logged_and_downgrade_opens_them(
    databases,
) -> None:
    url = databases.empty()
    engine = build_engine(url)
    try:
        command.upgrade(alembic_config(url), revision_before("0007"))
        with session_scope(engine) as session:
            living = User(email="living@example.com")
            deleted = User(email="deleted-9@deleted.invalid", deleted_at=utcnow())
            session.add_all([living, deleted])
            session.flush()
            session.add_all(
                [
                    AuditEntry(
                        action="profile.updated",
                        subject_user_id=living.id,
                        before={"display_name": "Old Name"},
                        after={"display_name": "New Name", "theme": "dark"},
                    ),
                    AuditEntry(
                        action="user.created",
                        subject_user_id=deleted.id,
                        after={"email": "gone@example.com", "role": "member"},
                    ),
                    AuditEntry(
                        action="sign_in.failure_burst",
                        after={"email": "someone@example.com", "failures": 10},
                    ),
                ]
            )
        command.upgrade(alembic_config(url), "head")
        assert leftovers(engine, ["Old Name", "New Name", "gone@", "someone@"]) == []
        with session_scope(engine) as session:
            (update,) = audit.audit_trail(session=session, subject_user_id=living.id)
            (created,) = audit.audit_trail(session=session, subject_user_id=deleted.id)
            burst = session.exec(
                select(AuditEntry).where(AuditEntry.action == "sign_in.failure_burst")
            ).one()
        assert (update.before, update.after) == (
            {"display_name": "Old Name"},
            {"display_name": "New Name", "theme": "dark"},
        )
        assert created.after == {"email": audit.ERASED, "role": "member"}
        assert burst.after == {"email": audit.NOT_KEPT, "failures": 10}

        command.downgrade(alembic_config(url), revision_before("0007"))
        with session_scope(engine) as session:
            opened = session.exec(
                select(AuditEntry).where(AuditEntry.action == "profile.updated")
            ).one()
        assert (opened.before, opened.after) == (
            {"display_name": "Old Name"},
            {"display_name": "New Name", "theme": "dark"},
        )
    finally:
        engine.dispose()
        databases.drop(url)
