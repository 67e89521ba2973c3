"""Schemathesis hooks (loaded by `st run` through SCHEMATHESIS_HOOKS): header and encoding
mutations on top of the generated requests — a request id of arbitrary Latin-1 text, a
bearer token with junk around it or junk for a token, a Content-Type with odd or unknown
charsets. The rest of each request is what schemathesis generated from the OpenAPI document."""

from __future__ import annotations

import os
from typing import Any

import schemathesis
from hypothesis import strategies as st

# What an HTTP client can put in a header: Latin-1 text without CR/LF (requests refuses the rest).
# (and no leading whitespace, which requests refuses too).
_LATIN1 = st.text(
    st.characters(min_codepoint=0x20, max_codepoint=0xFF, exclude_characters="\x7f"), max_size=40
).map(str.lstrip)
_CHARSETS = st.sampled_from(
    ["utf-8", "x-bogus", "rot13", "undefined", "zlib", "utf-16", "latin-1", "utf-7", "ÿ"]
)


@schemathesis.hook
def flatmap_case(
    context: schemathesis.HookContext, case: schemathesis.Case[Any]
) -> st.SearchStrategy[schemathesis.Case[Any]]:
    """The generated case, now and then with a mutated X-Request-Id, Authorization or Content-Type."""
    token = os.environ.get("CALLGATE_FUZZ_TOKEN", "")
    request_id = st.one_of(st.none(), _LATIN1, st.sampled_from(["ÿ", "a b", "x" * 200, "ok-1:2.3_4"]))
    authorization = st.one_of(
        st.none(),  # as configured (-H)
        st.none(),
        st.tuples(_LATIN1, _LATIN1).map(
            lambda p: f"Bearer {token}{p[0]}" if p[1] else f"{p[0]}Bearer {token}"
        ),
        _LATIN1.map(lambda junk: f"Bearer {junk}"),
    )
    content_type = st.one_of(
        st.none(),
        _CHARSETS.map(lambda charset: f"application/json; charset={charset}"),
        _LATIN1,
    )

    def mutated(values: tuple[str | None, str | None, str | None]) -> schemathesis.Case[Any]:
        for name, value in zip(("X-Request-Id", "Authorization", "Content-Type"), values, strict=True):
            if value is not None and not (name == "Content-Type" and case.body is None):
                case.headers[name] = value
        return case

    return st.tuples(request_id, authorization, content_type).map(mutated)
