#!/usr/bin/env python3
"""Drives the playground page in headless Chromium, as a person would: load the page, choose a
photo, pick mode, preset, sizes and format, press Crop, wait for the results, and check what
the page shows. Run by ServerTests against a real server; prints one line per check and exits
non-zero on the first failure.

    playground_test.py --url http://127.0.0.1:PORT/ --photo astronaut.png [--screenshot out.png]
"""
import argparse
import re
import shutil
import sys

from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions as ec
from selenium.webdriver.support.ui import Select, WebDriverWait


def check(condition, message):
    print(("ok    " if condition else "FAIL  ") + message, flush=True)
    if not condition:
        raise SystemExit(1)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--url", required=True)
    parser.add_argument("--photo", required=True)
    parser.add_argument("--screenshot")
    parser.add_argument("--chromium", default=shutil.which("chromium") or "/usr/bin/chromium")
    parser.add_argument("--driver", default=shutil.which("chromedriver") or "/usr/bin/chromedriver")
    args = parser.parse_args()

    options = webdriver.ChromeOptions()
    options.binary_location = args.chromium
    for flag in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu", "--window-size=1400,1000",
                 "--no-first-run", "--disable-extensions"):
        options.add_argument(flag)
    # An explicit driver path: Selenium Manager must not try to download anything.
    driver = webdriver.Chrome(service=Service(executable_path=args.driver), options=options)
    try:
        run(driver, args)
    finally:
        driver.quit()


def run(driver, args):
    wait = WebDriverWait(driver, 60)
    driver.get(args.url)
    check("smartcrop" in driver.title, f"page loaded: {driver.title!r}")
    check(not driver.find_element(By.ID, "run").is_enabled(), "Crop is disabled until a photo is chosen")

    driver.find_element(By.ID, "file").send_keys(args.photo)
    wait.until(lambda d: d.execute_script("const i = document.getElementById('original'); return i.complete && i.naturalWidth > 0"))
    check(driver.find_element(By.ID, "run").is_enabled(), "the photo is shown and Crop is enabled")

    Select(driver.find_element(By.ID, "mode")).select_by_value("face")
    Select(driver.find_element(By.ID, "preset")).select_by_value("head-shoulders")
    Select(driver.find_element(By.ID, "format")).select_by_value("webp")
    sizes = driver.find_element(By.ID, "sizes")
    sizes.clear()
    sizes.send_keys("128x128, 400x300, 300x400")
    driver.find_element(By.ID, "run").click()

    wait.until(ec.presence_of_all_elements_located((By.CSS_SELECTOR, "#results img.result-image")))
    wait.until(lambda d: d.execute_script(
        "return [...document.querySelectorAll('#results img.result-image')].every(i => i.complete && i.naturalWidth > 0)"))
    error = driver.find_element(By.ID, "error").text
    check(error == "", f"no error shown ({error!r})")

    natural = driver.execute_script(
        "return [...document.querySelectorAll('#results img.result-image')].map(i => [i.naturalWidth, i.naturalHeight])")
    check(natural == [[128, 128], [400, 300], [300, 400]], f"three results at the sizes asked for: {natural}")

    captions = [c.text for c in driver.find_elements(By.CSS_SELECTOR, "#results figcaption")]
    check(all(re.search(r"\d+(\.\d)? (KB|B)", c) for c in captions), f"each result shows its byte size: {captions}")
    check(all("webp" in c for c in captions), "each result is WebP")

    faces = driver.find_elements(By.CSS_SELECTOR, "#stage .face-box")
    check(len(faces) >= 1, f"face boxes drawn over the original: {len(faces)}")
    crops = driver.find_elements(By.CSS_SELECTOR, "#stage .crop-box")
    check(len(crops) == 3, f"one crop box per result drawn over the original: {len(crops)}")
    inside = driver.execute_script("""
        const img = document.getElementById('original').getBoundingClientRect();
        return [...document.querySelectorAll('#stage .box')].every(b => {
            const r = b.getBoundingClientRect();
            return r.width > 0 && r.left >= img.left - 3 && r.right <= img.right + 3 && r.top >= img.top - 3 && r.bottom <= img.bottom + 3;
        });""")
    check(inside, "the boxes lie on the photo")
    summary = driver.find_element(By.ID, "summary").text
    check("face" in summary and "×" in summary, f"summary: {summary!r}")

    if args.screenshot:
        driver.save_screenshot(args.screenshot)
        print(f"screenshot {args.screenshot}")


if __name__ == "__main__":
    sys.exit(main())
