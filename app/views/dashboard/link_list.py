"""The Links page: every link across campaigns, found by words, tag and domain, with its
figures for a period (the attribution report by link), sortable and paged."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

from flask import Response, request, url_for

from app import storage
from app.clicks import link_lists, links, tags
from app.core import clock
from app.core.errors import ValidationError

from ..common import base_url, runtime
from . import bp, page
from .campaigns import PERIODS, _period_days
from .report import attribution_table, report_form

PAGE_SIZE = 50
MAX_LINKS = 5000  # the page sorts in memory; past this, narrow the search
# column -> (heading, key of the report row or of the link)
COLUMNS = {
    "label": "Link",
    "human_clicks": "Human clicks",
    "scans": "Scans",
    "claims": "Claims",
    "redemptions": "Redemptions",
    "revenue": "Revenue",
    "created": "Created",
}
_FIGURES = ("human_clicks", "scans", "claims", "redemptions", "revenue")


def _sort_key(column: str):
    if column == "label":
        return lambda item: ((item["label"] or "").lower(), item["id"])
    if column == "created":
        return lambda item: item["id"]
    if column == "revenue":
        return lambda item: (Decimal(item["figures"].get("revenue") or "0"), item["id"])
    return lambda item: (item["figures"].get(column) or 0, item["id"])


@bp.get("/links")
def all_links() -> Response:
    rt = runtime()
    db = rt.db()
    days = _period_days()
    form = {k: (request.args.get(k) or "").strip() for k in ("q", "tag", "domain", "archived")}
    sort = request.args.get("sort") or "-human_clicks"
    column = sort.lstrip("-")
    if column not in COLUMNS:
        sort, column = "-human_clicks", "human_clicks"
    errors: dict[str, str] = {}
    args = {"q": form["q"], "tag": form["tag"], "archived": form["archived"] or "false"}
    if form["domain"]:
        args["domain"] = "" if form["domain"] == "(default)" else form["domain"]
    args = {k: v for k, v in args.items() if v or k == "domain"}
    found: list[dict] = []
    cursor: str | None = ""
    try:
        while cursor is not None and len(found) < MAX_LINKS:
            batch, cursor = link_lists.search_links(
                db,
                {**args, "limit": "1000", "cursor": cursor},
                now=clock.utcnow(),
                public_base_url=rt.config["PUBLIC_BASE_URL"],
            )
            found += batch
    except ValidationError as exc:
        errors[exc.field or ""] = exc.message
    more = cursor is not None and bool(found)
    end = clock.utcnow().date()
    report_error = None
    by_link: dict[int, dict] = {}
    currency = None
    if found:
        report = report_form(
            {
                "from": (end - timedelta(days=days - 1)).isoformat(),
                "to": end.isoformat(),
                "group_by": "link",
            }
        )
        try:
            table = attribution_table(report)
            currency = table["params"]["currency"]
            by_link = {r["key"]: r for r in table["rows"] if isinstance(r["key"], int)}
        except ValidationError as exc:
            report_error = exc.message
    base = base_url(rt)
    names = {c["id"]: c["name"] for c in storage.list_campaigns(db, after_id=0, limit=100_000)}
    items = []
    for row in found:
        item = links.to_json(row, rt.link_tokens, base)
        item["campaign_name"] = names.get(row["campaign_id"], "")
        item["figures"] = {k: by_link.get(row["id"], {}).get(k) for k in _FIGURES}
        items.append(item)
    items.sort(key=_sort_key(column), reverse=sort.startswith("-"))
    number = max(
        1, int(request.args.get("page", "1")) if request.args.get("page", "1").isdigit() else 1
    )
    shown = items[(number - 1) * PAGE_SIZE : number * PAGE_SIZE]
    query = {k: v for k, v in {**form, "days": str(days), "sort": sort}.items() if v}
    return page(
        "dashboard/links.html",
        links=shown,
        total=len(items),
        more=more,
        form=form,
        errors=errors,
        query=query,
        sort=sort,
        columns=COLUMNS,
        page_number=number,
        has_next=number * PAGE_SIZE < len(items),
        days=days,
        periods=PERIODS,
        currency=currency,
        report_error=report_error,
        tag_options=[("", "Any tag")]
        + [(t, f"{t} ({n})") for t, n in storage.all_tags(db, "link")],
        domain_options=[("", "Any domain"), ("(default)", "Default domain")]
        + [(h, h) for h in sorted(storage.domain_hosts(db))],
        archived_options=[("", "Not archived"), ("true", "Archived"), ("any", "All")],
        max_links=MAX_LINKS,
        sort_url=lambda c: url_for(
            "dash.all_links",
            **{**query, "sort": c if sort == "-" + c else "-" + c, "page": "1"},
        ),
        tags_module=tags,
    )
