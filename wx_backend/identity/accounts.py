"""Password accounts: pharmacy staff (one store each), editors (announcements, FAQ) and
community staff (one district or street each).

Both kinds are created by an operator and log in with a username and password for a
bearer token; the rules for usernames, passwords and checking them are shared here.
"""

from __future__ import annotations

import re

from sqlalchemy import select
from sqlalchemy.orm import Session
from werkzeug.security import check_password_hash, generate_password_hash

from wx_backend.core.errors import InvalidInput, NotAuthenticated, NotFound
from wx_backend.models import CommunityStaff, Editor, Staff, Store

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


def _authenticate(session: Session, model, username: str, password: str):
    # No username holds a NUL (PostgreSQL text cannot), so such a login matches no one.
    account = None if "\x00" in username else session.scalars(
        select(model).where(model.username == username)).first()
    valid = check_password_hash(account.password_hash if account else _DUMMY_HASH, password)
    if account is None or not valid or not account.active:
        raise NotAuthenticated("bad_credentials", "用户名或密码不正确")
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
