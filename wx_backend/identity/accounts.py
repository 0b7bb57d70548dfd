"""Password accounts: pharmacy staff (one store each), editors (announcements, FAQ),
community staff (one district or street each) and operators.

Accounts are created by an operator (operators themselves on the command line) and log in
with a username and password, for a bearer token (the API) or a console session; the rules
for usernames, passwords and checking them are shared here, and so is the lockout: the
fifth wrong password in a row locks the account for ``LOCK_MINUTES``, whichever door the
guesses came through. The audit trail of what staff change (``audit``) lives here too.
"""

from __future__ import annotations

import re
import secrets
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session
from werkzeug.security import check_password_hash, generate_password_hash

from wx_backend.core import clock, regions
from wx_backend.core.errors import InvalidInput, NotAuthenticated, NotFound, TooManyRequests
from wx_backend.models import AuditEntry, CommunityStaff, Editor, Operator, Staff, Store

LOCK_AFTER = 5
LOCK_MINUTES = 15
# The console's roles and the account each one logs in with.
ROLES = {"pharmacy": Staff, "community": CommunityStaff, "editor": Editor,
         "operator": Operator}
ROLE_NAMES = {"pharmacy": "药店工作人员", "community": "社区工作人员", "editor": "编辑",
              "operator": "运营人员"}

_USERNAME = re.compile(r"^[A-Za-z0-9_.-]{3,64}$")
# Checked against when the username is unknown, so both cases cost the same time.
_DUMMY_HASH = generate_password_hash("not a password")


def _check_password(password: str, field: str = "password") -> None:
    if len(password) < 10:
        raise InvalidInput("weak_password", "密码至少10个字符", fields={field: "至少10个字符"})


def _new_account(session: Session, model, username: str, password: str, **values):
    if not _USERNAME.match(username):
        raise InvalidInput("invalid_username", "用户名应为3到64个字母、数字或 _ . -")
    _check_password(password)
    if session.scalar(select(model.id).where(model.username == username)) is not None:
        raise InvalidInput("username_taken", f"用户名 {username} 已存在")
    account = model(username=username, password_hash=generate_password_hash(password), **values)
    session.add(account)
    session.flush()
    return account


# A locked account and a wrong password get the same answer, so that nobody learns which
# usernames exist or which accounts they have locked.
REFUSED = f"用户名或密码不正确（连续输错{LOCK_AFTER}次，账号将锁定{LOCK_MINUTES}分钟）"


class SignInGuard:
    """Failed sign-ins per client address (console and staff APIs alike), in Redis: after
    ``limit`` in ``window`` seconds, every sign-in from that address is refused with 429
    until the window ends. With the per-account lock, nobody can try many passwords, and
    one address cannot keep many counters' accounts locked."""

    def __init__(self, client, limit: int, window: int = 15 * 60):
        self.client = client
        self.limit = limit
        self.window = window

    @staticmethod
    def _key(address: str | None) -> str:
        return f"signin-failed:{address or '-'}"

    def check(self, address: str | None) -> None:
        """Refuse (TooManyRequests) a sign-in from an address that failed too often."""
        if self.limit <= 0:
            return
        failed = int(self.client.get(self._key(address)) or 0)
        if failed >= self.limit:
            wait = max(1, self.client.ttl(self._key(address)))
            raise TooManyRequests("too_many_sign_ins",
                                  f"登录失败次数太多，请{max(1, (wait + 59) // 60)}分钟后再试",
                                  retry_after=wait)

    def failed(self, address: str | None) -> None:
        """Count a failed sign-in from ``address``."""
        with self.client.pipeline() as pipe:
            pipe.incr(self._key(address))
            pipe.expire(self._key(address), self.window, nx=True)
            pipe.execute()


