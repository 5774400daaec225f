"""deploy/nginx/touchpoint.conf as shipped, run by a real nginx in front of a real gunicorn.

Only the file's @NAME@ placeholders are filled in (loopback ports, the upstream, a throwaway
certificate, a log path); every timeout, limit and figure is the one production gets. Clients
come from their own loopback addresses (127.x.y.z) so each test has its own rate-limit bucket
and the stored address shows that it came from nginx's X-Forwarded-For.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import pwd
import re
import select
import shutil
import socket
import ssl
import subprocess
import threading
import time
import urllib.parse
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import pytest

from app.core import settings

from . import backends
from .conftest import api_for, make_app
from .live import free_port, gunicorn

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parent.parent
SHIPPED = ROOT / "deploy" / "nginx" / "touchpoint.conf"
README = ROOT / "README.md"
HOST = "tp.test"
SECRET = "nginx-test-secret"
PLACEHOLDERS = {
    "SERVER_NAMES",
    "HTTPS_LISTEN",
    "HTTP_LISTEN",
    "UPSTREAM",
    "CERTIFICATE",
    "CERTIFICATE_KEY",
    "ACCESS_LOG",
}
NGINX_429 = b"Too many requests from your address"


def nginx_binary() -> str | None:
    found = shutil.which("nginx") or "/usr/sbin/nginx"
    return found if os.access(found, os.X_OK) else None


def _unavailable(reason: str) -> None:
    # CI installs nginx (.ci/run); there a missing binary is a broken setup, not a skip.
    if os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no"):
        pytest.fail(f"{reason} (CI is set, so the nginx tests must run)", pytrace=False)
    pytest.skip(reason)


def shipped_figure(directive: str) -> str:
    """The value a directive has everywhere in the shipped file (it must be one value)."""
    values = set(re.findall(rf"^\s*{directive}\s+([^;]+);", SHIPPED.read_text(), re.M))
    assert len(values) == 1, (directive, values)
    return values.pop()


def burst_of(zone: str) -> int:
    bursts = set(re.findall(rf"zone={zone} burst=(\d+)", SHIPPED.read_text()))
    assert len(bursts) == 1, (zone, bursts)
    return int(bursts.pop())


def render(values: dict[str, str]) -> str:
    """The shipped file with its placeholders filled in, and nothing else changed."""
    text = SHIPPED.read_text()
    assert set(re.findall(r"@([A-Z_]+)@", text)) == PLACEHOLDERS == set(values)
    for name, value in values.items():
        text = text.replace(f"@{name}@", value)
    return text


@dataclass
class Proxy:
    app: object
    link: dict
    https_port: int
    http_port: int
    app_port: int
    cafile: Path
    access_log: Path
    nginx_test: subprocess.CompletedProcess

    def connect(self, source: str, server_name: str = HOST) -> ssl.SSLSocket:
        raw = socket.create_connection(("127.0.0.1", self.https_port), 5, (source, 0))
        return self.tls().wrap_socket(raw, server_hostname=server_name)

    def tls(self) -> ssl.SSLContext:
        return ssl.create_default_context(cafile=str(self.cafile))

    def https(self, source: str) -> http.client.HTTPSConnection:
        return _Connection(HOST, self.https_port, self, source)

    def rows(self, sql: str, params: tuple = ()) -> list[dict]:
        return list(self.app.extensions["touchpoint"].db().query(sql, params))


class _Connection(http.client.HTTPSConnection):
    """HTTPS to the proxy under the public name (SNI and Host) from one loopback address."""

    def __init__(self, host: str, port: int, proxy: Proxy, source: str) -> None:
        super().__init__(host, port, timeout=10, context=proxy.tls())
        self.proxy = proxy
        self.source = source

    def connect(self) -> None:
        self.sock = self.proxy.connect(self.source)


def _main_config(folder: Path, include: Path) -> str:
    """What /etc/nginx/nginx.conf gives the include in production, with temporary paths."""
    temp = " ".join(
        f"{kind}_temp_path {folder / kind};"
        for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
    )
    # As root, nginx's workers would become `nobody` and lose the test's private folders.
    user = f"user {pwd.getpwuid(0).pw_name};" if os.geteuid() == 0 else ""
    return (
        f"{user}\nworker_processes 1;\nevents {{ worker_connections 1024; }}\n"
        f"http {{\n    access_log {folder / 'other-access.log'};\n    {temp}\n"
        f"    include {include};\n}}\n"
    )


def _nginx_argv(nginx: str, folder: Path, include: Path) -> list[str]:
    """nginx in the foreground on `folder`, its main config there including `include`."""
    (folder / "nginx.conf").write_text(_main_config(folder, include))
    return [
        nginx,
        "-p",
        str(folder),
        "-c",
        str(folder / "nginx.conf"),
        "-e",
        str(folder / "error.log"),
        "-g",
        f"daemon off; pid {folder / 'nginx.pid'}; error_log {folder / 'error.log'} warn;",
    ]


def _certificate(folder: Path) -> tuple[Path, Path]:
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
         "-nodes", "-days", "2", "-subj", f"/CN={HOST}", "-addext",
         f"subjectAltName=DNS:{HOST}", "-keyout", str(key), "-out", str(cert)],
        check=True,
        capture_output=True,
    )  # fmt: skip
    return cert, key


@pytest.fixture(scope="module")
def proxy(tmp_path_factory):
    nginx = nginx_binary()
    if nginx is None:
        _unavailable("nginx not installed: apt-get install nginx")
    if shutil.which("openssl") is None:
        _unavailable("openssl not installed: apt-get install openssl")
    folder = tmp_path_factory.mktemp("nginx")
    app = make_app(folder, SECRET_KEY=SECRET)
    link = api_for(app).link()
    cert, key = _certificate(folder)
    https_port, http_port = free_port(), free_port()
    env = {
        **backends.environment(app),
        "TOUCHPOINT_SECRET_KEY": SECRET,
        "TOUCHPOINT_TRUSTED_PROXIES": "127.0.0.1",
        "TOUCHPOINT_PUBLIC_BASE_URL": f"https://{HOST}:{https_port}",
        "TOUCHPOINT_PASSWORD_HASH": "scrypt:1024:8:1",
    }
    with gunicorn(env, workers=2) as app_port:
        include = folder / "touchpoint.conf"
        include.write_text(
            render(
                {
                    "SERVER_NAMES": f"{HOST} www.{HOST}",
                    "HTTPS_LISTEN": f"127.0.0.1:{https_port}",
                    "HTTP_LISTEN": f"127.0.0.1:{http_port}",
                    "UPSTREAM": f"127.0.0.1:{app_port}",
                    "CERTIFICATE": str(cert),
                    "CERTIFICATE_KEY": str(key),
                    "ACCESS_LOG": str(folder / "access.log"),
                }
            )
        )
        argv = _nginx_argv(nginx, folder, include)
        checked = subprocess.run([*argv, "-t"], capture_output=True, text=True, timeout=30)
        assert checked.returncode == 0, checked.stderr
        process = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        try:
            _wait_for(process, http_port, folder / "error.log")
            yield Proxy(
                app, link, https_port, http_port, app_port, cert, folder / "access.log", checked
            )
        finally:
            process.terminate()
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
            if process.stdout:
                process.stdout.close()


def _wait_for(process: subprocess.Popen, port: int, error_log: Path) -> None:
    deadline = time.monotonic() + 15
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), 1).close()
            return
        except OSError:
            if process.poll() is not None or time.monotonic() > deadline:
                log = error_log.read_text() if error_log.exists() else ""
                raise RuntimeError(f"nginx did not start:\n{log}") from None
            time.sleep(0.05)


def click(proxy: Proxy, source: str, **headers: str) -> http.client.HTTPResponse:
    conn = proxy.https(source)
    try:
        conn.request("GET", f"/r/{proxy.link['token']}", headers=headers)
        response = conn.getresponse()
        response.read()
        return response
    finally:
        conn.close()


def no_answer(sock: socket.socket, request: bytes) -> bytes:
    """Send a request; return what came back before the server closed the connection."""
    sock.sendall(request)
    received = b""
    try:
        while chunk := sock.recv(4096):
            received += chunk
    except (ConnectionResetError, ssl.SSLError):
        pass
    finally:
        sock.close()
    return received


# The tests --------------------------------------------------------------------------------


def test_nginx_accepts_the_shipped_config_without_a_warning(proxy):
    output = proxy.nginx_test.stderr
    assert "syntax is ok" in output and "test is successful" in output
    assert "[warn]" not in output and "[emerg]" not in output, output


def test_a_click_is_redirected_with_the_clients_address_and_https(proxy):
    # The client claims another address; nginx passes on the one it connected from.
    response = click(proxy, "127.1.2.3", **{"X-Forwarded-For": "203.0.113.9"})
    assert response.status == 302
    assert response.getheader("Server") == "nginx"  # no version (server_tokens off)
    location = urllib.parse.urlsplit(response.getheader("Location"))
    assert (location.scheme, location.netloc, location.path) == (
        "https",
        "shop.example.com",
        "/spring",
    )
    query = urllib.parse.parse_qs(location.query)
    assert query["utm_source"] == ["newsletter"]
    (event,) = proxy.rows("SELECT * FROM events WHERE id = ?", (query["tp_cid"][0],))
    assert event["ip"] == "127.1.2.0"  # stored cut to /24, as always
    # X-Forwarded-Proto from nginx is believed (TOUCHPOINT_TRUSTED_PROXIES): https cookie.
    cookie = response.getheader("Set-Cookie")
    assert cookie.startswith("tp_vid=") and "; Secure" in cookie
    assert response.getheader("Strict-Transport-Security") == "max-age=31536000"
    # nginx's log keeps the address the way the app does. It writes the line after the
    # response has gone out, so a fast client can read the file before it is there.
    logged = ""
    for _ in range(50):
        logged = proxy.access_log.read_text()
        if logged:
            break
        time.sleep(0.05)
    assert "127.1.2.0 [" in logged
    assert "127.1.2.3" not in logged


def test_an_oversized_header_line_is_refused_before_the_app_stores_it(proxy):
    # The disk flood sent 8 KB User-Agent headers; nginx takes lines up to 8 KiB.
    assert shipped_figure("large_client_header_buffers") == "4 8k"
    before = proxy.rows("SELECT count(*) AS n FROM events")[0]["n"]
    response = click(proxy, "127.1.5.1", **{"User-Agent": "Mozilla/5.0 " + "x" * 8192})
    assert response.status == 400
    assert proxy.rows("SELECT count(*) AS n FROM events")[0]["n"] == before
    assert click(proxy, "127.1.5.1", **{"User-Agent": "Mozilla/5.0 " + "x" * 4000}).status == 302


def test_plain_http_is_sent_to_https(proxy):
    conn = http.client.HTTPConnection("127.0.0.1", proxy.http_port, timeout=5)
    conn.request("GET", f"/r/{proxy.link['token']}?a=1", headers={"Host": HOST})
    response = conn.getresponse()
    assert response.status == 301
    assert response.getheader("Location") == f"https://{HOST}/r/{proxy.link['token']}?a=1"
    conn.close()


def test_an_unknown_host_gets_no_answer_and_never_reaches_the_app(proxy):
    before = proxy.rows("SELECT count(*) AS n FROM events")[0]["n"]
    hit = f"GET /r/{proxy.link['token']} HTTP/1.1\r\nHost: evil.example\r\n\r\n".encode()
    # The allowed name in TLS, another in the Host header: closed without a byte (444).
    assert no_answer(proxy.connect("127.1.3.1"), hit) == b""
    # Another name in TLS: the handshake is refused, no certificate is shown.
    with pytest.raises(ssl.SSLError):
        proxy.connect("127.1.3.1", server_name="evil.example")
    # Plain HTTP, and no Host at all.
    plain = socket.create_connection(("127.0.0.1", proxy.http_port), 5)
    assert no_answer(plain, hit) == b""
    bare = f"GET /r/{proxy.link['token']} HTTP/1.0\r\n\r\n".encode()
    assert no_answer(proxy.connect("127.1.3.1"), bare) == b""
    assert proxy.rows("SELECT count(*) AS n FROM events")[0]["n"] == before


def _post_headers_only(proxy: Proxy, path: str, length: int) -> http.client.HTTPResponse:
    """Announce a body of `length` bytes and wait: nginx refuses it before it is sent."""
    conn = proxy.https("127.1.4.1")
    conn.putrequest("POST", path)
    conn.putheader("Content-Type", "text/csv")
    conn.putheader("Content-Length", str(length))
    conn.endheaders()
    response = conn.getresponse()
    response.body = response.read()
    conn.close()
    return response


def test_a_body_over_the_limit_gets_413_from_nginx(proxy):
    mib = 1024 * 1024
    # The shipped limits are the app's defaults, so nginx and the app refuse the same bodies.
    defaults = {s.name: s.default for s in settings.SETTINGS}
    sizes = re.findall(r"client_max_body_size (\d+)m;", SHIPPED.read_text())
    assert {int(size) * mib for size in sizes} == {
        defaults["MAX_CONTENT_LENGTH"],
        defaults["RECIPIENTS_MAX_BYTES"],
    }
    assert defaults["MAX_CONTENT_LENGTH"] == 16 * mib == int(sizes[0]) * mib

    started = time.monotonic()
    response = _post_headers_only(proxy, "/api/v1/links", 16 * mib + 1)
    assert time.monotonic() - started < 2  # answered at once, not after 16 MiB
    assert response.status == 413
    assert response.getheader("Content-Type") == "application/json"
    assert json.loads(response.body)["error"]["code"] == "payload_too_large"

    link_id = proxy.link["id"]
    response = _post_headers_only(proxy, f"/api/v1/links/{link_id}/recipients", 200 * mib + 1)
    assert response.status == 413
    response = _post_headers_only(proxy, f"/dashboard/links/{link_id}/recipients", 200 * mib + 1)
    assert response.status == 413
    assert response.getheader("Content-Type") == "text/plain"

    # A chunked body has no length to refuse up front: cut off once 16 MiB have arrived.
    conn = proxy.https("127.1.4.1")
    chunk = b"x" * (1024 * 1024)
    conn.request(
        "POST",
        "/api/v1/links",
        body=iter([chunk] * 17),
        headers={"Content-Type": "application/json", "Transfer-Encoding": "chunked"},
        encode_chunked=True,
    )
    assert conn.getresponse().status == 413
    conn.close()

    # Recipients uploads may be larger than 16 MiB: this one reaches the app (which refuses
    # it for want of a token, after nginx read all of it).
    conn = proxy.https("127.1.4.1")
    body = b"email\n" + b"a@example.com\n" * (17 * mib // 14)
    conn.request(
        "POST", f"/api/v1/links/{link_id}/recipients", body=body,
        headers={"Content-Type": "text/csv"},
    )  # fmt: skip
    response = conn.getresponse()
    assert response.status == 401
    assert json.loads(response.read())["error"]["code"] == "missing_token"
    conn.close()


def test_slow_headers_are_cut_by_nginx_and_clicks_go_on_meanwhile(proxy):
    timeout = shipped_figure("client_header_timeout")
    assert timeout == "10s"
    seconds = int(timeout[:-1])
    orphans = proxy.rows("SELECT count(*) AS n FROM orphan_hits")[0]["n"]
    # 50 clients sending one header line every 2 s (the slowloris), each from its own
    # address, on the public hostname.
    slow, connected = [], []
    for i in range(50):
        connected.append(time.monotonic())
        sock = proxy.connect(f"127.2.0.{i + 1}")
        sock.sendall(b"GET /r/slowloris HTTP/1.1\r\nHost: tp.test\r\n")
        slow.append(sock)
    opened = time.monotonic()
    closed_after: dict[int, float] = {}
    answered: dict[int, bytes] = {}
    done = threading.Event()

    def feed() -> None:
        line = 0
        while len(closed_after) < len(slow) and time.monotonic() - opened < seconds + 10:
            open_socks = [s for i, s in enumerate(slow) if i not in closed_after]
            readable, _, _ = select.select(open_socks, [], [], 0.2)
            for sock in readable:
                i = slow.index(sock)
                try:
                    data = sock.recv(4096)
                except (ConnectionResetError, ssl.SSLError):
                    data = b""
                if data:
                    answered[i] = answered.get(i, b"") + data
                else:
                    closed_after[i] = time.monotonic() - connected[i]
            if time.monotonic() - opened > 2 * (line + 1):
                line += 1
                for i, sock in enumerate(slow):
                    if i not in closed_after:
                        with contextlib.suppress(OSError):
                            sock.sendall(f"X-Slow-{line}: yes\r\n".encode())
        done.set()

    feeder = threading.Thread(target=feed, daemon=True)
    feeder.start()
    timings = []
    while time.monotonic() - opened < seconds - 2:
        started = time.monotonic()
        assert click(proxy, "127.2.1.1").status == 302
        timings.append(time.monotonic() - started)
        time.sleep(0.1)
    done.wait(seconds + 15)
    for sock in slow:
        sock.close()

    assert len(timings) > 20
    assert max(timings) < 1.0, timings  # on a busy 2-core machine; typically a few ms
    assert len(closed_after) == len(slow)
    assert all(seconds - 0.5 < t < seconds + 3 for t in closed_after.values()), closed_after
    assert answered == {}  # nginx closes a timed-out header without a reply
    # None of them reached the app (an unknown token is logged as an orphan hit there).
    assert proxy.rows("SELECT count(*) AS n FROM orphan_hits")[0]["n"] == orphans


def test_a_flood_from_one_address_gets_429_from_nginx_and_a_crowd_of_burst_size_does_not(
    proxy,
):
    burst = burst_of("touchpoint_public")
    assert (burst, shipped_figure("limit_req_status")) == (500, "429")
    source = "127.3.0.1"
    statuses: Counter[int] = Counter()
    refused: list[tuple[dict, bytes]] = []
    stop = threading.Event()
    lock = threading.Lock()

    def flood() -> None:
        conn = proxy.https(source)
        while not stop.is_set():
            with lock:
                if sum(statuses.values()) >= 4000:
                    break
            try:
                conn.request("GET", f"/r/{proxy.link['token']}")
                response = conn.getresponse()
                body = response.read()
            except (OSError, http.client.HTTPException):
                conn.close()
                conn = proxy.https(source)
                continue
            with lock:
                statuses[response.status] += 1
                if response.status == 429:
                    refused.append((dict(response.getheaders()), body))
                    if len(refused) >= 20:
                        stop.set()
        conn.close()

    threads = [threading.Thread(target=flood) for _ in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)

    assert set(statuses) == {302, 429}, statuses
    assert statuses[302] > burst  # the first `burst` at once are served without delay
    headers, body = refused[0]
    assert headers["Retry-After"] == "1"
    assert NGINX_429 in body
    # Refused by nginx: only the served clicks are rows.
    stored = proxy.rows("SELECT count(*) AS n FROM events WHERE ip = '127.3.0.0'")[0]["n"]
    assert stored == statuses[302]
    # Everyone else is served meanwhile: the limit is per address.
    assert click(proxy, "127.3.1.1").status == 302


@pytest.mark.parametrize(
    ("path", "source"), [("/staff", "127.4.0.1"), ("/dashboard/sign-in", "127.4.1.1")]
)
def test_sign_in_attempts_are_limited_per_address_and_the_form_still_shows(proxy, path, source):
    burst = burst_of("touchpoint_signin")
    assert burst == 20
    answers, retry_after = [], set()
    for _ in range(burst + 5):
        conn = proxy.https(source)
        conn.request(
            "POST", path, body="key=wrong&email=a%40example.com&password=wrong",
            headers={"Content-Type": "application/x-www-form-urlencoded"},
        )  # fmt: skip
        response = conn.getresponse()
        refused = NGINX_429 in response.read() and response.status == 429
        answers.append(refused)
        if refused:
            retry_after.add(response.getheader("Retry-After"))
        conn.close()
    assert retry_after == {"6"}  # one attempt every 6 s (rate=10r/m)
    # The first `burst` (and one) reach the app, whatever it answers; then nginx refuses.
    assert answers[: burst + 1] == [False] * (burst + 1)
    assert all(answers[burst + 2 :]), answers
    conn = proxy.https(source)
    conn.request("GET", path)
    assert conn.getresponse().status == 200
    conn.close()


def test_healthz_is_passed_through(proxy):
    def get(conn: http.client.HTTPConnection) -> tuple[int, str | None, bytes]:
        try:
            conn.request("GET", "/healthz")
            response = conn.getresponse()
            return response.status, response.getheader("Content-Type"), response.read()
        finally:
            conn.close()

    direct = get(http.client.HTTPConnection("127.0.0.1", proxy.app_port, timeout=5))
    assert get(proxy.https("127.5.0.1")) == direct
    assert "/healthz" not in proxy.access_log.read_text()  # monitoring does not flood the log


# The README, kept true ----------------------------------------------------------------------


def _production_section() -> str:
    text = README.read_text()
    start = text.index("## Running in production")
    return text[start : text.index("\n## ", start + 1)]


def test_the_readme_points_at_the_shipped_config_and_names_its_placeholders():
    section = _production_section()
    assert "deploy/nginx/touchpoint.conf" in section
    assert SHIPPED.exists()
    assert set(re.findall(r"@([A-Z_]+)@", section)) == PLACEHOLDERS


def test_the_readmes_install_command_gives_a_config_nginx_accepts(tmp_path):
    nginx = nginx_binary()
    if nginx is None or shutil.which("openssl") is None:
        _unavailable("nginx or openssl not installed: apt-get install nginx openssl")
    section = _production_section()
    values = dict(re.findall(r"-e 's/@([A-Z_]+)@/([^/']*)/'", section))
    values |= dict(re.findall(r"-e 's#@([A-Z_]+)@#([^#']*)#'", section))
    assert set(values) == PLACEHOLDERS
    assert (values["HTTPS_LISTEN"], values["HTTP_LISTEN"]) == ("443", "80")
    # This machine has no certificate for go.example.com and may not write /var/log/nginx.
    cert, key = _certificate(tmp_path)
    values |= {
        "CERTIFICATE": str(cert),
        "CERTIFICATE_KEY": str(key),
        "ACCESS_LOG": str(tmp_path / "access.log"),
    }
    include = tmp_path / "touchpoint.conf"
    include.write_text(render(values))
    checked = subprocess.run(
        [*_nginx_argv(nginx, tmp_path, include), "-t"], capture_output=True, text=True, timeout=30
    )
    assert checked.returncode == 0, checked.stderr
    assert "[warn]" not in checked.stderr, checked.stderr


def test_every_figure_the_readme_gives_is_the_shipped_one():
    # README rows like: | `client_header_timeout 10s` | why |
    section = _production_section()
    figures = re.findall(r"^\| `([a-z_]+) ([^`]+)` \|", section, re.M)
    assert len(figures) >= 8, figures
    shipped = SHIPPED.read_text()
    for directive, value in figures:
        assert re.search(rf"^\s*{directive} {re.escape(value)};", shipped, re.M), (
            directive,
            value,
        )
