"""The web viewer in a real browser: headless Chromium (Debian's, installed by
``.ci/install-browser``) driven by selenium against ``tablelog server`` in a
subprocess, filled by real SDK logging and ``tablelog sync``.

If Chromium cannot be started the tests fail, saying how to install it: they
never skip. Screenshots (1200×800) are written to the test's temp dir; set
``TABLELOG_SCREENSHOTS=docs/screenshots`` to refresh the ones in the docs.
"""

from __future__ import annotations

import os
import shutil
import struct
import tempfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import API_KEY, ServerProcess, free_port
from tests.viewer.browser import WINDOW, BrowserUnavailable, start_browser, stop_browser
from tests.viewer.sample_data import (
    ALL_ROWS,
    CHARTS,
    COMPARE_ROWS,
    DETECTION_ROWS,
    FIRST_ROWS,
    LABELS,
    POINTS,
    XSS_IMG,
    XSS_SCRIPT,
    SampleRun,
    log_comparison,
    log_sample,
    sync,
)

pytestmark = [pytest.mark.browser, pytest.mark.slow]

WAIT_S = 15.0
RECORD_ALERTS = ("window.__alerts = []; window.alert = window.confirm = window.prompt = "
                 "(m) => { window.__alerts.push(String(m)); };")
VISIBLE_IMAGES_LOADED = """
const visible = [...document.images].filter(i => i.getBoundingClientRect().top < innerHeight);
return visible.length > 0 && visible.every(i => i.complete && i.naturalWidth > 0);
"""


@dataclass
class Site:
    """The server and what the sample logged to it."""

    server: ServerProcess
    sample: SampleRun
    compared: Sequence[str] = ()
    """The runs of the "compare" project (`log_comparison`)."""

    def url(self, path: str) -> str:
        return f"{self.server.url}{path}"


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    """A server holding the sample project, logged with the SDK and synced."""
    root = tmp_path_factory.mktemp("viewer-site")
    (root / "server").mkdir()
    server = ServerProcess(data_dir=root / "server", port=free_port()).start()
    try:
        with pytest.MonkeyPatch.context() as mp:
            for name, value in {"TABLELOG_DIR": str(root / "queue"), "TABLELOG_MODE": "online",
                                "TABLELOG_AGENT_AUTOSTART": "0",
                                "TABLELOG_BASE_URL": server.url,
                                "TABLELOG_API_KEY": API_KEY}.items():
                mp.setenv(name, value)
            sample = log_sample(scratch=root)
            compared = log_comparison()
        sync(root / "queue", server.url, API_KEY)
        yield Site(server, sample, compared)
    finally:
        server.stop()


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """Headless Chromium with a fresh profile; fails (never skips) without one."""
    profile = Path(tempfile.mkdtemp(prefix="tablelog-chromium-"))
    try:
        driver = start_browser(profile)
    except BrowserUnavailable as exc:
        shutil.rmtree(profile, ignore_errors=True)
        pytest.fail(f"the viewer's browser tests need headless Chromium: {exc}", pytrace=False)
    driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride", {
        "width": WINDOW[0], "height": WINDOW[1], "deviceScaleFactor": 1, "mobile": False})
    driver.execute_cdp_cmd("Page.addScriptToEvaluateOnNewDocument", {"source": RECORD_ALERTS})
    try:
        yield driver
    finally:
        stop_browser(driver, profile)


def _wait(driver: Any, condition: Any, what: str) -> Any:
    from selenium.common.exceptions import TimeoutException
    from selenium.webdriver.support.ui import WebDriverWait

    try:
        return WebDriverWait(driver, WAIT_S).until(condition)
    except TimeoutException:
        raise AssertionError(f"gave up after {WAIT_S}s waiting for {what} on "
                             f"{driver.current_url}") from None


def _go(driver: Any, action: Any) -> None:
    """Run an action that loads a new page, and wait until the old one is gone: reading
    elements right after a click or submit could otherwise read the page it leaves."""
    old = driver.find_element(*_by("html"))
    action()
    _wait(driver, lambda d: _detached(old), "the next page to load")


def _detached(element: Any) -> bool:
    """Whether `element` has left the document (Selenium's staleness_of, plus the error
    ChromeDriver sometimes gives instead of a stale reference while a page is replaced:
    "unhandled inspector error: Node with given id does not belong to the document")."""
    from selenium.common.exceptions import StaleElementReferenceException, WebDriverException

    try:
        element.is_enabled()
    except StaleElementReferenceException:
        return True
    except WebDriverException as exc:
        if "does not belong to the document" in str(exc):
            return True
        raise
    return False


