"""QR codes: decoded back with zxing-cpp, so a phone camera would read what we mean."""

from __future__ import annotations

import io

import pytest
import zxingcpp
from PIL import Image

from app.views import qr

from .conftest import BROWSER_UA, events


def decode_png(data: bytes) -> list[str]:
    image = Image.open(io.BytesIO(data))
    return [r.text for r in zxingcpp.read_barcodes(image.convert("L"))]


def decode_svg_by_rasterising(text: str) -> list[str]:
    """Rasterise our own SVG (one rect + one path of h/v runs) and decode it."""
    import re

    size = int(re.search(r'viewBox="0 0 (\d+) \1"', text).group(1))
    image = Image.new("L", (size * 4, size * 4), 255)
    pixels = image.load()
    for x, y, w in re.findall(r"M(\d+) (\d+)h(\d+)v1h-\d+z", text):
        for dx in range(int(w) * 4):
            for dy in range(4):
                pixels[int(x) * 4 + dx, int(y) * 4 + dy] = 0
    return [r.text for r in zxingcpp.read_barcodes(image)]


def test_api_png_decodes_to_exactly_the_qr_url(api):
    link = api.link()
    response = api.get(f"/api/v1/links/{link['id']}/qr.png")
    assert response.status_code == 200 and response.mimetype == "image/png"
    assert decode_png(response.data) == [link["qr_url"]]


def test_api_svg_decodes_to_exactly_the_qr_url(api):
    link = api.link()
    response = api.get(f"/api/v1/links/{link['id']}/qr.svg")
    assert response.mimetype == "image/svg+xml"
    assert decode_svg_by_rasterising(response.get_data(as_text=True)) == [link["qr_url"]]


def test_public_images_are_cacheable_and_304_on_revalidation(client, api):
    link = api.link()
    response = client.get(f"/q/{link['token']}.png")
    assert response.status_code == 200
    assert decode_png(response.data) == [link["qr_url"]]
    # Without PUBLIC_BASE_URL the URL came from the Host header (tests/test_public_headers.py)
    assert response.headers["Cache-Control"] == "private, no-cache"
    etag = response.headers["ETag"]
    again = client.get(f"/q/{link['token']}.png", headers={"If-None-Match": etag})
    assert again.status_code == 304 and again.data == b""
    other = client.get(f"/q/{link['token']}.png?ecc=H")
    assert other.headers["ETag"] != etag


def test_fetching_an_image_is_not_a_scan(app, client, api):
    link = api.link()
    client.get(f"/q/{link['token']}.svg", headers={"User-Agent": BROWSER_UA})
    assert events(app) == []


def test_scanning_the_code_is_logged_as_a_scan(app, client, api):
    link = api.link()
    [url] = decode_png(client.get(f"/q/{link['token']}.png").data)
    response = client.get(url.replace("http://localhost", ""), headers={"User-Agent": BROWSER_UA})
    assert response.status_code == 302
    assert [e["type"] for e in events(app)] == ["scan"]


@pytest.mark.parametrize("ecc", ["L", "M", "Q", "H"])
def test_every_error_correction_level_decodes(api, ecc):
    link = api.link()
    data = api.get(f"/api/v1/links/{link['id']}/qr.png?ecc={ecc}&scale=4").data
    assert decode_png(data) == [link["qr_url"]]


def test_size_scale_border_and_colours(api):
    link = api.link()
    n = len(qr.matrix(link["qr_url"], "M"))
    image = Image.open(
        io.BytesIO(api.get(f"/api/v1/links/{link['id']}/qr.png?scale=3&border=2").data)
    )
    assert image.size == ((n + 4) * 3, (n + 4) * 3)
    image = Image.open(io.BytesIO(api.get(f"/api/v1/links/{link['id']}/qr.png?size=300").data))
    assert image.size[0] <= 300 and image.size[0] > 300 - (n + 8)
    data = api.get(f"/api/v1/links/{link['id']}/qr.png?fg=%23123456&bg=fffff0").data
    image = Image.open(io.BytesIO(data)).convert("RGB")
    assert image.getpixel((0, 0)) == (0xFF, 0xFF, 0xF0)
    assert (0x12, 0x34, 0x56) in {c for _, c in image.getcolors()}
    assert decode_png(data) == [link["qr_url"]]
    svg = api.get(f"/api/v1/links/{link['id']}/qr.svg?fg=123456&border=0").get_data(True)
    assert 'fill="#123456"' in svg and f'viewBox="0 0 {n} {n}"' in svg


@pytest.mark.parametrize(
    ("query", "field", "code"),
    [
        ("scale=0", "scale", "invalid_qr_option"),
        ("scale=abc", "scale", "invalid_qr_option"),
        ("scale=64&border=20", "scale", "invalid_qr_option"),  # too many pixels
        ("size=10", "size", "invalid_qr_option"),
        ("size=100&scale=2", "size", "invalid_qr_option"),
        ("border=-1", "border", "invalid_qr_option"),
        ("border=21", "border", "invalid_qr_option"),
        ("ecc=X", "ecc", "invalid_qr_option"),
        ("fg=red", "fg", "invalid_qr_option"),
        ("fg=ffffff&bg=000000", "fg", "low_contrast"),
        ("fg=777777&bg=888888", "fg", "low_contrast"),
        ("fg=cccccc", "fg", "low_contrast"),
    ],
)
def test_bad_options_are_400_naming_the_option(api, client, query, field, code):
    link = api.link()
    response = api.get(f"/api/v1/links/{link['id']}/qr.png?{query}")
    assert response.status_code == 400
    assert response.get_json()["error"]["field"] == field
    assert response.get_json()["error"]["code"] == code
    public = client.get(f"/q/{link['token']}.png?{query}")
    assert public.status_code == 400 and public.mimetype == "text/plain"


def test_unknown_format_and_link(api, client):
    link = api.link()
    assert api.get(f"/api/v1/links/{link['id']}/qr.gif").status_code == 400
    assert api.get("/api/v1/links/999/qr.png").status_code == 404
    bad = link["token"][:-2] + "zz"
    assert client.get(f"/q/{bad}.png").status_code == 404


def test_tokens_keep_codes_small():
    # A 27-character token under a typical host fits a version-4 code (33x33 modules),
    # small enough to scan from a flyer at arm's length.
    assert len(qr.matrix("https://go.example.com/q/" + "A" * 27, "M")) <= 33


@pytest.mark.parametrize("mask", range(8))
def test_a_pinned_mask_and_version_encode_the_same_text(mask):
    text = "BOOT-7KQ4-X9M2-HT6C"
    version = qr.fitting_version(text)
    options = qr.Options(mask=mask, version=version)
    assert decode_svg_by_rasterising(qr.svg(text, options)) == [text]
    assert len(qr.matrix(text, "M", mask, version)) == len(qr.matrix(text, "M"))


def test_a_pinned_version_too_small_still_fits_the_text():
    text = "https://go.example.com/q/" + "A" * 27
    assert decode_svg_by_rasterising(qr.svg(text, qr.Options(version=1))) == [text]


def test_default_options_keep_the_etags_already_given_out():
    assert qr.Options().key() == "None:None:4:M:000000:ffffff"
    assert qr.Options(mask=2).key() != qr.Options().key()
