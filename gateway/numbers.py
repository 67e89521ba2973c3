"""Chinese phone numbers: validated with the `phonenumbers` numbering plan, normalised
to the national format (11 digits for mobile, 0 + area code + number for fixed lines).

Every path goes through the one `normalise`: text is NFKC-folded and digits of any script
(Arabic-Indic, Devanagari, full-width …) become ASCII before anything else looks at it, so
`1３8…`, `١٣٨…` and `138…` are the same number everywhere — cache keys, answers and logs."""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache

import phonenumbers
from phonenumbers import PhoneNumberType

WITHHELD = frozenset({"", "anonymous", "unknown", "private", "restricted", "unavailable", "withheld"})

_KINDS = {
    PhoneNumberType.MOBILE: "mobile",
    PhoneNumberType.FIXED_LINE: "fixed",
    PhoneNumberType.FIXED_LINE_OR_MOBILE: "fixed",
}


class InvalidNumber(ValueError):
    """The text is not a valid Chinese phone number; `reason` says why."""

    def __init__(self, raw: str, reason: str) -> None:
        super().__init__(reason)
        self.raw = raw
        self.reason = reason


_ANY_DIGIT = re.compile(r"\d")


def ascii_digits(text: str) -> str:
    """Every decimal digit of any script replaced by its ASCII digit, one character for one."""
    if text.isascii():
        return text
    return _ANY_DIGIT.sub(lambda m: str(unicodedata.decimal(m.group())), text)


def canonical(text: str) -> str:
    """NFKC (full-width letters, signs and spaces), then ASCII digits: what a number is read from."""
    if text.isascii():
        return text
    return ascii_digits(unicodedata.normalize("NFKC", text))


def is_withheld(ani: str | None) -> bool:
    """A withheld caller ID (anonymous, unknown, empty) — an ordinary unknown caller (Q4)."""
    return ani is None or canonical(ani).strip().lower() in WITHHELD


@lru_cache(maxsize=131_072)
def _normalise(raw: str) -> str | InvalidNumber:
    if not raw.isascii() and any(c.isdigit() and not c.isdecimal() for c in raw):
        # ² or ① would become digits under NFKC; the numbering-plan library refuses them too
        return InvalidNumber(raw, "a phone number has only digits (and an optional leading +)")
    text = canonical(raw).strip()
    for sep in (" ", "-", "(", ")", "."):
        text = text.replace(sep, "")
    if not text:
        return InvalidNumber(raw, "empty number")
    body = text[1:] if text.startswith("+") else text
    if not (body.isascii() and body.isdigit()):
        return InvalidNumber(raw, "a phone number has only digits (and an optional leading +)")
    if len(body) > 16:
        return InvalidNumber(raw, "too many digits for a phone number")
    try:
        parsed = phonenumbers.parse(text, "CN")
    except phonenumbers.NumberParseException as exc:
        return InvalidNumber(raw, f"not a phone number ({exc.args[0] if exc.args else exc})")
    if parsed.country_code != 86:
        return InvalidNumber(raw, "not a Chinese (+86) number")
    if not phonenumbers.is_valid_number(parsed):
        return InvalidNumber(raw, "not a valid number in China's numbering plan (wrong length or prefix)")
    kind = _KINDS.get(phonenumbers.number_type(parsed))
    if kind is None:
        return InvalidNumber(raw, "not a mobile or fixed-line subscriber number")
    national = str(parsed.national_number)
    return national if kind == "mobile" else "0" + national


# The numbering plan's own patterns for China (from the library's metadata): an 11-digit
# string matching the mobile pattern is exactly what the library classes as a valid
# mobile number, checked in a microsecond instead of a full parse.
_CN = phonenumbers.PhoneMetadata.metadata_for_region("CN")
assert _CN is not None and _CN.mobile is not None and _CN.general_desc is not None  # shipped metadata
_MOBILE = re.compile(_CN.mobile.national_number_pattern or "(?!)")
_GENERAL = re.compile(_CN.general_desc.national_number_pattern or "(?!)")


def _desc(desc: phonenumbers.PhoneNumberDesc | None) -> tuple[re.Pattern[str], frozenset[int]] | None:
    """A number type of the plan as (pattern, possible lengths; empty: any)."""
    if desc is None or not desc.national_number_pattern:
        return None
    return re.compile(desc.national_number_pattern), frozenset(desc.possible_length or ())


def _matches(desc: tuple[re.Pattern[str], frozenset[int]] | None, national: str) -> bool:
    """The library's own test of a national number against a type: length, then pattern."""
    if desc is None:
        return False
    pattern, lengths = desc
    return (not lengths or len(national) in lengths) and pattern.fullmatch(national) is not None


_GENERAL_DESC = _desc(_CN.general_desc)
_FIXED_DESC = _desc(_CN.fixed_line)
# The types the library tries before fixed lines: a number matching one of them is not a
# fixed line (and so not a subscriber number here).
_BEFORE_FIXED = (
    "premium_rate", "toll_free", "shared_cost", "voip", "personal_number", "pager", "uan", "voicemail",
)  # fmt: skip
_EARLIER = tuple(d for d in (_desc(getattr(_CN, name)) for name in _BEFORE_FIXED) if d is not None)


def _plain_fixed(raw: str) -> bool:
    """A fixed-line number already in its normal form (0 + area code + number, ASCII digits):
    what the library parses, validates and classes as a fixed line, checked with the plan's
    own patterns in a few microseconds instead of a full parse (~35 µs; a lookup per call)."""
    if not (10 <= len(raw) <= 13 and raw[0] == "0" and raw[1] != "0" and raw.isascii() and raw.isdigit()):
        return False
    national = raw[1:]
    if not _matches(_GENERAL_DESC, national) or any(_matches(d, national) for d in _EARLIER):
        return False
    return _matches(_FIXED_DESC, national)


#: Numbers in their normal form that passed the patterns below — 11-digit mobiles and fixed
#: lines (a lookup per call: the same callers call again; a dict hit is ~0.15 µs, the
#: patterns ~1–3). Only such numbers are kept, so a hit is always its own normal form.
_PLAIN: dict[str, None] = {}
_PLAIN_MAX = 131_072


def normalise(raw: str) -> str:
    """`+86 186-1234-5678` / `008618612345678` / `１８６…` → `18612345678`; raises InvalidNumber."""
    if raw in _PLAIN:
        return raw
    # The common case on the hot path. isascii() first: str.isdigit() and the plan's \d also
    # accept other scripts' digits, which must go through canonical() like everything else.
    if (
        len(raw) == 11
        and raw.isascii()
        and raw.isdigit()
        and _MOBILE.fullmatch(raw)
        and _GENERAL.fullmatch(raw)
    ) or _plain_fixed(raw):
        if len(_PLAIN) >= _PLAIN_MAX:
            _PLAIN.clear()
        _PLAIN[raw] = None
        return raw
    result = _normalise(raw)
    if isinstance(result, InvalidNumber):
        raise InvalidNumber(raw, result.reason)
    return result