def _by(css: str) -> tuple[str, str]:
    from selenium.webdriver.common.by import By

    return (By.CSS_SELECTOR, css)


def _column(driver: Any, index: int) -> list[str]:
    """The text of one data column on the page (index 0 is the first table column)."""
    return [td.text for td in driver.find_elements(
        *_by(f"#rows tbody tr td:nth-child({index + 2})"))]


def _screenshot(driver: Any, tmp_path: Path, name: str) -> None:
    """Save a 1200×800 PNG; copy it to $TABLELOG_SCREENSHOTS when that is set."""
    path = tmp_path / f"{name}.png"
    assert driver.save_screenshot(str(path)), name
    header = path.read_bytes()[:24]
    assert header[:8] == b"\x89PNG\r\n\x1a\n" and struct.unpack(">II", header[16:24]) == WINDOW
    target = os.environ.get("TABLELOG_SCREENSHOTS")
    if target:
        Path(target).mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, Path(target) / path.name)


def _no_alerts_or_console_errors(driver: Any) -> None:
    assert driver.execute_script("return window.__alerts") == [], "a page ran an alert()"
    errors = [e["message"] for e in driver.get_log("browser") if e["level"] == "SEVERE"
              and "/login - Failed to load resource" not in e["message"]]  # the wrong key
    assert errors == [], errors  # e.g. a CSP violation, a missing image


def _logged_in(driver: Any, site: Site) -> None:
    driver.get(site.url("/"))
    if "/login" in driver.current_url:
        driver.find_element(*_by("#api_key")).send_keys(API_KEY)
        _go(driver, driver.find_element(*_by("form.login button")).click)
        _wait(driver, lambda d: "/login" not in d.current_url, "the login to finish")


def test_log_in_open_a_run_and_browse_its_table(site: Site, browser: Any,
                                                tmp_path: Path) -> None:
    driver = browser
    driver.delete_all_cookies()
    driver.get(site.url("/p/local/vision"))
    assert "/login?next=" in driver.current_url
    _screenshot(driver, tmp_path, "login")
    driver.find_element(*_by("#api_key")).send_keys("wrong-key")
    _go(driver, driver.find_element(*_by("form.login button")).click)
    assert "Unknown API key" in driver.find_element(*_by("form.login .error")).text
    driver.find_element(*_by("#api_key")).send_keys(API_KEY)
    _go(driver, driver.find_element(*_by("form.login button")).click)
    _wait(driver, lambda d: d.current_url.endswith("/p/local/vision"), "the project page")
    (cookie,) = [c for c in driver.get_cookies() if c["name"] == "tablelog_session"]
    assert cookie["httpOnly"] and cookie["sameSite"] == "Strict" and API_KEY not in cookie["value"]
    assert driver.execute_script("return document.cookie") == ""  # invisible to scripts
    _screenshot(driver, tmp_path, "project")

    _go(driver, driver.find_element(*_by("table.runs a")).click)  # the run, by its name
    assert driver.find_element(*_by("h1")).text == site.sample.run_name
    assert len(driver.find_elements(*_by("figure.metric:not(.plot) svg.chart polyline"))) == 2
    assert [e.text for e in driver.find_elements(*_by("figure.metric:not(.plot) strong"))] == [
        "loss", "accuracy", "weights"]  # weights: a histogram over steps
    _screenshot(driver, tmp_path, "run")
    preds = driver.find_elements(*_by("ul.tables a.version[href*='-preds/']"))
    assert [a.text for a in preds] == ["v0", "v1"]
    _go(driver, preds[1].click)

    _wait(driver, lambda d: d.execute_script(VISIBLE_IMAGES_LOADED), "thumbnails to load")
    assert "run.use_artifact(" in driver.find_element(*_by("#python-snippet")).text
    assert _column(driver, 0) == [str(i) for i in range(50)]
    thumb = driver.find_element(*_by("#rows img.thumb"))
    assert driver.execute_script("return arguments[0].naturalWidth", thumb) == 24
    assert thumb.get_attribute("alt") == "#0 cat"
    notes = _column(driver, 5)
    assert notes[3] == XSS_SCRIPT and notes[4] == XSS_IMG  # shown as text
    assert driver.find_elements(*_by('img[src="x"]')) == []
    _screenshot(driver, tmp_path, "table")
    full_size = driver.find_element(*_by("#rows figure.image a"))
    table_url = driver.current_url
    driver.get(full_size.get_attribute("href"))
    assert driver.execute_script("return document.images[0].naturalWidth") == 24
    driver.get(table_url)

    _go(driver, driver.find_element(*_by(".pager a[rel=next]")).click)  # page 2
    assert _column(driver, 0)[0] == "50"
    assert "rows 51–100 of 120" in driver.find_element(*_by(".pager")).text

    _go(driver, driver.find_element(*_by("#rows thead a.sort[href*='sort=score']")).click)
    scores = [float(s) for s in _column(driver, 4)]
    assert scores == sorted(scores) and driver.current_url.endswith("sort=score")
    _go(driver, driver.find_element(*_by("#rows thead a.sort[href*='sort=score']")).click)
    scores = [float(s) for s in _column(driver, 4)]
    assert scores == sorted(scores, reverse=True) and "desc=1" in driver.current_url

    box = driver.find_element(*_by("#filter"))
    box.send_keys("score > 0.9")
    _go(driver, box.submit)
    scores = [float(s) for s in _column(driver, 4)]
    assert scores and all(s > 0.9 for s in scores)
    assert "expression: score > 0.9" in driver.find_element(*_by("form.filter")).text
    box = driver.find_element(*_by("#filter"))
    box.clear()
    box.send_keys("scroe > 0.9 and guess != truth")  # a typo: said, never a text match
    _go(driver, box.submit)
    assert "unknown column 'scroe'" in driver.find_element(*_by("#filter-error")).text
    assert len(_column(driver, 4)) > 0  # the rows stay, unfiltered

    # an older version
    _go(driver, driver.find_element(*_by("#versions a.version[href*='/v0/']")).click)
    assert f"{FIRST_ROWS} rows" in driver.find_element(*_by("p.facts")).text
    assert driver.find_element(*_by("#versions [aria-current=page]")).text == "v0"
    _go(driver, driver.find_element(*_by("#versions a.version[href*='/v1/']")).click)
    _go(driver, driver.find_element(*_by("#versions a.since")).click)  # rows added since v0
    note = driver.find_element(*_by("#since-note")).text
    assert f"{ALL_ROWS - FIRST_ROWS} rows after the first {FIRST_ROWS}" in note
    assert _column(driver, 0)[0] == str(FIRST_ROWS)
    _screenshot(driver, tmp_path, "rows-added")
    _no_alerts_or_console_errors(driver)


