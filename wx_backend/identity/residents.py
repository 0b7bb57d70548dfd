"""Who a resident is: WeChat login upsert and the verified real-name profile.

Decisions recorded here:

- Identity documents (``read_id_document``): the resident ID card, the Hong Kong / Macau /
  Taiwan residents' residence permit and the foreigner's permanent residence card, the
  documents a resident of a Chinese city can hold. The kind follows from the number itself
  and is recorded with the profile. See ``read_id_document`` for what is checked; in short,
  what can really be issued is accepted and the rest refused with its own message.
- The region code of an ID number is checked against every code GB/T 2260 has ever had
  (python-stdnum's table), whatever the birth year. python-stdnum's own rule, that the code
  must have existed in the birth year, refuses real cards: numbers were assigned from the
  mid-1980s on, with the code of the place of household registration *at issue*, so a
  person born in 1955 in a district created in 1983 carries that district's code, and
  retired codes stay printed on valid cards (stdnum issue #442).
- The old 15-digit numbers are refused with their own message: they stopped being valid
  documents on 2013-01-01 and carry no checksum, so they cannot be verified.
- One ID number binds to one WeChat account (a unique blind index). Once a profile is
  complete, name and ID number are fixed: changing them would let one account book as
  several people. Phone and address may change, the phone only with a fresh SMS code.
- A phone number may be shared by several residents (an elderly parent using a child's
  phone is common); only the ID number is exclusive.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field
from datetime import date, datetime

from sqlalchemy import func, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session
from stdnum import numdb

from wx_backend.core import regions
from wx_backend.core.canonical import fold, is_format_character, strange_characters
from wx_backend.core.errors import Conflict, InvalidInput
from wx_backend.core.pii import (
    INDEX_ID_NUMBER,
    INDEX_PHONE,
    PiiVault,
    mask_address,
    mask_id_number,
    mask_name,
    mask_phone,
)
from wx_backend.models import Follower, Resident

_HAN = "\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\U00020000-\U0002ebef"
_CHINESE_NAME = re.compile(rf"^[{_HAN}]+(·[{_HAN}]+)*$")
_LATIN_NAME = re.compile(r"^[A-Za-z]+([ .'-][A-Za-z]+)*$")
_MIDDLE_DOTS = str.maketrans({"•": "·", "・": "·", "‧": "·", "．": "·", "∙": "·", "⋅": "·"})
_MOBILE = re.compile(r"^1[3-9][0-9]{9}$")
# What people put between groups of digits; NFKC has already made wide forms ASCII.
_SEPARATORS = re.compile(r"[ \t\r\n-]")


def normalise_name(raw: str) -> str:
    """A real name as printed on the ID card, or InvalidInput saying what is wrong."""
    name = unicodedata.normalize("NFKC", raw).strip().translate(_MIDDLE_DOTS)
    name = re.sub(r"\s+", " ", name)
    if any(map(is_format_character, name)):
        message = "姓名含有看不见的字符（可能是复制时带入的），请删掉后重新输入"
        raise InvalidInput("invalid_name", message, fields={"name": message})
    if not 2 <= len(name) <= 30:
        raise InvalidInput("invalid_name", "姓名应为2到30个字",
                           fields={"name": "姓名应为2到30个字"})
    if not (_CHINESE_NAME.match(name) or _LATIN_NAME.match(name)):
        message = "姓名只能包含汉字（少数民族姓名可用·分隔）或英文字母"
        raise InvalidInput("invalid_name", message, fields={"name": message})
    return name


DOCUMENT_KINDS = {
    "resident_id": "居民身份证",
    "hmt_permit": "港澳台居民居住证",
    "foreign_permanent": "外国人永久居留身份证",
}
# Residence permits of Hong Kong, Macau and Taiwan residents (since 2018-09-01): 18 digits,
# the ID card's layout and checksum, with these fixed codes in place of the region.
_PERMIT_REGIONS = frozenset({"810000", "820000", "830000"})  # 香港, 澳门, 台湾
# Codes printed on real documents that python-stdnum's table lacks. 830000 is not a
# GB/T 2260 region (Taiwan's code there is 710000) but the Taiwan residents' permit code.
_EXTRA_REGIONS = {"830000"}
_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_CHECK_CHARACTERS = "10X98765432"


@dataclass(frozen=True)
class IdDocument:
    """An identity document's number, normalised, and its kind (a DOCUMENT_KINDS key)."""

    kind: str
    number: str

    @property
    def kind_name(self) -> str:
        return DOCUMENT_KINDS[self.kind]


