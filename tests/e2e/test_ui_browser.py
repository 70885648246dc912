"""The debugger UI (`@llamaindex/workflow-debugger`, served by `kwf serve` from the package) in headless
Chromium (Debian's, `make chromium`) on the dev cluster: start a run of a workflow that streams events and
asks a question, see the events in the page as they come, answer through the UI's Send Event form, see
the run succeed. The page may reach 127.0.0.1 only, as in a cluster without internet access.

A screenshot of the finished run is saved in the test's tmp_path (printed), and to $KWF_UI_SCREENSHOT
when set (the README's image: KWF_UI_SCREENSHOT=docs/debugger.png).
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any

import httpx
from playwright.sync_api import Page, Route, sync_playwright

import serving
from kube_workflows.models import GROUP, PLURAL, VERSION
from support import Cluster, wait_for

CHROMIUM = Path("/usr/bin/chromium")
WORKFLOW = "greeting"
STEPS = 3
TIMEOUT_MS = 180_000


def only_local(blocked: list[str]) -> Any:
    def route(route: Route) -> None:
        if route.request.url.startswith("http://127.0.0.1:"):
            route.continue_()
        else:
            blocked.append(route.request.url)
            route.abort()

    return route


def the_run(url: str) -> dict[str, Any]:
    [handler] = httpx.get(f"{url}/handlers", params={"workflow_name": WORKFLOW}, timeout=30).json()["handlers"]
    return handler  # type: ignore[no-any-return]


def start_a_run(page: Page) -> None:
    page.get_by_text("Select workflow...").click()
    page.get_by_role("option", name=WORKFLOW).click()
    page.locator("#raw-input").fill(f'{{"steps": {STEPS}, "delay": 0.5}}')  # the start event's fields
    page.get_by_role("button", name="Run Workflow").click()


def answer(page: Page, name: str) -> None:
    page.get_by_role("button", name="Send Event").click()
    dialog = page.get_by_role("dialog")
    dialog.get_by_role("combobox").click()
    # The answer class's fields come from /workflows/greeting/events (kwf serve imports the workflow).
    page.get_by_role("option", name="Name", exact=True).click()
    dialog.locator("#field-name").fill(name)
    dialog.get_by_role("button", name="Send Event").click()


def test_the_debugger_shows_a_runs_events_and_answers_its_question(
    cluster: Cluster, operator: object, namespace: str, tmp_path: Path
) -> None:
    assert CHROMIUM.is_file(), f"{CHROMIUM} is missing: `make chromium` installs Debian's package"
    templates = {WORKFLOW: "kwf_testflows.greeting:Greeting"}
    blocked: list[str] = []
    with serving.kwf_serve(cluster, namespace, tmp_path, templates) as url, sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=["--no-sandbox"])
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 760})
            page.set_default_timeout(TIMEOUT_MS)
            page.route("**/*", only_local(blocked))
            loaded = []
            page.on("response", lambda r: loaded.append((r.url, r.status)))
            page.goto(f"{url}/")
            page.get_by_text("Workflow Debugger").wait_for()
            assert (f"{url}/dist/app.js", 200) in loaded and (f"{url}/dist/app.css", 200) in loaded, loaded

            start_a_run(page)
            # Streamed by the runner pod, published in the run's status, streamed to the page over SSE.
            for i in range(1, STEPS + 1):
                page.get_by_text(f'"msg": "working {i}/{STEPS}"').wait_for()
            handler = the_run(url)
            wait_for("the run to wait for its answer", lambda: the_run(url)["phase"] == "Waiting", 120)

            answer(page, "Ada")
            page.get_by_text('"msg": "hello Ada"').wait_for()  # streamed by the step the answer woke
            page.get_by_text("Final Result").wait_for()
            page.get_by_text('"greeting": "hello Ada"').wait_for()
            page.get_by_text("completed", exact=True).first.wait_for()
            page.wait_for_timeout(500)  # the graph's layout settles
            shot = tmp_path / "debugger.png"
            page.screenshot(path=str(shot))
        finally:
            browser.close()
    print(f"screenshot: {shot}")
    if os.environ.get("KWF_UI_SCREENSHOT"):
        shutil.copyfile(shot, os.environ["KWF_UI_SCREENSHOT"])

    run = cluster.custom.get_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, handler["handler_id"])
    assert run["status"]["phase"] == "Succeeded" and run["status"]["result"] == {"greeting": "hello Ada"}
    # Only the stylesheet's web font (fonts.googleapis.com, an @import in the package's app.css) is elsewhere:
    # the page renders without it.
    assert all(u.startswith("https://fonts.googleapis.com/") for u in blocked), blocked
