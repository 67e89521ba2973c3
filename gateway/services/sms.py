"""P4: text messages to the points short code (10011), as the SMS centre hands them over.

`JFCX` (any case, spaces ignored) queues the balance reply; any other text the short help
reply — both through the SMS outbox that `callgate notify` delivers. The message id of the
SMS centre is claimed in the same transaction as the reply is queued, so a replay of the id
(a retry) finds the first answer and sends nothing new. Senders are logged masked.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime

import asyncpg
import orjson

from entitlements.months import Month, shanghai_today
from entitlements.points import Holding, balance_sms, help_sms, is_balance_query, summary
from entitlements.policy import Policy
from gateway.logs import get_logger, mask, number_ref
from gateway.services.errors import Conflict, unknown_subscriber
from gateway.services.points import summary_of
from gateway.stores.queries import sms as sms_rows
from gateway.stores.queries import subscribers

log = get_logger("sms")
#: The outbox kinds of the two replies.
KINDS = {"points": "sms_points", "help": "sms_help"}


@dataclass(frozen=True, slots=True)
class InboundSms:
    """One message from the SMS centre: its id, the (normalised) sender and the text."""

    id: str
    sender: str
    text: str

    @property
    def body_hash(self) -> str:
        """What a replay of the id must match (the sender only as a keyed hash)."""
        canonical = {"from": number_ref(self.sender), "text": self.text}
        return hashlib.sha256(orjson.dumps(canonical, option=orjson.OPT_SORT_KEYS)).hexdigest()


@dataclass(frozen=True, slots=True)
class SmsAnswer:
    """What was (or had been) done with a message."""

    id: str
    reply: str  # points | help
    replayed: bool


async def receive(pool: asyncpg.Pool, policy: Policy, message: InboundSms, now: datetime) -> SmsAnswer:
    """Queue the reply to one message, once per message id (P4).

    `unknown_subscriber` for a sender that is not one of ours (or is cancelled): nothing is
    sent or stored. The same id with another sender or text raises `Conflict`.
    """
    reply = "points" if is_balance_query(policy, message.text) else "help"
    today = shanghai_today(now)
    async with pool.acquire() as conn, conn.transaction():
        stored = await sms_rows.claim(
            conn, message.id, message.body_hash, mask(message.sender), number_ref(message.sender), reply, now
        )
        if stored is not None:
            if stored.body_hash != message.body_hash:
                raise Conflict(
                    "this message id came with another sender or text; ids are the SMS centre's own"
                )
            log.info("sms_inbound", sender=mask(message.sender), reply=stored.reply, replayed=True)
            return SmsAnswer(message.id, stored.reply, True)
        status = await subscribers.lock(conn, message.sender)
        if status is None or status == "cancelled":
            raise unknown_subscriber()  # rolls the claim back: nothing is kept for a stranger
        if reply == "points":
            found = await summary_of(conn, policy, message.sender, today)
            held = found or summary(Holding(None, ()), policy.points.threshold, today)
            text = balance_sms(policy, held, today)
        else:
            text = help_sms(policy)
        notification_id = await sms_rows.queue_reply(
            conn, message.sender, KINDS[reply], Month.of(today).first_day, text
        )
        await sms_rows.link(conn, message.id, notification_id)
    log.info("sms_inbound", sender=mask(message.sender), reply=reply, replayed=False)
    return SmsAnswer(message.id, reply, False)