def region_ever_existed(code: str) -> bool:
    """True when the 6-digit ``code`` is, or ever was, a GB/T 2260 administrative region."""
    if code in _EXTRA_REGIONS:
        return True
    if len(code) != 6 or not (code.isascii() and code.isdigit()):
        return False
    return any("county" in props for _, props in numdb.get("cn/loc").info(code))


def check_character(body: str) -> str:
    """The GB 11643 (ISO 7064 MOD 11-2) check character of 17 digits."""
    return _CHECK_CHARACTERS[sum(int(d) * w for d, w in zip(body, _WEIGHTS)) % 11]


def read_id_document(raw: str, today: date | None = None) -> IdDocument:
    """The identity document a number belongs to, or InvalidInput naming what is wrong.

    Accepted: an 18-character number (resident ID card, a residence permit with 810000,
    820000 or 830000, or the permanent residence card issued since 2023-12-01, which starts
    with 9 and the issuing province's two digits) whose check character is right, whose
    birth date is a real date from 1900 up to today, and whose region (or province) code
    exists or ever existed; and the 2017 permanent residence card, three Latin letters of
    nationality and twelve digits whose first two are the issuing province. The 2017
    card's check digit rule is not published, so its number is checked for form only; the
    card itself is looked at when the masks are collected. Spaces, dashes, full-width
    characters and a lower-case x are normalised; digits of other scripts, invisible
    characters and anything else are refused (``core.canonical``), so one card cannot be
    typed into two people.
    """
    def refuse(message: str):
        return InvalidInput("invalid_id_number", message, fields={"id_number": message})

    number = _SEPARATORS.sub("", unicodedata.normalize("NFKC", raw)).upper()
    if (problem := strange_characters(number)) is not None:
        raise refuse("证件号码" + problem)
    if re.fullmatch(r"[A-Z]{3}[0-9]{12}", number):
        if not region_ever_existed(number[3:5] + "0000"):
            raise refuse("证件号码中的地区代码不存在，请核对")
        return IdDocument("foreign_permanent", number)
    if len(number) == 15 and number.isdigit():  # ASCII only, checked above
        raise refuse("不支持15位旧身份证号，请填写18位居民身份证号码")
    if len(number) != 18:
        raise refuse("身份证号应为18位，最后一位可以是数字或X")
    if not (number.isascii() and number[:17].isdigit()
            and (number[17].isdigit() or number[17] == "X")):
        raise refuse("身份证号应为18位数字，只有最后一位可以是X")
    if number[17] != check_character(number[:17]):
        raise refuse("身份证号校验位不正确，请核对")
    try:
        birth = date(int(number[6:10]), int(number[10:12]), int(number[12:14]))
    except ValueError:
        raise refuse("身份证号中的出生日期不存在，请核对") from None
    if birth > (today or date.today()) or birth.year < 1900:
        raise refuse("身份证号中的出生日期不正确，请核对")
    if number[0] == "9":
        if not region_ever_existed(number[1:3] + "0000"):
            raise refuse("证件号码中的地区代码不存在，请核对")
        return IdDocument("foreign_permanent", number)
    if number[:6] in _PERMIT_REGIONS:
        return IdDocument("hmt_permit", number)
    if not region_ever_existed(number[:6]):
        raise refuse("身份证号中的地区代码不存在，请核对")
    return IdDocument("resident_id", number)


def normalise_id_number(raw: str, today: date | None = None) -> str:
    """The number of any accepted identity document (see read_id_document), normalised."""
    return read_id_document(raw, today).number


def check_id_kind(number: str, kind: str | None) -> str:
    """The document kind of an accepted ``number``; InvalidInput when the resident chose
    another kind than the number belongs to (``kind`` None: no choice made)."""
    found = read_id_document(number).kind
    if kind is not None and kind not in DOCUMENT_KINDS:
        message = "证件类型应为居民身份证、港澳台居民居住证或外国人永久居留身份证"
        raise InvalidInput("invalid_id_kind", message, fields={"id_kind": message})
    if kind is not None and kind != found:
        message = f"这是{DOCUMENT_KINDS[found]}的号码，请把证件类型选为“{DOCUMENT_KINDS[found]}”"
        raise InvalidInput("id_kind_mismatch", message, fields={"id_kind": message})
    return found


def normalise_phone(raw: str) -> str:
    """An 11-digit mainland mobile number (a +86 prefix and separators are dropped); other
    scripts' digits and invisible characters are refused, as for ID numbers."""
    phone = re.sub(r"[ \t\r\n()-]", "", unicodedata.normalize("NFKC", raw))
    if (problem := strange_characters(phone)) is not None:
        message = "手机号" + problem
        raise InvalidInput("invalid_phone", message, fields={"phone": message})
    for prefix in ("+86", "0086", "86"):
        if phone.startswith(prefix) and len(phone) == 11 + len(prefix):
            phone = phone[len(prefix):]
            break
    if not _MOBILE.match(phone):
        message = "请填写11位中国大陆手机号码"
        raise InvalidInput("invalid_phone", message, fields={"phone": message})
    return phone


