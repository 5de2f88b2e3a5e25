"""A real Chromium (Debian's `chromium` and `chromium-driver`, driven by selenium) for the page tests,
with the steps a person takes and the checks a person makes: what the page says, whether it overflows
a phone's width, what axe-core finds, and screenshots to look at."""
import os
import shutil
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SCREENSHOTS = Path(os.environ.get("ATRIUM_E2E_SCREENSHOTS", ROOT / ".screenshots"))
WIDTHS = {"desktop": 1280, "phone": 390}


def chromium_paths():
    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    driver = shutil.which("chromedriver")
    return browser, driver


def require_chromium():
    browser, driver = chromium_paths()
    if browser and driver:
        return browser, driver
    message = "the page tests need Debian's chromium and chromium-driver (make test installs them as root)"
    if os.environ.get("CI") == "true":
        pytest.fail(message)
    pytest.skip(message)


def open_browser(width=1280, language="en-US"):
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    browser, driver = require_chromium()
    options = webdriver.ChromeOptions()
    options.binary_location = browser
    for argument in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
                     f"--window-size={width},900", f"--lang={language}", "--hide-scrollbars"):
        options.add_argument(argument)
    options.add_experimental_option("prefs", {"intl.accept_languages": language})
    page = webdriver.Chrome(service=Service(driver), options=options)
    page.set_page_load_timeout(30)
    return page


def set_theme(page, theme):
    """Emulates the system's light or dark setting, which the stylesheet follows."""
    page.execute_cdp_cmd("Emulation.setEmulatedMedia", {"features": [{"name": "prefers-color-scheme", "value": theme}]})


def set_width(page, width):
    page.execute_cdp_cmd("Emulation.setDeviceMetricsOverride", {"width": width, "height": 900, "deviceScaleFactor": 1, "mobile": width < 600})


def horizontal_overflow(page, width):
    """How many CSS pixels the page is wider than `width`, the device's (0 when nothing sticks out). A
    phone's browser widens its layout to fit wide content, so the window's own width cannot tell."""
    return page.execute_script("return Math.max(0, document.documentElement.scrollWidth - arguments[0], window.innerWidth - arguments[0])", width)


def screenshot(page, name, width):
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    height = page.execute_script("return Math.min(document.documentElement.scrollHeight, 4000)")
    page.execute_cdp_cmd("Emulation.setDeviceMetricsOverride", {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": width < 600})
    page.save_screenshot(str(SCREENSHOTS / f"{name}.png"))
    page.execute_cdp_cmd("Emulation.setDeviceMetricsOverride", {"width": width, "height": 900, "deviceScaleFactor": 1, "mobile": width < 600})


def serious_accessibility_violations(page):
    """axe-core's serious and critical findings on the page as it stands."""
    from axe_selenium_python import Axe

    axe = Axe(page)
    axe.inject()
    results = axe.run()
    return [f"{v['id']} ({v['impact']}): {v['help']} — {[n['target'] for n in v['nodes']][:3]}"
            for v in results["violations"] if v["impact"] in ("serious", "critical")]


def click_to_load(page, element, timeout=10):
    """Clicks `element` and waits until the page it was on is gone. A form that comes back under the same
    heading (a grant, a revoke, a refused submit) would otherwise be read before the new page arrives."""
    from selenium.webdriver.support import expected_conditions
    from selenium.webdriver.support.ui import WebDriverWait

    leaving = page.find_element("tag name", "html")
    element.click()
    WebDriverWait(page, timeout).until(expected_conditions.staleness_of(leaving))


def heading_becomes(page, text, timeout=10):
    """Waits for the page's h1 to read `text` (after a click that loads another page) and returns it."""
    from selenium.common.exceptions import TimeoutException, WebDriverException
    from selenium.webdriver.support.ui import WebDriverWait

    def reads(driver):
        heading = driver.find_element("css selector", "h1").text
        return heading if heading == text else False

    try:
        # Any driver error while the next page loads (a stale or missing element, a navigation under
        # way) means "not yet"; only the time running out fails.
        return WebDriverWait(page, timeout, ignored_exceptions=(WebDriverException,)).until(reads)
    except TimeoutException:
        headings = [h.text for h in page.find_elements("css selector", "h1")]
        raise AssertionError(f"expected the heading {text!r}, the page at {page.current_url} shows {headings}")
