"""The dashboard in a real browser on the demo's database, served by `calibd web`: every page
loads without console errors, the product page shows a rendered plot, filters change the
list, a hostile dead letter is text, only GET and HEAD are answered, bad parameters are 400."""

from __future__ import annotations

import io
import json
import socket

import numpy as np
import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.support.select import Select
from selenium.webdriver.support.wait import WebDriverWait

from tests.browser.conftest import HOSTILE, HOSTILE_TITLE, WebServer, calibd, request


def visit(browser, url: str, artifacts, name: str) -> list[dict]:
    """Load a page; its console errors (and a screenshot in the artifacts)."""
    browser.get_log("browser")  # drop what an earlier page left
    browser.get(url)
    WebDriverWait(browser, 20).until(
        lambda b: b.execute_script("return document.readyState") == "complete"
    )
    browser.save_screenshot(str(artifacts / f"{name}.png"))
    return [e for e in browser.get_log("browser") if e["level"] in ("SEVERE", "ERROR")]


@pytest.fixture(scope="module")
def demo_products(demo_dir) -> list[dict]:
    """Every product of the demo, as `calibd products --all --json` lists them."""
    out = calibd("--data-dir", str(demo_dir), "products", "--all", "--json")
    return json.loads(out.stdout)


def test_every_page_loads_without_console_errors(browser, web, artifacts, demo_products):
    pages = {
        "overview": "/",
        "products": "/products",
        "products-all": "/products?all=1",
        "dead-letters": "/dead-letters",
        "waits": "/waits",
        "config": "/config",
    }
    pages |= {
        f"product-{p['product_type']}-{p['id'][-4:]}": f"/products/{p['id']}" for p in demo_products
    }
    assert len(demo_products) >= 8
    for name, path in pages.items():
        errors = visit(browser, web.url + path, artifacts, name)
        assert errors == [], (path, errors)
        assert browser.title.endswith("· calibd"), path
        assert browser.find_element(By.TAG_NAME, "h1").text
        images = browser.find_elements(By.TAG_NAME, "img")
        assert all(img.get_property("naturalWidth") > 0 for img in images), path
    browser.get(web.url + "/")
    cells = browser.find_elements(By.CSS_SELECTOR, "#per-type td:first-child")
    assert {c.text for c in cells} == {p["product_type"] for p in demo_products}
    assert browser.find_element(By.ID, "dead-letter-count").text == "3"  # demo's 2 + hostile


def test_the_product_page_shows_a_rendered_plot(browser, web, artifacts, demo_products):
    camera = next(p for p in demo_products if p["product_type"] == "camera_calibration")
    assert visit(browser, f"{web.url}/products/{camera['id']}", artifacts, "camera-plot") == []
    img = browser.find_element(By.ID, "plot")
    WebDriverWait(browser, 20).until(lambda b: img.get_property("complete"))
    assert img.get_property("naturalWidth") >= 600 and img.get_property("naturalHeight") >= 600
    browser.execute_script("arguments[0].scrollIntoView()", img)
    from matplotlib.image import imread

    pixels = imread(io.BytesIO(img.screenshot_as_png), format="png")[..., :3]
    assert pixels.std() > 0.05  # not blank: axes, points and histograms
    assert len(np.unique(pixels.reshape(-1, 3).round(2), axis=0)) > 50
    table = browser.find_element(By.ID, "inputs").text
    assert "sha256" in table and len([w for w in table.split() if len(w) == 64]) >= 1


def test_supersession_is_linked_both_ways(browser, web, artifacts, demo_products):
    old = next(p for p in demo_products if p["status"] == "superseded")
    assert visit(browser, f"{web.url}/products/{old['id']}", artifacts, "superseded") == []
    browser.find_element(By.ID, "superseded-by").click()
    WebDriverWait(browser, 20).until(lambda b: b.current_url.endswith(old["superseded_by"]))
    browser.save_screenshot(str(artifacts / "superseding.png"))
    links = browser.find_elements(By.CSS_SELECTOR, "#supersedes a")
    assert old["id"] in [a.text for a in links]
    assert browser.find_elements(By.ID, "superseded-by") == []  # the Cat-C product is valid


def test_a_filter_changes_the_list(browser, web, artifacts, demo_products):
    visit(browser, web.url + "/products", artifacts, "filter-before")
    before = browser.find_elements(By.CSS_SELECTOR, "tr.product")
    assert len(before) == len([p for p in demo_products if p["status"] == "valid"])
    Select(browser.find_element(By.NAME, "type")).select_by_visible_text("camera_calibration")
    browser.find_element(By.ID, "apply").click()
    WebDriverWait(browser, 20).until(lambda b: "type=camera_calibration" in b.current_url)
    browser.save_screenshot(str(artifacts / "filter-after.png"))
    after = browser.find_elements(By.CSS_SELECTOR, "tr.product")
    expected = [p for p in demo_products if p["product_type"] == "camera_calibration"]
    assert 0 < len(after) < len(before)
    assert len(after) == len([p for p in expected if p["status"] == "valid"])
    assert {r.find_elements(By.TAG_NAME, "td")[1].text for r in after} == {"camera_calibration"}


