"""Serving the agent page (no browser needed): content types, caching, the security
headers, exact file names only, no external resources; and the small reads it uses."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from gateway.http.routes import agent_page
from tests.agent.conftest import Site

STATIC = Path(agent_page.__file__).resolve().parent.parent / "static" / "agent"


async def test_the_page_needs_no_token_and_carries_a_strict_security_policy(site: Site) -> None:
    async with site.http.get(site.base + "/agent/") as response:
        assert response.status == 200
        assert response.headers["Content-Type"] == "text/html; charset=utf-8"
        assert response.headers["Cache-Control"] == "no-cache"
        csp = response.headers["Content-Security-Policy"]
        assert "default-src 'none'" in csp and "script-src 'self'" in csp and "connect-src 'self'" in csp
        assert response.headers["X-Content-Type-Options"] == "nosniff"
        assert '<script type="module" src="app.js">' in await response.text()
    async with site.http.get(site.base + "/agent", allow_redirects=False) as response:
        assert response.status == 308 and response.headers["Location"] == "/agent/"


@pytest.mark.parametrize("name", sorted(p.name for p in STATIC.glob("*.js")))
async def test_javascript_modules_are_served_as_javascript_and_revalidated_by_etag(
    site: Site, name: str
) -> None:
    async with site.http.get(f"{site.base}/agent/{name}") as response:
        assert response.status == 200
        assert response.headers["Content-Type"] == "text/javascript; charset=utf-8"
        etag = response.headers["ETag"]
        assert (await response.read()) == (STATIC / name).read_bytes()
    async with site.http.get(f"{site.base}/agent/{name}", headers={"If-None-Match": etag}) as response:
        assert response.status == 304


@pytest.mark.parametrize(
    "path",
    ["/agent/nothing.js", "/agent/..%2Fapp.py", "/agent/%2e%2e/routes/agent_page.py", "/agent/.hidden.js"],
)
async def test_only_the_page_files_are_served(site: Site, path: str) -> None:
    async with site.http.get(site.base + path) as response:
        assert response.status in (401, 404)  # 401: a path normalised out of /agent needs a token
        assert response.headers["Content-Type"] == "application/problem+json"


def test_the_page_loads_nothing_from_outside_the_site() -> None:
    for path in STATIC.iterdir():
        text = path.read_text(encoding="utf-8")
        text = text.replace('xmlns="http://www.w3.org/2000/svg"', "")  # a namespace name, not a fetch
        assert not re.search(r"(?:https?:)?//[a-z0-9.-]+\.[a-z]{2,}", text, re.IGNORECASE), path.name
        assert "@import" not in text and "fonts.googleapis" not in text, path.name


def test_a_missing_page_stops_the_service_at_start(tmp_path: Path) -> None:
    (tmp_path / "app.js").write_text("export {};")
    with pytest.raises(RuntimeError, match=r"index\.html"):
        agent_page.load_assets(tmp_path)


async def test_me_says_who_the_token_is_and_what_it_may_do_with_work_orders(site: Site) -> None:
    status, me = await site.call("GET", "/v1/me", site.tokens.zz_city)
    assert status == 200
    assert me["role"] == "branch" and me["branch"] == {
        "code": "HA-ZZ", "name": "郑州", "level": "city", "parent_code": "HA",
    }  # fmt: skip
    assert me["work_order_events"] == ["dispatch", "remind", "extend", "paid", "overdue", "resuspend", "done"]
    status, me = await site.call("GET", "/v1/me", site.tokens.zz_county)
    assert me["work_order_events"] == ["remind", "paid"]
    status, me = await site.call("GET", "/v1/me", site.tokens.agent)
    assert me["role"] == "agent" and me["branch"] is None and me["work_order_events"] == []
    status, me = await site.call("GET", "/v1/me", site.tokens.admin)
    assert me["work_order_events"] == [
        "dispatch", "remind", "extend", "paid", "overdue", "resuspend", "done", "close",
    ]  # fmt: skip
    async with site.http.get(site.base + "/v1/me") as response:
        assert response.status == 401


async def test_branches_list_a_citys_counties_for_the_dispatch_picker(site: Site) -> None:
    # rule W2
    status, body = await site.call("GET", "/v1/branches?parent=HA-ZZ", site.tokens.zz_city)
    assert status == 200
    assert [b["code"] for b in body["items"]] == ["HA-ZZ-GY", "HA-ZZ-XZ", "HA-ZZ-ZM"]
    status, body = await site.call("GET", "/v1/branches", site.tokens.agent)
    assert {b["code"] for b in body["items"]} >= {"HA", "HA-ZZ", "HA-LY", "HA-LY-YS"}
    status, body = await site.call("GET", "/v1/branches?parent=" + "X" * 40, site.tokens.agent)
    assert status == 400 and body["code"] == "invalid_request"
    status, body = await site.call("GET", "/v1/branches", site.tokens.ivr)
    assert status == 403
