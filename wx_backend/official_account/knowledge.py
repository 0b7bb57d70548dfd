"""The FAQ knowledge base editors keep, and the matcher each process builds from it.

Entries live in ``faq_entries`` / ``faq_synonyms`` (seeded by migration 0004 from
``faq_seed.toml``). Every change bumps a version counter in Redis; the webhook reads the
counter in the same round trip as its replay check, and a process whose index was built
for another version rebuilds it from the database before answering. Losing Redis resets
the counter, which only causes one rebuild.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable
from dataclasses import dataclass, field

import redis
from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from wx_backend.core import clock
from wx_backend.core.errors import Conflict, InvalidInput, NotFound
from wx_backend.identity.accounts import audit
from wx_backend.models import FaqSynonym, KnowledgeEntry
from wx_backend.official_account.faq import FaqEntry, FaqIndex, FaqMatch, load_seed

VERSION_KEY = "wx:faq:version"
_KEY = re.compile(r"^[a-z0-9_]{2,64}$")


# Residents ask the same few dozen questions in the same words: a process remembers the
# match of this many distinct texts per knowledge-base version (then starts afresh).
REMEMBERED = 4096


@dataclass
class _Built:
    version: str
    index: FaqIndex
    remembered: dict[str, FaqMatch] = field(default_factory=dict)


_lock = threading.Lock()
_built: _Built | None = None


def seed(session: Session) -> int:
    """Fill an empty knowledge base with the shipped entries; answers how many were added."""
    if session.scalar(select(KnowledgeEntry.id).limit(1)) is not None:
        return 0
    entries, synonyms = load_seed()
    session.add_all(KnowledgeEntry(key=e.key, question=e.question, phrasings=list(e.phrasings),
                                   keywords=list(e.keywords), answer=e.answer)
                    for e in entries)
    session.add_all(FaqSynonym(word=w, variants=list(v)) for w, v in synonyms.items())
    session.flush()
    return len(entries)


def load(session: Session) -> tuple[list[FaqEntry], dict[str, list[str]]]:
    """The active entries and the synonyms, as the matcher takes them."""
    entries = [FaqEntry(key=row.key, question=row.question, phrasings=tuple(row.phrasings),
                        keywords=tuple(row.keywords), answer=row.answer)
               for row in session.scalars(select(KnowledgeEntry)
                                          .where(KnowledgeEntry.active)
                                          .order_by(KnowledgeEntry.id))]
    synonyms = {row.word: list(row.variants) for row in session.scalars(select(FaqSynonym))}
    return entries, synonyms


def _current(session: Session | Callable[[], Session], version: str) -> _Built:
    global _built
    built = _built
    if built is not None and built.version == version:
        return built
    with _lock:
        if _built is None or _built.version != version:
            entries, synonyms = load(session() if callable(session) else session)
            _built = _Built(version, FaqIndex(entries, synonyms))
        return _built


def index(session: Session, version: str) -> FaqIndex:
    """The matcher for knowledge base ``version``, rebuilt when the version moved on."""
    return _current(session, version).index


def match(session: Session | Callable[[], Session], version: str, text: str) -> FaqMatch:
    """What the knowledge base of ``version`` makes of ``text`` (remembered per process);
    ``session`` may be a function giving one, called only when the base must be read."""
    built = _current(session, version)
    found = built.remembered.get(text)
    if found is None:
        found = built.index.match(text)
        if len(built.remembered) >= REMEMBERED:
            built.remembered.clear()
        built.remembered[text] = found
    return found


def changed(client: redis.Redis) -> None:
    """Tell every process to rebuild its matcher (call after the change is committed)."""
    client.incr(VERSION_KEY)


def _clean_list(value, field: str, limit: int) -> list[str]:
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise InvalidInput("invalid_faq", f"{field} 应为文字列表", fields={field: "应为文字列表"})
    items = [v.strip() for v in value if v.strip()]
    if len(items) > limit or any(len(v) > 100 for v in items):
        raise InvalidInput("invalid_faq", f"{field} 最多{limit}项，每项不超过100字",
                           fields={field: "太多或太长"})
    return items


def save_entry(session: Session, editor, data: dict, key: str | None = None
               ) -> KnowledgeEntry:
    """Create (``key`` None) or update an entry from an editor's JSON, audited; the caller
    commits."""
    if key is None:
        new_key = str(data.get("key") or "")
        if not _KEY.match(new_key):
            raise InvalidInput("invalid_faq", "key 应为2到64个小写字母、数字或下划线",
                               fields={"key": "格式不正确"})
        if session.scalar(select(KnowledgeEntry.id).where(KnowledgeEntry.key == new_key)):
            raise Conflict("faq_exists", f"问题 {new_key} 已存在", fields={"key": "已存在"})
        entry = KnowledgeEntry(key=new_key, phrasings=[], keywords=[])
        session.add(entry)
    else:
        entry = session.scalars(select(KnowledgeEntry).where(KnowledgeEntry.key == key)).first()
        if entry is None:
            raise NotFound("faq_not_found", f"问题 {key} 不存在")
    for name, limit in (("question", 200), ("answer", 1000)):
        if name in data or key is None:
            value = data.get(name)
            if not isinstance(value, str) or not value.strip() or len(value) > limit:
                raise InvalidInput("invalid_faq", f"{name} 不能为空且不超过{limit}字",
                                   fields={name: "不能为空或太长"})
            setattr(entry, name, value.strip())
    if "phrasings" in data:
        entry.phrasings = _clean_list(data["phrasings"], "phrasings", 30)
    if "keywords" in data:
        entry.keywords = _clean_list(data["keywords"], "keywords", 20)
    if "active" in data:
        if not isinstance(data["active"], bool):
            raise InvalidInput("invalid_faq", "active 应为 true 或 false",
                               fields={"active": "应为布尔值"})
        entry.active = data["active"]
    entry.updated_by = editor.id
    entry.updated_at = clock.now()
    session.flush()
    session.flush()
    audit(session, "editor", editor, "save_faq", f"faq {entry.key}")
    return entry


def delete_entry(session: Session, editor, key: str) -> None:
    """Remove an entry, audited; NotFound when there is none."""
    if not session.execute(delete(KnowledgeEntry).where(KnowledgeEntry.key == key)).rowcount:
        raise NotFound("faq_not_found", f"问题 {key} 不存在")
    audit(session, "editor", editor, "delete_faq", f"faq {key}")


def entry_body(entry: KnowledgeEntry) -> dict:
    """An entry as the admin API shows it."""
    return {"key": entry.key, "question": entry.question, "phrasings": list(entry.phrasings),
            "keywords": list(entry.keywords), "answer": entry.answer, "active": entry.active,
            "updated_at": entry.updated_at.isoformat() if entry.updated_at else None}
