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
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session
from werkzeug.security import check_password_hash, generate_password_hash

from wx_backend.core import clock
from wx_backend.core.errors import InvalidInput, NotAuthenticated, NotFound
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


def _new_account(session: Session, model, username: str, password: str, **values):
    if not _USERNAME.match(username):
        raise InvalidInput("invalid_username", "用户名应为3到64个字母、数字或 _ . -")
    if len(password) < 10:
        raise InvalidInput("weak_password", "密码至少10个字符")
    if session.scalar(select(model.id).where(model.username == username)) is not None:
        raise InvalidInput("username_taken", f"用户名 {username} 已存在")
    account = model(username=username, password_hash=generate_password_hash(password), **values)
    session.add(account)
    session.flush()
    return account


def _authenticate(session: Session, model, username: str, password: str,
                  now: datetime | None = None):
    """The account, or NotAuthenticated. A wrong password is counted (and the count
    committed at once, whatever the caller does next); the LOCK_AFTER-th in a row locks the
    account for LOCK_MINUTES; a right one clears the count."""
    now = now or clock.now()
    # No username holds a NUL (PostgreSQL text cannot), so such a login matches no one.
    account = None if "\x00" in username else session.scalars(
        select(model).where(model.username == username).with_for_update()).first()
    valid = check_password_hash(account.password_hash if account else _DUMMY_HASH, password)
    if account is not None and account.locked_until is not None and account.locked_until > now:
        session.commit()
        minutes = max(1, int((account.locked_until - now).total_seconds() // 60) + 1)
        raise NotAuthenticated("account_locked",
                               f"密码错误次数过多，账号已锁定，请{minutes}分钟后再试")
    if account is None or not valid or not account.active:
        if account is not None and not valid:
            account.failed_logins += 1
            if account.failed_logins >= LOCK_AFTER:
                account.failed_logins = 0
                account.locked_until = now + timedelta(minutes=LOCK_MINUTES)
        session.commit()
        raise NotAuthenticated("bad_credentials", "用户名或密码不正确")
    if account.failed_logins or account.locked_until is not None:
        account.failed_logins, account.locked_until = 0, None
        session.commit()
    return account


def create_staff(session: Session, username: str, password: str, store_id: int) -> Staff:
    """A new staff account for ``store_id``; the caller commits."""
    if session.get(Store, store_id) is None:
        raise NotFound("store_not_found", f"药店 {store_id} 不存在")
    return _new_account(session, Staff, username, password, store_id=store_id)


def authenticate_staff(session: Session, username: str, password: str) -> Staff:
    """The active staff account with these credentials, or NotAuthenticated."""
    return _authenticate(session, Staff, username, password)


def create_editor(session: Session, username: str, password: str) -> Editor:
    """A new editor account; the caller commits."""
    return _new_account(session, Editor, username, password, role="editor")


def authenticate_editor(session: Session, username: str, password: str) -> Editor:
    """The active editor with these credentials, or NotAuthenticated."""
    return _authenticate(session, Editor, username, password)


def create_community_staff(session: Session, username: str, password: str,
                           district: str) -> CommunityStaff:
    """A new community staff account for ``district`` (a district, street or community)."""
    district = (district or "").strip()
    if not 2 <= len(district) <= 50:
        raise InvalidInput("invalid_district", "辖区名称应为2到50个字")
    return _new_account(session, CommunityStaff, username, password, district=district)


def authenticate_community_staff(session: Session, username: str,
                                 password: str) -> CommunityStaff:
    """The active community staff account with these credentials, or NotAuthenticated."""
    return _authenticate(session, CommunityStaff, username, password)


def create_operator(session: Session, username: str, password: str) -> Operator:
    """A new operator account; the caller commits."""
    return _new_account(session, Operator, username, password)


def authenticate(session: Session, role: str, username: str, password: str):
    """The active account of ``role`` (a key of ROLES) with these credentials, or
    NotAuthenticated (also for an unknown role, so nothing tells roles apart)."""
    model = ROLES.get(role)
    if model is None:
        check_password_hash(_DUMMY_HASH, password)
        raise NotAuthenticated("bad_credentials", "用户名或密码不正确")
    return _authenticate(session, model, username, password)


def audit(session: Session, role: str, actor, action: str, subject: str = "",
          detail: dict | None = None) -> None:
    """Record a change made by ``actor`` (an account of ``role``); the caller commits it
    with the change itself."""
    session.add(AuditEntry(actor_role=role, actor_id=actor.id, actor_name=actor.username,
                           action=action, subject=subject[:80], detail=detail or {}))
