"""The root of every error a member, an admin or a client can cause, with specific subclasses."""

from __future__ import annotations


class DomainError(Exception):
    """A refusal with a message a person can act on. Nothing was changed."""

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field


class InvalidInput(DomainError):
    pass


class EmailTaken(InvalidInput):
    pass


class AuthenticationFailed(DomainError):
    pass


class AccountSuspended(AuthenticationFailed):
    pass


class NotFound(DomainError):
    pass


class PermissionDenied(DomainError):
    pass


class InsufficientCredits(DomainError):
    pass
