"""Big recipients uploads as jobs: a real gunicorn and real `touchpoint worker` processes on
one SQLite file; workers killed with -9 mid-job, two workers racing, a chunked body cut off."""

from __future__ import annotations

import csv
import http.client
import io
import json
import os
import select
import signal
import socket
import subprocess
import threading
import time
from pathlib import Path

import pytest

from app.access import api_tokens
from app.core import db as dbmod
from app.people import recipients_job  # noqa: F401 (registers the import kind)
from app.server import jobs

from . import backends
from .conftest import api_for, make_app
from .live import ROOT, gunicorn

pytestmark = pytest.mark.slow

SECRET = "jobs-test-secret-key-0123456789abcdef"
BASE = "https://go.example.com"
THRESHOLD = 50


def body_of(rows: int, start: int = 0) -> bytes:
    lines = ["email,name,city"]
    lines += [f"person{i}@example.com,Person {i},Oslo" for i in range(start, start + rows)]
    return ("\n".join(lines) + "\n").encode()


def jobs_dir(app) -> Path:
    return Path(app.extensions["touchpoint"].config["JOBS_DIR"])


def env_for(app, **extra: str) -> dict[str, str]:
    return {
        **backends.environment(app),
        "TOUCHPOINT_SECRET_KEY": SECRET,
        "TOUCHPOINT_PUBLIC_BASE_URL": BASE,
        "TOUCHPOINT_RECIPIENTS_JOB_ROWS": str(THRESHOLD),
        "TOUCHPOINT_JOB_LEASE_SECONDS": "2",
        **extra,
    }


def start_worker(env: dict[str, str]) -> subprocess.Popen:
    return subprocess.Popen(
        [str(ROOT / ".venv" / "bin" / "touchpoint"), "worker", "--poll", "0.05"],
        cwd=ROOT,
        env={**os.environ, **env},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )


def stop(worker: subprocess.Popen) -> str:
    if worker.poll() is None:
        worker.send_signal(signal.SIGTERM)
    _, err = worker.communicate(timeout=30)
    return err


class Http:
    def __init__(self, port: int, token: str) -> None:
        self.port = port
        self.headers = {"Authorization": f"Bearer {token}"}

    def request(self, method: str, path: str, body: bytes | None = None, **headers):
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        try:
            conn.request(method, path, body=body, headers={**self.headers, **headers})
            response = conn.getresponse()
            return response.status, dict(response.getheaders()), response.read()
        finally:
            conn.close()

    def upload(self, link_id: int, body: bytes, query: str = ""):
        return self.request(
            "POST",
            f"/api/v1/links/{link_id}/recipients{query}",
            body,
            **{"Content-Type": "text/csv"},
        )

    def job(self, path: str) -> dict:
        status, _, data = self.request("GET", path)
        assert status == 200, data
        return json.loads(data)

    def wait(self, path: str, until=("done", "failed"), timeout: float = 60) -> dict:
        deadline = time.monotonic() + timeout
        while True:
            job = self.job(path)
            if job["status"] in until:
                return job
            assert time.monotonic() < deadline, job
            time.sleep(0.05)


@pytest.fixture
def live(tmp_path):
    app = make_app(tmp_path, SECRET_KEY=SECRET, PUBLIC_BASE_URL=BASE)
    api = api_for(app)
    token, _ = api_tokens.create(app.extensions["touchpoint"].db(), "jobs test", "marketer")
    env = env_for(app)
    with gunicorn(env, workers=2) as port:
        yield app, api, Http(port, token), env


def counts(app) -> tuple[int, int]:
    """(leads, recipients), read on a connection of its own."""
    db = dbmod.open_database(app.extensions["touchpoint"].database_path)
    try:
        return (
            db.execute("SELECT count(*) FROM leads").fetchone()[0],
            db.execute("SELECT count(*) FROM recipients").fetchone()[0],
        )
    finally:
        db.conn.close()


