"""Debian's Chromium, driven by Selenium through Debian's chromedriver (`.ci/run` installs both).

Without them the browser tests are skipped, except under CI (``CI`` set), where a missing
browser fails them: a green CI must mean the pages were seen in a browser.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

CHROMIUM = os.environ.get("AMI_CHROMIUM", "/usr/bin/chromium")
CHROMEDRIVER = os.environ.get("AMI_CHROMEDRIVER", "/usr/bin/chromedriver")
WIDTH = 1280


def require_browser() -> None:
    """Skip (fail under CI) when Chromium or chromedriver is missing."""
    missing = [p for p in (CHROMIUM, CHROMEDRIVER) if not shutil.which(p)]
    if not missing:
        return
    message = f"{', '.join(missing)} missing: apt-get install chromium chromium-driver"
    if os.environ.get("CI"):
        pytest.fail(message)
    pytest.skip(message)


def start_chromium():
    """A headless Chromium session (the caller quits it)."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for argument in (
        "--headless=new",
        "--no-sandbox",  # CI runs as root
        "--disable-dev-shm-usage",
        "--disable-gpu",
        f"--window-size={WIDTH},900",
        "--lang=en-US",
    ):
        options.add_argument(argument)
    driver = webdriver.Chrome(options=options, service=Service(CHROMEDRIVER))
    driver.implicitly_wait(5)
    return driver


def log_in(driver, base_url: str, email: str, password: str) -> None:
    """Through the admin's login form, as a reviewer would."""
    from selenium.webdriver.common.by import By

    driver.get(f"{base_url}/admin/login/?next=/admin/")
    driver.find_element(By.NAME, "username").send_keys(email)
    driver.find_element(By.NAME, "password").send_keys(password)
    driver.find_element(By.CSS_SELECTOR, "input[type=submit]").click()
    driver.find_element(By.ID, "user-tools")  # waits for the logged-in page


def save_page(driver, path: Path) -> None:
    """A screenshot of the whole page (the window grown to the page's height)."""
    height = driver.execute_script("return document.documentElement.scrollHeight")
    driver.set_window_size(WIDTH, max(900, int(height)))
    path.parent.mkdir(parents=True, exist_ok=True)
    driver.save_screenshot(str(path))
    driver.set_window_size(WIDTH, 900)


def follow(driver, action) -> None:
    """Run ``action`` (a click, a submit) and wait until the next page replaced this one, so
    nothing is read from the page being left."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions
    from selenium.webdriver.support.ui import WebDriverWait

    old = driver.find_element(By.TAG_NAME, "html")
    action()
    WebDriverWait(driver, 15).until(expected_conditions.staleness_of(old))
