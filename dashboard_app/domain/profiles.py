"""The member's own profile: validated edits, a private avatar, their data, and deletion."""

from __future__ import annotations

import io
import re
import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from PIL import Image, UnidentifiedImageError
from sqlmodel import Session, col, delete, select

from dashboard_app.domain import accounts, api_keys, audit, erasure
from dashboard_app.domain.audit import record_audit
from dashboard_app.domain.catalog import get_catalog
from dashboard_app.domain.errors import DomainError, InvalidInput
from dashboard_app.models import (
    AuthToken,
    CreditEntry,
    OAuthIdentity,
    Order,
    Profile,
    User,
    UserSession,
)
from dashboard_app.models.base import utcnow
from dashboard_app.models.users import THEMES

WALLET_PATTERN = re.compile(r"^0x[0-9a-fA-F]{40}$")
COUNTRY_PATTERN = re.compile(r"^[A-Z]{2}$")
POSTAL_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9 \-]{1,18}[A-Za-z0-9]$")
MAX_AVATAR_BYTES = 2 * 1024 * 1024
MAX_AVATAR_PIXELS = 4096 * 4096
AVATAR_FORMATS = {"PNG", "JPEG", "WEBP"}
AVATAR_SIZE = 256
TEXT_LIMITS = {
    "display_name": 80,
    "address_line1": 200,
    "address_line2": 200,
    "address_city": 100,
}
ERASED_PROFILE_FIELDS = (
    *TEXT_LIMITS,
    "address_postal_code",
    "address_country",
    "wallet_address",
    "default_platform",
)


class ProfileInvalid(DomainError):
    """One message per field that is wrong; nothing was saved."""

    def __init__(self, errors: dict[str, str]) -> None:
        super().__init__("Some fields need attention: " + ", ".join(errors))
        self.errors = errors


@dataclass(frozen=True)
class ProfileChanges:
    display_name: str
    address_line1: str
    address_line2: str
    address_city: str
    address_postal_code: str
    address_country: str
    wallet_address: str
    theme: str
    default_platform: str
    email_notifications: bool


def _clean(changes: ProfileChanges) -> tuple[dict[str, Any], dict[str, str]]:
    values: dict[str, Any] = {}
    errors: dict[str, str] = {}
    for name, limit in TEXT_LIMITS.items():
        value = str(getattr(changes, name) or "").strip()
        if len(value) > limit:
            errors[name] = f"Use at most {limit} characters"
        elif any(ord(ch) < 32 for ch in value):
            errors[name] = "Remove the control characters"
        values[name] = value
    postal = str(changes.address_postal_code or "").strip()
    if postal and not POSTAL_PATTERN.match(postal):
        errors["address_postal_code"] = "Use 3 to 20 letters, digits, spaces or dashes"
    values["address_postal_code"] = postal
    country = str(changes.address_country or "").strip().upper()
    if country and not COUNTRY_PATTERN.match(country):
        errors["address_country"] = "Use the two-letter country code, like FR or US"
    values["address_country"] = country
    wallet = str(changes.wallet_address or "").strip()
    if wallet and not WALLET_PATTERN.match(wallet):
        errors["wallet_address"] = "Use an address of 0x followed by 40 hexadecimal characters"
    values["wallet_address"] = wallet
    if changes.theme not in THEMES:
        errors["theme"] = "Choose system, light or dark"
    values["theme"] = changes.theme
    # The catalog names the platforms, for the profile as for Create; "" is no default.
    if changes.default_platform != "" and changes.default_platform not in get_catalog().platforms:
        errors["default_platform"] = "Choose one of the listed platforms"
    values["default_platform"] = changes.default_platform
    if not isinstance(changes.email_notifications, bool):
        errors["email_notifications"] = "Choose on or off"
    values["email_notifications"] = bool(changes.email_notifications)
    return values, errors


def get_profile(*, session: Session, user_id: int) -> Profile:
    profile = session.get(Profile, user_id)
    if profile is None:
        profile = Profile(user_id=user_id)
        session.add(profile)
        session.flush()
    return profile


def update_profile(
    *, session: Session, user: User, changes: ProfileChanges, ip_address: str = ""
) -> Profile:
    """Save every field or none; the audit log keeps what changed, before and after."""
    values, errors = _clean(changes)
    if errors:
        raise ProfileInvalid(errors)
    assert user.id is not None
    profile = get_profile(session=session, user_id=user.id)
    before = {k: getattr(profile, k) for k, v in values.items() if getattr(profile, k) != v}
    if not before:
        return profile
    for name, value in values.items():
        setattr(profile, name, value)
    profile.updated_at = utcnow()
    session.add(profile)
    record_audit(
        session=session,
        action="profile.updated",
        actor_user_id=user.id,
        subject_user_id=user.id,
        before=before,
        after={k: values[k] for k in before},
        ip_address=ip_address,
    )
    session.flush()
    return profile


def _avatar_dir(storage: Path) -> Path:
    return storage / "avatars"


