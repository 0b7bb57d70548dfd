"""Notifications (deliveries, subscribe consents, official-account followers), the record of
scheduled runs, campaign notification settings and the outbox's delivery keys.

Revision ID: 0003
Revises: 0002
Created: 2026-11-22
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

TZ = sa.DateTime(timezone=True)


def upgrade():
    op.create_table(
        "deliveries",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), primary_key=True),
        sa.Column("event", sa.String(40), nullable=False),
        sa.Column("subject_id", sa.BigInteger(), nullable=False),
        sa.Column("campaign_id", sa.BigInteger(), sa.ForeignKey("campaigns.id"), nullable=True),
        sa.Column("resident_id", sa.BigInteger(), sa.ForeignKey("residents.id"),
                  nullable=False),
        sa.Column("channel", sa.String(16), nullable=False),
        sa.Column("recipient", sa.String(80), nullable=False),
        sa.Column("status", sa.String(12), nullable=False, server_default="queued"),
        sa.Column("attempts", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("batch", sa.String(32), nullable=True),
        sa.Column("claimed_at", TZ, nullable=True),
        sa.Column("claimed_until", TZ, nullable=True),
        sa.Column("next_attempt_at", TZ, nullable=False, server_default=sa.text("now()")),
        sa.Column("provider", sa.String(16), nullable=True),
        sa.Column("provider_message_id", sa.String(80), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("created_at", TZ, nullable=False, server_default=sa.text("now()")),
        sa.Column("sent_at", TZ, nullable=True),
        sa.Column("failed_at", TZ, nullable=True),
        sa.UniqueConstraint("event", "subject_id", "channel", "recipient",
                            name="uq_deliveries_once"),
        sa.CheckConstraint("channel IN ('sms', 'wx_subscribe', 'wx_template')",
                           name="ck_deliveries_channel"),
        sa.CheckConstraint("status IN ('queued', 'sending', 'retry', 'sent', 'failed')",
                           name="ck_deliveries_status"),
    )
    op.create_index("ix_deliveries_resident_id", "deliveries", ["resident_id"])
    op.create_index("ix_deliveries_batch", "deliveries", ["batch"])
    # What the sweep looks at: everything not yet settled, by when it is due.
    op.create_index("ix_deliveries_open", "deliveries", ["status", "next_attempt_at"],
                    postgresql_where=sa.text("status IN ('queued', 'sending', 'retry')"))
    op.create_index("ix_deliveries_failed", "deliveries", ["failed_at"],
                    postgresql_where=sa.text("status = 'failed'"))

    op.create_table(
        "subscribe_consents",
        sa.Column("resident_id", sa.BigInteger(), sa.ForeignKey("residents.id"),
                  primary_key=True),
        sa.Column("event", sa.String(40), primary_key=True),
        sa.Column("remaining", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("updated_at", TZ, nullable=False, server_default=sa.text("now()")),
        sa.CheckConstraint("remaining >= 0", name="ck_subscribe_consents_remaining"),
    )

    op.create_table(
        "followers",
        sa.Column("openid", sa.String(64), primary_key=True),
        sa.Column("unionid", sa.String(64), nullable=True),
        sa.Column("resident_id", sa.BigInteger(), sa.ForeignKey("residents.id"), nullable=True),
        sa.Column("subscribed", sa.Boolean(), nullable=False, server_default="true"),
        sa.Column("subscribed_at", TZ, nullable=True),
        sa.Column("unsubscribed_at", TZ, nullable=True),
    )
    op.create_index("ix_followers_unionid", "followers", ["unionid"])
    op.create_index("ix_followers_resident_id", "followers", ["resident_id"])

    op.create_table(
        "schedule_runs",
        sa.Column("task", sa.String(80), primary_key=True),
        sa.Column("moment", TZ, primary_key=True),
        sa.Column("started_at", TZ, nullable=False, server_default=sa.text("now()")),
        sa.Column("finished_at", TZ, nullable=True),
        sa.Column("result", sa.Text(), nullable=True),
    )

    op.add_column("campaigns", sa.Column("notify_settings", postgresql.JSONB(), nullable=False,
                                         server_default=sa.text("'{}'::jsonb")))
    op.create_index("ix_bookings_created_at", "bookings", ["created_at"])
    op.create_index("ix_bookings_pickup_end", "bookings", ["pickup_ends_at"],
                    postgresql_where=sa.text("status = 'confirmed'"))
    op.add_column("sms_outbox", sa.Column("delivery_key", sa.String(32), nullable=True))
    op.add_column("sms_outbox", sa.Column("batch_key", sa.String(32), nullable=True))
    op.create_index("ix_sms_outbox_batch_key", "sms_outbox", ["batch_key"])


def downgrade():
    op.drop_index("ix_sms_outbox_batch_key", table_name="sms_outbox")
    op.drop_column("sms_outbox", "batch_key")
    op.drop_column("sms_outbox", "delivery_key")
    op.drop_index("ix_bookings_pickup_end", table_name="bookings")
    op.drop_index("ix_bookings_created_at", table_name="bookings")
    op.drop_column("campaigns", "notify_settings")
    op.drop_table("schedule_runs")
    op.drop_table("followers")
    op.drop_table("subscribe_consents")
    op.drop_table("deliveries")
