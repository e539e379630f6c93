"""A real browser (Playwright + Debian chromium, headless) clicks through every tab."""

import shutil
from pathlib import Path

import pytest

from tests.app_server import served_app

ARTIFACTS = Path(__file__).parent / "artifacts"
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync"]


@pytest.fixture(scope="module")
def page(tmp_path_factory):
    if CHROMIUM is None:
        pytest.fail("Debian chromium is not installed (apt-get install chromium); .ci/run installs it")
    from playwright.sync_api import sync_playwright

    ARTIFACTS.mkdir(exist_ok=True)
    with served_app(tmp_path_factory.mktemp("browser-home")) as (_, url), sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=FLAGS, headless=True)
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        page.goto(url, wait_until="domcontentloaded")
        page.wait_for_selector("text=xlt — cross-lingual transfer workbench", timeout=60_000)
        yield page
        browser.close()


def test_predict_tab(page):
    page.get_by_role("tab", name="Predict").click()
    page.get_by_label("Text").first.fill("Ce film était une perte de temps.")
    page.get_by_role("button", name="Predict sentiment").click()
    page.wait_for_selector("text=Detected language", timeout=120_000)
    assert page.locator("text=negative").first.is_visible()
    assert page.locator("text=Measured macro-F1 of this model in French").first.is_visible()
    page.screenshot(path=str(ARTIFACTS / "predict.png"), full_page=True)


def test_nli_example_shows_a_readers_answer_beside_the_models(page):
    page.get_by_role("tab", name="Predict").click()
    page.get_by_role("tab", name="NLI", exact=True).click()
    page.get_by_text("Der Zug ist heute pünktlich angekommen.").first.click()  # the German example
    expected = page.get_by_label("Expected relation (a reader's answer to the example)")
    page.wait_for_function("() => [...document.querySelectorAll('textarea, input')].some(e => e.value === "
                           "'contradiction')", timeout=30_000)
    page.get_by_role("button", name="Predict relation").click()
    page.wait_for_selector("text=Measured accuracy of this model in German", timeout=120_000)
    assert expected.input_value() == "contradiction"


def test_finetune_tab(page):
    page.get_by_role("tab", name="Fine-tune").click()
    page.wait_for_selector("text=Launch job", timeout=30_000)
    assert page.get_by_text("Source language(s)").first.is_visible()
    page.screenshot(path=str(ARTIFACTS / "finetune.png"), full_page=True)


def test_finetune_tab_previews_a_committed_grid(page):
    page.get_by_role("tab", name="Fine-tune").click()
    page.get_by_text("Sweep: queue the cells of a committed grid").click()
    page.get_by_role("button", name="Preview cells").click()
    page.wait_for_selector("text=/already done, protocol cpu-v1/", timeout=60_000)  # the first grid: nli-cpu-v1
    assert page.locator("text=/sweep nli-cpu-v1: \\d+ cells/").first.is_visible()


def test_leaderboard_tab_renders_figures(page):
    page.get_by_role("tab", name="Leaderboard").click()
    # visible ones: the Fine-tune tab's loss plot, hidden now, may have rendered first
    page.wait_for_selector(".js-plotly-plot >> visible=true", timeout=60_000)
    assert page.locator(".js-plotly-plot >> visible=true").count() >= 3
    # the committed records are listed: the runs table's rows hold a metric's name and a protocol flag (the table
    # draws only the rows in view, so which task's metric shows depends on the records)
    page.wait_for_function("() => { const text = document.body.innerText; return text.includes('protocol:cpu-v1') && "
                           "(text.includes('accuracy') || text.includes('macro_f1')); }", timeout=30_000)
    page.screenshot(path=str(ARTIFACTS / "leaderboard.png"), full_page=True)


def test_about_tab(page, tmp_path):
    page.get_by_role("tab", name="About / Submit").click()
    page.wait_for_selector("text=Transfer methods", timeout=30_000)
    assert page.get_by_role("button", name="Submit record").is_visible()
    # an upload that is not a record is rejected with the reason, in the page
    bad = tmp_path / "not-a-record.json"
    bad.write_text('{"run_id": "x"', encoding="utf-8")
    page.locator("input[type=file]").last.set_input_files(str(bad))
    page.wait_for_selector("text=not-a-record.json", timeout=30_000)
    page.get_by_role("button", name="Submit record").click()
    page.wait_for_selector("text=the file is not valid JSON", timeout=30_000)
    page.screenshot(path=str(ARTIFACTS / "about.png"), full_page=True)
