"""Open the HTML report in headless Chromium and use it as staff would.

Needs Debian's Chromium at /usr/bin/chromium (``apt-get install chromium``) and the
``playwright`` Python package; no browser is downloaded. Without them the tests are
skipped, unless the environment variable CI is set, where they fail instead.
Screenshots go to $COMPLAINTML_SCREENSHOT_DIR when set, else to pytest's tmp path.
"""

from __future__ import annotations

import csv
import io
import os
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))
from test_report import XSS, make_scored, write_scored  # noqa: E402  (shared synthetic data)

from complaintml.report import build_report  # noqa: E402

pytestmark = pytest.mark.browser

CHROMIUM = Path("/usr/bin/chromium")
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--no-first-run"]


def _missing(reason: str):
    if os.environ.get("CI"):
        pytest.fail(f"{reason} (CI is set, so this is an error, not a skip)")
    pytest.skip(reason)


@pytest.fixture(scope="module")
def chromium():
    if not CHROMIUM.exists():
        _missing(f"{CHROMIUM} not found: apt-get install chromium chromium-driver")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _missing("the playwright Python package is not installed")
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        yield browser
        browser.close()


@pytest.fixture(scope="module")
def data():
    return make_scored()


@pytest.fixture(scope="module")
def report_url(data, tmp_path_factory) -> str:
    folder = tmp_path_factory.mktemp("browser")
    path = build_report(write_scored(data, folder / "scored.parquet"), folder / "report.html")
    return path.resolve().as_uri()


@pytest.fixture(scope="module")
def shot_dir(tmp_path_factory) -> Path:
    folder = Path(os.environ.get("COMPLAINTML_SCREENSHOT_DIR") or tmp_path_factory.mktemp("screenshots"))
    folder.mkdir(parents=True, exist_ok=True)
    return folder


@pytest.fixture
def page(chromium, report_url):
    context = chromium.new_context(viewport={"width": 1366, "height": 900}, accept_downloads=True)
    page = context.new_page()
    page.dialogs, page.errors, page.remote = [], [], []
    page.on("dialog", lambda d: (page.dialogs.append(d.message), d.dismiss()))
    page.on("pageerror", lambda e: page.errors.append(str(e)))
    page.on("request", lambda r: None if r.url.startswith(("file:", "data:", "blob:")) else page.remote.append(r.url))
    page.goto(report_url)
    page.wait_for_selector("#fig-1 svg.main-svg", timeout=30_000)
    yield page
    context.close()


def count(page) -> int:
    return int(page.get_attribute("#table-count", "data-count"))


def wait_for_count(page, n: int) -> None:
    # expect() polls from Playwright's own script; page.wait_for_function would need the
    # page to allow eval, which the report's Content-Security-Policy rightly forbids.
    from playwright.sync_api import expect

    expect(page.locator("#table-count")).to_have_attribute("data-count", str(n))


def test_loads_offline_and_draws_charts(page, data, shot_dir):
    assert page.errors == [] and page.remote == []  # nothing fetched from the network
    figures = page.locator("div.plot").count()
    assert figures >= 10
    for i in range(figures):
        page.locator("div.plot").nth(i).locator("svg.main-svg").first.wait_for()
    assert page.locator("#fig-1 svg.main-svg").first.is_visible()
    assert count(page) == len(data)
    page.screenshot(path=str(shot_dir / "report-full.png"), full_page=True)


def test_filters_match_the_data(page, data, shot_dir):
    page.select_option("#f-label", label="humiliated")
    page.select_option("#f-seg-0", "North")
    expected = ((data["feelings"].fillna("").str.split(";").map(lambda labs: "humiliated" in labs))
                & (data["site"] == "North")).sum()
    assert 0 < expected < 100
    assert count(page) == expected
    assert page.locator("#comment-table tbody tr").count() == expected

    page.select_option("#f-label", "")
    page.select_option("#f-seg-0", "")
    page.fill("#f-from", "2024-01-01")
    page.fill("#f-to", "2024-03-31")
    page.select_option("#f-polarity", "negative")
    in_range = data["date"].between("2024-01-01", "2024-03-31") & (data["polarity"] == "negative")
    assert count(page) == in_range.sum()
    assert page.locator("#comment-table tbody tr").count() == min(100, in_range.sum())

    with page.expect_download() as download:
        page.click("#f-export")
    rows = list(csv.DictReader(io.StringIO(Path(download.value.path()).read_text(encoding="utf-8-sig"))))
    assert len(rows) == in_range.sum()
    assert {r["polarity"] for r in rows} == {"negative"}
    assert set(rows[0]) >= {"id", "date", "site", "department", "feelings", "root_causes", "text"}

    page.locator("#comments").scroll_into_view_if_needed()
    page.screenshot(path=str(shot_dir / "report-filtered.png"))


def test_search_and_show_more(page, data):
    page.fill("#f-search", "zebra crossing")
    wait_for_count(page, 1)
    assert "zebra crossing" in page.inner_text("#comment-table tbody")
    page.fill("#f-search", "")
    wait_for_count(page, len(data))
    assert page.locator("#comment-table tbody tr").count() == 100
    page.click("#show-more")
    assert page.locator("#comment-table tbody tr").count() == 200


def test_injected_script_is_shown_as_text(page):
    page.fill("#f-search", "alert(1)")
    wait_for_count(page, 1)
    assert XSS in page.inner_text("#comment-table tbody")
    assert page.locator("script").count() == 3  # data, plotly.js, the report's own script
    assert page.dialogs == [] and page.errors == []


def test_controls_are_labelled_and_keyboard_reachable(page, data):
    unlabelled = page.evaluate(
        "Array.from(document.querySelectorAll('form.filters input, form.filters select'))"
        ".filter(el => !el.labels || el.labels.length === 0).map(el => el.id)")
    assert unlabelled == []
    assert page.evaluate("Array.from(document.querySelectorAll('div.plot')).every(el => el.getAttribute('aria-label'))")
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.className") == "skip"
    page.focus("#f-review")
    page.keyboard.press("Space")
    assert page.is_checked("#f-review") and count(page) == int(data["needs_review"].sum())


def test_review_queue_button_filters_the_table(page, data):
    page.click("[data-show-review]")
    assert page.is_checked("#f-review")
    assert count(page) == int(data["needs_review"].sum())
