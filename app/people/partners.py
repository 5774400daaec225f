"""Partners: resellers, VARs, agencies, affiliates and referrers who bring leads and sales.

A partner brings a lead or a sale in two ways: its own tracked links (`partner_code` on a
link: the clicks are its touches), or by saying so (`partner_code` on a conversion or on a
lead), which is a `partner` touch at that moment, credited like any other touch. Its
commission on the revenue credited to it is its cost in the attribution report.
"""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation

from sqlite_utils import Database

from app import storage
from app.core import clock, money, validation
from app.core.error_codes import ErrorCode
from app.core.errors import Conflict, NotFound, ValidationError
from app.people import leads, ref_codes

KINDS = ("var", "reseller", "agency", "affiliate", "referrer")
_CREATE_FIELDS = {"code", "name", "kind", "commission_percent", "contact_email"}
_PATCH_FIELDS = _CREATE_FIELDS - {"code"}
_CODE_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,39}$")
PARTNER_TOUCH = "partner"


def _commission_bp(payload: dict) -> int | None:
    """commission_percent (0 to 100, at most two decimals) in hundredths of a percent."""
    raw = payload.get("commission_percent")
    if raw is None:
        return None
    message = "'commission_percent' is a percentage from 0 to 100, e.g. 12.5."
    if isinstance(raw, bool) or not isinstance(raw, (int, float, str)):
        raise ValidationError(message, field="commission_percent")
    try:
        value = Decimal(str(raw).strip())
    except InvalidOperation:
        raise ValidationError(message, field="commission_percent") from None
    if (
        not value.is_finite()
        or value < 0
        or value > 100
        or value != value.quantize(Decimal("0.01"))
    ):
        raise ValidationError(message, field="commission_percent")
    return int(value * 100)


def _code(payload: dict) -> str:
    code = validation.text(payload, "code", required=True, max_len=40)
    assert code is not None
    if not _CODE_RE.match(code):
        raise ValidationError(
            "'code' is the partner's short code: letters, digits, '_', '.', '-' (e.g. acme).",
            field="code",
        )
    return code.lower()


def _email(payload: dict) -> str | None:
    raw = payload.get("contact_email")
    if raw is None or raw == "":
        return None
    email = leads.normalize_email(raw)
    if email is None:
        raise ValidationError(
            "'contact_email' is not a valid email address.",
            field="contact_email",
            code=ErrorCode.INVALID_EMAIL,
        )
    return email


def create(db: Database, payload: dict) -> dict:
    validation.require_object(payload)
    validation.reject_unknown(payload, _CREATE_FIELDS)
    check = validation.Collector()
    code = check(_code, payload)
    name = check(validation.text, payload, "name", required=True, max_len=200)
    kind = check(validation.choice, payload, "kind", KINDS, required=True)
    commission = check(_commission_bp, payload)
    email = check(_email, payload)
    check.done()
    values = {
        "code": code,
        "name": name,
        "kind": kind,
        "commission_bp": commission,
        "contact_email": email,
        "now": clock.now_iso(),
    }
    if not storage.insert_partner(db, values):
        raise Conflict(f"A partner with code '{code}' exists.", code=ErrorCode.PARTNER_EXISTS)
    return get(db, str(code))


def get(db: Database, code: str) -> dict:
    row = storage.get_partner(db, code.strip().lower()) if isinstance(code, str) else None
    if row is None:
        raise NotFound(f"No partner with code {code}.", code=ErrorCode.PARTNER_NOT_FOUND)
    return row


def existing_code(db: Database, raw: object, field: str = "partner_code") -> str:
    """The code of a partner named in a request body; 422 `unknown_partner` otherwise."""
    if not isinstance(raw, str) or not raw.strip():
        raise ValidationError(f"'{field}' must be a partner code.", field=field)
    row = storage.get_partner(db, raw.strip().lower())
    if row is None:
        raise ValidationError(
            f"No partner with code '{raw.strip()[:40]}'.",
            field=field,
            code=ErrorCode.UNKNOWN_PARTNER,
        )
    return str(row["code"])


def update(db: Database, code: str, payload: dict) -> dict:
    validation.require_object(payload)
    if "code" in payload:
        raise ValidationError(
            "A partner's code is printed on its quotes and links: it cannot change.",
            field="code",
            code=ErrorCode.NOT_UPDATABLE,
        )
    validation.reject_unknown(payload, _PATCH_FIELDS)
    row = get(db, code)
    check = validation.Collector()
    values: dict = {}
    if "name" in payload:
        values["name"] = check(validation.text, payload, "name", required=True, max_len=200)
    if "kind" in payload:
        values["kind"] = check(validation.choice, payload, "kind", KINDS, required=True)
    if "commission_percent" in payload:
        values["commission_bp"] = check(_commission_bp, payload)
    if "contact_email" in payload:
        values["contact_email"] = check(_email, payload)
    check.done()
    if values:
        storage.update_partner(db, row["code"], values, clock.now_iso())
    return get(db, row["code"])