def test_media_plays_and_joined_tables_switch(site: Site, browser: Any, tmp_path: Path) -> None:
    driver = browser
    _logged_in(driver, site)
    run_id = site.sample.run_id
    driver.get(site.url(f"/p/local/vision/tables/run-{run_id}-clips/latest/clips"))
    audio = driver.find_elements(*_by("#rows audio[controls]"))
    assert len(audio) == 3
    fetched = driver.execute_async_script(
        "const done = arguments[arguments.length - 1];"
        "fetch(arguments[0]).then(r => done([r.status, r.headers.get('content-type')]));",
        audio[0].get_attribute("src"))
    assert fetched == [200, "audio/wav"]  # the session cookie reaches the blob route
    duration = driver.execute_async_script(
        "const done = arguments[arguments.length - 1]; const a = arguments[0];"
        "a.addEventListener('loadedmetadata', () => done(a.duration)); a.load();", audio[0])
    assert duration == pytest.approx(0.25, abs=0.01)
    _wait(driver, lambda d: d.execute_script(VISIBLE_IMAGES_LOADED), "GIFs to load")
    assert len(driver.find_elements(*_by("#rows figure.video img.thumb"))) == 3  # GIF as img

    driver.get(site.url("/p/local/vision/tables/eval/latest/compared"))
    assert _column(driver, 0) == ["2", "3", "4", "5"]  # inner: ids in both tables
    _go(driver, driver.find_element(*_by(".hows a[href*='how=outer']")).click)
    assert _column(driver, 0) == [str(i) for i in range(9)]
    assert driver.find_element(*_by(".hows [aria-current=page]")).text == "outer"
    _screenshot(driver, tmp_path, "joined")
    _no_alerts_or_console_errors(driver)

    _go(driver, driver.find_element(*_by("form.logout button")).click)
    assert driver.current_url.endswith("/login")
    driver.get(site.url("/p/local/vision"))
    assert "/login?next=" in driver.current_url


