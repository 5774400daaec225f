"""Tiny self-contained HTML pages for customers (404, 410, 400).

Built without Jinja on purpose: the redirect path must never depend on a template.
"""

from __future__ import annotations

import base64
import hashlib
from html import escape

_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="robots" content="noindex">
<title>{title}</title>
<link rel="icon" href="/favicon.ico">
<style>
body{{font:16px/1.5 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:0;
background:#f6f7f9;color:#1c2430;display:flex;min-height:100vh;align-items:center;
justify-content:center}}
main{{max-width:32rem;padding:2rem;text-align:center}}
h1{{font-size:1.5rem;margin:0 0 .5rem}}p{{margin:.5rem 0;color:#4a5566}}
</style></head>
<body><main><h1>{title}</h1><p>{message}</p></main></body></html>
"""

NOT_FOUND_TITLE = "This link doesn't work"
NOT_FOUND_MESSAGE = (
    "The address may have been mistyped or cut short. Please check the link you were given, "
    "or ask whoever sent it for a fresh one."
)
GONE_TITLE = "This offer has ended"
GONE_MESSAGE = "The link you followed is no longer active. Thank you for your interest."


def page(title: str, message: str) -> str:
    return _PAGE.format(title=escape(title), message=escape(message))


def _style_source() -> str:
    """The CSP source that allows these pages' one inline <style> and no other."""
    css = page("", "").split("<style>", 1)[1].split("</style>", 1)[0]
    return "'sha256-" + base64.b64encode(hashlib.sha256(css.encode()).digest()).decode() + "'"


STYLE_SOURCE = _style_source()
NOT_FOUND_HTML = page(NOT_FOUND_TITLE, NOT_FOUND_MESSAGE)
GONE_HTML = page(GONE_TITLE, GONE_MESSAGE)
