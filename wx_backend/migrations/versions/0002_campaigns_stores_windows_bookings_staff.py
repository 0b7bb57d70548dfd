"""Campaigns with versioned rules, stores, windows, bookings and pharmacy staff.

Revision ID: 0002
Revises: 0001
Created: 2026-11-21
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

TZ = sa.DateTime(timezone=True)

# The database's own last guard for bookings: slot numbers within the window quota and the
# store's daily cap (uniqueness is the partial unique indexes), and no two bookings of one
# person in one campaign whose cooldowns overlap. The advisory lock serialises inserts of
# the same person, so two concurrent transactions cannot both pass the overlap check.
GUARD = """
CREATE FUNCTION bookings_guard() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.window_slot > (SELECT quota FROM windows WHERE id = NEW.window_id) THEN
        RAISE EXCEPTION 'window slot % beyond quota', NEW.window_slot
            USING ERRCODE = 'check_violation', CONSTRAINT = 'bookings_window_quota';
    END IF;
    IF NEW.store_slot > (SELECT daily_cap FROM stores WHERE id = NEW.store_id) THEN
        RAISE EXCEPTION 'store slot % beyond daily cap', NEW.store_slot
            USING ERRCODE = 'check_violation', CONSTRAINT = 'bookings_store_cap';
    END IF;
    IF NEW.holds_cooldown THEN
        PERFORM pg_advisory_xact_lock(hashtextextended(NEW.campaign_id || ':' || NEW.person_key, 0));
        IF EXISTS (SELECT 1 FROM bookings b
                   WHERE b.campaign_id = NEW.campaign_id AND b.person_key = NEW.person_key
                     AND b.holds_cooldown AND b.id <> NEW.id
                     AND b.cooldown_from < NEW.cooldown_until
                     AND NEW.cooldown_from < b.cooldown_until) THEN
            RAISE EXCEPTION 'person already holds a booking in this cooldown'
                USING ERRCODE = 'unique_violation', CONSTRAINT = 'bookings_cooldown';
        END IF;
    END IF;
    RETURN NEW;
END $$;
CREATE TRIGGER bookings_guard BEFORE INSERT ON bookings
    FOR EACH ROW EXECUTE FUNCTION bookings_guard();
