"""Column types shared by the models."""

from __future__ import annotations

from sqlalchemy import Text
from sqlalchemy.types import TypeDecorator

from wx_backend.extensions import pii


class Encrypted(TypeDecorator):
    """A text column stored encrypted (AES-GCM, key id inline) and bound to a purpose.

    The model sees plaintext; the database only ever holds ciphertext.
    """

    impl = Text
    cache_ok = True

    def __init__(self, purpose: str):
        super().__init__()
        self.purpose = purpose

    def process_bind_param(self, value, dialect):
        if value is None:
            return None
        return pii.vault.encrypt(value, self.purpose)

    def process_result_value(self, value, dialect):
        if value is None:
            return None
        return pii.vault.decrypt(value, self.purpose)
