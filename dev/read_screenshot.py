"""Remake docs/read-view.png, the README's picture of `bench read`: the page for this checkout, shot
in headless Debian Chromium through Playwright (never a downloaded browser).
  .venv/bin/python dev/read_screenshot.py [OUT.png]"""
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))   # the repo root
from bench.browser.pages import chromium  # noqa: E402
from bench.read import write_page  # noqa: E402

out = Path(sys.argv[1] if len(sys.argv) > 1 else Path(__file__).resolve().parents[1] / "docs" / "read-view.png")
with tempfile.TemporaryDirectory() as tmp, chromium() as browser:
    page = browser.new_page(viewport={"width": 1600, "height": 1150}, device_scale_factor=1)
    page.goto(write_page(Path(tmp) / "read.html").as_uri())
    page.evaluate("document.querySelector('#stage-wordpiece').scrollIntoView()")
    page.evaluate("window.scrollBy(0, -8)")
    page.screenshot(path=str(out))
print(out)
