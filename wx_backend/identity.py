"""Who a resident is: WeChat login upsert and the verified real-name profile.

Decisions recorded here:

- ID numbers are the 18-digit second-generation numbers, checked with ``stdnum.cn.ric``
  (checksum, a real birth date that is not in the future, a region code that existed at
  that date). The old 15-digit numbers are refused with their own message: they stopped
  being valid documents on 2013-01-01 and carry no checksum, so they cannot be verified.
- One ID number binds to one WeChat account (a unique blind index). Once a profile is
  complete, name and ID number are fixed: changing them would let one account book as
  several people. Phone and address may change, the phone only with a fresh SMS code.
- A phone number may be shared by several residents (an elderly parent using a child's
  phone is common); only the ID number is exclusive.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy import func, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session
from stdnum import exceptions as stdnum_errors
from stdnum.cn import ric

from wx_backend.errors import Conflict, InvalidInput
from wx_backend.models import Follower, Resident
from wx_backend.pii import (
    INDEX_ID_NUMBER,
    INDEX_PHONE,
    PiiVault,
    mask_address, mask_id_number, mask_name, mask_phone,
)

_HAN = "\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\U00020000-\U0002ebef"
_CHINESE_NAME = re.compile(rf"^[{_HAN}]+(·[{_HAN}]+)*$")
_LATIN_NAME = re.compile(r"^[A-Za-z]+([ .'-][A-Za-z]+)*$")
_MIDDLE_DOTS = str.maketrans({"•": "·", "・": "·", "‧": "·", "．": "·", "∙": "·", "⋅": "·"})
_MOBILE = re.compile(r"^1[3-9]\d{9}$")


def normalise_name(raw: str) -> str:
    """A real name as printed on the ID card, or InvalidInput saying what is wrong."""
    name = unicodedata.normalize("NFKC", raw).strip().translate(_MIDDLE_DOTS)
    name = re.sub(r"\s+", " ", name)
    if not 2 <= len(name) <= 30:
        raise InvalidInput("invalid_name", "姓名应为2到30个字", fields={"name": "姓名应为2到30个字"})
    if not (_CHINESE_NAME.match(name) or _LATIN_NAME.match(name)):
        message = "姓名只能包含汉字（少数民族姓名可用·分隔）或英文字母"
        raise InvalidInput("invalid_name", message, fields={"name": message})
    return name


def normalise_id_number(raw: str, today: date | None = None) -> str:
    """An 18-digit resident ID number, upper-case X, or InvalidInput with the reason."""
    def refuse(message: str):
        return InvalidInput("invalid_id_number", message, fields={"id_number": message})

    number = re.sub(r"[\s-]", "", unicodedata.normalize("NFKC", raw)).upper()
    if len(number) == 15 and number.isdigit():
        raise refuse("不支持15位旧身份证号，请填写18位居民身份证号码")
    if len(number) != 18 or not number[:17].isdigit() or not (
            number[17].isdigit() or number[17] == "X"):
        raise refuse("身份证号应为18位，最后一位可以是数字或X")
    if number[17] != ric.calc_check_digit(number):
        raise refuse("身份证号校验位不正确，请核对")
    try:
        birth = ric.get_birth_date(number)
    except stdnum_errors.ValidationError:
        raise refuse("身份证号中的出生日期不存在，请核对") from None
    if birth > (today or date.today()) or birth.year < 1900:
        raise refuse("身份证号中的出生日期不正确，请核对")
    try:
        ric.get_birth_place(number)
    except stdnum_errors.ValidationError:
        raise refuse("身份证号中的地区代码不存在，请核对") from None
    return number


def normalise_phone(raw: str) -> str:
    """An 11-digit mainland mobile number (a +86 prefix and separators are dropped)."""
    phone = re.sub(r"[\s()-]", "", unicodedata.normalize("NFKC", raw))
    for prefix in ("+86", "0086", "86"):
        if phone.startswith(prefix) and len(phone) == 11 + len(prefix):
            phone = phone[len(prefix):]
            break
    if not _MOBILE.match(phone):
        message = "请填写11位中国大陆手机号码"
        raise InvalidInput("invalid_phone", message, fields={"phone": message})
    return phone


def normalise_address(raw: str) -> str:
    """A free-text address of 5 to 200 characters, whitespace collapsed."""
    address = re.sub(r"\s+", " ", unicodedata.normalize("NFKC", raw)).strip()
    if not 5 <= len(address) <= 200:
        message = "地址应为5到200个字"
        raise InvalidInput("invalid_address", message, fields={"address": message})
    return address


def upsert_resident(session: Session, openid: str, unionid: str | None,
                    now: datetime) -> Resident:
    """The resident for this openid, created on first login; unionid kept once known.

    One statement, so two simultaneous first logins of the same user cannot both insert.
    """
    table = Resident.__table__
    stmt = insert(table).values(openid=openid, unionid=unionid, created_at=now,
                                last_login_at=now)
    stmt = stmt.on_conflict_do_update(
        index_elements=[table.c.openid],
        set_={
            "last_login_at": stmt.excluded.last_login_at,
            "unionid": func.coalesce(stmt.excluded.unionid, table.c.unionid),
        },
    ).returning(table.c.id)
    resident_id = session.execute(stmt).scalar_one()
    if unionid:
        # An official-account follower who came first is linked the moment the
        # mini-program tells us their unionid (wx_backend.official_account).
        session.execute(update(Follower).where(Follower.unionid == unionid,
                                               Follower.resident_id.is_(None))
                        .values(resident_id=resident_id, linked_at=now, linked_by="unionid"))
    return session.get(Resident, resident_id, populate_existing=True)


@dataclass(frozen=True)
class ProfileInput:
    """A profile as the resident submitted it, already normalised."""

    name: str
    id_number: str
    phone: str
    address: str | None = None
    promise: bool = False


def complete_profile(session: Session, vault: PiiVault, resident_id: int,
                     profile: ProfileInput, now: datetime) -> Resident:
    """Store the verified profile, binding the ID number to this resident only.

    Raises Conflict when the ID number belongs to another account, or when a completed
    profile would change its name or ID number. The caller has already confirmed the phone
    by SMS code and owns the transaction.
    """
    resident = session.execute(
        select(Resident).where(Resident.id == resident_id).with_for_update()
    ).scalar_one()
    id_index = vault.blind_index(profile.id_number, INDEX_ID_NUMBER)

    if resident.profile_complete and (
            resident.id_number_index != id_index or resident.name != profile.name):
        raise Conflict("profile_locked",
                       "实名信息已核验，姓名和身份证号不能修改；如有错误请到社区或药店现场办理")

    owner = session.execute(
        select(Resident.id).where(Resident.id_number_index == id_index)
    ).scalar_one_or_none()
    if owner is not None and owner != resident_id:
        raise _id_taken()

    resident.name = profile.name
    resident.id_number = profile.id_number
    resident.id_number_index = id_index
    resident.phone = profile.phone
    resident.phone_index = vault.blind_index(profile.phone, INDEX_PHONE)
    if profile.address is not None:
        resident.address = profile.address
    if profile.promise:
        # "The information is true, and one address books once" — with its time, each
        # time it is given (an address change renews it).
        resident.promised_at = now
    if resident.profile_completed_at is None:
        resident.profile_completed_at = now
    try:
        with session.begin_nested():
            session.flush()
    except IntegrityError:
        # Another account bound the same ID number between our check and our write.
        raise _id_taken() from None
    return resident


def _id_taken() -> Conflict:
    return Conflict("id_number_taken",
                    "该身份证号已绑定其他微信账号；一个身份证号只能绑定一个账号",
                    fields={"id_number": "已绑定其他微信账号"})


def masked_profile(resident: Resident) -> dict:
    """The profile as residents and staff may see it: masked, never in full."""
    return {
        "profile_complete": resident.profile_complete,
        "name": mask_name(resident.name) if resident.name else None,
        "id_number": mask_id_number(resident.id_number) if resident.id_number else None,
        "phone": mask_phone(resident.phone) if resident.phone else None,
        "address": mask_address(resident.address) if resident.address else None,
        "verified_at": resident.profile_completed_at,
        "promised_at": resident.promised_at,
    }
