"""Headless Chromium for the viewer's browser test: Debian's ``chromium`` and
``chromium-driver`` (install them with ``.ci/install-browser``), driven by selenium.

`start_browser` fails with a message that says how to install the browser when
it cannot start one: a browser test never skips silently.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
WINDOW = (1200, 800)
INSTALL_HINT = ("install it with `bash .ci/install-browser` (apt-get install -y chromium "
                "chromium-driver)")

CHROMIUM_ARGS = ("--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--disable-quic", "--disable-dev-shm-usage",
                 "--hide-scrollbars", "--force-device-scale-factor=1",
                 f"--window-size={WINDOW[0]},{WINDOW[1]}")


class BrowserUnavailable(RuntimeError):
    """The headless browser is not installed or does not start."""


def start_browser(profile_dir: Path) -> Any:
    """A selenium Chrome driver on Debian's Chromium, with a fresh profile in
    `profile_dir`; `BrowserUnavailable` says what is missing."""
    try:
        from selenium import webdriver
        from selenium.common.exceptions import WebDriverException
        from selenium.webdriver.chrome.service import Service
    except ImportError as exc:
        raise BrowserUnavailable(f"selenium is not installed ({exc}); it is in the test "
                                 "extras: pip install -e '.[test]'") from None
    for path in (CHROMIUM, CHROMEDRIVER):
        if not path.exists():
            raise BrowserUnavailable(f"{path} is missing; {INSTALL_HINT}")
    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for arg in (*CHROMIUM_ARGS, f"--user-data-dir={profile_dir}"):
        options.add_argument(arg)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    try:
        driver = webdriver.Chrome(options=options, service=Service(str(CHROMEDRIVER)))
    except WebDriverException as exc:
        raise BrowserUnavailable(f"Chromium did not start: {exc.msg}; {INSTALL_HINT}") from None
    driver.set_page_load_timeout(30)
    driver.set_script_timeout(10)
    return driver


def stop_browser(driver: Any, profile_dir: Path) -> None:
    """Quit the browser and remove its profile."""
    try:
        driver.quit()
    finally:
        shutil.rmtree(profile_dir, ignore_errors=True)
