"""The HTML report in a real headless Chromium (Debian's ``chromium``; ``make browser`` installs
it): no console errors, no network requests, the graph visible on a screenshot, search and
opening nested models working through DOM events, as a person clicking would."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import modeltool
from tests.browser import Browser, find_chromium
from tests.conftest import fixture_path
from tests.zoo_cache import zoo_model


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    executable = find_chromium()
    if executable is None:
        pytest.skip("no Chromium installed: run `make browser` (apt-get install -y chromium)")
    chromium = Browser(executable)
    try:
        yield chromium
    finally:
        chromium.close()


def _js(browser: Browser, code: str) -> Any:
    return browser.evaluate(f"(function () {{ {code} }})()")


def _type(browser: Browser, text: str) -> None:
    _js(browser, "var i = document.getElementById('search'); i.value = " + json.dumps(text)
        + "; i.dispatchEvent(new Event('input', {bubbles: true}));")


def _click(browser: Browser, selector: str) -> None:
    done = _js(browser, "var e = document.querySelector(" + json.dumps(selector) + ");"
               "if (!e) { return false; }"
               "e.dispatchEvent(new MouseEvent('click', {bubbles: true})); return true;")
    assert done, f"nothing matches {selector}"


def _boxes(browser: Browser) -> list[dict[str, Any]]:
    """Screen rectangles of the drawn layer boxes."""
    boxes: list[dict[str, Any]] = _js(browser, """
        return Array.from(document.querySelectorAll('#graph g.node')).map(function (g) {
          var r = g.querySelector('rect').getBoundingClientRect();
          return {id: g.getAttribute('data-id'), x: r.x, y: r.y, w: r.width, h: r.height}; });""")
    return boxes


def _overlapping(boxes: list[dict[str, Any]]) -> list[tuple[str, str]]:
    found = []
    for i, a in enumerate(boxes):
        for b in boxes[i + 1:]:
            if (a["x"] < b["x"] + b["w"] - 0.5 and b["x"] < a["x"] + a["w"] - 0.5
                    and a["y"] < b["y"] + b["h"] - 0.5 and b["y"] < a["y"] + a["h"] - 0.5):
                found.append((a["id"], b["id"]))
    return found


def _graph_area_pixels(browser: Browser) -> np.ndarray:
    from PIL import Image

    rect = _js(browser, "var r = document.getElementById('canvas').getBoundingClientRect();"
                        "return {x: r.x, y: r.y, width: r.width, height: r.height};")
    png = browser.screenshot(clip=rect)
    return np.asarray(Image.open(io.BytesIO(png)).convert("RGB"))


def _assert_visible(browser: Browser) -> None:
    pixels = _graph_area_pixels(browser)
    assert pixels.shape[0] > 300 and pixels.shape[1] > 300
    inked = (pixels.min(axis=2) < 200).mean()  # not white: boxes, text, edges
    colours = len({tuple(p) for p in pixels.reshape(-1, 3)[::37]})
    assert inked > 0.005, f"graph area is blank ({inked:.4%} inked)"
    assert colours > 5


def _assert_clean(browser: Browser, page: Path) -> None:
    assert browser.problems() == []
    assert browser.requests() == [page.resolve().as_uri()]


def test_seed_model_report(browser: Browser, tmp_path: Path) -> None:
    page = tmp_path / "report.html"
    modeltool.report(fixture_path("nested_vision", "k3.keras"), page)
    browser.open(page)
    _assert_clean(browser, page)
    _assert_visible(browser)
    closed = _boxes(browser)
    assert len(closed) == 8 and _overlapping(closed) == []
    # Open the nested model through its mark, as a click would.
    _click(browser, '#graph g.node[data-id="vision_model#0"] .toggle')
    opened = _boxes(browser)
    assert _js(browser, "return document.querySelectorAll('#graph g.nest').length;") == 1
    inner = [b for b in opened if b["id"].startswith("vision_model#0/")]
    assert len(inner) == 12 and len(opened) == 7 + 12
    assert _overlapping(opened) == []
    _click(browser, '#graph g.nest .toggle')
    assert len(_boxes(browser)) == 8
    # Search finds a layer inside the closed nested model: opens it, marks it, centres it.
    _type(browser, "conv2d_3")
    assert _js(browser, "return document.getElementById('search-count').textContent;") == \
        "1 found"
    marked = _js(browser, "return Array.from(document.querySelectorAll('#graph g.node.match'))"
                          ".map(function (g) { return g.getAttribute('data-id'); });")
    assert marked == ["vision_model#0/conv2d_3#0"]
    inside = _js(browser, """
        var c = document.getElementById('canvas').getBoundingClientRect();
        var r = document.querySelector('#graph g.node.match rect').getBoundingClientRect();
        return r.left >= c.left && r.right <= c.right && r.top >= c.top && r.bottom <= c.bottom;""")
    assert inside
    # Click a box: its details, weight statistics and histogram show.
    _click(browser, '#graph g.node[data-id="vision_model#0/conv2d_3#0"] rect')
    details = _js(browser, "return document.getElementById('details').textContent;")
    assert "conv2d_3 (Conv2D)" in details and "kernel" in details and "(None, 13, 13, 8)" in details
    assert '"filters": 8' in details
    assert _js(browser, "return document.querySelectorAll('#details svg.hist rect').length;") > 3
    _assert_visible(browser)
    _assert_clean(browser, page)


def test_resnet50_report(browser: Browser, tmp_path: Path) -> None:
    model = zoo_model("ResNet50")
    page = tmp_path / "resnet50.html"
    report = modeltool.report(model, page)
    # The page stays small: statistics and histograms, never the weights themselves.
    assert page.stat().st_size < model.stat().st_size / 50
    assert len(report.tensors) == 320
    browser.open(page)
    _assert_clean(browser, page)
    _assert_visible(browser)
    assert len(_boxes(browser)) == 178  # 177 layers and the named output
    _type(browser, "conv5_block3_out")
    assert _js(browser, "return document.getElementById('search-count').textContent;") == \
        "1 found"
    _click(browser, '#graph g.node.match rect')
    details = _js(browser, "return document.getElementById('details').textContent;")
    assert "conv5_block3_out (Activation)" in details and "(None, 7, 7, 2048)" in details
    _assert_visible(browser)
    _assert_clean(browser, page)
