"""QR code rendering as SVG and PNG: pure functions over the text to encode.

The `qrcode` package computes the module matrix; drawing is ours so colours, quiet zone and
scale are exact and PNG needs no imaging library (Pillow only for a logo on a PNG).

Styles: square (the default), rounded or dot data modules; the three finder patterns stay
square, since they are what a scanner locks on to. A centre logo clears the modules under it
(at most 20% of the symbol) and forces error correction H (30% recoverable), so the code
still reads: tests/test_qr_design.py decodes every variant with zxing-cpp.
"""

from __future__ import annotations

import base64
import hashlib
import io
import math
import struct
import zlib
from collections.abc import Mapping
from dataclasses import dataclass

import qrcode
from qrcode.constants import ERROR_CORRECT_H, ERROR_CORRECT_L, ERROR_CORRECT_M, ERROR_CORRECT_Q
from qrcode.exceptions import DataOverflowError

from app.core.error_codes import ErrorCode
from app.core.errors import BadRequest

_ECC = {"L": ERROR_CORRECT_L, "M": ERROR_CORRECT_M, "Q": ERROR_CORRECT_Q, "H": ERROR_CORRECT_H}
FORMATS = {"svg": "image/svg+xml", "png": "image/png"}
MIN_CONTRAST = 3.0
MAX_PIXELS = 4096
# Over 400 random coupon codes, mask 2 scored closest to the best of the eight on average.
SHEET_MASK = 2
STYLES = ("square", "rounded", "dots")
MAX_LOGO_PERCENT = 20  # of the symbol's area, quiet zone left out
DEFAULT_LOGO_PERCENT = 15
LOGO_TYPES = {"image/png": "png", "image/svg+xml": "svg"}
MAX_LOGO_BYTES = 200_000


@dataclass(frozen=True)
class Logo:
    """An uploaded centre logo: PNG or SVG bytes, checked by `check_logo`."""

    media_type: str
    data: bytes

    def digest(self) -> str:
        return hashlib.sha256(self.media_type.encode() + b"|" + self.data).hexdigest()[:16]


@dataclass(frozen=True)
class Options:
    scale: int | None = None  # pixels per module
    size: int | None = None  # wanted image width in pixels (largest that fits)
    border: int = 4  # quiet zone in modules; scanners want 4
    ecc: str = "M"
    fg: str = "000000"
    bg: str = "ffffff"
    # Sheets of hundreds of codes fix these two (see SHEET_MASK). mask None: the best of the
    # eight by the standard's penalty score, trying all eight (nine tenths of the time); any
    # mask makes a valid symbol, readers take it from the format bits. version None: the
    # smallest that fits, found by encoding the text once more (a quarter of what is left).
    mask: int | None = None
    version: int | None = None
    style: str = "square"
    logo_percent: int = 0  # 0: no logo; else the share of the symbol the logo covers

    def key(self) -> str:
        key = f"{self.scale}:{self.size}:{self.border}:{self.ecc}:{self.fg}:{self.bg}"
        # Defaults add nothing, so the ETags of images already out there stay the same.
        if self.mask is not None or self.version is not None:
            key += f":m{self.mask}:v{self.version}"
        if self.style != "square" or self.logo_percent:
            key += f":s{self.style}:l{self.logo_percent}"
        return key


def _int(args: Mapping[str, str], name: str, low: int, high: int) -> int | None:
    raw = args.get(name)
    if raw is None or raw == "":
        return None
    try:
        value = int(raw)
    except ValueError:
        raise BadRequest(
            f"'{name}' must be a whole number.", field=name, code=ErrorCode.INVALID_QR_OPTION
        ) from None
    if not low <= value <= high:
        raise BadRequest(
            f"'{name}' must be between {low} and {high}.",
            field=name,
            code=ErrorCode.INVALID_QR_OPTION,
        )
    return value


def _colour(args: Mapping[str, str], name: str, default: str) -> str:
    raw = args.get(name)
    if raw is None or raw == "":
        return default
    value = raw.strip().lstrip("#").lower()
    if len(value) == 3:
        value = "".join(c * 2 for c in value)
    if len(value) != 6 or any(c not in "0123456789abcdef" for c in value):
        raise BadRequest(
            f"'{name}' must be a hex colour such as 1a2b3c or #fff.",
            field=name,
            code=ErrorCode.INVALID_QR_OPTION,
        )
    return value