def normalise_address(raw: str) -> str:
    """A free-text address of 5 to 200 characters, whitespace collapsed, invisible
    characters removed and every script's digits written as 0-9 (``core.canonical.fold``)."""
    address = re.sub(r"\s+", " ", fold(raw)).strip()
    if not 5 <= len(address) <= 200:
        message = "地址应为5到200个字"
        raise InvalidInput("invalid_address", message, fields={"address": message})
    return address


def read_district(raw) -> str:
    """A district chosen from the list: the GB/T 2260 code of a county-level region in use
    today, or InvalidInput."""
    found = regions.region(raw if isinstance(raw, str) else None)
    if found is None or found.level != "district" or not found.current:
        message = "请从列表中选择住址所在的区（县）"
        raise InvalidInput("invalid_district", message, fields={"district_code": message})
    return found.code


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
    id_kind: str = "resident_id"
    district_code: str | None = None


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
    resident.id_kind = profile.id_kind
    resident.phone = profile.phone
    resident.phone_index = vault.blind_index(profile.phone, INDEX_PHONE)
    if profile.address is not None:
        resident.address = profile.address
    if profile.district_code is not None:
        resident.district_code = profile.district_code
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
        "id_kind": resident.id_kind if resident.id_number else None,
        "id_kind_name": DOCUMENT_KINDS[resident.id_kind] if resident.id_number else None,
        "phone": mask_phone(resident.phone) if resident.phone else None,
        "address": mask_address(resident.address) if resident.address else None,
        "district_code": resident.district_code,
        "district_name": regions.label(resident.district_code) if resident.district_code
        else None,
        "verified_at": resident.profile_completed_at,
        "promised_at": resident.promised_at,
    }


@dataclass
class Reindexed:
    """What ``reindex`` found: residents whose number, phone or address took its canonical
    form (``renamed`` maps an old person key to the new one), and pairs of residents who
    turn out to hold one ID number, for the residents' committee to decide."""

    renamed: dict[str, str] = field(default_factory=dict)
    changed_residents: list[int] = field(default_factory=list)
    phones: int = 0
    addresses: int = 0
    # (resident, the resident already holding the same number)
    same_person: list[tuple[int, int]] = field(default_factory=list)


def _canonical_number(stored: str) -> str:
    return _SEPARATORS.sub("", fold(stored)).upper()


def reindex(session: Session, vault: PiiVault, batch: int = 500) -> Reindexed:
    """Bring stored ID numbers, phones and addresses to their canonical form
    (``core.canonical``) and recompute their blind indexes.

    Rows written before identity text was made canonical may hold another script's
    digits or invisible characters, and so an index of their own. A resident whose
    canonical number another resident already holds is the same card registered twice:
    both are reported in ``same_person`` and neither is changed, merged or dropped. The
    caller moves bookings to the new person keys and commits (or rolls back for a dry
    run).
    """
    found = Reindexed()
    last = 0
    while True:
        rows = session.scalars(select(Resident).where(Resident.id > last,
                                                      Resident.id_number.is_not(None))
                               .order_by(Resident.id).limit(batch)).all()
        if not rows:
            return found
        for resident in rows:
            last = resident.id
            changed = False
            number = _canonical_number(resident.id_number)
            index = vault.blind_index(number, INDEX_ID_NUMBER)
            if index != resident.id_number_index:
                holder = session.scalar(select(Resident.id).where(
                    Resident.id_number_index == index, Resident.id != resident.id))
                if holder is not None:
                    found.same_person.append((resident.id, holder))
                else:
                    found.renamed[resident.id_number_index] = index
                    resident.id_number, resident.id_number_index = number, index
                    changed = True
                    # Flushed now, so a later row with the same number meets this one.
                    session.flush()
            if resident.phone:
                phone = re.sub(r"[ \t\r\n()-]", "", fold(resident.phone))
                if phone != resident.phone:
                    resident.phone = phone
                    resident.phone_index = vault.blind_index(phone, INDEX_PHONE)
                    found.phones += 1
                    changed = True
            if resident.address:
                address = re.sub(r"\s+", " ", fold(resident.address)).strip()
                if address != resident.address:
                    resident.address = address
                    found.addresses += 1
                    changed = True
            if changed:
                found.changed_residents.append(resident.id)
        session.flush()
