"""Run by tests/e2e/test_dashboards.py with Superset's own Python (selenium ships with Superset, not with
Coinbook): log in, open each dashboard, wait for every chart, save a PNG, and print per dashboard the charts
found, those that show an error and those that are empty (JSON on stdout).

    <superset venv>/bin/python dashboard_browser.py URL USER PASSWORD OUT_DIR CHROMIUM CHROMEDRIVER SLUG...
"""

import json
import sys
import time

from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By

CHART = ".dashboard-component-chart-holder"
# what a chart that drew something contains (big numbers are text, the rest svg/canvas/table)
DRAWN = "svg, canvas, table, .header-line, .big-number"
ERROR = "[role='alert'], .ant-alert-error, .alert-danger"
EMPTY_TEXTS = ("No results were returned", "No data")
TIMEOUT_S = 180  # a login or a chart on a loaded machine (the whole suite on 2 cores) can take over a minute
WIDTH, HEIGHT, MAX_HEIGHT = 1600, 1400, 4000


def main(url: str, user: str, password: str, out: str, chromium: str, chromedriver: str, slugs: list[str]) -> None:
    options = webdriver.ChromeOptions()
    for argument in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", f"--window-size={WIDTH},{HEIGHT}",
                     "--disable-gpu"):
        options.add_argument(argument)
    options.binary_location = chromium
    driver = webdriver.Chrome(service=Service(chromedriver), options=options)
    report = {}
    try:
        driver.get(f"{url}/login/")
        _wait(lambda: driver.find_elements(By.ID, "username"), "the login form (drawn by React)")
        driver.find_element(By.ID, "username").send_keys(user)
        driver.find_element(By.ID, "password").send_keys(password + "\n")
        _wait(lambda: "/login" not in driver.current_url, "the login")
        for slug in slugs:
            driver.set_window_size(WIDTH, HEIGHT)
            driver.get(f"{url}/superset/dashboard/{slug}/")
            _wait(lambda: _settled(driver), f"every chart of {slug}")
            # the whole dashboard in one picture (and every chart in view: Superset draws charts as they scroll in)
            height = driver.execute_script("return document.documentElement.scrollHeight")
            if height > HEIGHT:
                driver.set_window_size(WIDTH, min(height + 40, MAX_HEIGHT))
                time.sleep(0.5)
                _wait(lambda: _settled(driver), f"every chart of {slug}, resized")
            time.sleep(1.5)  # ECharts animate in
            charts = driver.find_elements(By.CSS_SELECTOR, CHART)
            errors, empty = [], []
            for chart in charts:
                title = chart.text.split("\n", 1)[0]
                if chart.find_elements(By.CSS_SELECTOR, ERROR):
                    errors.append(chart.text[:300])
                elif any(text in chart.text for text in EMPTY_TEXTS) or not chart.find_elements(By.CSS_SELECTOR,
                                                                                                DRAWN):
                    empty.append(title)
            path = f"{out}/{slug}.png"
            driver.save_screenshot(path)
            report[slug] = {"charts": len(charts), "errors": errors, "empty": empty, "png": path}
    finally:
        driver.quit()
    print(json.dumps(report))


def _settled(driver: webdriver.Chrome) -> bool:
    charts = driver.find_elements(By.CSS_SELECTOR, CHART)
    if not charts:
        return False
    return not driver.find_elements(By.CSS_SELECTOR, f"{CHART} .loading, {CHART} [aria-label='Loading']")


def _wait(condition, what: str) -> None:
    deadline = time.monotonic() + TIMEOUT_S
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.5)
    raise SystemExit(f"timed out waiting for {what}")


if __name__ == "__main__":
    main(*sys.argv[1:7], sys.argv[7:])
