"""The dashboard in Debian's Chromium (headless, through Playwright): upload, watch, inspect.

Skipped when /usr/bin/chromium is missing (install it with `apt-get install -y chromium`).
Set QIP_SCREENSHOTS_DIR=docs to refresh the README's screenshots (docs/dashboard-*.png).
"""

from __future__ import annotations

import base64
import os
import re
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

CHROMIUM = Path(os.environ.get("QIP_CHROMIUM", "/usr/bin/chromium"))
if not CHROMIUM.exists():
    pytest.skip(
        f"{CHROMIUM} is missing: install Debian's chromium (apt-get install -y chromium) "
        "to run the browser tests",
        allow_module_level=True,
    )
sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed")

from qip_local.dashboard import serve_dashboard  # noqa: E402

# A closed network: no updates, no sync, no QUIC, nothing but 127.0.0.1.
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
GOOD = ("Landscape_1.jpg", "Portrait_6.jpg")
HOSTILE = "html-polyglot.gif"  # a GIF signature in front of HTML: validate calls it CORRUPT
WAIT_MS = 60_000


@pytest.fixture(scope="module")
def dashboard_url(server_runtime) -> Iterator[str]:
    with serve_dashboard(server_runtime.local_client()) as url:
        yield url


@pytest.fixture(scope="module")
def browser_context(tmp_path_factory) -> Iterator[sync_api.BrowserContext]:
    profile = tmp_path_factory.mktemp("chromium-profile")
    with sync_api.sync_playwright() as playwright:
        context = playwright.chromium.launch_persistent_context(
            str(profile),
            executable_path=str(CHROMIUM),
            args=CHROMIUM_ARGS,
            headless=True,
            viewport={"width": 1280, "height": 900},
        )
        context.set_default_timeout(WAIT_MS)
        yield context
        context.close()


@pytest.fixture(scope="module")
def shots(tmp_path_factory) -> Path:
    """Where screenshots go: $QIP_SCREENSHOTS_DIR (e.g. docs) or a temporary folder."""
    chosen = os.environ.get("QIP_SCREENSHOTS_DIR")
    folder = Path(chosen) if chosen else tmp_path_factory.mktemp("screenshots")
    folder.mkdir(parents=True, exist_ok=True)
    return folder


@pytest.fixture(scope="module")
def page(browser_context, dashboard_url) -> Iterator[sync_api.Page]:
    page = browser_context.new_page()
    problems: list[str] = []
    failed: list[str] = []
    # Failed requests are checked by URL below; every other console error is a problem.
    page.on(
        "console",
        lambda m: (
            problems.append(m.text)
            if m.type == "error" and not m.text.startswith("Failed to load resource")
            else None
        ),
    )
    page.on("pageerror", lambda e: problems.append(str(e)))
    page.on("response", lambda r: failed.append(f"{r.status} {r.url}") if r.status >= 400 else None)
    page.goto(dashboard_url)
    # A marker that survives only as long as the page is not reloaded.
    page.evaluate("window.qipNoReload = 42")
    yield page
    # No script errors and no CSP violations during the whole module.
    assert problems == []
    # The only refused request is upload-url turning the SVG away (415).
    assert [f.split("/", 3)[-1] for f in failed] == ["api/upload-url"]
    assert failed[0].startswith("415 ")
    page.close()


def wait_for_rows(page, status: str, count: int) -> list:
    rows = page.locator(f'#image-list li[data-status="{status}"]')
    deadline = time.monotonic() + WAIT_MS / 1000
    while rows.count() < count:
        assert time.monotonic() < deadline, f"fewer than {count} {status} rows"
        page.wait_for_timeout(200)
    return [rows.nth(i) for i in range(rows.count())]


def test_upload_two_images_and_a_hostile_file_and_watch_them_finish(
    page, corpus_dir, shots
) -> None:
    page.set_input_files("#file-input", [str(corpus_dir / n) for n in (*GOOD, HOSTILE)])
    log = page.locator("#upload-log li")
    sync_api.expect(log.filter(has_text="uploaded as uploads/")).to_have_count(3)

    completed = wait_for_rows(page, "COMPLETED", 2)
    rejected = wait_for_rows(page, "REJECTED", 1)
    assert sorted(row.get_attribute("data-name") for row in completed) == sorted(GOOD)
    assert rejected[0].get_attribute("data-name") == HOSTILE
    sync_api.expect(rejected[0].locator(".image__problem")).to_have_text("Reason: CORRUPT")
    assert rejected[0].locator("img").count() == 0
    for row in completed:
        thumb = row.locator("img")
        sync_api.expect(thumb).to_have_attribute(
            "alt", f"Thumbnail of {row.get_attribute('data-name')}"
        )
        page.wait_for_function(
            "img => img.complete && img.naturalWidth === 200", arg=thumb.element_handle()
        )
    # Status changes were announced to screen readers, and the page never reloaded.
    announced = page.locator("#announcer").inner_text()
    assert re.search(r"is now (COMPLETED|REJECTED)|: (COMPLETED|REJECTED)", announced)
    assert page.evaluate("window.qipNoReload") == 42
    page.screenshot(path=str(shots / "dashboard-list.png"), full_page=True)


