"""Which member an API bearer token speaks for: a verified token's (issuer, subject) is a linked
sign-in identity (`OAuthIdentity`), the same link single sign-on makes, or one an operator made
for an identity service that is not the sign-in provider. Callers pass the session and commit."""

from __future__ import annotations

from sqlmodel import Session, select

from dashboard_app.domain.accounts import find_user_by_email
from dashboard_app.domain.audit import record_audit
from dashboard_app.domain.errors import InvalidInput, NotFound
from dashboard_app.models import OAuthIdentity, User

_MAX_IDENTITY_CHARS = 255  # OAuthIdentity.provider and .subject


def member_for_subject(session: Session, issuer: str, subject: str) -> int | None:
    """The active member linked to (issuer, subject); None for no one, a suspended or a deleted
    member."""
    return session.exec(
        select(User.id)
        .join(OAuthIdentity, OAuthIdentity.user_id == User.id)
        .where(
            OAuthIdentity.provider == issuer,
            OAuthIdentity.subject == subject,
            User.status == "active",
            User.deleted_at.is_(None),  # type: ignore[union-attr]
        )
    ).first()


def link_subject(
    *,
    session: Session,
    issuer: str,
    subject: str,
    email: str,
    actor_user_id: int | None = None,
) -> OAuthIdentity:
    """Link the identity service's subject to the member with this email (audited). Linking it
    again to the same member changes nothing; a subject already linked elsewhere is refused."""
    issuer, subject = (issuer or "").strip(), (subject or "").strip()
    for name, value in (("issuer", issuer), ("subject", subject)):
        if not value or len(value) > _MAX_IDENTITY_CHARS:
            raise InvalidInput(
                f"Give the token {name} (1 to {_MAX_IDENTITY_CHARS} characters)", field=name
            )
    user = find_user_by_email(session=session, email=email)
    if user is None or user.deleted_at is not None:
        raise NotFound(f"No member has the email {(email or '').strip().lower()}", field="email")
    assert user.id is not None
    existing = session.exec(
        select(OAuthIdentity).where(
            OAuthIdentity.provider == issuer, OAuthIdentity.subject == subject
        )
    ).first()
    if existing is not None:
        if existing.user_id != user.id:
            raise InvalidInput(
                "That subject is linked to another member already; it speaks for one member",
                field="subject",
            )
        return existing
    identity = OAuthIdentity(user_id=user.id, provider=issuer, subject=subject)
    session.add(identity)
    session.flush()
    record_audit(
        session=session,
        action="user.api_subject_linked",
        actor_user_id=actor_user_id,
        subject_user_id=user.id,
        after={"provider": issuer, "subject": subject},
    )
    return identity
