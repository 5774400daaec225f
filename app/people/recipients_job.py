"""Big recipients uploads as a job: the body saved to a file, imported by `touchpoint worker`.

The import runs in chunks (RECIPIENTS_JOB_CHUNK_ROWS rows), each one transaction that also
records how many rows are done and how many bytes of the merge file are final, so a worker killed
mid-job is followed by one that continues after the last committed chunk: no row twice,
no row missing. Each attempt writes its own merge file (the committed part of the previous
one copied first), so a worker frozen past its lease never writes into the file of the one
that took over.
"""

from __future__ import annotations

import os
import tempfile
import time
from pathlib import Path
from typing import IO

from app.core.error_codes import ErrorCode
from app.core.errors import TouchpointError
from app.people import recipients
from app.server import jobs

KIND = "recipients_import"
_COPY_CHUNK = 1024 * 1024
_PROGRESS_EVERY_S = 1.0
# Reading and checking the file is this share of the progress bar; importing the rest.
_READING_SHARE = 0.1


class PayloadTooLarge(TouchpointError):
    status = 413
    code = ErrorCode.PAYLOAD_TOO_LARGE


def too_large(limit: int) -> PayloadTooLarge:
    return PayloadTooLarge(
        f"The upload is larger than the server accepts ({limit:,} bytes at most)."
    )


def save_upload(stream: IO[bytes], folder: Path, max_bytes: int) -> tuple[Path, int]:
    """Copy an upload to a file in `folder`; return (path, lines after the header).

    Read in pieces with a counter: a body without Content-Length (chunked) is refused with
    413 as soon as it passes `max_bytes`, not read to its end.
    """
    folder.mkdir(parents=True, exist_ok=True)
    handle = tempfile.NamedTemporaryFile(dir=folder, prefix="upload-", suffix=".csv", delete=False)  # noqa: SIM115
    path = Path(handle.name)
    size = lines = 0
    last = b"\n"
    try:
        with handle:
            while chunk := stream.read(_COPY_CHUNK):
                size += len(chunk)
                if size > max_bytes:
                    raise too_large(max_bytes)
                handle.write(chunk)
                lines += chunk.count(b"\n")
                last = chunk[-1:]
    except BaseException:
        path.unlink(missing_ok=True)
        raise
    if last != b"\n":
        lines += 1
    return path, max(0, lines - 1)


def enqueue(
    db,
    upload: Path,
    link_id: int,
    base_url: str,
    *,
    skip_invalid: bool,
    created_by: str | None,
) -> dict:
    """Queue the import of a saved upload; the file becomes the job's."""
    row = jobs.enqueue(
        db,
        KIND,
        {
            "link_id": link_id,
            "upload": str(upload),
            "base_url": base_url,
            "skip_invalid": skip_invalid,
        },
        created_by=created_by,
    )
    return row


def result_path(row: dict) -> Path | None:
    """The finished job's file: the merge CSV when done, the error report when failed."""
    state = jobs.state_of(row)
    name = state.get("result_file")
    return Path(name) if name and Path(name).exists() else None


@jobs.handler(KIND)
def run_import(run: jobs.Run) -> dict:
    params = run.params
    upload = Path(params["upload"])
    state = run.state or {"rows_done": 0, "imported": 0, "result_bytes": 0}
    result_file = upload.with_name(f"job-{run.job['id']}-{run.token}.csv")
    size = upload.stat().st_size or 1
    read = 0
    last_report = time.monotonic()

    def reading(n: int) -> None:
        nonlocal read, last_report
        run.check_stop()
        read += n
        if time.monotonic() - last_report > _PROGRESS_EVERY_S:
            last_report = time.monotonic()
            with run.step():
                run.save(progress=_READING_SHARE * read / size)

    try:
        with upload.open("rb") as stream:
            parsed = recipients.parse_csv(stream, progress=reading)
        if parsed.invalid and not params["skip_invalid"]:
            raise recipients.InvalidRows(parsed)
    except TouchpointError as exc:
        result_file.write_text(recipients.error_report(exc), encoding="utf-8")
        with run.step():
            run.save(progress=0, state={**state, "result_file": str(result_file)})
        raise
    importer = recipients.BatchImporter(
        params["link_id"], parsed.columns, run.rt.link_tokens, params["base_url"]
    )
    merge = recipients.MergeCsv(parsed.columns, parsed.delimiter)
    total = parsed.rows
    chunk_rows = max(1, int(run.rt.config["RECIPIENTS_JOB_CHUNK_ROWS"]))
    _start_result_file(result_file, state, merge.header())
    with result_file.open("r+b") as out:
        out.seek(state["result_bytes"])
        pending: list[list] = []
        seen = 0
        for batch in parsed.spool.batches():
            for row in batch:
                seen += 1
                if seen > state["rows_done"]:
                    pending.append(row)
            if len(pending) >= chunk_rows:
                state = _import_chunk(run, importer, merge, out, pending, state, total, result_file)
                pending = []
        if pending or total == 0:
            state = _import_chunk(run, importer, merge, out, pending, state, total, result_file)
    return {"errors": parsed.invalid}


def _start_result_file(path: Path, state: dict, header: str) -> None:
    """This attempt's file: the previous attempt's committed bytes, or the header."""
    previous = state.get("result_file")
    with path.open("wb") as out:
        if previous and state["result_bytes"]:
            with open(previous, "rb") as source:
                left = state["result_bytes"]
                while left and (chunk := source.read(min(_COPY_CHUNK, left))):
                    out.write(chunk)
                    left -= len(chunk)
        else:
            out.write(header.encode("utf-8"))
            state["result_bytes"] = out.tell()
    if previous and previous != str(path):
        Path(previous).unlink(missing_ok=True)


def _import_chunk(run, importer, merge, out, rows, state, total, result_file) -> dict:
    run.check_stop()
    with run.step() as db:
        written = []
        for start in range(0, len(rows), recipients.BATCH):
            written += importer.write(db, rows[start : start + recipients.BATCH])
        out.write(merge.rows(written).encode("utf-8"))
        out.flush()
        os.fsync(out.fileno())  # the file is final before the offset that says so commits
        done = state["rows_done"] + len(rows)
        new_state = {
            "rows_done": done,
            "imported": state["imported"] + sum(1 for r in written if r[4] is None),
            "result_bytes": out.tell(),
            "result_file": str(result_file),
        }
        progress = _READING_SHARE + (1 - _READING_SHARE) * (done / total if total else 1)
        run.save(progress=progress, rows_done=done, rows_total=total, state=new_state)
    return new_state


def delete_upload(row: dict) -> None:
    """Remove a job's upload once it ended (kept until then for a resume); the result stays."""
    Path(jobs.params_of(row)["upload"]).unlink(missing_ok=True)


jobs.ENDED[KIND] = delete_upload