def test_a_hostile_dead_letter_is_shown_as_text_and_nothing_runs(browser, web, artifacts):
    assert visit(browser, web.url + "/dead-letters", artifacts, "hostile-dead-letter") == []
    assert browser.title == "Dead letters · calibd" != HOSTILE_TITLE
    assert browser.find_elements(By.ID, "injected") == []
    raw = [e.text for e in browser.find_elements(By.CSS_SELECTOR, "pre.raw")]
    hostile = [r for r in raw if "<script>" in r]
    assert len(hostile) == 1 and '<b id="injected">bold</b>' in hostile[0]
    assert hostile[0].endswith(f"… ({len(HOSTILE.strip()) - 4096} more bytes)")  # bounded
    for article in browser.find_elements(By.CSS_SELECTOR, "article.dead-letter"):
        assert article.find_elements(By.TAG_NAME, "img") == []
        assert article.find_elements(By.TAG_NAME, "script") == []
        assert article.find_elements(By.CSS_SELECTOR, "a[href^=javascript]") == []
    _, headers, body = request(web.url, path="/dead-letters")
    assert b"&lt;script&gt;" in body and b"<script>" not in body
    assert "script-src" not in headers["content-security-policy"]  # default-src 'none'


@pytest.mark.parametrize("method", ["POST", "PUT", "DELETE", "PATCH", "OPTIONS", "TRACE"])
def test_only_get_and_head_are_answered(web, method):
    for path in ("/", "/products", "/nope"):
        status, headers, _ = request(web.url, method, path)
        assert status == 405 and headers["allow"] == "GET, HEAD", (method, path)


def test_head_and_get_answer(web):
    status, headers, body = request(web.url, "HEAD", "/products")
    assert status == 200 and body == b"" and int(headers["content-length"]) > 1000
    assert request(web.url, "GET", "/products")[0] == 200


BAD = [
    "/products?tel=one",
    "/products?tel=-1",
    "/products?tel=%EF%BC%91",  # a fullwidth digit one
    "/products?tel=%00",
    "/products?type=%ff",
    "/products?at=2026-01-01T00:00:00%2B25:00",
    "/products/%00",
    "/products?limit=0",
    "/products?limit=100000",
    "/products?offset=-5",
    "/products?category=D",
    "/products?at=yesterday",
    "/products?since=0001-01-01T00:00:00",
    "/products?since=2026-02-01&until=2026-01-01",
    "/products?type=%3Cscript%3E",
    "/products?all=yes",
    "/products?typo=1",
    "/products?type=" + "x" * 300,
    "/dead-letters?limit=abc",
    "/waits?status=sleeping",
    "/config?limit=1e9",
    "/products/%3Cscript%3E",
    "/products/abc/plot.png?x=1",
]


def test_bad_parameters_are_400_with_a_reason(web):
    for path in BAD:
        status, _, body = request(web.url, path=path)
        assert status == 400, (path, status)
        assert b'id="reason"' in body and b"<script>" not in body, path


def test_unknown_products_and_exports_are_404_and_exports_download(web, demo_products):
    assert request(web.url, path="/products/ffffffff-0000")[0] == 404
    camera = next(p for p in demo_products if p["product_type"] == "camera_calibration")
    quality = next(p for p in demo_products if p["product_type"] == "quality_assessment")
    assert request(web.url, path=f"/products/{quality['id']}/plot.png")[0] == 404
    assert request(web.url, path=f"/products/{camera['id']}/export/x.fits")[0] == 404
    status, headers, body = request(
        web.url, path=f"/products/{camera['id']}/export/{camera['id']}.fits"
    )
    assert status == 200 and body.startswith(b"SIMPLE  =")
    assert headers["content-disposition"] == f'attachment; filename="{camera["id"]}.fits"'


def test_product_plot_command_writes_the_same_figure(web, demo_products, tmp_path):
    pedestal = next(p for p in demo_products if p["product_type"] == "camera_pedestal")
    out = tmp_path / "pedestal.png"
    done = calibd(
        "--data-dir", str(web.log.parent), "product", "plot", pedestal["id"], "-o", str(out)
    )
    assert done.returncode == 0, done.stderr
    _, _, served = request(web.url, path=f"/products/{pedestal['id']}/plot.png")
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and len(out.read_bytes()) > 20_000
    assert abs(len(out.read_bytes()) - len(served)) < 0.05 * len(served)


def test_the_coefficients_along_an_observation_block(web, demo_products, tmp_path):
    block = next(p for p in demo_products if "block" in p["summary"])
    status, headers, served = request(web.url, path=f"/products/{block['id']}/series.png")
    assert status == 200 and headers["content-type"] == "image/png"
    from matplotlib.image import imread

    assert imread(io.BytesIO(served), format="png")[..., :3].std() > 0.05
    out = tmp_path / "block.png"
    argv = ["--data-dir", str(web.log.parent), "product", "plot", block["id"], "--series"]
    done = calibd(*argv, "-o", str(out))
    assert done.returncode == 0, done.stderr
    assert abs(len(out.read_bytes()) - len(served)) < 0.05 * len(served)
    dedicated = next(p for p in demo_products if p["product_type"] == "camera_pedestal")
    assert request(web.url, path=f"/products/{dedicated['id']}/series.png")[0] == 404
    assert calibd(*argv[:4], dedicated["id"], "--series", "-o", str(out)).returncode == 1


def test_it_binds_only_where_configured(web, demo_dir):
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.2", web.port), timeout=2).close()
    other = WebServer(demo_dir, host="127.0.0.2")
    try:
        assert request(other.url, path="/")[0] == 200
        with pytest.raises(ConnectionRefusedError):
            socket.create_connection(("127.0.0.1", other.port), timeout=2).close()
    finally:
        other.stop()
