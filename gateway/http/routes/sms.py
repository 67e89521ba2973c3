"""POST /v1/sms/inbound (role sms) — text messages to the points short code (P4): JFCX gets
the balance by SMS, anything else a short help reply; a replayed message id sends nothing."""

from __future__ import annotations

import re

from aiohttp import web

from gateway.http import inputs
from gateway.http.auth import require
from gateway.http.keys import PG, POLICY, SETTINGS
from gateway.http.openapi import json_response, problem, register
from gateway.http.problems import invalid_request
from gateway.services import sms
from gateway.services.sms import InboundSms

#: Message ids are the SMS centre's: short visible ASCII.
MESSAGE_ID = re.compile(r"^[\x21-\x7e]{1,128}$")
#: A concatenated SMS is at most a few hundred characters; anything far longer is not one.
MAX_TEXT = 1000


async def post_inbound(request: web.Request) -> web.Response:
    """Queue the reply to one inbound message (202), once per message id."""
    require(request, "sms")
    body = await inputs.json_object(request)
    message_id = body.get("id")
    if not isinstance(message_id, str) or not MESSAGE_ID.match(message_id):
        raise invalid_request("id must be the SMS centre's message id: 1–128 visible ASCII characters", "id")
    sender = inputs.msisdn(body.get("from"), "from")
    to = body.get("to")
    policy = request.app[POLICY].current
    short_code = policy.points.sms_short_code
    if not isinstance(to, str) or "".join(to.split()) != short_code:
        raise invalid_request(
            f"to must be the points short code {short_code}: no other code is served here", "to"
        )
    text = body.get("text", "")
    if text is None:
        text = ""
    if not isinstance(text, str):
        raise invalid_request("text must be a string (it may be empty)", "text")
    if len(text) > MAX_TEXT:
        raise invalid_request(f"text is longer than {MAX_TEXT} characters: not a text message", "text")
    answer = await sms.receive(
        request.app[PG], policy, InboundSms(message_id, sender, text), request.app[SETTINGS].clock()
    )
    headers = {"Idempotent-Replayed": "true"} if answer.replayed else {}
    return inputs.json({"id": answer.id, "reply": answer.reply}, 202, headers)


def setup(app: web.Application) -> None:
    """Register the route."""
    app.router.add_post("/v1/sms/inbound", post_inbound)


register(
    "/v1/sms/inbound",
    "post",
    {
        "summary": "A text message to the points short code (P4): JFCX → the balance by SMS, "
        "anything else → help (role sms)",
        "requestBody": {
            "required": True,
            "content": {
                "application/json": {
                    "schema": {
                        "type": "object",
                        "required": ["id", "from", "to"],
                        "properties": {
                            "id": {"type": "string", "description": "the SMS centre's message id"},
                            "from": {"type": "string", "examples": ["18612345678"]},
                            "to": {"type": "string", "examples": ["10011"]},
                            "text": {"type": "string", "maxLength": MAX_TEXT},
                        },
                    }
                }
            },
        },
        "responses": {
            "202": json_response(
                "the reply is queued in the SMS outbox (or was, for a replayed id: nothing new is sent)",
                {
                    "type": "object",
                    "required": ["id", "reply"],
                    "properties": {"id": {"type": "string"}, "reply": {"enum": ["points", "help"]}},
                },
            ),
            "400": problem("invalid_request (id, to: not the short code, text: too long) or invalid_number"),
            "401": problem("unauthorized"),
            "403": problem("forbidden (role other than sms)"),
            "404": problem("unknown_subscriber: the sender is not one of ours; nothing is sent"),
            "409": problem("invalid_request: the id came before with another sender or text"),
        },
    },
)
