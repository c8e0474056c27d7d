"""The browser dashboard: ``GET /`` (the page) and ``GET /static/...`` (its scripts and styles).

Open like ``/health``: the files hold no data, so a browser loads them without a key; the
page then asks for a key once (kept in the tab's ``sessionStorage``) when the API answers 401.
Everything is served from the package (no CDN), so the dashboard works offline.

Caching: the page and its own modules are ``no-cache`` (the browser revalidates with the
``ETag`` and gets a cheap 304, so it never runs code older than the server's); the vendored
library is cacheable for a day (its file name carries no version).
"""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter, HTTPException, Request, Response
from fastapi.responses import FileResponse

from gridvault.dashboard import BUILD_COMMAND, STATIC_DIR

router = APIRouter(tags=["dashboard"], include_in_schema=False)

CONTENT_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    # Browsers only run ES modules served with a JavaScript type.
    ".mjs": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".svg": "image/svg+xml",
    ".png": "image/png",
    ".ico": "image/x-icon",
    ".txt": "text/plain; charset=utf-8",
}
APP_CACHE = "no-cache"
VENDOR_CACHE = "public, max-age=86400"
#: The page holds an API key: it runs only its own scripts and talks only to its own origin.
#: Styles may be inline because the chart library positions its tooltips with style attributes.
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data: blob:; connect-src 'self'; object-src 'none'; base-uri 'none'; "
    "frame-ancestors 'none'"
)


def _etag(path: Path) -> str:
    stat = path.stat()
    return f'"{stat.st_mtime_ns:x}-{stat.st_size:x}"'


def _send(request: Request, path: Path, cache_control: str) -> Response:
    """The file with its type, validator and cache policy; 304 when the browser has it."""
    etag = _etag(path)
    headers = {
        "ETag": etag,
        "Cache-Control": cache_control,
        "X-Content-Type-Options": "nosniff",
    }
    if path.suffix == ".html":
        headers["Content-Security-Policy"] = CONTENT_SECURITY_POLICY
    if etag in request.headers.get("if-none-match", ""):
        return Response(status_code=304, headers=headers)
    return FileResponse(path, media_type=CONTENT_TYPES[path.suffix], headers=headers)


def static_file(relative: str) -> Path | None:
    """The file under the static folder that ``relative`` names, or None.

    Only known file types, no hidden names and nothing outside the folder (``..`` or links).
    """
    parts = [part for part in relative.split("/") if part]
    if not parts or any(part.startswith(".") or "\x00" in part for part in parts):
        return None
    root = STATIC_DIR.resolve()
    try:
        candidate = root.joinpath(*parts).resolve()
        if root not in candidate.parents or candidate.suffix not in CONTENT_TYPES:
            return None
        return candidate if candidate.is_file() else None
    except OSError:  # a name too long for the file system
        return None


@router.api_route("/", methods=["GET", "HEAD"])
async def index(request: Request) -> Response:
    """The dashboard page."""
    return _send(request, STATIC_DIR / "index.html", APP_CACHE)


@router.api_route("/favicon.ico", methods=["GET", "HEAD"])
async def favicon(request: Request) -> Response:
    """The icon browsers ask for on their own (an SVG, which they accept under this name)."""
    return _send(request, STATIC_DIR / "favicon.svg", APP_CACHE)


@router.api_route("/static/{relative:path}", methods=["GET", "HEAD"])
async def static(request: Request, relative: str) -> Response:
    """A script, style or image of the dashboard."""
    path = static_file(relative)
    if path is None:
        detail = f"no dashboard file {relative!r}"
        if relative.startswith("vendor/"):
            detail += f": the dashboard's libraries are not built; run {BUILD_COMMAND}"
        raise HTTPException(404, detail)
    vendored = path.parent.name == "vendor"
    return _send(request, path, VENDOR_CACHE if vendored else APP_CACHE)


__all__ = ["CONTENT_TYPES", "router", "static_file"]
