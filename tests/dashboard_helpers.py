"""A signed-in dashboard browser for the Flask test client: keeps the CSRF token of the last
page, posts forms with it, and reads field errors back from the HTML."""

from __future__ import annotations

import html
import re

from markupsafe import escape

from app.access import users

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


def errors_at_fields(response) -> dict[str, str]:
    """{field name: message} of every error shown, after checking that each one stands in its
    own field's block, describes its control, and is linked from the summary above the form."""
    body = response.get_data(as_text=True)
    shown = field_errors(response)
    assert shown, "no error shown next to a field"
    for name, message in shown.items():
        error = re.search(rf'<p class="error" id="e-{name}">', body)
        control = re.search(rf'<(input|select|textarea|fieldset)\b[^>]*\bid="f-{name}"[^>]*>', body)
        assert control, f"no control f-{name}"
        # Between the error and its control (or the control and its error, in a group of
        # boxes) there is no other field.
        start, end = sorted((error.start(), control.start()))
        assert 'class="field' not in body[start:end].split(">", 1)[1], name
        assert re.search(rf'aria-describedby="[^"]*\be-{name}\b', control.group(0)), name
        if control.group(1) != "fieldset":
            assert 'aria-invalid="true"' in control.group(0), name
        link = f'<a href="#f-{name}">{escape(message)}</a>'
        assert link in body, f"{name} is not in the summary"
    return shown


def value_of(response, name: str) -> str:
    """What the form shows in the input (or textarea) `name`."""
    body = response.get_data(as_text=True)
    found = re.search(rf'<input id="f-{name}" name="{name}" type="[^"]*" value="([^"]*)"', body)
    if found is None:
        found = re.search(rf'<textarea id="f-{name}" name="{name}"[^>]*>([^<]*)</textarea>', body)
    assert found, f"no field {name}"
    return html.unescape(found.group(1))


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
