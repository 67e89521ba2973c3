"""Structured logging: JSON lines, request context, and phone numbers and secrets always masked.

Numbers are masked at the call site (`mask`, `number_ref`) and, as a safety net, a
processor scrubs from every string in the event — exception text and tracebacks
included — any digit run (of any script) that looks like a phone number and anything
that looks like a bearer token, before it is rendered. Standard-library loggers
(aiohttp, asyncpg) go through the same processors and filter.

Logging never changes an answer: a line that cannot be rendered is rendered with its
unprintable characters escaped, and a line that cannot be written is dropped and
counted (`LOG_FAILURES`, which the HTTP edge adds to `callgate_unexpected_errors_total`);
the processors themselves do not raise.
"""

from __future__ import annotations

import asyncio
import atexit
import hashlib
import hmac
import logging
import re
import secrets
import sys
import time
from collections.abc import MutableMapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TextIO

import orjson
import structlog

from gateway.numbers import ascii_digits

# +86 / 0086 prefixed, or any run of 11–12 digits (mobile, fixed line with area code).
_NUMBER = re.compile(r"(?<![0-9])(?:(?:\+86|0086|86)[- ]?)?(1[3-9][0-9]{9}|0[0-9]{10,11})(?![0-9])")
# Bearer tokens (`cg_<role>_<secret>`, demo ones `cg_demo_<role>_…`), and whatever follows the
# word Bearer — also as aiohttp's parser quotes it (`Bearer\\x00…` inside a bytes repr).
_TOKEN = re.compile(r"cg_[A-Za-z]+_[A-Za-z0-9_-]{6,}")
_CREDENTIAL = re.compile(r"(?i)\b(bearer)(?:\s|\\[tx0-9a-f]{1,3}|[:=])+[^\s'\"]{8,}")
# Pre-checks (every log line's strings pass them): a run of 11 digits — ASCII, or of any
# script in a non-ASCII string — or a secret's marker, found with C-speed substring tests.
_DIGIT_RUN = re.compile(r"[0-9]{11}")
_ANY_DIGIT_RUN = re.compile(r"\d{11}")
# In a request path anything number-shaped is masked: 7+ digits of any script, separators allowed.
_PATH_NUMBER = re.compile(r"\+?\d(?:[ ().-]*\d){6,}")

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
    """Mask every phone-number-like digit run (digits of any script) and every bearer token in free text."""
    if not text.isascii():
        text = ascii_digits(text)  # one character for one: ١٣٨… and １３８… are numbers too
    text = _NUMBER.sub(lambda m: mask(m.group(1)), text)
    text = _TOKEN.sub("cg_***", text)
    return _CREDENTIAL.sub(lambda m: f"{m.group(1)} ***", text)


def mask_path(path: str) -> str:
    """A request path for a log line: every number-shaped part masked (any script, any length ≥ 7)."""
    if _PATH_NUMBER.search(path) is None:
        return path  # the common case: no digits worth hiding
    return _PATH_NUMBER.sub(lambda m: mask(ascii_digits(re.sub(r"[^\d+]", "", m.group()))), path)


def _suspect(text: str) -> bool:
    return (
        "cg_" in text  # a token
        or "earer" in text  # Bearer, bearer
        or "EARER" in text
        or (_DIGIT_RUN if text.isascii() else _ANY_DIGIT_RUN).search(text) is not None
    )


