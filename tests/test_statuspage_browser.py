"""
The status page in a real browser: Debian's chromium driven by playwright
(the system executable; never a downloaded browser), against the resource
running on the real reactor in a child process, over loopback only.

Skipped, with the reason, when chromium or playwright is missing (.ci/run
installs both). ``STATUSPAGE_SCREENSHOT=path.png`` saves a screenshot.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = shutil.which("chromium") or (
    "/usr/bin/chromium" if os.path.exists("/usr/bin/chromium") else None
)
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def _requirements() -> str | None:
    if CHROMIUM is None:
        return "chromium is not installed (apt-get install chromium; .ci/run does)"
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "playwright is not installed (pip install -e '.[test]')"
    return None


@pytest.fixture
def app() -> object:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(
        filter(None, [str(ROOT), env.get("PYTHONPATH")])
    )
    child = subprocess.Popen(
        [sys.executable, "-m", "tests.statuspage_app"],
        cwd=ROOT,
        env=env,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert child.stdout is not None and child.stdin is not None
    line = child.stdout.readline().split()
    assert line[:1] == ["READY"], line
    url, token = line[1], line[2]

    def command(text: str) -> None:
        assert child.stdin is not None and child.stdout is not None
        child.stdin.write(text + "\n")
        child.stdin.flush()
        assert child.stdout.readline().strip() == f"OK {text}"

    yield url, token, command
    child.stdin.close()
    try:
        child.wait(10)
    except subprocess.TimeoutExpired:
        child.kill()
        child.wait()


def test_statusPageInBrowser(app: tuple, tmp_path: Path) -> None:  # type: ignore[type-arg]
    """
    When the page is open, state changes appear without a reload, "Reconnect
    now" makes the attempt, and a POST without the token is refused.
    """
    reason = _requirements()
    if reason is not None:
        pytest.skip(reason)
    from playwright.sync_api import expect, sync_playwright

    url, token, command = app
    with sync_playwright() as p:
        context = p.chromium.launch_persistent_context(
            str(tmp_path / "profile"),
            executable_path=CHROMIUM,
            headless=True,
            args=ARGS,
            viewport={"width": 1100, "height": 330},
        )
        try:
            page = context.new_page()
            page.goto(url)
            orders = page.locator("tr", has_text="orders")
            archive = page.locator("tr", has_text="archive")
            expect(page.locator("#live")).to_have_text("live")
            expect(orders.locator('[data-field="state"]')).to_have_text("waiting")
            expect(orders.locator('[data-field="next"]')).to_contain_text("in 2")
            expect(archive.locator('[data-field="state"]')).to_have_text("stopped")
            expect(archive.locator('[data-field="failure"]')).to_have_text(
                "gave up: archive <maintenance>"
            )
            # read-only without the token: no buttons
            expect(orders.get_by_role("button", name="Reconnect now")).to_be_hidden()
            navigations: list[str] = []
            page.on("framenavigated", lambda frame: navigations.append(frame.url))

            page.fill("#token", token)
            command("listen")  # the server is up; the next attempt is 30 s away
            orders.get_by_role("button", name="Reconnect now").click()
            expect(orders.locator('[data-field="state"]')).to_have_text("connected")
            expect(page.locator("#message")).to_have_text("Reconnect now: done")
            expect(archive.get_by_role("button", name="Resume")).to_be_visible()
            expect(archive.get_by_role("button", name="Give up")).to_be_hidden()

            command("drop")  # the server closes the connection: seen live
            expect(orders.locator('[data-field="state"]')).to_have_text("waiting")
            expect(orders.locator('[data-field="failure"]')).to_contain_text(
                "ConnectionDone"
            )
            assert navigations == [], navigations  # never reloaded

            refused = page.evaluate(
                """async () => {
                  const r = await fetch("control", {method: "POST",
                    body: new URLSearchParams({action: "reconnect", id: "1",
                      csrf: document.getElementById("csrf").value})});
                  return [r.status, (await r.json()).error];
                }"""
            )
            assert refused == [403, "a valid token is required"]
            expect(orders.locator('[data-field="state"]')).to_have_text("waiting")
            shot = os.environ.get("STATUSPAGE_SCREENSHOT")
            if shot:
                page.screenshot(path=shot)
        finally:
            context.close()
