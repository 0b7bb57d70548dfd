"""Encryption at rest, key rotation, blind indexes and masks."""

from __future__ import annotations

import pytest

from wx_backend.core.pii import (
    PiiKeyError,
    PiiVault,
    mask_id_number,
    mask_id_public,
    mask_name,
    mask_phone,
    new_key_spec,
    parse_key,
)


def vault(current, old=""):
    return PiiVault(current, old, "ix:" + "A" * 43 + "=")


def test_round_trip_hides_the_value_and_names_its_key():
    keys = vault(new_key_spec("k1"))

    stored = keys.encrypt("110105198506150014", "resident.id_number")

    assert stored.startswith("k1$")
    assert "110105" not in stored
    assert keys.decrypt(stored, "resident.id_number") == "110105198506150014"
    assert keys.encrypt("same", "p") != keys.encrypt("same", "p")


def test_rotation_reads_old_values_and_writes_with_the_new_key():
    old_key = new_key_spec("k1")
    before = vault(old_key).encrypt("张三", "resident.name")

    rotated = vault(new_key_spec("k2"), old=old_key)

    assert rotated.decrypt(before, "resident.name") == "张三"
    assert rotated.needs_rotation(before)
    assert rotated.encrypt("张三", "resident.name").startswith("k2$")


def test_value_moved_to_another_column_does_not_decrypt():
    keys = vault(new_key_spec())
    stored = keys.encrypt("13812345678", "resident.phone")

    with pytest.raises(PiiKeyError):
        keys.decrypt(stored, "resident.name")


def test_unknown_key_id_is_a_clear_error():
    stored = vault(new_key_spec("gone")).encrypt("x", "p")

    with pytest.raises(PiiKeyError, match="no key 'gone'"):
        vault(new_key_spec("k9")).decrypt(stored, "p")


def test_blind_index_is_stable_and_purpose_bound():
    one, two = vault(new_key_spec("a")), vault(new_key_spec("b"))

    assert one.blind_index("13812345678", "phone") == two.blind_index("13812345678", "phone")
    assert one.blind_index("13812345678", "phone") != one.blind_index("13812345678", "other")


@pytest.mark.parametrize("spec", ["k1:notbase64!", "k1:" + "QUJD", "bad id!:" + "A" * 44])
def test_malformed_keys_are_refused(spec):
    with pytest.raises(PiiKeyError):
        parse_key(spec)


def test_masks():
    assert mask_name("张三") == "张*"
    assert mask_name("张三丰") == "张*丰"
    assert mask_id_number("11010519491231002X") == "110105********002X"
    assert mask_phone("13812345678") == "138****5678"


@pytest.mark.parametrize("number, shown", [
    ("410105198506150014", "4101**************"),   # resident ID card, 郑州金水
    ("11010519491231002X", "1101**************"),   # ends in X
    ("810000199408230017", "8100**************"),   # Hong Kong residents' permit
    ("830000200102030022", "8300**************"),   # Taiwan residents' permit
    ("931840198506150016", "931***************"),   # 2023 permanent residence card
    ("USA318506150012", "***31**********"),        # 2017 permanent residence card
])
def test_the_public_mask_keeps_the_region_only(number, shown):
    assert mask_id_public(number) == shown
    # A list frozen with the older mask reads the same once masked again.
    assert mask_id_public(mask_id_number(number)) == shown


def test_rotation_command_moves_every_value_to_the_new_key(make_app, residents, ids, sql,
                                                           base_config):
    number = ids()
    residents.verified("alice", number, "13812345678", name="张三")
    new_key = new_key_spec("t2")
    rotated = make_app(PII_KEY=new_key, PII_OLD_KEYS=base_config["PII_KEY"])

    result = rotated.test_cli_runner().invoke(args=["residents", "rotate-keys"])

    assert result.exit_code == 0, result.output
    assert "residents: 1 rows" in result.output and "sms_outbox: 1 rows" in result.output
    assert sql("SELECT count(*) FROM residents WHERE id_number LIKE 't1$%'") == [(0,)]
    new_only = make_app(PII_KEY=new_key, PII_OLD_KEYS="").test_client()
    token = new_only.post("/api/v1/auth/login", json={"code": "dev-alice"}).json["token"]
    profile = new_only.get("/api/v1/me/profile", headers={"Authorization": f"Bearer {token}"})
    assert profile.json["id_number"] == number[:6] + "********" + number[-4:]