def test_open_a_timeline_with_the_keyboard(page, shots) -> None:
    row = page.locator('#image-list li[data-status="COMPLETED"]').first
    name = row.get_attribute("data-name")
    row.locator("a.image__name").focus()
    page.keyboard.press("Enter")
    detail = page.locator("#detail")
    sync_api.expect(detail).to_be_visible()
    sync_api.expect(detail.locator("#detail-heading")).to_contain_text(name)
    sync_api.expect(detail.locator("table.timeline tbody tr")).to_have_count(5)
    sync_api.expect(detail.locator('tbody tr[data-status="COMPLETED"]')).to_have_count(5)
    for stage in ("validation", "metadata", "resize", "thumbnail", "archive"):
        cells = detail.locator(f'tr[data-stage="{stage}"] td')
        assert re.fullmatch(r"\d\d:\d\d:\d\d\.\d{3}", cells.nth(1).inner_text())
        assert re.fullmatch(r"\d+\.\d\d s", cells.nth(3).inner_text())
    final = detail.locator('svg.workflow--wide g[data-status="final"]')
    sync_api.expect(final).to_have_count(1)
    assert final.get_attribute("data-state") == "Completed"
    assert (
        detail.locator('svg.workflow--wide g[data-state="ArchiveImage"]').get_attribute(
            "data-status"
        )
        == "succeeded"
    )
    assert "image=uploads" in page.url
    assert page.evaluate("document.activeElement.id") == "detail"
    page.screenshot(path=str(shots / "dashboard-detail.png"), full_page=True)

    # The rejected image: its graph ends in Rejected, with ValidateImage in error.
    page.locator('#image-list li[data-status="REJECTED"] a.image__name').click()
    sync_api.expect(
        detail.locator('svg.workflow--wide g[data-state="Rejected"]')
    ).to_have_attribute("data-status", "final")
    assert (
        detail.locator('svg.workflow--wide g[data-state="ValidateImage"]').get_attribute(
            "data-status"
        )
        == "error"
    )
    sync_api.expect(detail.locator(".notice")).to_contain_text("Rejected: CORRUPT")
    page.keyboard.press("Escape")
    sync_api.expect(detail).to_be_hidden()


def test_filter_by_status_without_reloading(page) -> None:
    page.select_option("#filter-status", "REJECTED")
    sync_api.expect(page.locator("#image-list li[data-key]")).to_have_count(1)
    assert page.locator("#image-list li[data-key]").get_attribute("data-status") == "REJECTED"
    assert "status=REJECTED" in page.url
    page.select_option("#filter-status", "")
    sync_api.expect(page.locator("#image-list li[data-key]")).to_have_count(3)
    assert page.evaluate("window.qipNoReload") == 42


def test_drag_and_drop_uploads_and_refusals_are_reported(page, corpus_dir) -> None:
    files = [
        {
            "name": "concert.jpg",
            "type": "image/jpeg",
            "data": (corpus_dir / "concert.jpg").read_bytes(),
        },
        {
            "name": "circle.svg",
            "type": "image/svg+xml",
            "data": (corpus_dir / "circle.svg").read_bytes(),
        },
    ]
    payload = [
        {"name": f["name"], "type": f["type"], "b64": base64.b64encode(f["data"]).decode()}
        for f in files
    ]
    page.evaluate(
        """files => {
            const transfer = new DataTransfer();
            for (const f of files) {
                const bytes = Uint8Array.from(atob(f.b64), c => c.charCodeAt(0));
                transfer.items.add(new File([bytes], f.name, {type: f.type}));
            }
            const zone = document.getElementById("dropzone");
            const init = {dataTransfer: transfer, bubbles: true, cancelable: true};
            zone.dispatchEvent(new DragEvent("dragover", init));
            zone.dispatchEvent(new DragEvent("drop", init));
        }""",
        payload,
    )
    log = page.locator("#upload-log li")
    sync_api.expect(
        log.filter(has_text="concert.jpg").filter(has_text="uploaded as")
    ).to_have_count(1)
    refused = log.filter(has_text="circle.svg")
    sync_api.expect(refused).to_have_attribute("data-state", "refused")
    sync_api.expect(refused).to_contain_text("415 UNSUPPORTED_CONTENT_TYPE")
    wait_for_rows(page, "COMPLETED", 3)


def test_labels_and_a_phone_sized_screen(page, shots, dashboard_url) -> None:
    unlabelled = page.evaluate(
        """() => [...document.querySelectorAll("input, select, button")]
            .filter(el => !(el.labels && el.labels.length) && !el.getAttribute("aria-label")
                    && !el.textContent.trim())
            .map(el => el.outerHTML)"""
    )
    assert unlabelled == []
    assert page.evaluate("[...document.images].every(img => img.alt)")
    page.set_viewport_size({"width": 390, "height": 844})
    page.goto(dashboard_url)
    page.locator('#image-list li[data-status="COMPLETED"] a.image__name').first.click()
    # On a phone the stacked drawing replaces the wide one, at a legible size.
    sync_api.expect(page.locator("svg.workflow--narrow")).to_be_visible()
    sync_api.expect(page.locator("svg.workflow--wide")).to_be_hidden()
    # Nothing runs off the side of a phone screen (the page never scrolls sideways).
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    box = page.locator("svg.workflow--narrow").bounding_box()
    assert box is not None
    assert box["x"] >= 0
    assert box["x"] + box["width"] <= 390
    assert box["width"] >= 300
    page.screenshot(path=str(shots / "dashboard-phone.png"), full_page=True)
    page.set_viewport_size({"width": 1280, "height": 900})
