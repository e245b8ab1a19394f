"""The API page for people (web/app/apidocs): `/` leads to it, its files come from the app
itself, its relaxed Content-Security-Policy stays on its routes, and API_DOCS=false turns it
off. (e2e/test_api_page.py drives it in a real browser.)"""

import re

from harness.appcopy import app_for
from web.app import SECURITY_HEADERS

# No database is needed to serve the page: the name is never connected to.
NOWHERE = "db_that_does_not_exist"


def test_the_root_leads_people_to_the_page() -> None:
    client = app_for(NOWHERE).test_client()
    response = client.get("/")
    assert (response.status_code, response.headers["Location"]) == (302, "docs")
    page = client.get("/docs")
    assert page.status_code == 200
    assert page.mimetype == "text/html"


def test_every_file_the_page_loads_is_served_by_the_app() -> None:
    client = app_for(NOWHERE).test_client()
    html = client.get("/docs").text
    loaded = re.findall(r'(?:src|href)="([^"]+)"', html)
    assert len(loaded) == 4
    for path in loaded:
        assert not path.startswith(("http:", "https:", "//")), path
        response = client.get(f"/{path}")
        assert response.status_code == 200, path
        assert len(response.data) > 0
    script = client.get("/docs/init.js").text
    assert 'url: "openapi.json"' in script
    assert "validatorUrl: null" in script  # no call to swagger.io from the page


def test_the_relaxed_policy_is_for_the_page_only() -> None:
    client = app_for(NOWHERE).test_client()
    for path in ("/docs", "/docs/swagger-ui-bundle.js"):
        policy = client.get(path).headers["Content-Security-Policy"]
        assert "script-src 'self'" in policy
        assert "default-src 'none'" in policy
        assert "unsafe" not in policy
    for path in ("/healthz", "/openapi.json", "/"):
        policy = client.get(path).headers["Content-Security-Policy"]
        assert policy == SECURITY_HEADERS["Content-Security-Policy"], path


def test_only_the_page_files_are_served() -> None:
    client = app_for(NOWHERE).test_client()
    for path in ("/docs/LICENSE", "/docs/..%2Fpage.html", "/docs/oauth2-redirect.html"):
        assert client.get(path).status_code == 404, path


def test_api_docs_false_turns_the_page_off() -> None:
    client = app_for(NOWHERE, API_DOCS="false").test_client()
    assert client.get("/docs").status_code == 404
    assert client.get("/docs/swagger-ui-bundle.js").status_code == 404
    response = client.get("/")
    assert (response.status_code, response.headers["Location"]) == (302, "openapi.json")
    assert client.get("/openapi.json").status_code == 200