def _authenticate(session: Session, role: str, model, username: str, password: str,
                  address: str | None = None, now: datetime | None = None):
    """The account, or NotAuthenticated. A wrong password is counted (and the count
    committed at once, whatever the caller does next); the LOCK_AFTER-th in a row locks the
    account for LOCK_MINUTES; a right one clears the count. Every failure, and every lock,
    is written to the audit trail with the address it came from."""
    now = now or clock.now()
    # No username holds a NUL (PostgreSQL text cannot), so such a login matches no one.
    account = None if "\x00" in username else session.scalars(
        select(model).where(model.username == username).with_for_update()).first()
    valid = check_password_hash(account.password_hash if account else _DUMMY_HASH, password)
    if account is not None and account.locked_until is not None and account.locked_until > now:
        reason = "locked"
    elif account is None:
        reason = "unknown_account"
    elif not valid:
        reason = "wrong_password"
        account.failed_logins += 1
        if account.failed_logins >= LOCK_AFTER:
            account.failed_logins = 0
            account.locked_until = now + timedelta(minutes=LOCK_MINUTES)
            audit(session, role, account, "account_locked",
                  detail={"address": address, "minutes": LOCK_MINUTES})
    elif not account.active:
        reason = "inactive"
    else:
        if account.failed_logins or account.locked_until is not None:
            account.failed_logins, account.locked_until = 0, None
            session.commit()
        return account
    session.add(AuditEntry(actor_role=role, actor_id=account.id if account else 0,
                           actor_name=(account.username if account
                                       else username.replace("\x00", "")[:64]),
                           action="sign_in_failed", subject=reason,
                           detail={"address": address}))
    session.commit()
    raise NotAuthenticated("bad_credentials", REFUSED)


def change_password(session: Session, sessions, role: str, account, current: str,
                    new: str) -> None:
    """Set ``account``'s new password after checking its current one, and end every
    session of the account (``sessions``: ``identity.sessions.StaffSessions``), this one
    too. The caller commits."""
    if not check_password_hash(account.password_hash, current):
        raise InvalidInput("wrong_password", "当前密码不正确",
                           fields={"current_password": "当前密码不正确"})
    _check_password(new, field="new_password")
    if check_password_hash(account.password_hash, new):
        raise InvalidInput("same_password", "新密码不能与当前密码相同",
                           fields={"new_password": "不能与当前密码相同"})
    account.password_hash = generate_password_hash(new)
    account.must_change_password = False
    sessions.end_all(role, account.id)
    audit(session, role, account, "change_password")


def set_active(session: Session, sessions, role: str, account, active: bool, actor_role: str,
               actor) -> None:
    """Switch an account on or off (by ``actor``, an operator); switching it off ends every
    session of the account at once. The caller commits."""
    account.active = active
    if not active:
        sessions.end_all(role, account.id)
    audit(session, actor_role, actor, "activate" if active else "deactivate",
          f"{role} {account.username}")


def temporary_password() -> str:
    """A password for an operator to hand over, easy to read out and type: three groups
    of four letters and digits without look-alikes (no 0/O, 1/l/I)."""
    alphabet = "abcdefghjkmnpqrstuvwxyz23456789"
    return "-".join("".join(secrets.choice(alphabet) for _ in range(4)) for _ in range(3))


def open_account(session: Session, actor, role: str, username: str,
                 scope: str | None = None) -> tuple[object, str]:
    """An operator opens an account of ``role`` (``scope``: the store id of a pharmacist,
    the region code of a community worker) with a temporary password, which the holder
    must replace at the first sign-in. Answers (account, password). Audited; the caller
    commits."""
    password = temporary_password()
    if role == "pharmacy":
        if not (scope or "").isascii() or not (scope or "").isdigit():
            raise InvalidInput("invalid_store", "请选择药店", fields={"store_id": "请选择药店"})
        account = create_staff(session, username, password, int(scope))
    elif role == "community":
        account = create_community_staff(session, username, password, scope or "")
    elif role == "editor":
        account = create_editor(session, username, password)
    elif role == "operator":
        account = create_operator(session, username, password)
    else:
        raise InvalidInput("invalid_role", "请选择账号类型", fields={"role": "请选择"})
    account.must_change_password = True
    audit(session, "operator", actor, "open_account", f"{role} {username}",
          {"scope": scope})
    return account, password


