"""Dashboard accounts: email and password, role admin or marketer.

Passwords are stored with a slow salted hash (scrypt through Werkzeug; the cost is the
TOUCHPOINT_PASSWORD_HASH setting). Unlike API tokens, people choose passwords, so each guess
must be expensive, and sign-in is slowed down per account and address (app/access/throttle.py).
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from functools import lru_cache

from itsdangerous import BadData, URLSafeSerializer
from sqlite_utils import Database
from werkzeug.security import check_password_hash, generate_password_hash

from app import storage
from app.access import api_tokens, throttle
from app.access.throttle import Backoff, Throttle
from app.core import clock, validation
from app.core.error_codes import ErrorCode
from app.core.errors import Conflict, Forbidden, NotFound, ValidationError
from app.people import leads

ROLES = ("admin", "marketer")
MIN_PASSWORD = 10
MAX_PASSWORD = 200
DEFAULT_HASH = "scrypt:32768:8:1"

# Wrong passwords slow down the account *at that address* (OWASP: throttle by account and
# address, with exponential back-off): five free tries, then waits of 1, 2, 4 … s up to 15
# minutes, forgotten a day after the last. A lockout per account alone let anyone lock the
# admin out with five wrong passwords; this way a guesser only slows itself down.
PASSWORD_DELAYS = Backoff(
    "login", free=5, base_seconds=1, cap_seconds=900, forget_seconds=86400, what="wrong passwords"
)
# A browser that signed in to the account before carries a signed known-device cookie; its
# own wrong passwords slow it down, nobody else's do (OWASP's device cookies), so the owner
# still gets in from it behind the same address as a guesser.
DEVICE_DELAYS = Backoff(
    "login-device",
    free=5,
    base_seconds=1,
    cap_seconds=900,
    forget_seconds=86400,
    what="wrong passwords",
)
# Generous, so an office behind one address never meets it, but one address spraying many
# accounts (five free tries each) still stops. Known devices are not held by it.
ADDRESS_THROTTLE = Throttle("login-address", attempts=100, minutes=60, what="failed sign-ins")
# Many addresses on one account (a botnet, each address within its own free tries): once
# failures on it come from SPREAD sources, browsers it does not know share one more delay
# for the account. A single guesser cannot set this off, and the owner's known devices are
# never held by it (OWASP: lock untrusted clients, let device cookies through).
SPREAD = 10
ACCOUNT_DELAYS = Backoff(
    "login-account",
    free=0,
    base_seconds=1,
    cap_seconds=900,
    forget_seconds=86400,
    what="wrong passwords for this account",
)
DEVICE_COOKIE = "tp_device"
DEVICE_COOKIE_DAYS = 365
_DEVICES_PER_BROWSER = 5


def new_password() -> str:
    """A random password for a new account: 96 bits, easy to copy (no look-alike signs)."""
    return secrets.token_urlsafe(12)


def _hash(password: str, method: str) -> str:
    return generate_password_hash(password, method=method)


@lru_cache(maxsize=4)
def _dummy_hash(method: str) -> str:
    return _hash(secrets.token_urlsafe(16), method)


def check_password(password: object, field: str = "password", email: str | None = None) -> str:
    if not isinstance(password, str) or not password:
        raise ValidationError(
            f"{validation.label(field)} is required.", field=field, code=ErrorCode.REQUIRED
        )
    if len(password) < MIN_PASSWORD:
        raise ValidationError(
            f"The password must be at least {MIN_PASSWORD} characters long.", field=field
        )
    if len(password) > MAX_PASSWORD:
        raise ValidationError(
            f"The password is longer than {MAX_PASSWORD} characters.", field=field
        )
    if email and password.strip().lower() == email.lower():
        raise ValidationError("The password must not be the email address.", field=field)
    return password


def _email(raw: object) -> str:
    if not isinstance(raw, str) or not raw.strip():
        raise ValidationError("Email is required.", field="email", code=ErrorCode.REQUIRED)
    email = leads.normalize_email(raw)
    if email is None:
        raise ValidationError(
            "This is not a valid email address (like name@example.com).", field="email"
        )
    return email


def _role(raw: object) -> str:
    if raw not in ROLES:
        raise ValidationError(f"The role must be one of: {', '.join(ROLES)}.", field="role")
    return raw


def _name(raw: object) -> str:
    name = raw.strip() if isinstance(raw, str) else ""
    if len(name) > 100:
        raise ValidationError("The name is longer than 100 characters.", field="name")
    if any(ord(c) < 32 for c in name):
        raise ValidationError("The name must not contain control characters.", field="name")
    return name


def create(
    db: Database,
    email: object,
    role: object = "marketer",
    *,
    name: object = "",
    password: str | None = None,
    hash_method: str = DEFAULT_HASH,
) -> tuple[str, dict]:
    """Create an account; return (its password, to show once, and the user row)."""
    check = validation.Collector()
    email = check(_email, email)
    role = check(_role, role)
    name = check(_name, name)
    password = new_password() if password is None else check(check_password, password, email=email)
    check.done()
    assert isinstance(email, str) and password is not None  # the Collector refused bad ones
    if storage.user_by_email(db, email) is not None:
        raise Conflict(f"There is already an account for {email}.", code=ErrorCode.EMAIL_TAKEN)
    now = clock.now_iso()
    user_id = storage.insert_user(
        db,
        {
            "email": email,
            "name": name,
            "role": role,
            "password_hash": _hash(password, hash_method),
            "created_at": now,
            "password_changed_at": now,
        },
    )
    return password, get(db, user_id)


def get(db: Database, user_id: int) -> dict:
    row = storage.get_user(db, user_id)
    if row is None:
        raise NotFound(f"No user with id {user_id}.", code=ErrorCode.USER_NOT_FOUND)
    return row


def get_or_none(db: Database, user_id: int) -> dict | None:
    return storage.get_user(db, user_id)


def list_all(db: Database) -> list[dict]:
    return storage.list_users(db)


def any_exist(db: Database) -> bool:
    return storage.count_users(db) > 0


def authenticate(
    db: Database, email: str, password: str, *, hash_method: str = DEFAULT_HASH
) -> dict | None:
    """The active user with this email and password, or None.

    An unknown email costs the same hash as a wrong password, so response time does not
    tell which accounts exist.
    """
    row = storage.user_by_email(db, (email or "").strip())
    stored = storage.user_password_hash(db, row["id"]) if row else None
    if row is None or stored is None:
        check_password_hash(_dummy_hash(hash_method), password or "")
        return None
    if not check_password_hash(stored, password or ""):
        return None
    if row["disabled_at"] is not None:
        return None
    storage.record_sign_in(db, row["id"], clock.now_iso())
    return row


class KnownDevices:
    """The known-device cookie: a signed map of user id to a random nonce per browser.

    It proves only that this browser signed in to the account before; it never signs anyone
    in (the password is still checked), it names the delay key of this browser.
    """

    def __init__(self, secret: str) -> None:
        self._signer = URLSafeSerializer(secret, salt="touchpoint.known-device")

    def _read(self, cookie: str | None) -> dict[str, str]:
        if not cookie:
            return {}
        try:
            value = self._signer.loads(cookie)
        except BadData:
            return {}
        return value if isinstance(value, dict) else {}

    def nonce(self, cookie: str | None, user_id: int) -> str | None:
        nonce = self._read(cookie).get(str(user_id))
        return nonce if isinstance(nonce, str) else None

    def remember(self, cookie: str | None, user_id: int) -> str:
        """The cookie value with this account known (its nonce kept, or a new one)."""
        known = self._read(cookie)
        nonce = known.pop(str(user_id), None) or secrets.token_urlsafe(12)
        kept = dict(list(known.items())[-(_DEVICES_PER_BROWSER - 1) :])
        kept[str(user_id)] = nonce
        return self._signer.dumps(kept)


@dataclass(frozen=True)
class SignIn:
    """The outcome of a sign-in form: the user (None for a wrong email or password) and the
    known-device cookie to set when it succeeded."""

    user: dict | None
    device_cookie: str | None


def sign_in(
    db: Database,
    email: str,
    password: str,
    *,
    address: str | None,
    device_cookie: str | None,
    devices: KnownDevices,
    hash_method: str = DEFAULT_HASH,
) -> SignIn:
    """Check a password under the sign-in delays; raises RateLimited while this account must
    wait at this address (or on this device)."""
    # "|" ends the account in a delay key: an email holding one must not count as a source
    # of another account's failures (that would let one address set off ACCOUNT_DELAYS).
    account = (email or "").strip().lower().replace("|", "%7C")
    source = throttle.source(address)
    row = storage.user_by_email(db, (email or "").strip())
    nonce = devices.nonce(device_cookie, row["id"]) if row else None
    held: list[tuple[Backoff, str]] = []
    if row is not None and nonce is not None:
        held.append((DEVICE_DELAYS, f"{row['id']}:{nonce}"))
    else:
        ADDRESS_THROTTLE.check(db, source)
        held.append((PASSWORD_DELAYS, f"{account}|{source}"))
        if PASSWORD_DELAYS.sources(db, f"{account}|") >= SPREAD:
            held.append((ACCOUNT_DELAYS, account))
    throttle.attempt(db, held)
    user = authenticate(db, email, password, hash_method=hash_method)
    if user is None:
        for delays, subject in held:
            delays.failed(db, subject)
        if nonce is None:
            ADDRESS_THROTTLE.fail(db, source)
        return SignIn(None, None)
    for delays, subject in held:
        delays.succeeded(db, subject)
    return SignIn(user, devices.remember(device_cookie, user["id"]))


def change_password(
    db: Database,
    user_id: int,
    current: str,
    new: str,
    *,
    hash_method: str = DEFAULT_HASH,
) -> dict:
    """Change one's own password (knowing the current one); ends every other session."""
    stored = storage.user_password_hash(db, user_id)
    if stored is None:
        raise NotFound(f"No user with id {user_id}.", code=ErrorCode.USER_NOT_FOUND)
    check = validation.Collector()
    if not check_password_hash(stored, current or ""):
        check.add("This is not your current password.", field="current_password")
    user = get(db, user_id)
    check(check_password, new, field="new_password", email=user["email"])
    check.done()
    storage.set_user_password(db, user_id, _hash(new, hash_method), clock.now_iso())
    return get(db, user_id)


