"""A fuzhou (lottery) campaign over several draws: entries, commitments published before the
draw, winners drawn with a public value, non-winners carried over, re-entry after N days,
and the public page and files anyone can verify."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from pathlib import Path

import pytest

from tests.worlds import auth, build, now, residents
from wx_backend.campaigns import manage
from wx_backend.campaigns.rules import load_preset
from wx_backend.extensions import db
from wx_backend.lottery import draw, pool
from wx_backend.models import Entry


@pytest.fixture
def fuzhou(app) -> int:
    with app.app_context():
        campaign = manage.create_campaign(db.session, "fuzhou-test", load_preset("fuzhou"),
                                             now() - timedelta(hours=1), preset="fuzhou")
        db.session.commit()
        return campaign.id


def enter(client, campaign_id: int, token: str):
    return client.post(f"/api/v1/campaigns/{campaign_id}/entries", headers=auth(token))


def statuses(app, campaign_id: int) -> dict[str, str]:
    with app.app_context():
        return dict(db.session.execute(db.select(Entry.reservation_no, Entry.status)
                                       .where(Entry.campaign_id == campaign_id)).all())


def commit(app, campaign_id: int, quota: int) -> int:
    with app.app_context():
        made = pool.commit_draw(db.session, campaign_id, quota, now())
        db.session.commit()
        return made.id


def run(app, draw_id: int, public_value: str, at=None) -> list[str]:
    with app.app_context():
        winners = pool.run_draw(db.session, draw_id, public_value, at or now())
        db.session.commit()
        return winners


def test_entries_get_distinct_reservation_numbers_once_per_person(app, client, fuzhou):
    people = residents(app, 5)
    answers = [enter(client, fuzhou, p.token) for p in people]

    assert [a.status_code for a in answers] == [201] * 5
    numbers = [a.json["reservation_no"] for a in answers]
    assert len(set(numbers)) == 5 and all(len(n) == 8 and n.isdigit() for n in numbers)
    again = enter(client, fuzhou, people[0].token)
    assert again.status_code == 409
    assert again.json["error"]["code"] == "already_entered"
    assert again.json["error"]["reservation_no"] == numbers[0]
    mine = client.get("/api/v1/me/entries", headers=auth(people[1].token)).json["entries"]
    assert [(e["reservation_no"], e["status"]) for e in mine] == [(numbers[1], "pooled")]


def test_one_person_entering_twice_at_once_gets_one_entry(app, fuzhou):
    (person,) = residents(app, 1)

    def attempt(_):
        with app.test_client() as parallel:
            return enter(parallel, fuzhou, person.token).status_code

    with ThreadPoolExecutor(max_workers=8) as pool:
        codes = list(pool.map(attempt, range(8)))

    assert codes.count(201) == 1 and codes.count(409) == 7
    assert len(statuses(app, fuzhou)) == 1


def test_entries_are_refused_where_they_do_not_belong(app, client, fuzhou):
    world = build(app)
    (person,) = residents(app, 1)
    refused = enter(client, world.campaign_id, person.token)
    assert refused.status_code == 409 and refused.json["error"]["code"] == "not_a_lottery"

    unverified = client.post("/api/v1/auth/login", json={"code": "dev-no-profile"}).json["token"]
    incomplete = enter(client, fuzhou, unverified)
    assert incomplete.status_code == 409
    assert incomplete.json["error"]["code"] == "profile_incomplete"
    assert enter(client, 999999, person.token).status_code == 404
    assert client.post(f"/api/v1/campaigns/{fuzhou}/entries").status_code == 401


def test_several_draws_carry_non_winners_over_and_winners_wait_to_enter_again(
        app, client, fuzhou, tmp_path):
    people = residents(app, 6)
    numbers = [enter(client, fuzhou, p.token).json["reservation_no"] for p in people[:5]]

    first = commit(app, fuzhou, quota=2)
    late = enter(client, fuzhou, people[5].token).json["reservation_no"]  # after the commitment
    page = client.get(f"/public/draws/{first}")
    assert page.status_code == 200 and "尚未开奖" in page.get_data(as_text=True)
    with pytest.raises(Exception, match="尚未开奖"):
        commit(app, fuzhou, quota=1)

    winners = run(app, first, "公证员现场输入 4821")
    assert len(winners) == 2 and set(winners) <= set(numbers) and late not in winners
    now_status = statuses(app, fuzhou)
    assert {n for n, s in now_status.items() if s == "won"} == set(winners)
    assert {n for n, s in now_status.items() if s == "pooled"} == (
        set(numbers) - set(winners)) | {late}

    folder = tmp_path / "first"
    folder.mkdir()
    for name in draw.FILES:
        answer = client.get(f"/public/draws/{first}/{name}")
        assert answer.status_code == 200
        (folder / name).write_bytes(answer.data)
    assert draw.verify(folder).ok
    looked_up = client.get(f"/public/draws/{first}", query_string={"reservation_no": winners[0]})
    assert "排名第 1 位" in looked_up.get_data(as_text=True)

    second = commit(app, fuzhou, quota=10)
    second_winners = run(app, second, "公证员现场输入 0093")
    assert set(second_winners) == (set(numbers) - set(winners)) | {late}
    with pytest.raises(Exception, match="已开奖"):
        run(app, second, "again")

    winner = people[numbers.index(winners[0])]
    with app.app_context():
        db.session.execute(db.update(Entry).where(Entry.reservation_no == winners[0])
                           .values(status="claimed"))
        db.session.commit()
    too_soon = enter(client, fuzhou, winner.token)
    assert too_soon.status_code == 409 and too_soon.json["error"]["code"] == "reenter_later"
    with app.app_context():
        db.session.execute(db.update(Entry).where(Entry.reservation_no == winners[0])
                           .values(won_at=now() - timedelta(days=11)))
        db.session.commit()
    assert enter(client, fuzhou, winner.token).status_code == 201


def test_draw_files_and_pages_refuse_what_does_not_exist(app, client, fuzhou):
    (person,) = residents(app, 1)
    enter(client, fuzhou, person.token)
    committed = commit(app, fuzhou, quota=1)
    assert client.get(f"/public/draws/{committed}/result.json").status_code == 404
    assert client.get(f"/public/draws/{committed}/other.txt").status_code == 404
    assert client.get("/public/draws/999").status_code == 404
    bad = client.get(f"/public/draws/{committed}", query_string={"reservation_no": "12ab"})
    assert "8位数字" in bad.get_data(as_text=True)
    with pytest.raises(Exception, match="public value"):
        run(app, committed, "   ")


def test_the_operator_commands_commit_draw_and_export(app, client, fuzhou, tmp_path):
    people = residents(app, 4)
    for p in people:
        enter(client, fuzhou, p.token)
    runner = app.test_cli_runner()

    committed = runner.invoke(args=["lottery", "commit-draw", "--campaign", str(fuzhou),
                                    "--quota", "2"])
    assert committed.exit_code == 0, committed.output
    draw_id = committed.output.split()[1]
    drawn = runner.invoke(args=["lottery", "run-draw", "--draw", draw_id,
                                "--public-value", "7391 0284"])
    assert "2 winners" in drawn.output
    exported = runner.invoke(args=["lottery", "export", "--draw", draw_id,
                                   str(tmp_path / "out")])
    assert exported.exit_code == 0, exported.output
    verified = runner.invoke(args=["lottery", "verify", str(tmp_path / "out")])
    assert verified.exit_code == 0 and "matches" in verified.output
    empty = runner.invoke(args=["lottery", "commit-draw", "--campaign", str(fuzhou),
                                "--quota", "-1"])
    assert empty.exit_code != 0
    assert Path(tmp_path / "out" / "ranking.csv").read_text().count("\n") == 5


def give_address(app, resident_id: int) -> None:
    from wx_backend.models import Resident

    with app.app_context():
        db.session.get(Resident, resident_id).address = "福州市鼓楼区五四路100号3单元201"
        db.session.commit()


def test_winners_are_told_claim_in_time_and_lapsed_units_return_to_the_next_draw(
        app, client, fuzhou):
    from tests.official import run_jobs
    from wx_backend.jobs import tasks

    people = residents(app, 4)
    numbers = {enter(client, fuzhou, p.token).json["reservation_no"]: p for p in people}
    runner = app.test_cli_runner()
    draw_id = runner.invoke(args=["lottery", "commit-draw", "--campaign", str(fuzhou),
                                  "--quota", "2"]).output.split()[1]
    told = runner.invoke(args=["lottery", "run-draw", "--draw", draw_id,
                               "--public-value", "1234"])
    assert "2 messages queued" in told.output, told.output
    run_jobs(app)
    with app.app_context():
        won = db.session.execute(db.select(Entry.id, Entry.reservation_no, Entry.resident_id)
                                 .where(Entry.status == "won").order_by(Entry.id)).all()
    texts = [m["text"] for m in client.get("/dev/outbox").json["sms"]]
    assert sorted(t for t in texts if "中签" in t) == sorted(
        t for t in texts if any(w.reservation_no in t for w in won))
    assert len([t for t in texts if "中签" in t]) == 2

    first, second = won
    first_token = numbers[first.reservation_no].token
    no_address = client.post(f"/api/v1/entries/{first.id}/claim", headers=auth(first_token),
                             json={"fulfilment": "express"})
    assert no_address.status_code == 409
    assert no_address.json["error"]["code"] == "address_required"
    give_address(app, first.resident_id)
    wrong_way = client.post(f"/api/v1/entries/{first.id}/claim", headers=auth(first_token),
                            json={"fulfilment": "pickup"})
    # A way of collecting the API knows, which this campaign's rules do not offer.
    assert (wrong_way.status_code, wrong_way.json["error"]["code"]) == (
        409, "fulfilment_unavailable")
    assert client.post(f"/api/v1/entries/{second.id}/claim", headers=auth(first_token),
                       json={"fulfilment": "express"}).status_code == 404
    claimed = client.post(f"/api/v1/entries/{first.id}/claim", headers=auth(first_token),
                          json={"fulfilment": "express"})
    assert claimed.status_code == 200 and claimed.json["status"] == "claimed"
    assert client.post(f"/api/v1/entries/{first.id}/claim", headers=auth(first_token),
                       json={"fulfilment": "express"}).json["error"]["code"] == "already_claimed"
    loser = next(p for n, p in numbers.items() if n not in {w.reservation_no for w in won})
    with app.app_context():
        loser_entry = db.session.scalars(db.select(Entry.id).where(
            Entry.resident_id == loser.id)).one()
    assert client.post(f"/api/v1/entries/{loser_entry}/claim", headers=auth(loser.token),
                       json={"fulfilment": "express"}).json["error"]["code"] == "not_won"

    # The second winner lets the deadline pass.
    with app.app_context():
        db.session.execute(db.update(Entry).where(Entry.id == second.id)
                           .values(claim_deadline=now() - timedelta(minutes=1)))
        db.session.commit()
        from wx_backend.jobs import schedule
        planned = schedule.planned(now() - timedelta(hours=1), now() + timedelta(hours=1))
        assert any(p.task == "lapse_wins" for p in planned)
        assert tasks.HANDLERS["lapse_wins"]() == {"lapsed": 1}
    late = client.post(f"/api/v1/entries/{second.id}/claim",
                       headers=auth(numbers[second.reservation_no].token),
                       json={"fulfilment": "express"})
    assert late.status_code == 409 and late.json["error"]["code"] == "not_won"

    next_draw = commit(app, fuzhou, quota=1)
    with app.app_context():
        from wx_backend.models import Draw
        made = db.session.get(Draw, next_draw)
        assert (made.quota, made.returned) == (2, 1)
        assert draw.load_commitment(made.commitment).quota == 2
    assert len(run(app, next_draw, "5678")) == 2


def test_the_official_account_tells_a_linked_resident_their_entry(app, client, fuzhou):
    from tests.official import OfficialAccount
    from wx_backend.models import Follower

    (person,) = residents(app, 1)
    number = enter(client, fuzhou, person.token).json["reservation_no"]
    with app.app_context():
        db.session.add(Follower(openid="o-entrant", resident_id=person.id, subscribed=True))
        db.session.commit()

    answer = OfficialAccount(app, client).say("o-entrant", "查询").content
    assert number in answer and "等待摇号" in answer


def test_a_scheduled_draw_commits_then_draws_with_the_beacons_next_round(
        app, client, fuzhou, tmp_path):
    import time

    from wx_backend.dev.fakes.beacon import randomness
    from wx_backend.jobs import schedule, tasks
    from wx_backend.lottery.beacon import BeaconUnavailable
    from wx_backend.models import Draw

    # The app asks the run's fake beacon (conftest.fake_beacon).
    with app.app_context():
        plans = schedule.planned(now() - timedelta(days=2), now() + timedelta(days=2))
    planned = {(p.task, p.args) for p in plans}
    assert ("commit_scheduled_draw", (fuzhou,)) in planned
    assert ("run_scheduled_draw", (fuzhou,)) in planned

    people = residents(app, 3)
    for person in people:
        enter(client, fuzhou, person.token)
    with app.app_context():
        committed = tasks.HANDLERS["commit_scheduled_draw"](fuzhou)
        assert committed["quota"] == 20000
        assert tasks.HANDLERS["commit_scheduled_draw"](fuzhou) == {"skipped": "draw_pending"}
        deadline = time.time() + 15
        while True:
            try:
                drawn = tasks.HANDLERS["run_scheduled_draw"](fuzhou)
                break
            except BeaconUnavailable:
                assert time.time() < deadline, "the beacon's next round never came"
                time.sleep(0.5)
        assert drawn["winners"] == 3 and drawn["told"] == 3
        made = db.session.get(Draw, committed["draw"])
        assert made.public_value == (f"drand round {drawn['round']} randomness "
                                     f"{randomness(drawn['round'])}")
        files = pool.published_files(made)
    folder = tmp_path / "scheduled"
    folder.mkdir()
    for name, data in files.items():
        (folder / name).write_bytes(data)
    assert draw.verify(folder).ok


def test_special_group_members_win_a_free_portion_outside_the_draw(app, client, tmp_path):
    from tests.factories import IdNumbers

    rules = load_preset("fuzhou")
    rules["lottery"]["special_groups_free"] = True
    with app.app_context():
        campaign = manage.create_campaign(db.session, "fuzhou-low-income", rules,
                                             now() - timedelta(hours=1), preset="fuzhou")
        db.session.commit()
        campaign_id = campaign.id
    from tests.conftest import Residents

    numbers = IdNumbers()
    member_number = numbers()
    member_token = Residents(client).verified("low-income", member_number, "13500000001")
    (other,) = residents(app, 1)
    listing = tmp_path / "low-income.csv"
    runner = app.test_cli_runner()
    listing.write_text(f"id_number\n{member_number}\n11010519491231002Y\n")
    bad = runner.invoke(args=["lottery", "special-group", "--campaign", str(campaign_id),
                              "--group", "低保户", str(listing)])
    assert bad.exit_code != 0 and "第3行" in bad.output and "nothing was imported" in bad.output
    listing.write_text(f"id_number\n{member_number}\n{numbers()}\n")
    done = runner.invoke(args=["lottery", "special-group", "--campaign", str(campaign_id),
                               "--group", "低保户", str(listing)])
    assert "2 members added" in done.output, done.output

    won = enter(client, campaign_id, member_token)
    pooled = enter(client, campaign_id, other.token)
    assert (won.json["status"], won.json["special_group"]) == ("won", "低保户")
    assert won.json["claim_deadline"]
    assert pooled.json["status"] == "pooled"
    with app.app_context():
        made = pool.commit_draw(db.session, campaign_id, 1, now())
        assert made.entries_text.decode().split() == [pooled.json["reservation_no"]]


def test_entries_after_the_last_draw_are_refused(app, client):
    rules = load_preset("fuzhou")
    rules["lottery"]["entries_until"] = (now() - timedelta(minutes=1)).isoformat()
    with app.app_context():
        campaign = manage.create_campaign(db.session, "fuzhou-closed", rules,
                                             now() - timedelta(days=3), preset="fuzhou")
        db.session.commit()
        campaign_id = campaign.id
    (person,) = residents(app, 1)

    late = enter(client, campaign_id, person.token)

    assert late.status_code == 409 and late.json["error"]["code"] == "entries_closed"
    assert statuses(app, campaign_id) == {}
