"""Many links at once (POST /api/v1/links/bulk, `touchpoint links import`): a CSV file or a
JSON list of link fields, checked row by row with the rules of a single link.

All or nothing by default: one bad row refuses the upload with 422 `invalid_rows`, every bad
row listed with its line; with skip_invalid the good rows are created and the bad ones
listed. Re-uploading a file is not a no-op: rows whose slug exists by then are refused as
`slug_taken` (so a file of slugs can be re-sent safely), rows without a slug make new links.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from sqlite_utils import Database

from app import storage
from app.clicks import campaigns, links
from app.clicks.link_tokens import LinkTokens
from app.core import csv_cells
from app.core import db as dbmod
from app.core.error_codes import ErrorCode
from app.core.errors import Conflict, TouchpointError, ValidationError

MAX_ROWS = 20_000
COLUMNS = (
    "campaign_id",
    "destination",
    "label",
    "slug",
    "domain",
    "store_code",
    "utm_content",
    "utm_term",
    "tags",
    "offer_id",
    "partner_code",
    "expires_at",
    "fallback_url",
)
_INTEGER_COLUMNS = ("campaign_id", "offer_id")
OUTPUT_COLUMNS = (
    "line",
    "id",
    "campaign_id",
    "label",
    "url",
    "qr_url",
    "token_url",
    "slug",
    "domain",
    "destination",
    "store_code",
    "utm_content",
    "utm_term",
    "tags",
)


@dataclass
class Created:
    """The outcome: links (API shape, each with its input `line`) and the rows refused."""

    links: list[dict] = field(default_factory=list)
    invalid: list[dict] = field(default_factory=list)


class InvalidLinkRows(ValidationError):
    code = ErrorCode.INVALID_ROWS

    def __init__(self, invalid: list[dict], rows: int) -> None:
        super().__init__(
            f"{len(invalid)} of {rows} rows are invalid; no link was created. Fix them, or "
            "create the good rows with ?skip_invalid=true.",
            field="links",
            extra={"invalid": invalid},
        )


def rows_from_csv(data: bytes) -> list[tuple[int, dict]]:
    """(line, fields) for each data row of a CSV file (comma, semicolon or tab separated;
    header names as COLUMNS, in any order and case). Empty cells are left out."""
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise ValidationError(
            "The file is not UTF-8 text; save it as 'CSV UTF-8' and upload again.",
            field="file",
            code=ErrorCode.INVALID_ENCODING,
        ) from None
    if not text.strip():
        raise ValidationError("The file is empty.", field="file", code=ErrorCode.EMPTY_FILE)
    header_line = text.split("\n", 1)[0]
    delimiter = max((",", ";", "\t"), key=header_line.count)
    reader = csv.reader(io.StringIO(text), delimiter=delimiter)
    header = [name.strip().lower() for name in next(reader)]
    unknown = [name for name in header if name and name not in COLUMNS]
    if unknown:
        raise ValidationError(
            f"Unknown column '{unknown[0]}'; the columns are: {', '.join(COLUMNS)}.",
            field="file",
            code=ErrorCode.UNKNOWN_FIELD,
        )
    rows = []
    for values in reader:
        line = reader.line_num
        if not any(v.strip() for v in values):
            continue
        row: dict[str, Any] = {}
        for name, value in zip(header, values, strict=False):
            if name and value.strip():
                value = value.strip()
                row[name] = int(value) if name in _INTEGER_COLUMNS and value.isdigit() else value
        if len(values) > len(header):
            row["_extra_cells"] = True
        rows.append((line, row))
    return rows


def rows_from_json(payload: object) -> list[tuple[int, dict]]:
    """(position from 1, fields) for `{"links": [...]}` or a bare list."""
    items = payload.get("links") if isinstance(payload, dict) else payload
    if not isinstance(items, list):
        raise ValidationError(
            'Send {"links": [{...}, ...]} or a CSV file.', field="links", code=ErrorCode.REQUIRED
        )
    return list(enumerate(items, start=1))


def create(
    db: Database,
    rows: list[tuple[int, dict]],
    *,
    public_base_url: str = "",
    skip_invalid: bool = False,
    progress: Callable[[int], None] | None = None,
) -> Created:
    """Check every row, then create the good ones in one transaction (none when a row is
    bad, unless `skip_invalid`)."""
    if not rows:
        raise ValidationError(
            "There are no links to create.", field="links", code=ErrorCode.EMPTY_FILE
        )
    if len(rows) > MAX_ROWS:
        raise ValidationError(
            f"At most {MAX_ROWS:,} links at a time ({len(rows):,} sent); split the file.",
            field="links",
        )
    good: list[tuple[int, dict, list[str]]] = []
    invalid: list[dict] = []
    campaign_rows: dict[object, dict | None] = {}
    slugs_seen: dict[str, int] = {}
    for line, row in rows:
        try:
            if isinstance(row, dict) and row.pop("_extra_cells", False):
                raise ValidationError("The row has more cells than the header.", field="file")
            campaign = None
            if isinstance(row, dict) and isinstance(row.get("campaign_id"), int):
                key = row["campaign_id"]
                if key not in campaign_rows:
                    campaign_rows[key] = storage.get_campaign(db, key)
                campaign = campaign_rows[key]
            values, link_tags = links.clean_new(
                db, row, public_base_url=public_base_url, campaign=campaign
            )
            slug_key = values.get("slug_key")
            if slug_key and slug_key in slugs_seen:
                raise Conflict(
                    f"The slug '{values['slug']}' is on line {slugs_seen[slug_key]} already.",
                    field="slug",
                    code=ErrorCode.SLUG_TAKEN,
                )
            if slug_key:
                slugs_seen[slug_key] = line
            good.append((line, values, link_tags))
        except TouchpointError as exc:
            invalid.append(_refusal(line, exc))
        if progress:
            progress(1)
    if invalid and not skip_invalid:
        raise InvalidLinkRows(invalid, len(rows))
    result = Created(invalid=invalid)
    ids: list[tuple[int, int]] = []
    with dbmod.immediate(db):
        for line, values, link_tags in good:
            try:
                ids.append((line, links.insert(db, values, link_tags)))
            except TouchpointError as exc:  # a slug taken since it was checked
                if not skip_invalid:
                    raise InvalidLinkRows([_refusal(line, exc)], len(rows)) from None
                result.invalid.append(_refusal(line, exc))
    found = {r["id"]: r for r in links.with_tags(db, storage.links_by_id(db, [i for _, i in ids]))}
    result.links = [{**found[link_id], "line": line} for line, link_id in ids]
    result.invalid.sort(key=lambda bad: bad["line"])
    return result


def shaper(db: Database, tokens: LinkTokens, base_url: str) -> Callable[[dict], dict]:
    """A created row -> its API shape with its input `line`, each campaign read once."""
    seen: dict[int, dict] = {}

    def shape(row: dict) -> dict:
        campaign_id = row["campaign_id"]
        if campaign_id not in seen:
            seen[campaign_id] = campaigns.get(db, campaign_id)
        return {**links.to_json(row, tokens, base_url, seen[campaign_id]), "line": row["line"]}

    return shape


def _refusal(line: int, exc: TouchpointError) -> dict:
    first = exc.errors[0]
    return {
        "line": line,
        "field": first.field,
        "code": str(first.code),
        "reason": "; ".join(e.message for e in exc.errors),
    }


def csv_rows(result: Created, shape: Callable[[dict], dict]) -> Iterator[str]:
    """The created links as CSV (OUTPUT_COLUMNS), then the refused rows with `error`."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow([*OUTPUT_COLUMNS, "error"])
    for link in result.links:
        out = shape(link)
        cells = [out.get(c) for c in OUTPUT_COLUMNS]
        cells[OUTPUT_COLUMNS.index("tags")] = ",".join(out.get("tags") or [])
        writer.writerow([*(csv_cells.inert(c) for c in cells), ""])
    for bad in result.invalid:
        writer.writerow(
            [bad["line"], *([""] * (len(OUTPUT_COLUMNS) - 1)), csv_cells.inert(bad["reason"])]
        )
    yield buffer.getvalue()
