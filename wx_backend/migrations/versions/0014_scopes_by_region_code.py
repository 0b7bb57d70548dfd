"""Scopes by region code: a resident's district chosen from a list, a community worker's
scope as a GB/T 2260 code, and an operator's approval of an announcement's rules change.

Existing community accounts get the code of their district's name where exactly one
district in use has that name (鼓楼区 has four, so it gets none); the rest act for nobody
until an operator sets their code. The names are read from python-stdnum's table, as the
application does, but without importing the application.

Revision ID: 0014
Revises: 0013
Created: 2026-12-06
"""

import re
from importlib import resources

import sqlalchemy as sa
from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None


def _district_codes() -> dict[str, list[str]]:
    """District name -> the codes of districts in use with that name."""
    text = resources.files("stdnum").joinpath("cn/loc.dat").read_text(encoding="utf-8")
    codes: dict[str, list[str]] = {}
    province = ""
    for line in text.splitlines():
        found = re.match(r'^(\s*)(\d+) (?:province|county)="([^"]*)"', line)
        if not found:
            continue
        indent, digits, names = found.groups()
        if not indent:
            province = digits
            continue
        code = province + digits
        last = names.split(",")[-1].strip()
        span = re.match(r"^\[(\d*)-(\d*)\]", last)
        if code.endswith("00") or (span and span.group(2)):
            continue
        codes.setdefault(re.sub(r"^\[[^\]]*\]", "", last).strip(), []).append(code)
    return codes


def upgrade():
    op.add_column("residents", sa.Column("district_code", sa.String(6), nullable=True))
    op.create_index("ix_residents_district_code", "residents", ["district_code"])
    op.add_column("community_staff", sa.Column("district_code", sa.String(6), nullable=True))
    op.add_column("announcements", sa.Column("rules_approved_by", sa.BigInteger(),
                                             sa.ForeignKey("operators.id"), nullable=True))
    op.add_column("announcements", sa.Column("rules_approved_at", sa.DateTime(timezone=True),
                                             nullable=True))
    connection = op.get_bind()
    codes = _district_codes()
    for staff_id, district in connection.execute(
            sa.text("SELECT id, district FROM community_staff")).all():
        found = codes.get((district or "").strip(), [])
        if len(found) == 1:
            connection.execute(sa.text("UPDATE community_staff SET district_code = :code "
                                       "WHERE id = :id"), {"code": found[0], "id": staff_id})


def downgrade():
    op.drop_column("announcements", "rules_approved_at")
    op.drop_column("announcements", "rules_approved_by")
    op.drop_column("community_staff", "district_code")
    op.drop_index("ix_residents_district_code", table_name="residents")
    op.drop_column("residents", "district_code")