def unlock(session: Session, role: str, account, actor) -> None:
    """An operator lifts a lock that wrong passwords put on an account (audited)."""
    account.failed_logins, account.locked_until = 0, None
    audit(session, "operator", actor, "unlock", f"{role} {account.username}")


def reset_password(session: Session, sessions, role: str, account, actor) -> str:
    """An operator gives an account a new temporary password (the holder forgot theirs):
    every session of the account ends, the lock is lifted, and the first sign-in must
    choose a new one. Answers the temporary password. Audited; the caller commits."""
    password = temporary_password()
    account.password_hash = generate_password_hash(password)
    account.must_change_password = True
    account.failed_logins, account.locked_until = 0, None
    sessions.end_all(role, account.id)
    audit(session, "operator", actor, "reset_password", f"{role} {account.username}")
    return password


def create_staff(session: Session, username: str, password: str, store_id: int) -> Staff:
    """A new staff account for ``store_id``; the caller commits."""
    if session.get(Store, store_id) is None:
        raise NotFound("store_not_found", f"药店 {store_id} 不存在")
    return _new_account(session, Staff, username, password, store_id=store_id)


def create_editor(session: Session, username: str, password: str) -> Editor:
    """A new editor account; the caller commits."""
    return _new_account(session, Editor, username, password, role="editor")


def _scope(district_code: str) -> regions.Region:
    found = regions.region((district_code or "").strip())
    if found is None or not found.current or not regions.districts_in(found.code):
        message = "辖区应为在用的区（县）或城市的行政区划代码，如金水区 410105"
        raise InvalidInput("invalid_district", message, fields={"district_code": message})
    return found


def create_community_staff(session: Session, username: str, password: str,
                           district_code: str) -> CommunityStaff:
    """A new community staff account whose scope is ``district_code``: a district (金水区,
    410105) or a whole city (郑州市, 410100), as a GB/T 2260 code in use today."""
    found = _scope(district_code)
    return _new_account(session, CommunityStaff, username, password,
                        district=regions.label(found.code)[:50], district_code=found.code)


def set_district(session: Session, account: CommunityStaff, district_code: str,
                 actor_role: str, actor) -> None:
    """Change the region a community account serves (audited). The caller commits."""
    found = _scope(district_code)
    account.district_code, account.district = found.code, regions.label(found.code)[:50]
    audit(session, actor_role, actor, "set_district", f"community {account.username}",
          {"district_code": found.code})


def create_operator(session: Session, username: str, password: str) -> Operator:
    """A new operator account; the caller commits."""
    return _new_account(session, Operator, username, password)


def authenticate(session: Session, role: str, username: str, password: str, *,
                 address: str | None = None, guard: SignInGuard | None = None):
    """The active account of ``role`` (a key of ROLES) with these credentials, or
    NotAuthenticated (also for an unknown role, so nothing tells roles apart); with a
    ``guard``, TooManyRequests for an address that failed too often, and each failure
    counted against the address."""
    if guard is not None:
        guard.check(address)
    model = ROLES.get(role)
    try:
        if model is None:
            check_password_hash(_DUMMY_HASH, password)
            raise NotAuthenticated("bad_credentials", REFUSED)
        return _authenticate(session, role, model, username, password, address)
    except NotAuthenticated:
        if guard is not None:
            guard.failed(address)
        raise


def audit(session: Session, role: str, actor, action: str, subject: str = "",
          detail: dict | None = None) -> None:
    """Record a change made by ``actor`` (an account of ``role``); the caller commits it
    with the change itself."""
    session.add(AuditEntry(actor_role=role, actor_id=actor.id, actor_name=actor.username,
                           action=action, subject=subject[:80], detail=detail or {}))