"""


def upgrade():
    op.create_table(
        "campaigns",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), primary_key=True),
        sa.Column("slug", sa.String(64), nullable=False, unique=True),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("preset", sa.String(32)),
        sa.Column("reservation_key", sa.String(64), nullable=False),
        sa.Column("created_at", TZ, server_default=sa.text("now()"), nullable=False),
    )
    op.create_table(
        "rules_versions",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), primary_key=True),
        sa.Column("campaign_id", sa.BigInteger(),
                  sa.ForeignKey("campaigns.id", ondelete="CASCADE"), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("effective_at", TZ, nullable=False),
        sa.Column("rules", postgresql.JSONB(), nullable=False),
        sa.Column("note", sa.Text()),
        sa.Column("created_at", TZ, server_default=sa.text("now()"), nullable=False),
        sa.UniqueConstraint("campaign_id", "version"),
    )
    op.create_table(
        "stores",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), primary_key=True),
        sa.Column("campaign_id", sa.BigInteger(),
                  sa.ForeignKey("campaigns.id", ondelete="CASCADE"), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("address", sa.String(300), nullable=False),
        sa.Column("district", sa.String(50), nullable=False),
        sa.Column("lat", sa.Float(), nullable=False),
        sa.Column("lng", sa.Float(), nullable=False),
        sa.Column("daily_cap", sa.Integer(), nullable=False),
        sa.Column("opening_hours", sa.String(100), nullable=False),
        sa.Column("active", sa.Boolean(), server_default="true", nullable=False),
        sa.UniqueConstraint("campaign_id", "name"),
        sa.CheckConstraint("daily_cap >= 0", name="ck_stores_daily_cap"),
        sa.CheckConstraint("lat BETWEEN -90 AND 90 AND lng BETWEEN -180 AND 180",
                           name="ck_stores_coordinates"),
    )
    op.create_index("ix_stores_campaign_id", "stores", ["campaign_id"])
    op.create_table(
        "windows",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), primary_key=True),
        sa.Column("campaign_id", sa.BigInteger(),
                  sa.ForeignKey("campaigns.id", ondelete="CASCADE"), nullable=False),
        sa.Column("opens_at", TZ, nullable=False),
        sa.Column("closes_at", TZ, nullable=False),
        sa.Column("quota", sa.Integer(), nullable=False),
        sa.Column("pickup_date", sa.Date(), nullable=False),
        sa.Column("rules_version", sa.Integer(), nullable=False),
        sa.UniqueConstraint("campaign_id", "opens_at"),
        sa.CheckConstraint("closes_at > opens_at", name="ck_windows_span"),
        sa.CheckConstraint("quota > 0", name="ck_windows_quota"),
    )
    op.create_index("ix_windows_campaign_id", "windows", ["campaign_id"])
    op.create_table(
        "staff",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), primary_key=True),
        sa.Column("username", sa.String(64), nullable=False, unique=True),
        sa.Column("password_hash", sa.String(256), nullable=False),
        sa.Column("store_id", sa.BigInteger(), sa.ForeignKey("stores.id"), nullable=False),
        sa.Column("active", sa.Boolean(), server_default="true", nullable=False),
        sa.Column("created_at", TZ, server_default=sa.text("now()"), nullable=False),
    )
    op.create_index("ix_staff_store_id", "staff", ["store_id"])
    op.create_table(
        "bookings",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), primary_key=True),
        sa.Column("campaign_id", sa.BigInteger(), sa.ForeignKey("campaigns.id"), nullable=False),
        sa.Column("window_id", sa.BigInteger(), sa.ForeignKey("windows.id"), nullable=False),
        sa.Column("store_id", sa.BigInteger(), sa.ForeignKey("stores.id"), nullable=False),
        sa.Column("resident_id", sa.BigInteger(), sa.ForeignKey("residents.id"), nullable=False),
        sa.Column("person_key", sa.String(64), nullable=False),
        sa.Column("rules_version", sa.Integer(), nullable=False),
        sa.Column("seq", sa.BigInteger(), nullable=False),
        sa.Column("reservation_no", sa.String(8), nullable=False),
        sa.Column("pickup_code", sa.String(6), nullable=False),
        sa.Column("window_slot", sa.Integer(), nullable=False),
        sa.Column("store_slot", sa.Integer(), nullable=False),
        sa.Column("pickup_date", sa.Date(), nullable=False),
        sa.Column("pickup_starts_at", TZ, nullable=False),
        sa.Column("pickup_ends_at", TZ, nullable=False),
        sa.Column("status", sa.String(12), nullable=False),
        sa.Column("holds_unit", sa.Boolean(), nullable=False),
        sa.Column("holds_cooldown", sa.Boolean(), nullable=False),
        sa.Column("cooldown_from", TZ, nullable=False),
        sa.Column("cooldown_until", TZ, nullable=False),
        sa.Column("created_at", TZ, server_default=sa.text("now()"), nullable=False),
        sa.Column("cancelled_at", TZ),
        sa.Column("collected_at", TZ),
        sa.Column("collected_by", sa.BigInteger(), sa.ForeignKey("staff.id")),
        sa.Column("delegate_name", sa.Text()),
        sa.Column("delegate_id_number", sa.Text()),
        sa.Column("expired_at", TZ),
        sa.UniqueConstraint("campaign_id", "reservation_no", name="uq_bookings_reservation_no"),
        sa.UniqueConstraint("campaign_id", "seq", name="uq_bookings_seq"),
        sa.CheckConstraint("status IN ('confirmed', 'collected', 'cancelled', 'expired')",
                           name="ck_bookings_status"),
        sa.CheckConstraint("window_slot >= 1 AND store_slot >= 1", name="ck_bookings_slots"),
        sa.CheckConstraint("NOT holds_unit OR status <> 'cancelled'", name="ck_bookings_cancel"),
        sa.CheckConstraint("cooldown_until >= cooldown_from", name="ck_bookings_cooldown"),
    )
    op.create_index("ix_bookings_person", "bookings", ["campaign_id", "person_key"])
    op.create_index("ix_bookings_resident_id", "bookings", ["resident_id"])
    op.create_index("ix_bookings_window_id", "bookings", ["window_id"])
    op.create_index("ix_bookings_store_day", "bookings", ["store_id", "pickup_date", "status"])
    op.create_index("uq_bookings_window_slot", "bookings", ["window_id", "window_slot"],
                    unique=True, postgresql_where=sa.text("holds_unit"))
    op.create_index("uq_bookings_store_slot", "bookings",
                    ["store_id", "pickup_date", "store_slot"], unique=True,
                    postgresql_where=sa.text("holds_unit"))
    op.execute(GUARD)


def downgrade():
    op.execute("DROP TRIGGER IF EXISTS bookings_guard ON bookings")
    op.execute("DROP FUNCTION IF EXISTS bookings_guard()")
    for table in ("bookings", "staff", "windows", "stores", "rules_versions", "campaigns"):
        op.drop_table(table)