def list_all(db: Database, args: dict[str, str]) -> list[dict]:
    kind = args.get("kind")
    if kind is not None and kind not in KINDS:
        raise ValidationError(
            f"Kind must be one of: {', '.join(KINDS)}.",
            field="kind",
            code=ErrorCode.INVALID_CHOICE,
        )
    return storage.list_partners(db, kind)


def to_json(row: dict) -> dict:
    bp = row["commission_bp"]
    return {
        "code": row["code"],
        "name": row["name"],
        "kind": row["kind"],
        "commission_percent": None if bp is None else (bp // 100 if bp % 100 == 0 else bp / 100),
        "contact_email": row["contact_email"],
        "created_at": row["created_at"],
        "updated_at": row["updated_at"],
    }


def add_touch(
    db: Database,
    partner_code: str,
    *,
    at: str,
    lead_id: str | None,
    conversion_id: int | None = None,
    by: str | None = None,
    origin: bool = True,
) -> None:
    """Record that the partner brought this lead (or this lead-less sale) at `at`; the caller
    holds the write lock. The lead names the partner from now on when it named none, and its
    origin becomes `partner` when nothing touched it before (unless `origin` is False: the
    caller sets it)."""
    if lead_id is not None:
        lead = storage.get_lead(db, lead_id)
        assert lead is not None
        first = not storage.lead_has_touches(db, lead_id)
        columns: dict = {}
        if lead["partner_code"] is None:
            columns["partner_code"] = partner_code
        if origin and first and lead["origin"] == "marketing":
            columns["origin"] = "partner"
        if columns:
            storage.set_lead_columns(db, lead_id, columns)
    storage.insert_offline_touch(
        db,
        {
            "kind": PARTNER_TOUCH,
            "at": at,
            "lead_id": lead_id,
            "conversion_id": conversion_id,
            "partner_code": partner_code,
            "created_at": clock.now_iso(),
            "created_by": by,
        },
    )


STATEMENT_COLUMNS = (
    "date",
    "what",
    "lead_id",
    "ref_code",
    "name",
    "email",
    "stage",
    "status",
    "order",
    "value",
    "currency",
    "commission",
)


def statement_rows(
    db: Database, code: str, start: str, end: str, revenue_types: tuple[str, ...]
) -> list[dict]:
    """What a partner is sent each month: the leads it brought in the period, and the sales
    it brought (naming it, or of a lead it brought) with its commission on each.

    This is how partner programmes pay: per referred sale, in full. The attribution report
    by partner shares credit among every touch instead; the two answer different questions.
    """
    partner = get(db, code)
    bp = partner["commission_bp"]
    types = [t for t in revenue_types if t != "redemption"]
    leads_made, sales = storage.partner_statement(db, partner["code"], start, end, types)
    rows = []
    for lead in leads_made:
        rows.append(
            {
                "date": lead["created_at"],
                "what": "lead",
                "lead_id": lead["id"],
                "ref_code": ref_codes.display(lead["ref_code"]) if lead["ref_code"] else "",
                "name": lead["name"] or "",
                "email": lead["email"] or "",
                "stage": lead["stage"] or "",
                "status": lead["status"],
                "order": "",
                "value": "",
                "currency": "",
                "commission": "",
            }
        )
    for sale in sales:
        value = sale["value_minor"]
        commission = None if bp is None or value is None else (value * bp + 5000) // 10_000
        rows.append(
            {
                "date": sale["occurred_at"],
                "what": sale["type"],
                "lead_id": sale["lead_id"] or "",
                "ref_code": ref_codes.display(sale["ref_code"]) if sale["ref_code"] else "",
                "name": sale["name"] or "",
                "email": sale["email"] or "",
                "stage": sale["stage"] or "",
                "status": sale["status"] or "",
                "order": sale["external_id"] or "",
                "value": money.to_decimal_string(value, sale["currency"]) or "",
                "currency": sale["currency"] or "",
                "commission": money.to_decimal_string(commission, sale["currency"]) or "",
            }
        )
    rows.sort(key=lambda r: r["date"])
    return rows