def reset_password(db: Database, user_id: int, *, hash_method: str = DEFAULT_HASH) -> str:
    """An admin's reset: a new random password, shown once; the user's sessions end."""
    get(db, user_id)
    password = new_password()
    storage.set_user_password(db, user_id, _hash(password, hash_method), clock.now_iso())
    return password


def _keep_an_admin(db: Database, user: dict) -> None:
    active_admin = user["role"] == "admin" and user["disabled_at"] is None
    if active_admin and storage.count_active_admins(db) <= 1:
        raise Conflict(
            "This is the last active admin; make another admin first.", code=ErrorCode.LAST_ADMIN
        )


def set_role(db: Database, user_id: int, role: object, *, by: dict) -> dict:
    role = _role(role)
    user = get(db, user_id)
    if user["role"] == role:
        return user
    if user_id == by["id"]:
        raise Forbidden("You cannot change your own role.", code=ErrorCode.OWN_ACCOUNT)
    _keep_an_admin(db, user)
    storage.set_user_role(db, user_id, role)
    return get(db, user_id)


def disable(db: Database, user_id: int, *, by: dict) -> dict:
    """Disable an account: its sessions end and its API tokens stop working."""
    user = get(db, user_id)
    if user_id == by["id"]:
        raise Forbidden("You cannot disable your own account.", code=ErrorCode.OWN_ACCOUNT)
    _keep_an_admin(db, user)
    storage.disable_user(db, user_id, clock.now_iso())
    return get(db, user_id)


