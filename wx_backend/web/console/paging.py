"""Long lists in the console, 50 a page: which page was asked for, one page of a query or of
a list already built, and the links to the page before and after (which keep the filters the
person chose)."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Sequence

from flask import request, url_for
from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session

PAGE_SIZE = 50


@dataclass(frozen=True)
class Page:
    """One page of a list: its rows, its number (from 1) and how many rows there are."""

    rows: Sequence[Any]
    number: int
    total: int

    @property
    def count(self) -> int:
        """How many pages the list has (at least one, even when empty)."""
        return max(1, -(-self.total // PAGE_SIZE))

    @property
    def offset(self) -> int:
        return (self.number - 1) * PAGE_SIZE


def asked_for() -> int:
    """The page number in the address (``?page=``); anything but a positive number is 1."""
    raw = request.args.get("page") or "1"
    return int(raw) if raw.isascii() and raw.isdigit() and raw.strip("0") and len(raw) < 7 \
        else 1


def of_query(session: Session, query: Select, *order_by) -> Page:
    """The asked-for page of ``query`` in ``order_by``, with the count of all its rows."""
    number = asked_for()
    total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
    rows = session.scalars(query.order_by(*order_by).offset((number - 1) * PAGE_SIZE)
                           .limit(PAGE_SIZE)).all()
    return Page(rows, number, total)


def of_list(items: Sequence[Any]) -> Page:
    """The asked-for page of a list already in memory."""
    number = asked_for()
    start = (number - 1) * PAGE_SIZE
    return Page(items[start:start + PAGE_SIZE], number, len(items))


def link(endpoint: str, number: int, **path) -> str:
    """The address of page ``number`` of the list at ``endpoint``, with the same filters
    (the query string, or the form a list was re-shown after) as the page shown now."""
    kept = {k: v for k, v in request.values.items() if k not in ("page", "csrf_token") and v}
    return url_for(endpoint, **path, **kept, page=number)