VISIBLE = "return [...arguments[0]].filter(e => getComputedStyle(e).display !== 'none').length"


def _visible(driver: Any, css: str) -> int:
    return int(driver.execute_script(VISIBLE, driver.find_elements(*_by(css))))


def _set_checkbox(driver: Any, css: str, checked: bool) -> None:
    box = driver.find_element(*_by(css))
    if box.is_selected() != checked:
        box.click()


def test_overlays_toggle_and_other_media_show(site: Site, browser: Any, tmp_path: Path) -> None:
    driver = browser
    _logged_in(driver, site)
    driver.get(site.url(f"/p/local/vision/tables/run-{site.sample.run_id}-detections/latest/"
                        "detections"))
    n = DETECTION_ROWS
    assert len(driver.find_elements(*_by("#rows svg.overlaid"))) == n
    boxes, masks = "#rows svg.overlaid g.box", "#rows svg.overlaid image.mask"
    assert _visible(driver, boxes) == 2 * n and _visible(driver, masks) == 3 * n
    labels = [e.get_attribute("textContent") for e in driver.find_elements(
        *_by("#rows svg.overlaid .box-label"))]
    assert labels[:2] == ["cat confidence 0.9", "maybe dog 0 confidence 0.3"], labels

    panel = "#overlay-controls"
    _set_checkbox(driver, f"{panel} legend input[data-set=predictions]", False)
    assert _visible(driver, boxes) == 0 and _visible(driver, masks) == 3 * n
    _set_checkbox(driver, f"{panel} legend input[data-set=predictions]", True)
    _set_checkbox(driver, f"{panel} input[data-set=ground_truth][data-class='0']", False)
    assert _visible(driver, masks) == 2 * n  # the background layer of each image is off
    slider = driver.find_element(*_by(f"{panel} input[data-score=confidence]"))
    driver.execute_script("arguments[0].value = 0.5; arguments[0].dispatchEvent("
                          "new Event('input', {bubbles: true}))", slider)
    assert _visible(driver, boxes) == n  # the 0.3 boxes are below the minimum
    shown = driver.find_elements(*_by("#rows svg.overlaid g.box:not(.off)"))
    assert {e.get_attribute("data-class") for e in shown} == {"1"}
    _screenshot(driver, tmp_path, "overlays")

    figure = driver.find_element(*_by("#rows figure.with-overlays"))
    small = figure.find_element(*_by("svg")).size["width"]
    figure.click()
    big = figure.find_element(*_by("svg")).size["width"]
    assert "expanded" in figure.get_attribute("class") and big > 4 * small
    # The full-size view is the same SVG: the toggles hold there too.
    assert _visible(driver, "#rows figure.expanded g.box") == 1
    _screenshot(driver, tmp_path, "overlays-full-size")
    figure.click()
    assert "expanded" not in figure.get_attribute("class")

    assert len(driver.find_elements(*_by("#rows svg.histogram-cell rect.bin"))) > 3 * n
    playable = driver.execute_async_script("""
        const done = arguments[arguments.length - 1];
        const videos = [...document.querySelectorAll('#rows video')];
        Promise.all(videos.map(v => new Promise(ok => {
          const type = v.closest("td").cellIndex === 5
            ? 'video/webm' : 'video/mp4';
          if (!v.canPlayType(type)) { ok([type, null]); return; }
          v.muted = true;
          v.addEventListener('timeupdate', () => ok([type, v.duration]), {once: true});
          v.addEventListener('error', () => ok([type, 'error']), {once: true});
          v.play().catch(e => ok([type, String(e)]));
        }))).then(done);""")
    assert len(playable) == 2 * n, playable
    webm = [d for t, d in playable if t == "video/webm"]
    assert webm == [pytest.approx(2.0, abs=0.3)] * n, playable  # 8 frames at 4 fps
    assert all(d is None or d == pytest.approx(2.0, abs=0.3)
               for t, d in playable if t == "video/mp4"), playable

    frames = driver.find_elements(*_by("#rows iframe.html-cell"))
    assert len(frames) == n
    driver.switch_to.frame(frames[1])
    try:
        _wait(driver, lambda d: d.find_elements(*_by("b")), "the HTML cell")
        assert driver.find_element(*_by("p")).text == "row 1"
    finally:
        driver.switch_to.default_content()
    _wait(driver, lambda d: len(d.find_elements(*_by("canvas.points[data-drawn]"))) == n,
          "the point clouds")
    drawn = driver.find_element(*_by("canvas.points")).get_attribute("data-drawn")
    assert drawn == str(POINTS)
    assert [a.text for a in driver.find_elements(*_by("#rows figure.molecule a"))] == [
        "open molecule (.pdb)"] * n
    _no_alerts_or_console_errors(driver)  # the HTML cells' scripts did not run

    driver.get(site.url(f"/p/local/vision/runs/{site.sample.run_id}"))
    assert driver.find_elements(*_by("svg.chart.histogram")), "no histogram chart on the run page"