def test_big_upload_is_a_job_whose_merge_file_matches_the_synchronous_one(live, tmp_path):
    app, api, http, env = live
    link = api.link()
    body = body_of(120)
    status, headers, data = http.upload(link["id"], body, "?format=csv")
    assert status == 202, data
    job = json.loads(data)
    assert headers["Location"] == f"/api/v1/jobs/{job['id']}"
    assert job["status"] == "queued" and job["result_url"] is None
    # Nothing is imported until a worker runs it, and the result is not there yet.
    assert counts(app) == (0, 0)
    assert http.request("GET", f"{headers['Location']}/result")[0] == 409
    worker = start_worker(env)
    try:
        done = http.wait(headers["Location"])
    finally:
        stop(worker)
    assert done["status"] == "done", done
    assert (done["rows_done"], done["rows_total"], done["imported"]) == (120, 120, 120)
    assert done["progress"] == 1 and done["errors"] == [] and done["finished_at"]
    status, headers, merge = http.request("GET", done["result_url"])
    assert status == 200 and headers["Content-Type"].startswith("text/csv")
    assert headers["X-Touchpoint-Imported"] == "120"
    # The same rows uploaded synchronously (below the threshold of the in-process app) give
    # the same bytes: same leads, same recipients, same tracked URLs.
    sync = api.client.post(
        f"/api/v1/links/{link['id']}/recipients?format=csv",
        data=body,
        headers={**api.headers, "Content-Type": "text/csv"},
    )
    assert sync.status_code == 200
    assert merge == sync.get_data()
    assert counts(app) == (120, 120)


def test_small_uploads_stay_synchronous_on_the_server(live):
    _, api, http, _ = live
    link = api.link()
    status, _, data = http.upload(link["id"], body_of(THRESHOLD))
    assert status == 200
    assert json.loads(data)["imported"] == THRESHOLD


def test_a_failed_job_reports_the_same_errors_as_the_synchronous_import(live):
    _, api, http, env = live
    link = api.link()
    body = body_of(60) + b"not-an-email,X,Oslo\n"
    _, headers, _ = http.upload(link["id"], body)
    worker = start_worker(env)
    try:
        failed = http.wait(headers["Location"])
    finally:
        stop(worker)
    sync = api.client.post(
        f"/api/v1/links/{link['id']}/recipients",
        data=body,
        headers={**api.headers, "Content-Type": "text/csv"},
    )
    assert failed["status"] == "failed"
    assert failed["error"] == sync.get_json()["error"]
    assert failed["errors"] == [{"line": 62, "reason": "invalid email 'not-an-email'"}]
    status, _, report = http.request("GET", failed["result_url"])
    assert status == 422 and b"not-an-email" in report


def test_jobs_are_for_api_tokens_that_may_upload(live, tmp_path):
    app, api, http, _ = live
    link = api.link()
    _, headers, _ = http.upload(link["id"], body_of(60))
    path = headers["Location"]
    status, _, _ = http.request("GET", path, Authorization="")
    assert status == 401
    status, _, _ = http.request("GET", path, Authorization="Bearer tp_nope")
    assert status == 401
    assert http.request("GET", "/api/v1/jobs/999")[0] == 404


def test_a_killed_worker_s_job_is_finished_by_another_without_doubles(tmp_path):
    app = make_app(tmp_path, SECRET_KEY=SECRET, PUBLIC_BASE_URL=BASE)
    api = api_for(app)
    link = api.link()
    rows = 20_000
    env = env_for(app, TOUCHPOINT_RECIPIENTS_JOB_CHUNK_ROWS="100")
    db = app.extensions["touchpoint"].db()
    with gunicorn(env, workers=1) as port:
        http = Http(port, api.headers["Authorization"].split()[1])
        body = body_of(rows)
        _, headers, _ = http.upload(link["id"], body)
        first = start_worker(env)
        try:
            job_id = int(headers["Location"].rsplit("/", 1)[1])
            deadline = time.monotonic() + 60
            while jobs.get(db, job_id)["rows_done"] == 0:
                assert time.monotonic() < deadline
                time.sleep(0.002)
            first.kill()
            first.wait()
        finally:
            if first.poll() is None:
                first.kill()
            first.communicate()
        killed = http.job(headers["Location"])
        # Killed mid-job: some chunks committed, not all, and the job still looks running.
        assert killed["status"] == "running" and 0 < killed["rows_done"] < rows, killed
        assert counts(app)[1] == killed["rows_done"]
        second = start_worker(env)
        try:
            done = http.wait(headers["Location"])
        finally:
            stop(second)
        assert done["status"] == "done" and done["attempts"] == 2
        assert done["rows_done"] == rows and done["imported"] == rows
        assert counts(app) == (rows, rows)
        _, _, merge = http.request("GET", done["result_url"])
    answer = list(csv.DictReader(io.StringIO(merge.decode())))
    assert len(answer) == rows
    assert [r["email"] for r in answer] == [f"person{i}@example.com" for i in range(rows)]
    assert len({r["tracked_url"] for r in answer}) == rows
    sync = api.client.post(
        f"/api/v1/links/{link['id']}/recipients?format=csv",
        data=body,
        headers={**api.headers, "Content-Type": "text/csv"},
    )
    assert merge == sync.get_data()