def set_avatar(*, session: Session, user: User, data: bytes, storage: Path) -> Profile:
    """Check an uploaded image (PNG, JPEG or WebP, at most 2 MB) and keep a clean 256-pixel
    WebP copy, without its metadata, in private storage."""
    if len(data) > MAX_AVATAR_BYTES:
        raise InvalidInput("Choose an image of at most 2 MB", field="avatar")
    try:
        with Image.open(io.BytesIO(data)) as probe:
            if probe.format not in AVATAR_FORMATS:
                raise InvalidInput("Choose a PNG, JPEG or WebP image", field="avatar")
            if probe.width * probe.height > MAX_AVATAR_PIXELS:
                raise InvalidInput("Choose an image of at most 4096 by 4096 pixels", field="avatar")
            probe.verify()
        with Image.open(io.BytesIO(data)) as image:
            image = image.convert("RGBA" if "A" in image.getbands() else "RGB")
            image.thumbnail((AVATAR_SIZE, AVATAR_SIZE))
            output = io.BytesIO()
            image.save(output, format="WEBP", quality=85)
    except (UnidentifiedImageError, OSError, Image.DecompressionBombError, SyntaxError):
        raise InvalidInput("That file is not an image we can read", field="avatar") from None
    assert user.id is not None
    folder = _avatar_dir(storage)
    folder.mkdir(parents=True, exist_ok=True)
    name = f"{user.id}-{secrets.token_hex(8)}.webp"
    (folder / name).write_bytes(output.getvalue())
    profile = get_profile(session=session, user_id=user.id)
    old = profile.avatar_path
    profile.avatar_path = name
    profile.updated_at = utcnow()
    session.add(profile)
    record_audit(
        session=session,
        action="profile.avatar_changed",
        actor_user_id=user.id,
        subject_user_id=user.id,
        before={"avatar": old},
        after={"avatar": name},
    )
    session.flush()
    if old:
        (folder / old).unlink(missing_ok=True)
    return profile


def avatar_file(*, session: Session, owner_id: int, storage: Path) -> Path | None:
    profile = session.get(Profile, owner_id)
    if profile is None or not profile.avatar_path:
        return None
    path = _avatar_dir(storage) / Path(profile.avatar_path).name
    return path if path.is_file() else None


def export_member_data(*, session: Session, user: User) -> dict[str, Any]:
    """Everything the product keeps about the member, as JSON-ready data (no secrets)."""
    assert user.id is not None
    profile = get_profile(session=session, user_id=user.id)

    def rows(model, *where, order) -> list[dict[str, Any]]:  # type: ignore[no-untyped-def]
        return [
            row.model_dump(mode="json", exclude={"token_hash", "password_hash"})
            for row in session.exec(select(model).where(*where).order_by(order))
        ]

    return {
        "account": user.model_dump(mode="json", exclude={"password_hash"}),
        "profile": profile.model_dump(mode="json"),
        "sign_in_identities": rows(
            OAuthIdentity, OAuthIdentity.user_id == user.id, order=OAuthIdentity.id
        ),
        "sessions": rows(UserSession, UserSession.user_id == user.id, order=UserSession.id),
        "credit_history": rows(CreditEntry, CreditEntry.user_id == user.id, order=CreditEntry.id),
        "orders": rows(Order, Order.user_id == user.id, order=Order.id),
        "exported_at": utcnow().isoformat(),
    }


def delete_account(
    *, session: Session, user: User, password: str, storage: Path, ip_address: str = ""
) -> set[str]:
    """Soft delete: personal data erased everywhere (profile, sign-in identities, pending links,
    the audit log's sealed values, Stripe events), sessions ended, sign-in impossible; the
    credit ledger and orders stay for the books. Returns the email addresses the member used,
    for the caller to erase from outside the database (mail written to the outbox)."""
    if user.password_hash and not accounts.verify_password(password, user.password_hash):
        raise InvalidInput("Your password is not right", field="password")
    if not user.password_hash and password.strip() != "DELETE":
        raise InvalidInput("Type DELETE to confirm", field="password")
    assert user.id is not None
    now = utcnow()
    profile = get_profile(session=session, user_id=user.id)
    # Read before anything is erased: every value the member gave us, past emails included.
    remembered = audit.personal_values(session=session, subject_user_id=user.id)
    remembered |= {
        getattr(profile, name) for name in ERASED_PROFILE_FIELDS if name in audit.PERSONAL_FIELDS
    }
    remembered |= {user.email}
    remembered |= set(
        session.exec(select(OAuthIdentity.email).where(OAuthIdentity.user_id == user.id))
    )
    remembered |= {
        email
        for email in session.exec(select(AuthToken.new_email).where(AuthToken.user_id == user.id))
        if email
    }
    remembered = {value for value in remembered if value}
    avatar = profile.avatar_path
    for name in ERASED_PROFILE_FIELDS:
        setattr(profile, name, "")
    profile.avatar_path = None
    profile.updated_at = now
    session.add(profile)
    user.email = f"deleted-{user.id}@deleted.invalid"
    user.password_hash = None
    # stripe_customer_id stays: refunds and disputes of past payments can still arrive.
    user.deleted_at = now
    user.updated_at = now
    session.add(user)
    session.exec(delete(OAuthIdentity).where(col(OAuthIdentity.user_id) == user.id))
    session.exec(delete(AuthToken).where(col(AuthToken.user_id) == user.id))
    accounts.end_sessions(session=session, user_id=user.id, reason="account_deleted")
    api_keys.revoke_all(session=session, user_id=user.id)
    erasure.redact_stripe_events(
        session=session,
        stripe_customer_id=user.stripe_customer_id,
        personal_values=remembered,
    )
    record_audit(
        session=session,
        action="user.deleted",
        actor_user_id=user.id,
        subject_user_id=user.id,
        ip_address=ip_address,
    )
    audit.forget_member(session=session, user_id=user.id)
    session.flush()
    if avatar:
        (_avatar_dir(storage) / Path(avatar).name).unlink(missing_ok=True)
    return {value for value in remembered if "@" in value}
