"""The QR designer (issue 17): module styles and a centre logo, every variant decoding with
zxing-cpp to exactly the text, and the dashboard's logo upload."""

from __future__ import annotations

import io
import re

import pytest
from PIL import Image, ImageDraw

from app.views import qr

from .dashboard_helpers import Dash, create_user, text
from .test_qr import decode_png

URL = "https://go.fernway.example/q/spring-sale"
TOKEN_URL = "http://127.0.0.1:8000/q/WWAC3-FObTct4EfHRU6-ewRx21Q"


def logo_png(size: int = 240) -> bytes:
    """A busy logo: colour blocks and dark strokes, the worst case for a scanner."""
    image = Image.new("RGB", (size, size), (200, 30, 60))
    draw = ImageDraw.Draw(image)
    for i in range(0, size, 24):
        draw.rectangle((i, 0, i + 11, size), fill=(20, 20, 20))
    draw.ellipse((size // 4, size // 4, 3 * size // 4, 3 * size // 4), fill=(250, 220, 0))
    out = io.BytesIO()
    image.save(out, "PNG")
    return out.getvalue()


LOGO_SVG = (
    b'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 10 10">'
    b'<rect width="10" height="10" fill="#c81e3c"/><circle cx="5" cy="5" r="3" fill="#000"/></svg>'
)


@pytest.mark.parametrize("style", qr.STYLES)
@pytest.mark.parametrize("data", [URL, TOKEN_URL])
def test_every_module_style_decodes(style, data):
    options = qr.parse_options({"style": style, "scale": "8"})
    assert decode_png(qr.png(data, options)) == [data]


@pytest.mark.parametrize("style", qr.STYLES)
@pytest.mark.parametrize("percent", ["5", "15", "20"])
def test_a_logo_up_to_a_fifth_of_the_code_still_decodes(style, percent):
    options = qr.parse_options(
        {"style": style, "logo": "1", "logo_size": percent, "scale": "8", "fg": "1a237e"},
        logo_allowed=True,
    )
    assert options.ecc == "H" and options.logo_percent == int(percent)
    logo = qr.check_logo("image/png", logo_png())
    image = qr.png(URL, options, logo)
    assert decode_png(image) == [URL]
    # The logo is really there: the centre pixel is the logo's yellow, not a module.
    with Image.open(io.BytesIO(image)) as picture:
        middle = picture.convert("RGB").getpixel((picture.width // 2, picture.height // 2))
    assert middle[0] > 200 and middle[1] > 180 and middle[2] < 80


def test_a_logo_covers_at_most_the_share_asked_for():
    for n in (21, 25, 29, 33, 45, 57):
        for percent in (5, 15, 20):
            start, side = qr._logo_box(n, percent)
            assert side * side <= n * n * percent / 100
            assert start * 2 + side == n  # centred


def test_svg_variants_carry_the_style_and_the_logo():
    options = qr.parse_options({"style": "dots", "logo": "1"}, logo_allowed=True)
    drawn = qr.svg(URL, options, qr.check_logo("image/svg+xml", LOGO_SVG))
    assert "a.45 .45" in drawn  # dots
    assert 'href="data:image/svg+xml;base64,' in drawn
    # Outside the dashboard no logo can be asked for: the option is ignored.
    assert qr.parse_options({"logo": "1"}).logo_percent == 0
    with pytest.raises(qr.BadRequest) as refused:
        qr.png(URL, options, qr.check_logo("image/svg+xml", LOGO_SVG))
    assert refused.value.field == "logo"


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", "Choose"),
        (b"GIF89a....", "PNG or an SVG"),
        (b"\x89PNG\r\n\x1a\nnot really", "that can be read"),
        (b"<!DOCTYPE svg [<!ENTITY x 'y'>]><svg></svg>", "DTD"),
        (b"<svg><script>alert(1)</script></svg>", "script"),
        (b"<svg>" + b" " * 200_001 + b"</svg>", "larger than"),
    ],
)
def test_bad_logos_are_refused_with_a_reason(data, message):
    with pytest.raises(qr.BadRequest) as refused:
        qr.check_logo("image/png", data)
    assert message in refused.value.message and refused.value.field == "logo"


def test_styles_and_logos_change_the_etag_and_defaults_keep_it():
    plain = qr.etag(URL, "svg", qr.Options())
    assert plain == qr.etag(URL, "svg", qr.parse_options({}))
    assert qr.etag(URL, "svg", qr.parse_options({"style": "dots"})) != plain
    one, other = qr.Logo("image/png", b"a"), qr.Logo("image/png", b"b")
    options = qr.parse_options({"logo": "1"}, logo_allowed=True)
    assert qr.etag(URL, "svg", options, one) != qr.etag(URL, "svg", options, other)


def test_the_dashboard_uploads_a_logo_and_the_download_is_the_preview(tmp_path):
    from .conftest import api_for, make_app

    app = make_app(tmp_path)
    create_user(app, "ada@example.com", "admin")
    dash = Dash(app, "ada@example.com")
    link = api_for(app).link(slug="spring-sale")
    page = dash.get(f"/dashboard/links/{link['id']}")
    assert "Centre logo" in text(page)
    refused = dash.post(
        f"/dashboard/links/{link['id']}/qr-logo",
        {"logo": (io.BytesIO(b"GIF89a"), "logo.gif")},
        content_type="multipart/form-data",
    )
    assert refused.status_code == 422 and "PNG or an SVG" in text(refused)
    saved = dash.post(
        f"/dashboard/links/{link['id']}/qr-logo",
        {"logo": (io.BytesIO(logo_png()), "logo.png")},
        content_type="multipart/form-data",
    )
    assert saved.status_code == 303
    shown = dash.follow(saved)
    preview = re.search(r'<img data-qr-preview[^>]* src="([^"]+)"', shown.get_data(as_text=True))
    assert preview and "logo=1" in preview.group(1)
    query = "style=rounded&logo=1&logo_size=20"
    image = dash.get(f"/dashboard/links/{link['id']}/qr.png?{query}&download=1")
    assert image.status_code == 200 and "attachment" in image.headers["Content-Disposition"]
    assert decode_png(image.data) == [link["qr_url"]]
    assert link["qr_url"].endswith("/q/spring-sale")
    same = dash.get(f"/dashboard/links/{link['id']}/qr.png?{query}")
    assert same.data == image.data  # what the preview shows is what downloads
    removed = dash.post(f"/dashboard/links/{link['id']}/qr-logo", {"remove": "1"})
    assert removed.status_code == 303
    without = dash.get(f"/dashboard/links/{link['id']}/qr.png?{query}")
    assert without.data != image.data and decode_png(without.data) == [link["qr_url"]]
