"""Identity text in its one canonical form, before it is indexed or compared.

Unicode writes "the same" text many ways, and an attacker will use all of them: full-width
digits (４１０１), digits of other scripts (Arabic-Indic ٤١٠١, Devanagari ४१०१, …), and
format characters that show nothing at all (zero-width space U+200B, the byte-order mark,
direction marks). One ID card typed three ways must stay one person.

Two rules, for two kinds of text:

- **Identity numbers** (ID numbers, phones, the last digits staff compare at the counter):
  after NFKC (which turns full-width digits and letters into ASCII), only ASCII digits and
  the characters the field allows are accepted. Anything else (another script's digits, a
  format character, a stray letter) is refused with a message that says which, and nothing
  changes. A number is never "repaired" into another number: the resident sees what was
  wrong and types it again.
- **Free text that becomes a key** (addresses, for the household key): format characters
  are removed and every script's decimal digits are read as ASCII, because an address is
  written many ways by nature and refusing one would only send the resident away.

``fold`` is also what the re-indexing command (``wx-backend residents reindex``) applies
to rows stored before these rules, to find the people who now turn out to be one.
"""

from __future__ import annotations

import unicodedata

from wx_backend.core.errors import InvalidInput


def is_format_character(char: str) -> bool:
    """True for characters that print nothing (Unicode category Cf: U+200B, U+FEFF, …)."""
    return unicodedata.category(char) == "Cf"


def _ascii_digit(char: str) -> str | None:
    """The ASCII digit a decimal digit of any script stands for, or None."""
    value = unicodedata.decimal(char, None)
    return None if value is None else str(value)


def fold(raw: str) -> str:
    """NFKC, without format characters, with every script's decimal digits as ASCII."""
    text = unicodedata.normalize("NFKC", raw or "")
    if text.isascii():
        return text
    out = []
    for char in text:
        if is_format_character(char):
            continue
        if char.isascii():
            out.append(char)
            continue
        digit = _ascii_digit(char)
        out.append(char if digit is None else digit)
    return "".join(out)


def strange_characters(text: str) -> str | None:
    """Why ``text`` (already NFKC) cannot be an identity number as typed, or None: it holds
    invisible characters, or digits of another script. The answer is a short Chinese
    clause; whatever else is wrong with the number is for the field's own rules to say."""
    if text.isascii():
        return None
    if any(is_format_character(char) for char in text):
        return "含有看不见的字符（可能是复制时带入的），请删掉后重新输入"
    odd = next((char for char in text if not char.isascii() and char.isdigit()), None)
    if odd is not None:
        return f"只能用0-9这十个数字填写（“{odd}”不是），请切换到常用输入法重新输入"
    return None


def id_tail(raw: str, length: int = 4, field: str = "id_last4") -> str:
    """The last ``length`` characters of an ID number as staff or a resident type them
    (full-width or lower-case x accepted): ASCII digits and a final X only, else
    InvalidInput on ``field`` saying what is wrong."""
    text = unicodedata.normalize("NFKC", raw or "").strip().upper()
    problem = strange_characters(text)
    if problem is None and not (len(text) == length and text.isascii() and text[:-1].isdigit()
                                and (text[-1].isdigit() or text[-1] == "X")):
        problem = f"应为{length}位，最后一位可以是X"
    if problem is not None:
        message = f"身份证号后{length}位" + problem
        raise InvalidInput(f"invalid_{field}", message, fields={field: message})
    return text