def test_sigterm_gives_the_job_back_and_the_next_worker_continues_it(tmp_path):
    app = make_app(tmp_path, SECRET_KEY=SECRET, PUBLIC_BASE_URL=BASE)
    api = api_for(app)
    link = api.link()
    rows = 20_000
    env = env_for(app, TOUCHPOINT_RECIPIENTS_JOB_CHUNK_ROWS="100")
    db = app.extensions["touchpoint"].db()
    path, _ = recipients_job.save_upload(
        io.BytesIO(body_of(rows)), Path(app.extensions["touchpoint"].config["JOBS_DIR"]), 10**9
    )
    job = recipients_job.enqueue(db, path, link["id"], BASE, skip_invalid=False, created_by=None)
    first = start_worker(env)
    deadline = time.monotonic() + 60
    while jobs.get(db, job["id"])["rows_done"] == 0:
        assert time.monotonic() < deadline
        time.sleep(0.002)
    log = stop(first)
    assert first.returncode == 0, log
    stopped = jobs.get(db, job["id"])
    assert stopped["status"] == "queued" and 0 < stopped["rows_done"] < rows, stopped
    second = start_worker(env)
    try:
        deadline = time.monotonic() + 60
        while jobs.get(db, job["id"])["status"] != "done":
            assert time.monotonic() < deadline
            time.sleep(0.05)
    finally:
        stop(second)
    assert counts(app) == (rows, rows)


def test_two_workers_never_run_one_job(tmp_path):
    app = make_app(tmp_path, SECRET_KEY=SECRET, PUBLIC_BASE_URL=BASE)
    api = api_for(app)
    link = api.link()
    db = app.extensions["touchpoint"].db()
    queued = []
    for n in range(6):
        path, _ = recipients_job.save_upload(
            io.BytesIO(body_of(300, start=n * 300)), tmp_path / "jobs", 10**9
        )
        queued.append(
            recipients_job.enqueue(db, path, link["id"], BASE, skip_invalid=False, created_by=None)
        )
    env = env_for(app, TOUCHPOINT_RECIPIENTS_JOB_CHUNK_ROWS="50")
    workers = [start_worker(env) for _ in range(3)]
    try:
        deadline = time.monotonic() + 90
        while any(jobs.get(db, j["id"])["status"] != "done" for j in queued):
            assert time.monotonic() < deadline
            time.sleep(0.05)
    finally:
        logs = [stop(w) for w in workers]
    claims = [line for log in logs for line in log.splitlines() if " claimed" in line]
    claimed_ids = sorted(int(line.split("job ")[1].split()[0]) for line in claims)
    assert claimed_ids == [j["id"] for j in queued], logs
    assert all(jobs.get(db, j["id"])["attempts"] == 1 for j in queued)
    assert counts(app) == (1800, 1800)


