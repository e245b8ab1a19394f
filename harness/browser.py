"""The API page in a real browser: Debian's Chromium driven by Playwright.

Runs in the image's `browser` stage (not on the host, not in the tools image), on the
stack's network, with this file as its program (e2e/test_api_page.py):

    docker run --rm -i --network <project>_default <project>-browser \\
        python - http://web:8000/ "GET /api/probe/items" < harness/browser.py

It opens the URL, reads the operations the page renders, tries one out ("Try it out",
then "Execute"), and prints what it saw as one JSON object: where it landed, the
operations, the status of the try (on the wire and as the page shows it), every request
that left the page's origin and every Content-Security-Policy violation. Each step waits
30 s at most.
"""

import json
import sys
from urllib.parse import urlsplit

from playwright.sync_api import sync_playwright

CHROMIUM = "/usr/bin/chromium"
# Nothing that phones home (this machine has no network but the stack's); no sandbox, which
# needs user namespaces a container does not have. Playwright adds --headless and a new,
# empty --user-data-dir itself.
FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
]
STEP_MS = 30_000
# Runs before the page's own scripts, whatever its policy: notes each violation.
WATCH_POLICY = """
window.violations = [];
document.addEventListener("securitypolicyviolation", (e) =>
    window.violations.push(`${e.violatedDirective} ${e.blockedURI}`));
"""


def visit(url: str, operation: str) -> dict:
    method, path = operation.split(" ", 1)
    origin = "{0.scheme}://{0.netloc}/".format(urlsplit(url))
    foreign: list[str] = []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=FLAGS, timeout=STEP_MS)
        page = browser.new_page()
        page.set_default_timeout(STEP_MS)
        page.add_init_script(WATCH_POLICY)
        page.on(
            "request",
            lambda r: None if r.url.startswith((origin, "data:")) else foreign.append(r.url),
        )
        page.goto(url)
        page.wait_for_selector(".opblock")
        landed = page.url
        operations = [
            f"{block.locator('.opblock-summary-method').inner_text()} "
            f"{block.locator('.opblock-summary-path').get_attribute('data-path')}"
            for block in page.locator(".opblock").all()
        ]
        block = page.locator(f".opblock-{method.lower()}").filter(
            has=page.locator(f'.opblock-summary-path[data-path="{path}"]')
        )
        block.locator(".opblock-summary-control").click()
        block.locator(".try-out__btn").click()
        with page.expect_response(
            lambda r: urlsplit(r.url).path == path and r.request.method == method
        ) as answer:
            block.locator(".execute").click()
        shown = block.locator(
            ".live-responses-table tr.response .response-col_status"
        ).first.inner_text()
        seen = {
            "landed": landed,
            "operations": operations,
            "tried": {"status": answer.value.status, "shown": shown.strip()},
            "left_the_origin": foreign,
            "policy_violations": page.evaluate("window.violations"),
        }
        browser.close()
    return seen


if __name__ == "__main__":
    print(json.dumps(visit(sys.argv[1], sys.argv[2])))
