"""Browser fixtures: Debian's chromium driven by Playwright against a real callgate app
(served through the edge, `EdgeTestServer`, on 127.0.0.1 with the real PostgreSQL and Redis of tests/conftest.py).

A missing chromium or Playwright fails the tests with what to run — they never skip."""

from __future__ import annotations

import asyncio
import shutil
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import aiohttp
import asyncpg
import pytest
from aiohttp.test_utils import TestServer

from gateway.http.app import create_app
from gateway.settings import Settings
from tests.agent import support
from tests.conftest import EdgeTestServer
from tests.gateway.grants import Tokens

if TYPE_CHECKING:
    from playwright.async_api import Browser, BrowserContext, ConsoleMessage, Page, ViewportSize

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = Path("/usr/bin/chromium")
SCREENSHOTS = ROOT / "artifacts" / "screenshots"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
DESKTOP: ViewportSize = {"width": 1280, "height": 800}
SIDE_PANEL: ViewportSize = {"width": 400, "height": 800}
TIMEOUT_MS = 10_000
LOAD_FAILED = "Failed to load resource: the server responded with a status of "


@dataclass
class Site:
    """The running service: its base URL, tokens by role, and an HTTP client for the IVR/ACD side."""

    base: str
    tokens: Tokens
    http: aiohttp.ClientSession
    server: TestServer

    def drop_connections(self) -> int:
        """Cut every open connection to the service, as a network failure would (the event streams too)."""
        assert self.server.runner is not None and self.server.runner.server is not None
        dropped = 0
        for handler in self.server.runner.server.connections:
            if handler.transport is not None:
                handler.transport.abort()
                dropped += 1
        return dropped

    async def call(
        self, method: str, path: str, token: str, body: Any = None, **headers: str
    ) -> tuple[int, Any]:
        """A request as another system would make it; (status, JSON)."""
        async with self.http.request(
            method, self.base + path, json=body, headers={"Authorization": f"Bearer {token}", **headers}
        ) as response:
            return response.status, await response.json(content_type=None)

    async def connect_call(self, msisdn: str, call_id: str, agent_id: str) -> None:
        """The IVR looks the caller up, then the ACD connects the call to the agent."""
        status, _ = await self.call("GET", f"/v1/ivr/lookup?ani={msisdn}&call_id={call_id}", self.tokens.ivr)
        assert status == 200
        for _ in range(20):  # the call memory reaches Redis in batches of 50 ms
            status, _ = await self.call(
                "POST", f"/v1/calls/{call_id}/connected", self.tokens.ivr, {"agent_id": agent_id}
            )
            if status != 404:
                break
            await asyncio.sleep(0.05)
        assert status == 202


@dataclass
class Watched:
    """A page with what it did that it must not: script errors and requests leaving the site."""

    page: Page
    errors: list[str] = field(default_factory=list)
    foreign: list[str] = field(default_factory=list)

    def console(self, message: ConsoleMessage) -> None:
        """Keep console errors, except the browser's own note of a 4xx/5xx answer (refusals are 409s)."""
        if message.type == "error" and not message.text.startswith(LOAD_FAILED):
            self.errors.append(message.text)


@pytest.fixture
async def site(settings: Settings, conn: asyncpg.Connection, database_url: str) -> AsyncIterator[Site]:
    """The evaluated province served on a real port (stopped before the test database is dropped)."""
    tokens = await support.evaluated_province(conn, database_url)
    server = EdgeTestServer(create_app(settings), host="127.0.0.1")  # as `callgate serve` serves it
    await server.start_server()
    http = aiohttp.ClientSession()
    try:
        yield Site(str(server.make_url("")).rstrip("/"), tokens, http, server)
    finally:
        await http.close()
        await server.close()


@pytest.fixture
async def browser() -> AsyncIterator[Browser]:
    """Debian's chromium, headless, driven by Playwright."""
    if not CHROMIUM.exists() or shutil.which(str(CHROMIUM)) is None:
        pytest.fail(
            f"{CHROMIUM} is missing: the agent-page tests need Debian's chromium. "
            "Run scripts/install-chromium (as root), then run the tests again.",
            pytrace=False,
        )
    try:
        from playwright.async_api import async_playwright
    except ImportError:
        pytest.fail(
            "the Python package playwright is missing: run scripts/bootstrap dev "
            "(it is in the dev extra), and scripts/install-chromium for the browser.",
            pytrace=False,
        )
    async with async_playwright() as playwright:
        launched = await playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            yield launched
        finally:
            await launched.close()


class Desk:
    """Opens watched pages; closes them all before the server stops (an open event stream
    would otherwise hold the server's shutdown for its whole timeout)."""

    def __init__(self, browser: Browser, site: Site) -> None:
        self.browser = browser
        self.site = site
        self.contexts: list[BrowserContext] = []

    async def open(self, viewport: ViewportSize = DESKTOP) -> Watched:
        """A fresh browser context (its own sessionStorage) on /agent/, watched for errors and
        foreign requests."""
        base = self.site.base
        context = await self.browser.new_context(
            viewport=viewport, locale="zh-CN", timezone_id="Asia/Shanghai"
        )
        self.contexts.append(context)
        context.set_default_timeout(TIMEOUT_MS)
        page = await context.new_page()
        watched = Watched(page)
        page.on("pageerror", lambda error: watched.errors.append(str(error)))
        page.on("console", watched.console)
        page.on(
            "request",
            lambda request: (
                None if request.url.startswith(base + "/") else watched.foreign.append(request.url)
            ),
        )
        await page.goto(base + "/agent/")
        await page.wait_for_selector("body[data-ready='true']")
        return watched

    async def close(self) -> None:
        """Close every page opened."""
        for context in self.contexts:
            await context.close()


@pytest.fixture
async def desk(browser: Browser, site: Site) -> AsyncIterator[Desk]:
    """Pages on the site, closed before the site and the browser go."""
    opened = Desk(browser, site)
    try:
        yield opened
    finally:
        await opened.close()


async def sign_in(watched: Watched, token: str, agent_id: str = "") -> None:
    """Fill the sign-in form and wait for the signed-in page."""
    page = watched.page
    await page.get_by_test_id("token").fill(token)
    await page.get_by_test_id("agent-id").fill(agent_id)
    await page.get_by_test_id("signin").click()
    await page.wait_for_selector("#app:not([hidden])")
    if agent_id:
        await page.wait_for_selector("[data-testid='connection'][data-state='live']")


async def look_up(watched: Watched, number: str) -> None:
    """Look a customer up by number and wait for the view."""
    page = watched.page
    await page.get_by_test_id("lookup-number").fill(number)
    await page.get_by_test_id("lookup-number").press("Enter")
    await page.wait_for_selector("[data-testid='customer'] article.customer:not([aria-busy])")


async def screenshot(watched: Watched, name: str) -> Path:
    """Save the page as artifacts/screenshots/NAME.png (gitignored; CI keeps it as an artifact)."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    target = SCREENSHOTS / f"{name}.png"
    await watched.page.screenshot(path=str(target), full_page=True)
    return target


def assert_clean(watched: Watched) -> None:
    """No script errors (CSP violations included) and nothing fetched from outside the site."""
    assert watched.errors == [], watched.errors
    assert watched.foreign == [], watched.foreign
