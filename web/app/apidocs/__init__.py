"""The API page for people: `/` leads to it, `/docs` is Swagger UI on /openapi.json.

Swagger UI's own files come from the flask-swagger-ui package (locked in uv.lock) and are
served from the image: the page calls no CDN and works on a host with no internet. Its
Content-Security-Policy lets in what Swagger UI needs (scripts, styles and calls to this
origin, inline images), on these routes only. API_DOCS=false turns the page off; `/`
then leads to /openapi.json.
"""

from importlib.resources import files
from pathlib import Path

from flask import Blueprint, Flask, abort, redirect, send_from_directory
from werkzeug.wrappers import Response

HERE = Path(__file__).parent
SWAGGER_UI = Path(str(files("flask_swagger_ui") / "dist"))
# What the page loads: this folder's page and start-up script, and Swagger UI's files.
ASSETS = {
    "init.js": HERE,
    "swagger-ui.css": SWAGGER_UI,
    "swagger-ui-bundle.js": SWAGGER_UI,
    "favicon-32x32.png": SWAGGER_UI,
}
POLICY = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)

bp = Blueprint("apidocs", __name__)


@bp.after_request
def relax_the_policy(response: Response) -> Response:
    """The app's policy (default-src 'none') would block the page: this one, on its routes."""
    response.headers["Content-Security-Policy"] = POLICY
    return response


@bp.get("/docs")
def page() -> Response:
    return send_from_directory(HERE, "page.html", max_age=0)


@bp.get("/docs/<name>")
def asset(name: str) -> Response:
    if name not in ASSETS:
        abort(404)
    return send_from_directory(ASSETS[name], name, max_age=3600)


def init_app(app: Flask, enabled: bool) -> None:
    """`/` for people, and the page itself unless API_DOCS=false."""
    target = "docs" if enabled else "openapi.json"
    app.add_url_rule("/", "index", lambda: redirect(target))
    if enabled:
        app.register_blueprint(bp)
