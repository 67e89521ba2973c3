"""Structured logging: JSON lines, request context, and phone numbers always masked.

Numbers are masked at the call site (`mask`, `number_ref`) and, as a safety net, a
processor scrubs any digit run that looks like a phone number from every string in
the event before it is rendered. Standard-library loggers (aiohttp, asyncpg) go
through the same scrubbing filter.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import re
import secrets
import sys
from collections.abc import MutableMapping
from pathlib import Path
from typing import Any, TextIO

import orjson
import structlog

# +86 / 0086 prefixed, or any run of 11–12 digits (mobile, fixed line with area code).
_NUMBER = re.compile(r"(?<![0-9])(?:(?:\+86|0086|86)[- ]?)?(1[3-9][0-9]{9}|0[0-9]{10,11})(?![0-9])")

_state: dict[str, bytes] = {"key": secrets.token_bytes(32)}


def set_log_key(key: bytes) -> None:
    """Set the key of the correlation hash (kept stable per deployment)."""
    _state["key"] = key


def load_log_key(configured: str | None, data_dir: Path) -> bytes:
    """The configured key, else one persisted under the data directory."""
    if configured:
        return configured.encode()
    path = data_dir / "log.key"
    try:
        return bytes.fromhex(path.read_text().strip())
    except (OSError, ValueError):
        key = secrets.token_bytes(32)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(key.hex())
        path.chmod(0o600)
        return key


def mask(number: str) -> str:
    """`18612345678` → `186****5678`; shorter numbers keep less."""
    if len(number) >= 11:
        return f"{number[:3]}****{number[-4:]}"
    if len(number) >= 7:
        return f"{number[:2]}***{number[-2:]}"
    return "***"


def number_ref(number: str) -> str:
    """A keyed hash of the number, for correlating log lines without the number."""
    return hmac.new(_state["key"], number.encode(), hashlib.sha256).hexdigest()[:12]


def scrub_text(text: str) -> str:
    """Mask every phone-number-like digit run in free text."""
    return _NUMBER.sub(lambda m: mask(m.group(1)), text)


def _scrub(value: Any) -> Any:
    if isinstance(value, str):
        return scrub_text(value) if _could_hold_number(value) else value
    if isinstance(value, dict):
        return {k: _scrub(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_scrub(v) for v in value]
    return value


_DIGIT_RUN = re.compile(r"[0-9]{11}")


def _could_hold_number(text: str) -> bool:
    # Cheap pre-check in C: every form _NUMBER masks contains a run of 11 digits.
    return _DIGIT_RUN.search(text) is not None


def scrub_numbers(_logger: Any, _name: str, event_dict: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    """structlog processor: mask phone numbers in every value."""
    for key, value in event_dict.items():
        event_dict[key] = _scrub(value)
    return event_dict


class ScrubFilter(logging.Filter):
    """Masks phone numbers in standard-library log records."""

    def filter(self, record: logging.LogRecord) -> bool:
        """Rewrite the record's message with numbers masked."""
        message = record.getMessage()
        if _could_hold_number(message):
            record.msg = scrub_text(message)
            record.args = None
        return True


def _json_text(obj: Any, **_kw: Any) -> str:
    return orjson.dumps(obj, default=str).decode()


def configure_logging(level: str = "info", stream: TextIO | None = None, *, cache: bool = True) -> None:
    """Configure structlog and stdlib logging once for the process (tests pass cache=False)."""
    stream = stream if stream is not None else sys.stderr
    numeric = getattr(logging, level.upper())
    shared: list[Any] = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        scrub_numbers,
    ]
    tty = stream.isatty()
    renderer: Any = structlog.dev.ConsoleRenderer() if tty else structlog.processors.JSONRenderer(_json_text)
    structlog.configure(
        processors=[*shared, structlog.processors.format_exc_info, renderer],
        wrapper_class=structlog.make_filtering_bound_logger(numeric),
        logger_factory=structlog.PrintLoggerFactory(stream),
        cache_logger_on_first_use=cache,
    )
    handler = logging.StreamHandler(stream)
    handler.addFilter(ScrubFilter())
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            foreign_pre_chain=shared,
            processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, renderer],
        )
    )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(max(numeric, logging.INFO))
    logging.getLogger("aiohttp.access").disabled = True  # one canonical line per request is ours


def get_logger(name: str) -> Any:
    """A structlog logger bound to a component name."""
    return structlog.get_logger(component=name)
