"""Every error code Touchpoint answers: the one list, with each code's status and meaning.

A code is a contract (clients switch on it), so code that raises names a member here
(`code=ErrorCode.ADMIN_ONLY`): a typo is an AttributeError, not a new code nobody documented.
app/openapi.json lists the same codes (the `ErrorCode` schema) and tests/test_openapi.py
checks the two agree; tests/test_error_codes.py checks every member is raised somewhere and
that no code is spelled as a bare string in app/.
"""

from __future__ import annotations

from enum import StrEnum


class ErrorCode(StrEnum):
    """A stable machine code; the value is what `{"error": {"code": ...}}` carries.

    Each member also records the HTTP status it comes with (`status`; None when it varies)
    and what it means, in one line, for the API document (`meaning`).
    """

    status: int | None
    meaning: str

    def __new__(cls, value: str, status: int | None, meaning: str) -> ErrorCode:
        member = str.__new__(cls, value)
        member._value_ = value
        member.status = status
        member.meaning = meaning
        return member

    # 400
    BAD_REQUEST = "bad_request", 400, "The request cannot be read as sent."
    INVALID_JSON = "invalid_json", 400, "The body is empty, not JSON, or nested too deeply."
    INVALID_QR_OPTION = "invalid_qr_option", 400, "A QR image option is out of range or malformed."
    LOW_CONTRAST = "low_contrast", 400, "The QR colours are too alike, or light on dark."
    CSRF_FAILED = "csrf_failed", 400, "A form's CSRF token is missing, stale or not this session's."
    # 401
    MISSING_TOKEN = "missing_token", 401, "No 'Authorization: Bearer' header."
    INVALID_TOKEN = "invalid_token", 401, "The token or staff key is unknown or revoked."
    SIGNED_OUT = "signed_out", 401, "The staff device's session has ended; sign in again."
    # 403
    ADMIN_ONLY = "admin_only", 403, "This operation needs an admin token or account."
    STAFF_KEY_NOT_ALLOWED = "staff_key_not_allowed", 403, "Staff keys cannot do this."
    LOCATION_NOT_ALLOWED = "location_not_allowed", 403, "The staff key is another location's."
    WRONG_LOCATION = "wrong_location", 403, "The offer is not valid at this location."
    OWN_ACCOUNT = "own_account", 403, "You cannot change your own role or disable yourself."
    # 404
    NOT_FOUND = "not_found", 404, "No such route or resource."
    CAMPAIGN_NOT_FOUND = "campaign_not_found", 404, "No campaign with this id."
    LINK_NOT_FOUND = "link_not_found", 404, "No link with this id."
    DOMAIN_NOT_FOUND = "domain_not_found", 404, "No domain with this id."
    TOKEN_NOT_FOUND = "token_not_found", 404, "No active API token with this id."
    LEAD_NOT_FOUND = "lead_not_found", 404, "No lead with this id."
    CONVERSION_NOT_FOUND = "conversion_not_found", 404, "No conversion with this id."
    LOCATION_NOT_FOUND = "location_not_found", 404, "No location with this code."
    STAFF_KEY_NOT_FOUND = "staff_key_not_found", 404, "No active staff key with this id here."
    OFFER_NOT_FOUND = "offer_not_found", 404, "No offer with this id."
    BATCH_NOT_FOUND = "batch_not_found", 404, "No batch with this id for this offer."
    PAGE_NOT_FOUND = "page_not_found", 404, "A batch's print sheet has no such page."
    UNKNOWN_CODE = "unknown_code", 404, "No coupon code matches; counts towards the lockout."
    REDEMPTION_NOT_FOUND = "redemption_not_found", 404, "No redemption with this id here."
    SCAN_NOT_FOUND = "scan_not_found", 404, "No booth scan with this id."
    JOB_NOT_FOUND = "job_not_found", 404, "No background job with this id."
    USER_NOT_FOUND = "user_not_found", 404, "No dashboard account with this id."
    PHONE_NUMBER_NOT_FOUND = (
        "phone_number_not_found",
        404,
        "The campaign has no such tracking number.",
    )
    CALL_NOT_FOUND = "call_not_found", 404, "No call with this id."
    PARTNER_NOT_FOUND = "partner_not_found", 404, "No partner with this code."
    ORDER_NOT_FOUND = "order_not_found", 404, "No online order (conversion) with this order_id."
    # 405
    METHOD_NOT_ALLOWED = "method_not_allowed", 405, "The path exists, not with this method."
    # 409
    LOCATION_EXISTS = "location_exists", 409, "A location with this code exists."
    CODE_TAKEN = "code_taken", 409, "The shared code is already in use."
    ALREADY_REDEEMED = "already_redeemed", 409, "The code has no redemption left."
    ALREADY_VOIDED = "already_voided", 409, "The redemption or conversion is already voided."
    LEAD_CLOSED = "lead_closed", 409, "The lead is already lost or won."
    LEAD_NOT_LOST = "lead_not_lost", 409, "Only a lost lead can be reopened."
    LEAD_ERASED = "lead_erased", 409, "The lead was erased; nothing more is recorded about it."
    SCAN_ID_TAKEN = "scan_id_taken", 409, "The scan_id belongs to a scan at another location."
    JOB_NOT_FINISHED = "job_not_finished", 409, "The job's result file is not ready yet."
    EMAIL_TAKEN = "email_taken", 409, "There is already an account for this email."
    LAST_ADMIN = "last_admin", 409, "The last active admin cannot be demoted or disabled."
    PARTNER_EXISTS = "partner_exists", 409, "A partner with this code exists."
    DOMAIN_EXISTS = "domain_exists", 409, "The domain is configured already (or is the default)."
    DOMAIN_IN_USE = "domain_in_use", 409, "Links are on this domain; it cannot be removed."
    SLUG_TAKEN = "slug_taken", 409, "Another link on this domain has this slug."
    SALE_ALREADY_RECORDED = (
        "sale_already_recorded",
        409,
        "The receipt (transaction_id) is already a sale at this location.",
    )
    ALREADY_PICKED_UP = "already_picked_up", 409, "The order was already picked up."
    PHONE_NUMBER_TAKEN = (
        "phone_number_taken",
        409,
        "The tracking number belongs to another campaign.",
    )
    # 410
    EXPIRED = "expired", 410, "The offer has ended."
    NOT_YET_VALID = "not_yet_valid", 410, "The offer has not started yet."
    # 413
    PAYLOAD_TOO_LARGE = "payload_too_large", 413, "The body or upload is over the size limit."
    # 422
    VALIDATION_ERROR = "validation_error", 422, "A value is not acceptable (see message)."
    REQUIRED = "required", 422, "A required field is missing or blank."
    INVALID_CHOICE = "invalid_choice", 422, "The value is not one of the allowed choices."
    UNKNOWN_FIELD = "unknown_field", 422, "The body has a field this operation does not take."
    NOT_UPDATABLE = "not_updatable", 422, "The field is set at creation and cannot be changed."
    INVALID_URL = "invalid_url", 422, "Not an absolute http(s) address with a host."
    INVALID_BODY = "invalid_body", 422, "The body is JSON but not an object."
    INVALID_EMAIL = "invalid_email", 422, "Not a valid email address."
    UNKNOWN_CAMPAIGN = "unknown_campaign", 422, "The campaign_id names no campaign."
    UNKNOWN_OFFER = "unknown_offer", 422, "The offer_id names no offer."
    WRONG_CAMPAIGN = "wrong_campaign", 422, "The offer belongs to another campaign."
    UNKNOWN_LOCATION = "unknown_location", 422, "A location code names no location."
    UNKNOWN_LINK = "unknown_link", 422, "The link id names no link."
    UNKNOWN_LEAD = "unknown_lead", 422, "The lead_id or ref_code names no lead."
    UNKNOWN_PARTNER = "unknown_partner", 422, "The partner_code names no partner."
    UNKNOWN_DOMAIN = "unknown_domain", 422, "The domain names no configured domain."
    INVALID_HOST = "invalid_host", 422, "Not a host name such as go.fernway.example."
    INVALID_SLUG = "invalid_slug", 422, "Not a slug: letters, digits, '-', '_' and '/'."
    SLUG_RESERVED = "slug_reserved", 422, "The slug starts with a word the server's paths use."
    IDENTIFIER_REQUIRED = "identifier_required", 422, "A conversion must name who converted."
    UNKNOWN_CLICK = "unknown_click", 422, "The click_id names no click."
    UNKNOWN_VISITOR = "unknown_visitor", 422, "The visitor_id names no visitor."
    IN_FUTURE = "in_future", 422, "occurred_at is more than 5 minutes in the future."
    BEFORE_CLICK = "before_click", 422, "occurred_at is before the click it names."
    INVALID_ROWS = "invalid_rows", 422, "Some recipient rows are invalid; nothing was imported."
    MISSING_EMAIL_COLUMN = "missing_email_column", 422, "The recipients have no email column."
    EMPTY_FILE = "empty_file", 422, "The uploaded file is empty."
    INVALID_ENCODING = "invalid_encoding", 422, "The uploaded file is not UTF-8 text."
    SHARED_OFFER = "shared_offer", 422, "A shared offer has one code: no batches."
    CHECK_CHARACTER_MISMATCH = (
        "check_character_mismatch",
        422,
        "A unique code or reference code with one mistyped character; retype it.",
    )
    INVALID_PHONE = "invalid_phone", 422, "Not a valid phone number."
    IDEMPOTENCY_KEY_REUSED = (
        "idempotency_key_reused",
        422,
        "The Idempotency-Key or transaction_id was used for another redemption.",
    )
    RESERVED_TYPE = (
        "reserved_type",
        422,
        "A conversion type with its own endpoint (a loss is POST /leads/<id>/lost).",
    )
    UNKNOWN_PARAMETER = "unknown_parameter", 422, "A query parameter the report does not take."
    MIXED_CURRENCIES = "mixed_currencies", 422, "Amounts in several currencies; name one."
    # 429
    RATE_LIMITED = "rate_limited", 429, "Too many attempts; wait Retry-After seconds."
    # 500
    INTERNAL_ERROR = "internal_error", 500, "An unexpected failure on our side; it is logged."
    # 503
    STORAGE_UNAVAILABLE = "storage_unavailable", 503, "The database cannot take writes now."
    # Any other status the web framework raises itself (416 for an unsatisfiable Range).
    HTTP_ERROR = "http_error", None, "An HTTP-level refusal with no more specific code."


