"""Domain errors of the entitlements engine, each with a stable ``code``.

The gateway maps ``code`` to an RFC 9457 problem (one mapping point); the engine never
decides HTTP status codes itself.
"""

from __future__ import annotations

from collections.abc import Sequence


class EntitlementsError(Exception):
    """Base of every error the engine raises on purpose; ``code`` is stable."""

    code: str = "invalid_request"

    def __init__(self, message: str, *, code: str | None = None) -> None:
        super().__init__(message)
        if code is not None:
            self.code = code

    @property
    def message(self) -> str:
        """The human-readable detail."""
        return str(self.args[0]) if self.args else ""

    def details(self) -> dict[str, str]:
        """Extra machine-readable fields for the problem document (none by default)."""
        return {}


class PolicyError(EntitlementsError):
    """A policy file (or provincial override) is invalid; names the file and the key."""

    code = "invalid_policy"

    def __init__(self, file: str, key: str, problem: str) -> None:
        where = f"{file}: {key}" if key else file
        super().__init__(f"{where}: {problem}")
        self.file = file
        self.key = key
        self.problem = problem

    @property
    def errors(self) -> tuple[PolicyError, ...]:
        """Every fault found (this one alone; ``PolicyErrors`` holds several)."""
        return (self,)


class PolicyErrors(PolicyError):
    """Several faults of one policy document, each a ``PolicyError`` with its file and key path.

    It is the first fault as far as ``file``, ``key`` and ``problem`` go, so a caller that
    reports one fault still reports a true one; ``errors`` lists them all in reading order.
    """

    def __init__(self, errors: Sequence[PolicyError]) -> None:
        flat = tuple(fault for error in errors for fault in error.errors)
        if not flat:
            raise ValueError("PolicyErrors needs at least one fault")
        first = flat[0]
        super().__init__(first.file, first.key, first.problem)
        if len(flat) > 1:
            self.args = (f"{len(flat)} faults: " + "; ".join(fault.message for fault in flat),)
        self._faults = flat

    @property
    def errors(self) -> tuple[PolicyError, ...]:
        """Every fault, in reading order."""
        return self._faults


class EvaluationError(EntitlementsError):
    """The inputs of an evaluation are inconsistent (wrong scheme, month, policy dates)."""

    code = "invalid_request"


class WorkOrderError(EntitlementsError):
    """An illegal work-order event (``invalid_transition``, ``invalid_request``, ``forbidden``)."""

    code = "invalid_transition"

    def __init__(
        self, message: str, *, code: str = "invalid_transition", status: str = "", event: str = ""
    ) -> None:
        super().__init__(message, code=code)
        self.status = status
        self.event = event

    def details(self) -> dict[str, str]:
        """The order's status and the refused event."""
        return {"order_status": self.status, "event": self.event}


class InvalidAmount(EntitlementsError, ValueError):
    """An amount that is not a positive whole number of fen where one is required."""

    code = "invalid_request"