def enable(db: Database, user_id: int) -> dict:
    get(db, user_id)
    storage.enable_user(db, user_id)
    return get(db, user_id)


def end_sessions(db: Database, user_id: int) -> None:
    storage.end_user_sessions(db, user_id)


def set_name(db: Database, user_id: int, name: object) -> dict:
    storage.set_user_name(db, user_id, _name(name))
    return get(db, user_id)


def session_valid(user: dict | None, epoch: object) -> bool:
    return user is not None and user["disabled_at"] is None and user["session_epoch"] == epoch


# API tokens of a user ------------------------------------------------------------------------


def tokens(db: Database, user_id: int) -> list[dict]:
    return storage.list_user_tokens(db, user_id)


def create_token(db: Database, user: dict, name: object) -> tuple[str, dict]:
    """A token acting with the user's role; it stops working when the account is disabled."""
    return api_tokens.create(db, name if isinstance(name, str) else "", user["role"], user["id"])


def revoke_token(db: Database, user: dict, token_id: int) -> None:
    """Users revoke their own tokens; admins any token."""
    if user["role"] != "admin" and token_id not in {t["id"] for t in tokens(db, user["id"])}:
        raise NotFound(
            f"You have no active token with id {token_id}.", code=ErrorCode.TOKEN_NOT_FOUND
        )
    api_tokens.revoke(db, token_id)
