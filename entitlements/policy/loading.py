"""Loading: bundled policy files by name, provincial overrides merged in, cached."""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from decimal import Decimal
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Final

from entitlements.errors import PolicyError
from entitlements.policy.document import read_document
from entitlements.policy.reader import Source
from entitlements.policy.schema import Policy

#: Policy names shipped with the package (SPEC §6).
POLICY_NAMES: Final[tuple[str, ...]] = (
    "unicom-2015",
    "unicom-vip",
    "unicom-henan-2011",
    "unicom-cumulative",
    "cmcc-credit",
)


def _read_toml(text: str, label: str) -> dict[str, object]:
    try:
        # Decimal keeps 1.1 and 300.00 exact: amounts and scores never pass through float.
        return tomllib.loads(text, parse_float=Decimal)
    except tomllib.TOMLDecodeError as exc:
        raise PolicyError(label, "", f"not valid TOML: {exc}") from None


def _merge(base: Mapping[str, object], override: Mapping[str, object]) -> dict[str, object]:
    """Deep merge: tables merge key by key; arrays and plain values replace."""
    merged = dict(base)
    for key, value in override.items():
        old = merged.get(key)
        if isinstance(old, Mapping) and isinstance(value, Mapping):
            merged[key] = _merge(old, value)
        else:
            merged[key] = value
    return merged


def policy_names() -> tuple[str, ...]:
    """The names of the bundled policies."""
    return POLICY_NAMES


def _bundled_text(name: str) -> str:
    if name not in POLICY_NAMES:
        raise PolicyError(f"{name}.toml", "", f"unknown policy {name!r} (known: {', '.join(POLICY_NAMES)})")
    try:
        root = resources.files("entitlements")
    except NotADirectoryError:
        # An editable install made before entitlements/__init__.py existed resolves the
        # package as a namespace, which importlib.resources (3.11) cannot read; the
        # policies sit beside this package either way.
        return (Path(__file__).parent.parent / "policies" / f"{name}.toml").read_text("utf-8")
    return root.joinpath("policies", f"{name}.toml").read_text("utf-8")


def parse_policy(
    text: str,
    *,
    label: str = "<policy>",
    override_text: str | None = None,
    override_label: str = "<override>",
    expected_name: str | None = None,
) -> Policy:
    """Validate a policy document (and an optional override) given as TOML text."""
    base = _read_toml(text, label)
    if override_text is None:
        return read_document(base, Source(label, None, {}), expected_name)
    over = _read_toml(override_text, override_label)
    name = over.get("name")
    if name is not None and name != base.get("name"):
        raise PolicyError(override_label, "name", f"an override of {base.get('name')!r} cannot rename it")
    merged = _merge(base, over)
    if "version" not in over:
        merged["version"] = f"{base.get('version')}+{Path(override_label).stem}"
    return read_document(merged, Source(label, override_label, over), expected_name)


@lru_cache(maxsize=32)
def load_policy(name: str, override: Path | None = None) -> Policy:
    """Load a bundled policy by name, with an optional provincial override file merged in.

    Cached per (name, override path): a process that re-reads an edited override (O2, a
    hot reload) calls ``read_policy``, which reads the file every time.
    """
    return read_policy(name, override)


def read_policy(name: str, override: Path | None = None, content: bytes | None = None) -> Policy:
    """A bundled policy with the override merged in, read now (no cache).

    ``content``: the override file's bytes when the caller has read them already (a hot
    reload hashes the bytes it validates, so the SHA-256 it reports is of what is in force).
    """
    text = _bundled_text(name)
    label = f"entitlements/policies/{name}.toml"
    if override is None:
        return parse_policy(text, label=label, expected_name=name)
    try:
        data = Path(override).read_bytes() if content is None else content
        override_text = data.decode("utf-8")
    except OSError as exc:
        raise PolicyError(str(override), "", f"cannot read the override: {exc}") from None
    except UnicodeDecodeError as exc:
        raise PolicyError(str(override), "", f"not UTF-8 text: {exc}") from None
    return parse_policy(
        text,
        label=label,
        override_text=override_text,
        override_label=str(override),
        expected_name=name,
    )