def _luminance(hex_colour: str) -> float:
    """WCAG relative luminance."""
    channels = []
    for i in (0, 2, 4):
        c = int(hex_colour[i : i + 2], 16) / 255
        channels.append(c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4)
    r, g, b = channels
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def contrast_ratio(fg: str, bg: str) -> float:
    lf, lb = _luminance(fg), _luminance(bg)
    light, dark = max(lf, lb), min(lf, lb)
    return (light + 0.05) / (dark + 0.05)


def parse_options(args: Mapping[str, str], *, logo_allowed: bool = False) -> Options:
    """Read scale/size/border/ecc/fg/bg/style (and, where a logo is stored, logo and
    logo_size) from query arguments; BadRequest names the bad one."""
    scale = _int(args, "scale", 1, 64)
    size = _int(args, "size", 21, MAX_PIXELS)
    if scale is not None and size is not None:
        raise BadRequest(
            "Give 'scale' or 'size', not both.", field="size", code=ErrorCode.INVALID_QR_OPTION
        )
    border = _int(args, "border", 0, 20)
    ecc = (args.get("ecc") or "M").strip().upper()
    if ecc not in _ECC:
        raise BadRequest(
            "'ecc' must be one of L, M, Q, H.", field="ecc", code=ErrorCode.INVALID_QR_OPTION
        )
    fg = _colour(args, "fg", "000000")
    bg = _colour(args, "bg", "ffffff")
    if _luminance(fg) >= _luminance(bg):
        raise BadRequest(
            "'fg' must be darker than 'bg': many scanners cannot read light-on-dark codes.",
            field="fg",
            code=ErrorCode.LOW_CONTRAST,
        )
    ratio = contrast_ratio(fg, bg)
    if ratio < MIN_CONTRAST:
        raise BadRequest(
            f"'fg' and 'bg' contrast is {ratio:.1f}:1; scanners need at least "
            f"{MIN_CONTRAST:.0f}:1.",
            field="fg",
            code=ErrorCode.LOW_CONTRAST,
        )
    style = (args.get("style") or "square").strip().lower()
    if style not in STYLES:
        raise BadRequest(
            f"'style' must be one of {', '.join(STYLES)}.",
            field="style",
            code=ErrorCode.INVALID_QR_OPTION,
        )
    logo_percent = 0
    if logo_allowed and (args.get("logo") or "").strip().lower() in ("1", "true", "yes"):
        logo_percent = _int(args, "logo_size", 5, MAX_LOGO_PERCENT) or DEFAULT_LOGO_PERCENT
        ecc = "H"  # the logo hides modules: the most error correction there is
    return Options(
        scale=scale,
        size=size,
        border=4 if border is None else border,
        ecc=ecc,
        fg=fg,
        bg=bg,
        style=style,
        logo_percent=logo_percent,
    )


def check_logo(media_type: str, data: bytes, field: str = "logo") -> Logo:
    """An upload as a Logo, or BadRequest naming `field`: a PNG Pillow can read (at most
    2000 px a side) or an SVG document without DTD or scripts, MAX_LOGO_BYTES at most."""

    def refuse(message: str) -> BadRequest:
        return BadRequest(message, field=field, code=ErrorCode.INVALID_QR_OPTION)

    if not data:
        raise refuse("Choose a PNG or SVG file for the logo.")
    if len(data) > MAX_LOGO_BYTES:
        raise refuse(f"The logo is larger than {MAX_LOGO_BYTES // 1000} KB.")
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        from PIL import Image, UnidentifiedImageError

        try:
            with Image.open(io.BytesIO(data)) as image:
                image.verify()
                width, height = image.size
        except (UnidentifiedImageError, OSError, SyntaxError, ValueError):
            raise refuse("The logo is not a PNG image that can be read.") from None
        if max(width, height) > 2000:
            raise refuse("The logo is more than 2000 pixels wide or high; scale it down.")
        return Logo("image/png", data)
    text = data.decode("utf-8", "replace").lower()
    if "<svg" in text and "</svg>" in text or "<svg" in text and "/>" in text:
        # Drawn as an <image>, an SVG runs no script anyway; one that carries a DTD (entity
        # tricks) or script is refused rather than stored.
        if any(word in text for word in ("<!doctype", "<!entity", "<script", "javascript:")):
            raise refuse("The SVG logo has a DTD or a script; export it as a plain SVG.")
        return Logo("image/svg+xml", data)
    del media_type  # the content decides, not what the browser called it
    raise refuse("The logo must be a PNG or an SVG file.")


_FINDER = 7  # a finder pattern is 7 x 7 modules, at three corners


def _in_finder(x: int, y: int, n: int) -> bool:
    return (x < _FINDER or x >= n - _FINDER) and y < _FINDER or (x < _FINDER and y >= n - _FINDER)


