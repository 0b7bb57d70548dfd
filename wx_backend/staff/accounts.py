"""Pharmacy staff accounts: created by an operator, one store each."""

from __future__ import annotations

import re

from sqlalchemy import select
from sqlalchemy.orm import Session
from werkzeug.security import check_password_hash, generate_password_hash

from wx_backend.errors import InvalidInput, NotAuthenticated, NotFound
from wx_backend.models import Staff, Store

_USERNAME = re.compile(r"^[A-Za-z0-9_.-]{3,64}$")
# Checked against when the username is unknown, so both cases cost the same time.
_DUMMY_HASH = generate_password_hash("not a password")


def create_staff(session: Session, username: str, password: str, store_id: int) -> Staff:
    """A new staff account for ``store_id``; the caller commits."""
    if not _USERNAME.match(username):
        raise InvalidInput("invalid_username", "用户名应为3到64个字母、数字或 _ . -")
    if len(password) < 10:
        raise InvalidInput("weak_password", "密码至少10个字符")
    if session.get(Store, store_id) is None:
        raise NotFound("store_not_found", f"药店 {store_id} 不存在")
    if session.scalar(select(Staff.id).where(Staff.username == username)) is not None:
        raise InvalidInput("username_taken", f"用户名 {username} 已存在")
    staff = Staff(username=username, password_hash=generate_password_hash(password),
                  store_id=store_id)
    session.add(staff)
    session.flush()
    return staff


def authenticate_staff(session: Session, username: str, password: str) -> Staff:
    """The active staff account with these credentials, or NotAuthenticated."""
    staff = session.scalars(select(Staff).where(Staff.username == username)).first()
    valid = check_password_hash(staff.password_hash if staff else _DUMMY_HASH, password)
    if staff is None or not valid or not staff.active:
        raise NotAuthenticated("bad_credentials", "用户名或密码不正确")
    return staff
