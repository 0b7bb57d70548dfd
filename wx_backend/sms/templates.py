"""SMS texts by template name.

Providers in mainland China only deliver pre-approved templates, so every message is a
named template plus parameters; the outbox renders the same text a phone would show.
"""

from __future__ import annotations

from collections.abc import Mapping

TEMPLATES: dict[str, str] = {
    "verification_code": "您的验证码为{code}，{minutes}分钟内有效，请勿告诉他人。如非本人操作，请忽略本短信。",
}


def render(template: str, params: Mapping[str, object], sign_name: str) -> str:
    """The full SMS text, signature first, as the resident's phone shows it."""
    try:
        body = TEMPLATES[template].format(**params)
    except KeyError as missing:
        raise ValueError(f"SMS template {template!r} or its parameter {missing} is unknown") from None
    return f"【{sign_name}】{body}"