def _logo_box(n: int, percent: int) -> tuple[int, int]:
    """(first module, side in modules) of the square a logo covers: at most `percent` of
    the symbol's area, centred, its side of the same parity as n so it sits in the middle."""
    side = int(n * math.sqrt(percent / 100))
    if side % 2 != n % 2:
        side -= 1
    return (n - side) // 2, max(side, 0)


def _cleared(grid: list[list[bool]], options: Options) -> tuple[list[list[bool]], tuple[int, int]]:
    """The grid with the logo's square emptied, and that square."""
    if not options.logo_percent:
        return grid, (0, 0)
    start, side = _logo_box(len(grid), options.logo_percent)
    cleared = [row[:] for row in grid]
    for y in range(start, start + side):
        for x in range(start, start + side):
            cleared[y][x] = False
    return cleared, (start, side)


def matrix(
    data: str, ecc: str = "M", mask: int | None = None, version: int | None = None
) -> list[list[bool]]:
    """The QR module matrix for `data`, without quiet zone."""
    code = qrcode.QRCode(
        version=version, error_correction=_ECC[ecc], border=0, box_size=1, mask_pattern=mask
    )
    code.add_data(data)
    try:
        code.make(fit=version is None)
    except DataOverflowError:  # a pinned version too small for this text: fit it after all
        return matrix(data, ecc, mask)
    return code.get_matrix()


def fitting_version(data: str, ecc: str = "M") -> int:
    """The smallest QR version that holds `data`: texts of one length and alphabet (the codes
    of a batch) share it, so a sheet finds it once and pins it in Options.version."""
    code = qrcode.QRCode(error_correction=_ECC[ecc])
    code.add_data(data)
    return code.best_fit()


def _scale_for(modules: int, options: Options, default_scale: int) -> int:
    total = modules + 2 * options.border
    if options.size is not None:
        scale = options.size // total
        if scale < 1:
            raise BadRequest(
                f"'size' must be at least {total} pixels for this code.",
                field="size",
                code=ErrorCode.INVALID_QR_OPTION,
            )
        return scale
    scale = options.scale or default_scale
    if total * scale > MAX_PIXELS:
        raise BadRequest(
            f"The image would exceed {MAX_PIXELS} pixels; lower 'scale'.",
            field="scale",
            code=ErrorCode.INVALID_QR_OPTION,
        )
    return scale


def _module_path(x: int, y: int, style: str) -> str:
    if style == "dots":
        return f"M{x + 0.05} {y + 0.5}a.45 .45 0 1 0 .9 0a.45 .45 0 1 0 -.9 0z"
    # rounded: a unit square with corners of radius .3
    return (
        f"M{x + 0.3} {y}h.4a.3 .3 0 0 1 .3 .3v.4a.3 .3 0 0 1 -.3 .3h-.4"
        f"a.3 .3 0 0 1 -.3 -.3v-.4a.3 .3 0 0 1 .3 -.3z"
    )


def svg(data: str, options: Options = Options(), logo: Logo | None = None) -> str:
    """A crisp SVG: one background rectangle and one path of modules (horizontal runs for
    square modules and the finder patterns), and the logo as an embedded image."""
    grid, (box, side) = _cleared(matrix(data, options.ecc, options.mask, options.version), options)
    n = len(grid)
    border = options.border
    total = n + 2 * border
    scale = _scale_for(n, options, 8)
    shaped = options.style != "square"
    runs = []
    for y, row in enumerate(grid):
        x = 0
        while x < n:
            if row[x] and shaped and not _in_finder(x, y, n):
                runs.append(_module_path(x + border, y + border, options.style))
                x += 1
            elif row[x]:
                start = x
                while x < n and row[x] and not (shaped and not _in_finder(x, y, n)):
                    x += 1
                runs.append(f"M{start + border} {y + border}h{x - start}v1h{start - x}z")
            else:
                x += 1
    px = total * scale
    image = ""
    if logo is not None and side:
        inset = 0.5  # a half-module margin of background around the logo
        href = f"data:{logo.media_type};base64,{base64.b64encode(logo.data).decode('ascii')}"
        image = (
            f'<image x="{box + border + inset}" y="{box + border + inset}" '
            f'width="{side - 2 * inset}" height="{side - 2 * inset}" '
            f'preserveAspectRatio="xMidYMid meet" href="{href}"/>'
        )
    rendering = "crispEdges" if not shaped else "geometricPrecision"
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{px}" height="{px}" '
        f'viewBox="0 0 {total} {total}" shape-rendering="{rendering}">'
        f'<rect width="{total}" height="{total}" fill="#{options.bg}"/>'
        f'<path fill="#{options.fg}" d="{"".join(runs)}"/>{image}</svg>\n'
    )


