"""Domain errors of the services: a stable ``code`` (SPEC §6), a human ``detail`` and the
extra machine-readable fields of the problem document.

They extend the engine's `EntitlementsError`, so one branch of the HTTP middleware maps
both to problem+json; the status of each code is decided there and only there
(`gateway.http.problems.status_of`). Services never name an HTTP status.
"""

from __future__ import annotations

from typing import Any

from entitlements.errors import EntitlementsError


class ServiceError(EntitlementsError):
    """A request a service refuses: its stable code, the detail and extra problem fields."""

    def __init__(self, code: str, detail: str, **extra: Any) -> None:
        super().__init__(detail, code=code)
        self.extra = extra

    @property
    def detail(self) -> str:
        """The human-readable detail (the engine's `message`)."""
        return self.message

    def details(self) -> dict[str, Any]:
        """The extra fields of the problem document (e.g. `field`, `rules`)."""
        return dict(self.extra)


class Conflict(ServiceError):
    """The request conflicts with an earlier one that used the same key: an Idempotency-Key
    or a credit ref sent again with a different body (SPEC §6: 409 ``invalid_request``)."""

    def __init__(self, detail: str, **extra: Any) -> None:
        super().__init__("invalid_request", detail, **extra)


def unknown_subscriber() -> ServiceError:
    """The number is not one of our subscribers."""
    return ServiceError("unknown_subscriber", "the number is not one of our subscribers")


def invalid_request(detail: str, field: str | None = None) -> ServiceError:
    """A request the service cannot act on, naming the field at fault."""
    return ServiceError("invalid_request", detail, **({"field": field} if field else {}))
