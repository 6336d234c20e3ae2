"""Every SQLModel table of the product, imported here so `SQLModel.metadata` knows them all."""

from dashboard_app.models.admin import OperatorCheck
from dashboard_app.models.api_keys import ApiKey
from dashboard_app.models.audit import AuditEntry, MemberKey
from dashboard_app.models.billing import Installation, Order, StripeEvent
from dashboard_app.models.credits import (
    CreditAccount,
    CreditEntry,
    CreditFreeze,
    CreditLot,
    CreditReservation,
)
from dashboard_app.models.holdings import Holding, HoldingsSync
from dashboard_app.models.jobs import Asset, AssetTag, Draft, Generation, Variant
from dashboard_app.models.limits import RateLimitHit
from dashboard_app.models.plans import Boost, Plan, Subscription, UsageEntry
from dashboard_app.models.schedules import ScheduledRun
from dashboard_app.models.users import (
    AuthToken,
    OAuthIdentity,
    Profile,
    SignInAttempt,
    User,
    UserSession,
)

__all__ = [
    "ApiKey",
    "Asset",
    "AssetTag",
    "AuditEntry",
    "AuthToken",
    "Boost",
    "CreditAccount",
    "CreditEntry",
    "CreditFreeze",
    "CreditLot",
    "CreditReservation",
    "Draft",
    "Generation",
    "Holding",
    "HoldingsSync",
    "Installation",
    "MemberKey",
    "OAuthIdentity",
    "OperatorCheck",
    "Order",
    "Plan",
    "Profile",
    "RateLimitHit",
    "ScheduledRun",
    "SignInAttempt",
    "StripeEvent",
    "Subscription",
    "UsageEntry",
    "User",
    "UserSession",
    "Variant",
]