# Keys some errors add beside code, message and field, so the caller can act on them.
EXTRA_KEYS: dict[ErrorCode, tuple[str, ...]] = {
    ErrorCode.WRONG_LOCATION: ("valid_at",),
    ErrorCode.ALREADY_REDEEMED: ("redeemed_at", "location"),
    ErrorCode.ALREADY_PICKED_UP: ("order",),
    ErrorCode.EXPIRED: ("ends_at",),
    ErrorCode.NOT_YET_VALID: ("starts_at",),
    ErrorCode.INVALID_ROWS: ("invalid",),
    ErrorCode.MIXED_CURRENCIES: ("currencies",),
    ErrorCode.RATE_LIMITED: ("retry_after",),
}

# Codes only the dashboard and the staff pages meet (their forms, staff.js under /staff/api/):
# never answered under /api/, so app/openapi.json does not list them.
PAGES_ONLY: frozenset[ErrorCode] = frozenset(
    {
        ErrorCode.CSRF_FAILED,
        ErrorCode.SIGNED_OUT,
        ErrorCode.OWN_ACCOUNT,
        ErrorCode.PAGE_NOT_FOUND,
        ErrorCode.USER_NOT_FOUND,
        ErrorCode.EMAIL_TAKEN,
        ErrorCode.LAST_ADMIN,
    }
)


def api_codes() -> list[ErrorCode]:
    """The codes an /api/ caller can get, in the order the API document lists them."""
    return [code for code in ErrorCode if code not in PAGES_ONLY]
