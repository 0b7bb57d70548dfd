"""Group commit (booking.group_commit): concurrent rows share statements, each request gets
its own row's outcome, and a row that breaks a constraint fails alone."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

from sqlalchemy import BigInteger, Column, Identity, MetaData, String, Table, select
from sqlalchemy.exc import IntegrityError

from wx_backend.booking.group_commit import GroupCommit
from wx_backend.extensions import db


def test_concurrent_rows_share_statements_and_a_duplicate_fails_alone(app):
    probe = Table("group_commit_probe", MetaData(),
                  Column("id", BigInteger, Identity(), primary_key=True),
                  Column("person", String(20), unique=True))
    with app.app_context():
        engine = db.engine
        probe.create(engine)
    try:
        group = GroupCommit(engine, probe)
        names = [f"居民{n}" for n in range(60)] + ["张三"] * 6
        def write(name):
            try:
                return name, group.insert({"person": name})
            except IntegrityError:
                return name, None

        with ThreadPoolExecutor(16) as pool:
            results = list(pool.map(write, names))

        with engine.connect() as connection:
            stored = dict(connection.execute(select(probe.c.id, probe.c.person)).all())
        written = {row_id: name for name, row_id in results if row_id is not None}
        assert written == stored  # every id answered is that request's own row
        assert sorted(stored.values()).count("张三") == 1
        assert sum(1 for name, row_id in results if row_id is None) == 5
        assert group.statements < group.rows  # rows of concurrent requests went together
    finally:
        probe.drop(engine)
