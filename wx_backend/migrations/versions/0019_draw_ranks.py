"""Each drawn draw's ranking as rows (``draw_ranks``), so that a resident's rank is read,
not recomputed from the whole pool; draws drawn before this revision get theirs here.

The backfill redoes step 5 of ``wxb-draw-1`` (docs/draw.md) from what each draw already
published: ``entries.txt`` and the seed in ``result.json``.

Revision ID: 0019
Revises: 0016
Created: 2026-12-08
"""

import hashlib
import hmac
import json

import sqlalchemy as sa
from alembic import op

revision = "0019"
down_revision = "0016"
branch_labels = None
depends_on = None


def _ranked(entries: bytes, seed: bytes) -> list[str]:
    numbers = entries.decode("ascii").split("\n")[:-1]
    scores = {number: hmac.digest(seed, number.encode("ascii"), hashlib.sha256)
              for number in numbers}
    return sorted(numbers, key=scores.__getitem__)


def upgrade():
    op.create_table(
        "draw_ranks",
        sa.Column("draw_id", sa.BigInteger(), sa.ForeignKey("draws.id", ondelete="CASCADE"),
                  primary_key=True),
        sa.Column("reservation_no", sa.String(8), primary_key=True),
        sa.Column("rank", sa.Integer(), nullable=False),
    )
    connection = op.get_bind()
    drawn = connection.execute(sa.text(
        "SELECT id, entries_text, result FROM draws WHERE status = 'drawn'")).all()
    for draw_id, entries, result in drawn:
        seed = bytes.fromhex(json.loads(bytes(result))["seed"])
        connection.execute(sa.text(
            "INSERT INTO draw_ranks (draw_id, reservation_no, rank) "
            "SELECT :draw, number, position FROM unnest(CAST(:numbers AS varchar[])) "
            "WITH ORDINALITY AS ranked(number, position)"),
            {"draw": draw_id, "numbers": _ranked(bytes(entries), seed)})


def downgrade():
    op.drop_table("draw_ranks")
