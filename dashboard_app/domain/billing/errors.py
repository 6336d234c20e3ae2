"""Billing's refusals, and the one place that turns the Stripe adapter's errors into them."""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import ParamSpec, TypeVar

from dashboard_app.domain.errors import DomainError, NotFound
from dashboard_app.integrations.stripe_gateway import (
    StripeGateway,
    StripeNotConfigured,
    StripeNotFound,
    StripeRefused,
    StripeUnavailable,
    gateway_from_settings,
    get_gateway,
)
from dashboard_app.settings import Settings

log = logging.getLogger(__name__)

P = ParamSpec("P")
R = TypeVar("R")


class PaymentsNotConfigured(DomainError):
    def __init__(self) -> None:
        super().__init__(
            "Payments are not configured on this server. Set STRIPE_SECRET_KEY and "
            "STRIPE_WEBHOOK_SECRET (see the README's Stripe section)."
        )


class PaymentsUnavailable(DomainError):
    """Stripe refused or could not be reached; the message is safe to show a member."""


UNREACHABLE = "Stripe could not be reached just now; nothing was charged. Try again shortly."


@contextmanager
def stripe_errors() -> Iterator[None]:
    """Inside: the adapter's errors come out as DomainErrors with a member's message (the
    adapter's own text goes to the log)."""
    try:
        yield
    except StripeNotConfigured as error:
        raise PaymentsNotConfigured() from error
    except StripeNotFound as error:
        log.info("Stripe has no such object: %s", error)
        raise NotFound("Stripe has no record of that payment") from error
    except StripeRefused as error:
        log.warning("Stripe refused a request: %s", error)
        raise PaymentsUnavailable(
            f"Stripe refused the request: {error.user_message or 'try again shortly'}"
        ) from error
    except StripeUnavailable as error:
        log.warning("Stripe could not be reached: %s", error)
        raise PaymentsUnavailable(UNREACHABLE) from error


def translates_stripe_errors(function: Callable[P, R]) -> Callable[P, R]:
    """For the billing functions that call Stripe: see `stripe_errors`."""

    @functools.wraps(function)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        with stripe_errors():
            return function(*args, **kwargs)

    return wrapper


def require_gateway(settings: Settings | None = None) -> StripeGateway:
    """The Stripe gateway of this server (or of `settings`), or PaymentsNotConfigured."""
    gateway = get_gateway() if settings is None else gateway_from_settings(settings)
    if gateway is None:
        raise PaymentsNotConfigured()
    return gateway