def _chunk(kind: bytes, payload: bytes) -> bytes:
    return (
        struct.pack(">I", len(payload))
        + kind
        + payload
        + struct.pack(">I", zlib.crc32(kind + payload) & 0xFFFFFFFF)
    )


def _module_bits(style: str, scale: int) -> list[str]:
    """The pixel rows of one dark module of `style` at `scale` pixels a side."""
    if style == "square" or scale < 4:  # too few pixels for a shape: squares read best
        return ["1" * scale] * scale
    rows = []
    for py in range(scale):
        row = ""
        for px in range(scale):
            cx, cy = (px + 0.5) / scale - 0.5, (py + 0.5) / scale - 0.5
            if style == "dots":
                inside = cx * cx + cy * cy <= 0.45 * 0.45
            else:  # rounded: corners of radius .3
                dx, dy = max(abs(cx) - 0.2, 0), max(abs(cy) - 0.2, 0)
                inside = dx * dx + dy * dy <= 0.3 * 0.3
            row += "1" if inside else "0"
        rows.append(row)
    return rows


def png(data: str, options: Options = Options(), logo: Logo | None = None) -> bytes:
    """A 1-bit palette PNG (index 0 = bg, 1 = fg); with a logo, an RGB PNG (Pillow)."""
    grid, (box, side) = _cleared(matrix(data, options.ecc, options.mask, options.version), options)
    n = len(grid)
    border = options.border
    total = n + 2 * border
    scale = _scale_for(n, options, 10)
    width = total * scale
    pad = "0" * (border * scale)
    shape = _module_bits(options.style, scale)
    square, light = "1" * scale, "0" * scale
    raw = bytearray()
    blank = None
    for y in range(total):
        inside = border <= y < border + n
        if not inside:
            if blank is None:
                blank = b"\x00" + bytes((width + 7) // 8)
            raw += blank * scale
            continue
        row = grid[y - border]
        for py in range(scale):
            bits = (
                pad
                + "".join(
                    (square if _in_finder(x, y - border, n) else shape[py]) if m else light
                    for x, m in enumerate(row)
                )
                + pad
            )
            raw += b"\x00" + int(bits + "0" * (-len(bits) % 8), 2).to_bytes((width + 7) // 8, "big")
    palette = bytes.fromhex(options.bg) + bytes.fromhex(options.fg)
    header = struct.pack(">IIBBBBB", width, width, 1, 3, 0, 0, 0)
    plain = (
        b"\x89PNG\r\n\x1a\n"
        + _chunk(b"IHDR", header)
        + _chunk(b"PLTE", palette)
        + _chunk(b"IDAT", zlib.compress(bytes(raw), 9))
        + _chunk(b"IEND", b"")
    )
    if logo is None or not side:
        return plain
    return _with_logo(plain, logo, (box + border) * scale, side * scale, scale)


def _with_logo(image: bytes, logo: Logo, at: int, side: int, scale: int) -> bytes:
    """The PNG with the logo fitted into the cleared square (half a module of margin)."""
    from PIL import Image

    if logo.media_type != "image/png":
        raise BadRequest(
            "An SVG logo can only go on the SVG download; upload a PNG logo for PNG images.",
            field="logo",
            code=ErrorCode.INVALID_QR_OPTION,
        )
    inset = scale // 2
    room = max(side - 2 * inset, 1)
    with Image.open(io.BytesIO(image)) as code, Image.open(io.BytesIO(logo.data)) as mark:
        canvas = code.convert("RGBA")
        picture = mark.convert("RGBA")
        picture.thumbnail((room, room), Image.Resampling.LANCZOS)
        x = at + inset + (room - picture.width) // 2
        y = at + inset + (room - picture.height) // 2
        canvas.alpha_composite(picture, (x, y))
        out = io.BytesIO()
        canvas.convert("RGB").save(out, "PNG", optimize=True)
    return out.getvalue()


def render(data: str, fmt: str, options: Options = Options(), logo: Logo | None = None) -> bytes:
    if fmt == "svg":
        return svg(data, options, logo).encode("utf-8")
    if fmt == "png":
        return png(data, options, logo)
    raise BadRequest(f"Unknown image format '{fmt}'; use svg or png.", field="format")


def etag(data: str, fmt: str, options: Options, logo: Logo | None = None) -> str:
    """Same text, options and logo give the same image forever, so this tag never goes
    stale."""
    key = f"{data}|{fmt}|{options.key()}" + (f"|{logo.digest()}" if logo else "")
    return hashlib.sha256(key.encode()).hexdigest()[:32]