def test_a_claim_has_exactly_one_winner(tmp_path):
    app = make_app(tmp_path)
    rt = app.extensions["touchpoint"]
    db = rt.db()
    job = jobs.enqueue(db, recipients_job.KIND, {"link_id": 1})
    barrier = threading.Barrier(8)
    won = []

    def race() -> None:
        mine = dbmod.open_database(rt.database_path)
        barrier.wait()
        claimed = jobs.claim(mine, 30)
        if claimed:
            won.append(claimed[0]["id"])
        mine.conn.close()

    threads = [threading.Thread(target=race) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert won == [job["id"]]
    # An expired lease makes it claimable again, once.
    assert jobs.claim(db, 30) is None
    assert jobs.claim(db, 30, now=time.time() + 31)[0]["attempts"] == 2


def test_a_chunked_body_over_the_limit_is_cut_off_with_413(tmp_path):
    app = make_app(tmp_path, SECRET_KEY=SECRET)
    api = api_for(app)
    link = api.link()
    limit = 1_000_000
    env = env_for(app, TOUCHPOINT_RECIPIENTS_MAX_BYTES=str(limit))
    budget = 200 * limit  # "endless": far more than any server should read
    with gunicorn(env, workers=1) as port:
        sock = socket.create_connection(("127.0.0.1", port))
        sock.sendall(
            (
                f"POST /api/v1/links/{link['id']}/recipients HTTP/1.1\r\n"
                f"Host: 127.0.0.1\r\nAuthorization: {api.headers['Authorization']}\r\n"
                "Content-Type: text/csv\r\nTransfer-Encoding: chunked\r\n\r\n"
            ).encode()
        )
        piece = b"email\n" + b"someone@example.com\n" * 3000
        chunk = f"{len(piece):x}\r\n".encode() + piece + b"\r\n"
        sock.setblocking(False)
        sent = 0
        answer = b""
        deadline = time.monotonic() + 30
        while sent < budget and time.monotonic() < deadline:
            readable, writable, _ = select.select([sock], [sock], [], 1)
            if readable:
                data = sock.recv(65536)
                answer += data
                if not data or b"\r\n\r\n" in answer:
                    break
            if writable:
                try:
                    sent += sock.send(chunk)
                except (BrokenPipeError, ConnectionResetError):
                    break
        sock.setblocking(True)
        sock.settimeout(5)
        try:
            while b"\r\n\r\n" not in answer and (data := sock.recv(65536)):
                answer += data
        except (TimeoutError, ConnectionResetError):
            pass
        sock.close()
    assert answer.startswith(b"HTTP/1.1 413"), answer[:200]
    assert sent < 20 * limit, sent


def test_dashboard_upload_of_a_big_file_shows_the_job_until_its_merge_file(tmp_path):
    from app.server import worker

    from .dashboard_helpers import Dash, create_user

    # The page limit (MAX_CONTENT_LENGTH) is far below the file: the upload has its own.
    app = make_app(
        tmp_path, RECIPIENTS_JOB_ROWS=THRESHOLD, MAX_CONTENT_LENGTH=1000, PUBLIC_BASE_URL=BASE
    )
    create_user(app, "mark@example.com", "marketer")
    link = api_for(app).link()
    dash = Dash(app, "mark@example.com")
    dash.get(f"/dashboard/links/{link['id']}")
    body = body_of(80)
    assert len(body) > 1000
    response = dash.post(
        f"/dashboard/links/{link['id']}/recipients",
        {"file": (io.BytesIO(body), "list.csv")},
        content_type="multipart/form-data",
    )
    assert response.status_code == 303
    page = dash.follow(response)
    html = page.get_data(as_text=True)
    assert page.status_code == 200 and 'data-auto-refresh="2"' in html
    assert "<strong data-job-status>queued</strong>" in html and "data-finished" not in html
    job_path = response.headers["Location"]
    assert dash.get(f"{job_path}/result.csv").status_code == 409
    worker.run(app.extensions["touchpoint"], once=True, log=lambda _: None)
    status = dash.get(f"{job_path}?partial=1").get_data(as_text=True)
    assert "data-finished" in status and "<strong data-rows-done>80</strong> of 80" in status
    assert f'href="{job_path}/result.csv"' in status
    with dash.get(f"{job_path}/result.csv") as merge:
        rows = list(csv.DictReader(io.StringIO(merge.get_data(as_text=True))))
    assert len(rows) == 80 and all(r["tracked_url"].startswith(f"{BASE}/r/") for r in rows)
    # Signed out, the job is not shown.
    assert app.test_client().get(job_path).status_code == 303


def test_touchpoint_serve_runs_a_worker_beside_gunicorn(tmp_path):
    from .live import free_port

    app = make_app(tmp_path, SECRET_KEY=SECRET, PUBLIC_BASE_URL=BASE)
    api = api_for(app)
    link = api.link()
    port = free_port()
    process = subprocess.Popen(
        [str(ROOT / ".venv" / "bin" / "touchpoint"), "serve", "--bind", f"127.0.0.1:{port}"]
        + ["--workers", "1", "--no-access-log"],
        cwd=ROOT,
        env={**os.environ, **env_for(app)},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        http = Http(port, api.headers["Authorization"].split()[1])
        deadline = time.monotonic() + 30
        while True:
            try:
                status, headers, _ = http.upload(link["id"], body_of(THRESHOLD + 1))
                break
            except OSError:
                assert process.poll() is None and time.monotonic() < deadline
                time.sleep(0.2)
        assert status == 202
        assert http.wait(headers["Location"])["status"] == "done"
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=30) == 0
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
        process.wait()
