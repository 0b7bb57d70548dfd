"""Personal data at rest: AES-GCM encryption, HMAC blind indexes and masking.

Stored form of an encrypted value: ``<key id>$<base64(nonce || ciphertext+tag)>``. The key
id travels with each value, so a new key can be introduced with ``PII_KEY`` while the old
ones stay readable through ``PII_OLD_KEYS``. Each value is bound to its purpose (for example
``resident.id_number``) as associated data, so a ciphertext copied into another column does
not decrypt.

Lookups never decrypt: a blind index is HMAC-SHA256 over the normalised value with its own
key (``PII_INDEX_KEY``), which does not rotate with the encryption keys.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import os
import re

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

# Blind-index purposes: one per kind of value, so equal strings of different kinds differ.
INDEX_ID_NUMBER = "id_number"
INDEX_PHONE = "phone"

_KEY_ID = re.compile(r"^[A-Za-z0-9_-]{1,16}$")


class PiiKeyError(ValueError):
    """A PII key setting is malformed, or a stored value names a key we do not hold."""


def parse_key(spec: str, default_id: str = "k1") -> tuple[str, bytes]:
    """Parse ``[key_id:]base64(32 bytes)`` into (key id, key bytes)."""
    spec = spec.strip()
    key_id, sep, encoded = spec.partition(":")
    if not sep:
        key_id, encoded = default_id, spec
    if not _KEY_ID.match(key_id):
        raise PiiKeyError(f"key id {key_id!r} must be 1-16 letters, digits, - or _")
    try:
        raw = base64.b64decode(encoded, validate=True)
    except (binascii.Error, ValueError):
        raise PiiKeyError(f"key {key_id!r} is not valid base64") from None
    if len(raw) != 32:
        raise PiiKeyError(f"key {key_id!r} must decode to 32 bytes, got {len(raw)}")
    return key_id, raw


def new_key_spec(key_id: str = "k1") -> str:
    """A fresh random key in the ``key_id:base64`` form that PII_KEY accepts."""
    return f"{key_id}:{base64.b64encode(os.urandom(32)).decode()}"


class PiiVault:
    """Encrypts, decrypts and indexes personal data with one set of keys.

    ``current`` is the ``key_id:base64`` key new values are written with, ``old`` a comma
    separated list of keys still accepted for reading, ``index_key`` the blind-index key.
    """

    def __init__(self, current: str, old: str = "", index_key: str = ""):
        key_id, raw = parse_key(current)
        self.current_id = key_id
        self._keys = {key_id: AESGCM(raw)}
        for spec in filter(None, (part.strip() for part in old.split(","))):
            old_id, old_raw = parse_key(spec, default_id="old")
            self._keys.setdefault(old_id, AESGCM(old_raw))
        self._index_key = parse_key(index_key, default_id="index")[1]

    def encrypt(self, plaintext: str, purpose: str) -> str:
        """Encrypt ``plaintext`` for ``purpose`` with the current key."""
        nonce = os.urandom(12)
        sealed = self._keys[self.current_id].encrypt(nonce, plaintext.encode(), purpose.encode())
        return f"{self.current_id}${base64.b64encode(nonce + sealed).decode()}"

    def decrypt(self, stored: str, purpose: str) -> str:
        """Decrypt a value written by ``encrypt`` with whichever key its id names."""
        key_id, sep, encoded = stored.partition("$")
        aead = self._keys.get(key_id) if sep else None
        if aead is None:
            raise PiiKeyError(f"no key {key_id!r} to decrypt a {purpose} value")
        blob = base64.b64decode(encoded)
        try:
            return aead.decrypt(blob[:12], blob[12:], purpose.encode()).decode()
        except InvalidTag:
            raise PiiKeyError(f"a {purpose} value failed authentication") from None

    def blind_index(self, value: str, purpose: str) -> str:
        """Keyed hash of a normalised value, for equality lookups without decrypting."""
        message = purpose.encode() + b"\x00" + value.encode()
        return hmac.new(self._index_key, message, hashlib.sha256).hexdigest()

    def needs_rotation(self, stored: str) -> bool:
        """True when a stored value was written with a key other than the current one."""
        return not stored.startswith(f"{self.current_id}$")


def mask_name(name: str) -> str:
    """张三 -> 张*, 张三丰 -> 张*丰, John Smith -> J********h."""
    if len(name) <= 1:
        return "*"
    if len(name) == 2:
        return name[0] + "*"
    return name[0] + "*" * (len(name) - 2) + name[-1]


def mask_id_number(id_number: str) -> str:
    """110105194912310021 -> 110105********0021."""
    if len(id_number) < 10:
        return "*" * len(id_number)
    return id_number[:6] + "*" * (len(id_number) - 10) + id_number[-4:]


def mask_id_public(id_number: str) -> str:
    """An ID number as anyone may see it in a published list: the region it was issued in
    and nothing else, every other character a star (the length stays, so the kind of
    document shows).

    - resident ID card and the Hong Kong / Macau / Taiwan residence permit (810000,
      820000, 830000): the first four digits, province and city (``4101**************``);
    - the 2023 permanent residence card (18 digits, starting with 9): the 9 and the two
      digits of the issuing province; the nationality code after them is hidden
      (``911***************``);
    - the 2017 permanent residence card (three letters of nationality, then twelve digits):
      the two digits of the issuing province only (``***11**********``).

    Never shown: the birth date, and the last four characters, which the pharmacy's
    pickup check (``booking.pickup``) and the official account's binding ask for. A
    resident finds their own line by the reservation number in their SMS. Applied to a
    value masked by ``mask_id_number`` it gives the same answer as on the full number.
    """
    number = id_number.strip().upper()
    if re.fullmatch(r"[A-Z]{3}[\d*]{12}", number):
        return "***" + number[3:5] + "*" * 10
    if len(number) == 18 and number[0] == "9":
        return number[:3] + "*" * 15
    if len(number) == 18 and number[:4].isdigit():
        return number[:4] + "*" * 14
    return "*" * len(number)


def mask_phone(phone: str) -> str:
    """13812345678 -> 138****5678."""
    if len(phone) < 7:
        return "*" * len(phone)
    return phone[:3] + "*" * (len(phone) - 7) + phone[-4:]


def mask_address(address: str) -> str:
    """Keep the first six characters (city and district), hide the rest."""
    keep = min(6, max(len(address) // 2, 1))
    return address[:keep] + "*" * 4
