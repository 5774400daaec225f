"""A signed-in dashboard browser for the Flask test client: keeps the CSRF token of the last
page, posts forms with it, and reads field errors back from the HTML."""

from __future__ import annotations

import html
import re

from app import users

PASSWORD = "correct horse battery"
_TOKEN = re.compile(r'name="csrf_token" value="([^"]+)"')
_FIELD_ERROR = re.compile(r'<p class="error" id="e-([\w-]+)">([^<]*)</p>')


def create_user(app, email: str = "ada@example.com", role: str = "admin") -> dict:
    db = app.extensions["touchpoint"].db()
    _, row = users.create(
        db,
        email,
        role,
        password=PASSWORD,
        hash_method=app.extensions["touchpoint"].config["PASSWORD_HASH"],
    )
    return row


def csrf_of(response) -> str:
    match = _TOKEN.search(response.get_data(as_text=True))
    assert match, "no CSRF token on the page"
    return match.group(1)


def field_errors(response) -> dict[str, str]:
    """{field name: error message} shown next to the fields."""
    return {
        name: html.unescape(message)
        for name, message in _FIELD_ERROR.findall(response.get_data(as_text=True))
    }


def visible(page: str) -> str:
    """An HTML page's text as a reader sees it: tags dropped, white space collapsed."""
    return html.unescape(re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", page)))


def text(response) -> str:
    return visible(response.get_data(as_text=True))


class Dash:
    """One browser signed in to the dashboard."""

    def __init__(self, app, email: str = "ada@example.com", password: str = PASSWORD) -> None:
        self.app = app
        self.client = app.test_client()
        self.token = ""
        response = self.sign_in(email, password)
        assert response.status_code == 303, response.get_data(as_text=True)

    def sign_in(self, email: str, password: str, next_url: str | None = None, **kw):
        self.token = csrf_of(self.client.get("/dashboard/sign-in"))
        data = {"email": email, "password": password, "csrf_token": self.token}
        if next_url is not None:
            data["next"] = next_url
        return self.client.post("/dashboard/sign-in", data=data, **kw)

    def get(self, path: str, **kw):
        response = self.client.get(path, **kw)
        if response.mimetype == "text/html" and _TOKEN.search(response.get_data(as_text=True)):
            self.token = csrf_of(response)
        return response

    def post(self, path: str, data: dict | None = None, csrf: bool = True, **kw):
        data = dict(data or {})
        if csrf:
            data.setdefault("csrf_token", self.token)
        response = self.client.post(path, data=data, **kw)
        if response.mimetype == "text/html" and _TOKEN.search(response.get_data(as_text=True)):
            self.token = csrf_of(response)
        return response

    def follow(self, response):
        assert response.status_code in (302, 303), response.status_code
        return self.get(response.headers["Location"])