def test_every_wandb_plot_preset_is_drawn_on_the_run_page(site: Site, browser: Any,
                                                         tmp_path: Path) -> None:
    driver = browser
    _logged_in(driver, site)
    driver.get(site.url(f"/p/local/vision/runs/{site.sample.run_id}"))
    drawn = {f.get_attribute("id").removeprefix("chart-"): f
             for f in driver.find_elements(*_by("figure.plot"))}
    assert set(drawn) == set(CHARTS)
    for key, spec in CHARTS.items():
        svg = drawn[key].find_elements(*_by("svg.chart.plot"))
        if spec.startswith("wandb/"):
            assert svg and svg[0].get_attribute("data-spec") == spec, key
            assert svg[0].size["width"] > 300, key  # laid out, not an empty box
        else:  # a custom spec: named, with a link to its table
            assert not svg and spec in drawn[key].text and drawn[key].find_element(
                *_by("a[href*='/tables/']")), key

    def series(key: str) -> list[str]:
        return [e.get_attribute("data-series")
                for e in drawn[key].find_elements(*_by("polyline.series"))]

    assert series("pr") == series("roc") == ["cat", "dog", "bird"]  # a curve per class
    assert series("curve") == ["g0", "g1"] and series("series") == ["up", "down"]
    assert [e.text for e in drawn["pr"].find_elements(*_by(".legend-item"))] == [
        "cat", "dog", "bird"]
    cells = drawn["cm"].find_elements(*_by("rect.cell"))
    assert len(cells) == 9
    counts = [float(e.text) for e in drawn["cm"].find_elements(*_by("text.count"))]
    assert sum(counts) == 300  # every prediction counted once
    hover = cells[0].find_element(*_by("title")).get_attribute("textContent")
    assert hover.startswith("actual cat, predicted cat: ")
    assert len(drawn["counts"].find_elements(*_by("rect.bar"))) == 4
    assert len(drawn["points"].find_elements(*_by("circle.mark"))) == 40
    # the confusion matrix was logged at two steps: pick the first
    steps = drawn["cm"].find_elements(*_by(".steps a"))
    assert len(steps) == 2 and steps[1].get_attribute("aria-current") == "page"
    driver.execute_script("arguments[0].scrollIntoView()", drawn["counts"])
    _screenshot(driver, tmp_path, "charts")
    _go(driver, steps[0].click)
    cm = driver.find_element(*_by("#chart-cm"))
    diagonal = [float(e.text) for e in cm.find_elements(*_by("text.count"))][::4]
    assert sum(diagonal) == 300  # that step's matrix: every prediction right
    assert cm.find_element(*_by(".steps a[aria-current=page]")).text == steps_text(cm)[0]
    _no_alerts_or_console_errors(driver)


def steps_text(figure: Any) -> list[str]:
    return [a.text for a in figure.find_elements(*_by(".steps a"))]


def test_the_project_lists_tables_by_key_and_merges_a_key(site: Site, browser: Any,
                                                          tmp_path: Path) -> None:
    driver = browser
    _logged_in(driver, site)
    driver.get(site.url("/p/local/vision"))
    keys = [a.text for a in driver.find_elements(*_by("ul.keys a.key"))]
    assert "preds" in keys and "cm_table" in keys
    _go(driver, driver.find_element(*_by("ul.keys a.key[href$='/keys/preds']")).click)
    heads = [a.text.rstrip(" ▲▼") for a in driver.find_elements(*_by("#rows thead a.sort"))]
    assert heads[:3] == ["run", "id", "image"]
    assert set(_column(driver, -1)) == {site.sample.run_id}  # the run column
    assert f"of {ALL_ROWS}" in driver.find_element(*_by(".pager")).text
    box = driver.find_element(*_by("#filter"))
    box.send_keys("score > 0.9 and truth == 'cat'")
    _go(driver, box.submit)
    assert "expression: score > 0.9 and truth == \"cat\"" in driver.find_element(
        *_by("form.filter")).text
    assert set(_column(driver, 3)) == {"cat"}  # truth, after run, id, image, guess
    _screenshot(driver, tmp_path, "merged")
    _no_alerts_or_console_errors(driver)