def _scrub(value: Any) -> Any:
    if isinstance(value, str):
        # _suspect() inlined: this runs for every string of every log line
        if (
            "cg_" in value
            or "earer" in value
            or "EARER" in value
            or (_DIGIT_RUN if value.isascii() else _ANY_DIGIT_RUN).search(value) is not None
        ):
            return scrub_text(value)
        return value
    if isinstance(value, dict):
        return {k: _scrub(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_scrub(v) for v in value]
    return value


def scrub_numbers(_logger: Any, _name: str, event_dict: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    """structlog processor: mask phone numbers in every value."""
    for key, value in event_dict.items():
        event_dict[key] = _scrub(value)
    return event_dict


class ScrubFilter(logging.Filter):
    """Masks phone numbers and secrets in standard-library log records (their exception text is
    formatted and scrubbed by the processors)."""

    def filter(self, record: logging.LogRecord) -> bool:
        """Rewrite the record's message with numbers and secrets masked."""
        try:
            message = record.getMessage()
        except Exception:  # a record whose arguments do not fit its format: keep the format alone
            message, record.args = str(record.msg), None
        if _suspect(message):
            record.msg = scrub_text(message)
            record.args = None
        return True


class LogFailures:
    """Log lines that could not be written (a full disk, a closed pipe), counted not raised."""

    def __init__(self) -> None:
        self.pending = 0

    def add(self, lines: int = 1) -> None:
        """Count dropped lines (one by default)."""
        self.pending += lines

    def take(self) -> int:
        """The lines dropped since the last call."""
        count, self.pending = self.pending, 0
        return count


LOG_FAILURES = LogFailures()


class _SafeStreamHandler(logging.StreamHandler):  # type: ignore[type-arg]  # generic only in typeshed
    def handleError(self, record: logging.LogRecord) -> None:
        # The stdlib would print a "--- Logging error ---" traceback to stderr; count it instead.
        LOG_FAILURES.add()


class SafePrintLogger(structlog.PrintLogger):
    """structlog's PrintLogger, but a line that cannot be written (a full disk, a closed or
    broken pipe, an encoding the stream refuses) is dropped and counted, never raised: the
    answer to a request is decided by then, and a write may have committed."""

    def msg(self, message: str) -> None:
        """Print *message*, or count it as lost."""
        if _BATCH.lines:  # request lines of this loop turn first: the file stays in order
            _BATCH.flush()
        try:
            with self._lock:
                # One write per line: stderr writes through, and print's two writes (the line,
                # then its newline) from two workers logging at once interleave in the file.
                self._file.write(message + "\n")
                self._file.flush()
        except (OSError, ValueError):  # ValueError: a closed file, UnicodeEncodeError
            LOG_FAILURES.add()

    log = debug = info = warn = warning = msg
    fatal = failure = err = error = critical = exception = msg

    def write_lines(self, lines: list[str]) -> None:
        """Print many lines, a few KB a write (one syscall each), or count them as lost.
        Each write holds whole lines and stays within PIPE_BUF (4,096 bytes), so lines of two
        workers sharing a pipe never tear each other."""
        try:
            with self._lock:
                size = 0
                for line in lines:
                    length = len(line) + 1 if line.isascii() else 4 * len(line) + 1
                    if size and size + length > _PIPE_BUF:
                        self._file.flush()
                        size = 0
                    self._file.write(line + "\n")
                    size += length
                self._file.flush()
        except (OSError, ValueError):  # as in msg
            LOG_FAILURES.add(len(lines))


_PIPE_BUF = 4096


class _Batch:
    """Request lines of one event-loop turn, written together at the end of the turn: at
    thousands of lookups a second a write and a flush per line were a good part of a
    line's cost. Another line (any logger's) writes these first, so the file keeps its
    order; outside a running loop a line is written at once."""

    def __init__(self) -> None:
        self.lines: list[str] = []
        self.writer: SafePrintLogger | None = None
        self.scheduled = False

    def add(self, writer: SafePrintLogger, line: str) -> None:
        """Queue `line` for the end of this loop turn."""
        if writer is not self.writer and self.lines:
            self.flush()
        self.writer = writer
        self.lines.append(line)
        if not self.scheduled:
            try:
                loop = asyncio.get_running_loop()
            except RuntimeError:
                self.flush()
                return
            self.scheduled = True
            loop.call_soon(self.flush)

    def flush(self) -> None:
        """Write what is queued."""
        self.scheduled = False
        lines, self.lines = self.lines, []
        if lines and self.writer is not None:
            self.writer.write_lines(lines)


_BATCH = _Batch()
atexit.register(_BATCH.flush)


class SafePrintLoggerFactory:
    """Produces SafePrintLoggers writing to one stream."""

    def __init__(self, stream: TextIO) -> None:
        self._stream = stream

    def __call__(self, *_args: Any) -> SafePrintLogger:
        """The logger for a bound logger (arguments are structlog's, unused)."""
        return SafePrintLogger(self._stream)


def _printable(value: Any) -> Any:
    """A JSON-safe copy: strings with unencodable characters (lone surrogates) escaped."""
    if isinstance(value, str):
        return value.encode("utf-8", "backslashreplace").decode("utf-8")
    if isinstance(value, dict):
        return {_printable(str(k)): _printable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_printable(v) for v in value]
    if value is None or isinstance(value, bool | float) or (isinstance(value, int) and abs(value) < 2**63):
        return value
    try:
        return _printable(str(value))
    except Exception:  # an object whose __str__ fails still gets a line
        return f"<unprintable {type(value).__name__}>"


def _json_text(obj: Any, **_kw: Any) -> str:
    try:
        return orjson.dumps(obj, default=str).decode()
    except (TypeError, ValueError):  # orjson.JSONEncodeError: a lone surrogate, a huge int, a bad __str__
        return orjson.dumps(_printable(obj)).decode()


def configure_logging(level: str = "info", stream: TextIO | None = None, *, cache: bool = True) -> None:
    """Configure structlog and stdlib logging once for the process (tests pass cache=False)."""
    stream = stream if stream is not None else sys.stderr
    numeric = getattr(logging, level.upper())
    shared: list[Any] = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        # Tracebacks become text before the scrubber: an exception's message may quote a number
        # or a token (aiohttp's parser errors quote the offending bytes).
        structlog.processors.format_exc_info,
        scrub_numbers,
    ]
    tty = stream.isatty()
    renderer: Any = (
        structlog.dev.ConsoleRenderer(exception_formatter=structlog.dev.plain_traceback)
        if tty
        else structlog.processors.JSONRenderer(_json_text)
    )
    structlog.configure(
        processors=[*shared, renderer],
        wrapper_class=structlog.make_filtering_bound_logger(numeric),
        logger_factory=SafePrintLoggerFactory(stream),
        cache_logger_on_first_use=cache,
    )
    handler = _SafeStreamHandler(stream)
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
    _BATCH.flush()  # lines queued for the stream being replaced
    _REQUEST_LINE["enabled"] = numeric <= logging.INFO
    _REQUEST_LINE["writer"] = None if tty else SafePrintLogger(stream)


#: How `request_line` writes: `writer` None → through structlog (a console, or logging not
#: configured); `enabled` False → not at all (the level is above info).
_REQUEST_LINE: dict[str, Any] = {"writer": None, "enabled": True}
_STAMP: list[Any] = [-1, ""]  # the second last formatted, and its ISO text


def _timestamp() -> str:
    """Now as TimeStamper(fmt="iso", utc=True) writes it; the date part formatted once a second."""
    now = time.time()
    second = int(now)
    if second != _STAMP[0]:
        _STAMP[0], _STAMP[1] = second, datetime.fromtimestamp(second, UTC).strftime("%Y-%m-%dT%H:%M:%S")
    return f"{_STAMP[1]}.{int((now - second) * 1_000_000):06d}Z"


def request_line(fields: dict[str, Any], request_id: str, call_id: str | None) -> None:
    """The canonical line of one request (component http, event request), rendered without
    structlog's processor chain: the same JSON keys as `log.info("request", **fields)` with
    the request's context, strings scrubbed of numbers and secrets the same way, ~5× cheaper
    (it is written for every lookup: ~45 µs through the chain, a quarter of a lookup's CPU),
    and written with the other lines of its event-loop turn (`_Batch`).
    A console or an unconfigured process gets the ordinary structlog line."""
    if not _REQUEST_LINE["enabled"]:
        return
    writer: SafePrintLogger | None = _REQUEST_LINE["writer"]
    if writer is None:
        get_logger("http").info("request", **fields)  # context from the contextvars, as bound
        return
    event: dict[str, Any] = {"component": "http", **fields, "event": "request", "request_id": request_id}
    if call_id is not None:
        event["call_id"] = call_id
    event["level"] = "info"
    event["timestamp"] = _timestamp()
    for key, value in event.items():
        if type(value) is str:
            event[key] = _scrub(value)
    _BATCH.add(writer, _json_text(event))


def _quoted(text: str) -> str:
    """A string value of a log line: scrubbed, then JSON-quoted."""
    return _json_text(_scrub(text))


def request_done(
    method: str, path: str, route: str, status: int, ms: float, request_id: str, call_id: str | None
) -> None:
    """`request_line({"method", "path", "route", "status", "ms"}, request_id, call_id)` — the
    shape of every request's line — formatted straight into its text (the same text, key
    for key: ~7 µs of the ~15 a line took through the dict, once per lookup)."""
    if not _REQUEST_LINE["enabled"]:
        return
    writer: SafePrintLogger | None = _REQUEST_LINE["writer"]
    if writer is None:
        request_line(
            {"method": method, "path": path, "route": route, "status": status, "ms": ms}, request_id, call_id
        )
        return
    head = _HEADS.get((method, path, route))
    if head is None:
        quoted = f'{_quoted(method)},"path":{_quoted(path)},"route":{_quoted(route)}'
        head = f'{{"component":"http","method":{quoted},'
        if len(_HEADS) >= _HEADS_MAX:
            _HEADS.clear()
        _HEADS[(method, path, route)] = head
    call = "" if call_id is None else f',"call_id":{_quoted(call_id)}'
    _BATCH.add(
        writer,
        f'{head}"status":{status:d},"ms":{_json_text(ms)},"event":"request","request_id":{_quoted(request_id)}'
        f'{call},"level":"info","timestamp":"{_timestamp()}"}}',
    )


#: The start of a request line per (method, path, route), formatted once: a lookup's is always the same.
_HEADS: dict[tuple[str, str, str], str] = {}
_HEADS_MAX = 1024


def get_logger(name: str) -> Any:
    """A structlog logger bound to a component name."""
    return structlog.get_logger(component=name)
