"""Domain errors to problem+json (SPEC §6): the edge maps each code to the status it had
when the services raised ApiError themselves, with the same problem document, byte for
byte; `gateway.http.problems.status_of` is the one place that decides."""

from __future__ import annotations

import asyncpg
import orjson
import pytest

from entitlements.errors import EntitlementsError, EvaluationError, PolicyError, WorkOrderError
from gateway.http.app import create_app
from gateway.http.problems import ApiError, from_domain_error, from_exception
from gateway.services.errors import Conflict, ServiceError, invalid_request, unknown_subscriber
from gateway.services.reactivations import refusal
from gateway.settings import Settings
from tests.gateway import grants, province
from tests.gateway.grants import ClientFactory


@pytest.mark.parametrize(
    ("error", "status"),
    [
        pytest.param(unknown_subscriber(), 404, id="a number that is not ours is 404 unknown_subscriber"),
        pytest.param(
            ServiceError("not_found", "no work order 7 in your branch"),
            404,
            id="an order outside the caller's branch is 404 not_found, as if absent (W5)",
        ),
        pytest.param(
            ServiceError("forbidden", "branch HA-LY is outside your branch"),
            403,
            id="a branch outside the caller's is 403 forbidden (W5)",
        ),
        pytest.param(
            invalid_request("unknown branch 'XX'", "branch"),
            400,
            id="an unknown branch filter is 400 invalid_request naming the field",
        ),
        pytest.param(
            Conflict("this Idempotency-Key was used with a different request body; use a new key"),
            409,
            id="the same Idempotency-Key or ref with another body is 409 invalid_request",
        ),
        pytest.param(
            ServiceError("cancelled", "The number is cancelled; its status is final."),
            409,
            id="a status event on a cancelled number is 409 cancelled (T1.10)",
        ),
        pytest.param(
            refusal("monthly_limit", ("R3",)), 409, id="a reactivation refusal is 409 with its code (R3)"
        ),
        pytest.param(
            refusal("identity_not_verified", ("R9",), ("x", "y"), remaining_attempts=2, locked_until=None),
            409,
            id="a failed verification is 409 with the attempts left (R9)",
        ),
        pytest.param(
            refusal("unknown_subscriber", ()), 404, id="a reactivation for a number not ours is 404"
        ),
        pytest.param(
            WorkOrderError("not overdue yet (W4)", code="invalid_transition", status="new", event="overdue"),
            409,
            id="an illegal work-order event is 409 invalid_transition with status and event (W4)",
        ),
        pytest.param(
            WorkOrderError("dispatch needs a county", code="invalid_request", event="dispatch"),
            400,
            id="a work-order event missing a field is 400 invalid_request (W2)",
        ),
        pytest.param(
            WorkOrderError("only an admin closes an order (W6)", code="forbidden", status="overdue"),
            403,
            id="closing an order as a branch is 403 forbidden (W6)",
        ),
        pytest.param(EvaluationError("wrong scheme"), 400, id="inconsistent evaluation inputs are 400"),
        pytest.param(PolicyError("p.toml", "key", "bad"), 500, id="an invalid policy is 500 invalid_policy"),
        pytest.param(
            EntitlementsError("not in effect", code="policy_not_in_effect"),
            409,
            id="any other engine code is a 409 refusal",
        ),
    ],
)
def test_a_domain_error_gets_the_status_and_problem_it_always_had(
    error: EntitlementsError, status: int
) -> None:
    response = from_domain_error(error)
    assert response.status == status
    assert response.content_type == "application/problem+json"
    # What the edge sent when the same error was an ApiError with this status.
    before = from_exception(ApiError(status, error.code, error.message, **error.details()))
    assert response.body == before.body
    assert isinstance(response.body, bytes)
    body = orjson.loads(response.body)
    assert (body["status"], body["code"], body["detail"]) == (status, error.code, error.message)


async def test_the_middleware_maps_a_service_error_raised_in_a_handler(
    aiohttp_client: ClientFactory, settings: Settings, conn: asyncpg.Connection
) -> None:
    # Through the real app: a payment for a number that is not ours, raised by the service.
    await province.branches(conn)
    tokens = await grants.tokens(conn)
    client = await aiohttp_client(create_app(settings))
    response = await client.post(
        "/v1/payments",
        json={"msisdn": "18612349999", "amount_yuan": "10"},
        headers=grants.bearer(tokens.admin),
    )
    assert response.status == 404
    assert response.content_type == "application/problem+json"
    assert await response.json(content_type=None) == {
        "type": "https://callgate.example/problems/unknown_subscriber",
        "title": "Not found",
        "status": 404,
        "detail": "the number is not one of our subscribers",
        "code": "unknown_subscriber",
    }