def _expected_guess(i: int, shift: int) -> str:
    truth = LABELS[i % len(LABELS)]
    return truth if i % (shift + 2) else LABELS[(i + shift) % len(LABELS)]


def test_compare_runs_side_by_side_grouped_and_exported(site: Site, browser: Any,
                                                        tmp_path: Path) -> None:
    from selenium.webdriver.support.ui import Select

    driver = browser
    _logged_in(driver, site)
    driver.get(site.url("/p/local/compare"))
    _go(driver, driver.find_element(*_by("ul.keys a.key[href$='/keys/preds']")).click)
    assert set(_column(driver, -1)) == set(site.compared)  # merged: both runs' rows
    assert f"of {2 * COMPARE_ROWS}" in driver.find_element(*_by(".pager")).text
    # a filter that cannot be read says why, and filters nothing
    box = driver.find_element(*_by("#filter"))
    box.send_keys("scroe > 1")
    _go(driver, box.submit)
    assert "unknown column 'scroe'" in driver.find_element(*_by("#filter-error")).text
    assert f"of {2 * COMPARE_ROWS}" in driver.find_element(*_by(".pager")).text
    driver.get(site.url("/p/local/compare/keys/preds"))
    # side by side, joined on id: the guesses that differ are marked
    _go(driver, driver.find_element(*_by("#mode-side")).click)
    assert "joined on id" in driver.find_element(*_by("p.facts")).text
    _go(driver, driver.find_element(*_by("a.diff[href*='diff=guess']")).click)
    differ = [i for i in range(COMPARE_ROWS) if _expected_guess(i, 1) != _expected_guess(i, 3)]
    ids = [th.text for th in driver.find_elements(*_by("#rows tbody th"))]
    assert ids == [str(i) for i in differ]
    marked = driver.find_elements(*_by("#rows tbody td.differs"))
    assert len(marked) >= 2 * len(differ)
    colour = marked[0].value_of_css_property("background-color")
    assert colour not in ("rgba(0, 0, 0, 0)", "transparent")  # highlighted, visibly
    _screenshot(driver, tmp_path, "side_by_side")
    # grouped by truth and guess: a confusion count per pair; a group opens its rows
    _go(driver, driver.find_element(*_by("#mode-group")).click)
    select = Select(driver.find_element(*_by("#group-by")))
    select.select_by_value("truth")
    select.select_by_value("guess")
    _go(driver, driver.find_element(*_by("form.group-by button")).click)
    counts: dict[tuple[str, str], int] = {}
    for run_shift in (1, 3):
        for i in range(COMPARE_ROWS):
            pair = (LABELS[i % len(LABELS)], _expected_guess(i, run_shift))
            counts[pair] = counts.get(pair, 0) + 1
    shown = {}
    for tr in driver.find_elements(*_by("#groups tbody tr")):
        tds = [td.text for td in tr.find_elements(*_by("td"))]
        shown[(tds[0], tds[1])] = int(tds[2])
    assert shown == counts
    assert driver.find_elements(*_by("#groups .gallery img"))  # the image column's gallery
    assert driver.find_elements(*_by("#groups svg.hist rect.bar"))  # the score histogram
    _screenshot(driver, tmp_path, "grouped")
    first = driver.find_element(*_by("#groups tbody tr"))
    wanted = int(first.find_elements(*_by("td"))[2].text)
    _go(driver, first.find_element(*_by("a.group-link")).click)
    assert f"of {wanted}" in driver.find_element(*_by(".pager")).text
    # the grouped view downloads as CSV: one line per group after the header
    _go(driver, driver.back)
    downloads = tmp_path / "downloads"
    downloads.mkdir()
    driver.execute_cdp_cmd("Browser.setDownloadBehavior",
                           {"behavior": "allow", "downloadPath": str(downloads)})
    driver.find_element(*_by("#export-csv")).click()
    done = _wait(driver, lambda d: [p for p in downloads.iterdir()
                                    if p.suffix == ".csv"] or False, "the CSV download")
    lines = done[0].read_text().splitlines()
    assert lines[0].startswith("truth,guess,count") and len(lines) == 1 + len(counts)
    _no_alerts_or_console_errors(driver)
