"""The researchers' web page: static files in ``gateway/ui/`` served by the HTTP bridge.

The page is plain HTML, CSS and JavaScript modules that call the gateway's own HTTP API
(``/v1/...``); nothing is fetched from anywhere else at run time. ``/`` redirects to
``/ui/``, where ``index.html`` is served; the page keeps its state in the URL fragment
(``/ui/#/search?q=...``), so a view can be bookmarked and shared.
"""

from pathlib import Path

from fastapi import FastAPI
from fastapi.responses import RedirectResponse
from fastapi.staticfiles import StaticFiles

UI_DIR = Path(__file__).resolve().parent / "ui"
UI_PATH = "/ui/"


def mount_ui(app: FastAPI) -> None:
    """Serve the page at ``/ui/`` and send ``/`` there (both left out of the OpenAPI schema)."""
    if not (UI_DIR / "index.html").is_file():
        raise RuntimeError(f"the web page's files are missing: no {UI_DIR / 'index.html'}")

    @app.get("/", include_in_schema=False)
    def home() -> RedirectResponse:
        return RedirectResponse(UI_PATH, status_code=307)

    app.mount("/ui", StaticFiles(directory=UI_DIR, html=True), name="ui")
