"""Fixtures shared by the gateway's service tests (the stores' fixtures are in tests/conftest.py)."""

from __future__ import annotations

import asyncpg
import pytest

from tests.gateway import grants, province
from tests.gateway.grants import Tokens


@pytest.fixture
async def tokens(conn: asyncpg.Connection) -> Tokens:
    """The province's branches, then a bearer token for every role (and each branch)."""
    await province.branches(conn)
    return await grants.tokens(conn)
