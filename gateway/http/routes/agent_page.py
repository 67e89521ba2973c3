"""`GET /agent/` — the agents' desktop widget: plain HTML, CSS and JavaScript modules from
`gateway/http/static/agent/`, served without a token (the page's API calls carry the bearer
token the user enters, kept in sessionStorage). `GET /wallboard/` (A5), the supervisors'
service-level wallboard from `gateway/http/static/wallboard/`, is served the same way.

The files are read once at start-up and served from memory, only by their exact names
(no path is ever joined from the request). Every response carries a strong ETag and
`Cache-Control: no-cache`: the browser revalidates on each load, so after a release the
modules it runs always belong together, while an unchanged file costs a 304.
A strict Content-Security-Policy allows nothing but this origin: no CDN, no inline
script, no external fonts (the machines have no internet anyway).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from importlib import resources
from importlib.resources.abc import Traversable

from aiohttp import web

PREFIX = "/agent"
INDEX = "index.html"
CONTENT_TYPES = {
    ".html": "text/html",
    ".js": "text/javascript",  # RFC 9239: what browsers require of `<script type="module">`
    ".mjs": "text/javascript",
    ".css": "text/css",
    ".svg": "image/svg+xml",
    ".png": "image/png",
    ".ico": "image/x-icon",
    ".json": "application/json",
}
TEXT = {"text/html", "text/javascript", "text/css", "image/svg+xml", "application/json"}
CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; font-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'self'"
)
HEADERS = {
    "Cache-Control": "no-cache",
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}


@dataclass(frozen=True, slots=True)
class Asset:
    """One file of the page, ready to send."""

    body: bytes
    content_type: str
    etag: str


def load_assets(directory: Traversable | None = None, page: str = "agent") -> dict[str, Asset]:
    """The page's files by name (one directory level; unknown extensions are not served)."""
    root = directory if directory is not None else resources.files("gateway.http").joinpath("static", page)
    assets: dict[str, Asset] = {}
    for entry in root.iterdir():
        suffix = "." + entry.name.rsplit(".", 1)[-1] if "." in entry.name else ""
        content_type = CONTENT_TYPES.get(suffix)
        if not entry.is_file() or content_type is None or entry.name.startswith("."):
            continue
        body = entry.read_bytes()
        etag = '"' + hashlib.sha256(body).hexdigest()[:20] + '"'
        assets[entry.name] = Asset(body, content_type, etag)
    if INDEX not in assets:
        raise RuntimeError(f"the agent page is missing: no {INDEX} in {root}")
    return assets


class AgentPage:
    """Handlers serving the loaded files."""

    def __init__(self, assets: dict[str, Asset]) -> None:
        self.assets = assets

    def _send(self, request: web.Request, asset: Asset) -> web.Response:
        headers = {**HEADERS, "ETag": asset.etag}
        if asset.etag in request.headers.get("If-None-Match", ""):
            return web.Response(status=304, headers=headers)
        charset = "utf-8" if asset.content_type in TEXT else None
        return web.Response(
            body=asset.body, content_type=asset.content_type, charset=charset, headers=headers
        )

    async def get_index(self, request: web.Request) -> web.Response:
        """The page."""
        return self._send(request, self.assets[INDEX])

    async def get_asset(self, request: web.Request) -> web.Response:
        """A module, stylesheet or image of the page, by exact name."""
        asset = self.assets.get(request.match_info["name"])
        if asset is None:
            raise web.HTTPNotFound(reason="no such file of the agent page")
        return self._send(request, asset)


async def redirect_to_page(request: web.Request) -> web.Response:
    """`/agent` → `/agent/` (relative module URLs need the slash); `/wallboard` likewise."""
    raise web.HTTPPermanentRedirect(request.path + "/")


#: The pages: URL prefix → directory under static/.
PAGES = {PREFIX: "agent", "/wallboard": "wallboard"}


def setup(app: web.Application) -> None:
    """Register the pages (no OpenAPI entry: they are not part of the API)."""
    for prefix, folder in PAGES.items():
        page = AgentPage(load_assets(page=folder))
        app.router.add_get(prefix, redirect_to_page)
        app.router.add_get(prefix + "/", page.get_index)
        app.router.add_get(prefix + "/{name:[A-Za-z0-9][A-Za-z0-9_.-]{0,63}}", page.get_asset)
