"""The verifiable draw: anyone recomputes a published draw from its files, and any change to
an entry, the seed, a winner or the ranking is reported."""

from __future__ import annotations

import hashlib
import hmac
import json
import random
from pathlib import Path

import pytest
from click.testing import CliRunner

from wx_backend.cli.main import cli
from wx_backend.lottery import draw

SECRET = bytes(range(32))
PUBLIC = "上证指数 2020-03-06 收盘 3034.51"


def numbers(count: int, seed: int = 7) -> list[str]:
    return [f"{n:08d}" for n in random.Random(seed).sample(range(10**8), count)]


def published(tmp_path: Path, count: int = 500, quota: int = 20) -> Path:
    entries = draw.entries_text(numbers(count))
    commitment = draw.commit("福州第1期", entries, quota, SECRET, "2020-03-01T09:00:00+08:00")
    result = draw.draw(commitment, entries, SECRET, PUBLIC)
    folder = tmp_path / "draw"
    draw.publish(folder, entries, commitment, result)
    return folder


def test_the_algorithm_is_the_one_written_down(tmp_path):
    """Recomputed here from docs/draw.md with hashlib and hmac alone."""
    folder = published(tmp_path)
    entries = (folder / "entries.txt").read_bytes()
    commitment_file = (folder / "commitment.json").read_bytes()
    committed = json.loads(commitment_file)
    assert committed["entries_sha256"] == hashlib.sha256(entries).hexdigest()
    assert committed["secret_sha256"] == hashlib.sha256(SECRET).hexdigest()

    message = ("wxb-draw-1|" + hashlib.sha256(commitment_file).hexdigest() + "|" + PUBLIC)
    seed = hmac.new(SECRET, message.encode(), hashlib.sha256).digest()
    ranked = sorted(entries.decode().split(),
                    key=lambda n: hmac.new(seed, n.encode(), hashlib.sha256).digest())
    result = json.loads((folder / "result.json").read_bytes())

    assert result["seed"] == seed.hex()
    assert result["winners"] == ranked[:20]
    lines = (folder / "ranking.csv").read_text().splitlines()
    assert lines[0] == "rank,reservation_no,score"
    assert [line.split(",")[1] for line in lines[1:]] == ranked


def test_a_published_draw_verifies(tmp_path):
    verdict = draw.verify(published(tmp_path))
    assert verdict.ok, verdict.problems
    assert len(verdict.checked) == 5


def _edit_json(path: Path, **changes) -> None:
    data = json.loads(path.read_bytes())
    data.update(changes)
    path.write_bytes(draw.canonical_json(data))


@pytest.mark.parametrize("tamper, complaint", [
    ("entry", "entries.txt is not the list committed to"),
    ("seed", "published seed"),
    ("winner", "published winners"),
    ("ranking", "ranking.csv differs"),
    ("secret", "revealed secret"),
    ("public_value", "published seed"),
    ("quota", "another commitment"),
])
def test_any_change_to_the_published_files_is_a_mismatch(tmp_path, tamper, complaint):
    folder = published(tmp_path)
    result = folder / "result.json"
    if tamper == "entry":
        lines = (folder / "entries.txt").read_text().splitlines()
        lines[10] = f"{int(lines[10]) + 1:08d}" if f"{int(lines[10]) + 1:08d}" < lines[11] \
            else f"{int(lines[10]) - 1:08d}"
        (folder / "entries.txt").write_text("\n".join(lines) + "\n")
    elif tamper == "seed":
        _edit_json(result, seed="00" * 32)
    elif tamper == "winner":
        winners = json.loads(result.read_bytes())["winners"]
        ranking = (folder / "ranking.csv").read_text().splitlines()
        _edit_json(result, winners=winners[:-1] + [ranking[-1].split(",")[1]])
    elif tamper == "ranking":
        lines = (folder / "ranking.csv").read_text().splitlines()
        lines[1], lines[2] = lines[2], lines[1]
        (folder / "ranking.csv").write_text("\n".join(lines) + "\n")
    elif tamper == "secret":
        _edit_json(result, secret="11" * 32)
    elif tamper == "public_value":
        _edit_json(result, public_value=PUBLIC + "0")
    elif tamper == "quota":
        _edit_json(folder / "commitment.json", quota=21)

    verdict = draw.verify(folder)

    assert not verdict.ok
    assert any(complaint in problem for problem in verdict.problems), verdict.problems


def test_the_draw_refuses_what_was_not_committed(tmp_path):
    entries = draw.entries_text(numbers(50))
    commitment = draw.commit("x", entries, 5, SECRET, "2020-03-01T09:00:00+08:00")
    with pytest.raises(draw.DrawError, match="secret"):
        draw.draw(commitment, entries, b"another secret, 32 bytes long!!", PUBLIC)
    other = draw.entries_text(numbers(50, seed=8))
    with pytest.raises(draw.DrawError, match="entries differ"):
        draw.draw(commitment, other, SECRET, PUBLIC)
    with pytest.raises(draw.DrawError, match="public value"):
        draw.draw(commitment, entries, SECRET, "   ")


@pytest.mark.parametrize("bad, message", [
    (["12345678", "12345678"], "appears twice"),
    (["1234567"], "8-digit"),
    (["1234567a"], "8-digit"),
    ([12345678], "8-digit"),
])
def test_bad_entries_are_refused(bad, message):
    with pytest.raises(draw.DrawError, match=message):
        draw.entries_text(bad)


def test_a_quota_above_the_entries_makes_everyone_win(tmp_path):
    entries = draw.entries_text(numbers(3))
    commitment = draw.commit("x", entries, 10, SECRET, "t")
    assert sorted(draw.draw(commitment, entries, SECRET, PUBLIC).winners) == sorted(numbers(3))


def test_the_commands_commit_draw_verify_and_find_a_rank(tmp_path):
    runner = CliRunner()
    listing = tmp_path / "entries.in"
    listing.write_text("\n".join(numbers(300)) + "\n")
    folder, secret = tmp_path / "pub", tmp_path / "secret.hex"

    done = runner.invoke(cli, ["lottery", "commit", "--entries", str(listing), "--quota", "7",
                               "--name", "福州第2期", "--secret-file", str(secret), str(folder)])
    assert done.exit_code == 0, done.output
    assert sorted(p.name for p in folder.iterdir()) == ["commitment.json", "entries.txt"]
    assert oct(secret.stat().st_mode & 0o777) == "0o600"

    done = runner.invoke(cli, ["lottery", "draw", "--secret-file", str(secret),
                               "--public-value", PUBLIC, str(folder)])
    assert done.exit_code == 0, done.output
    verified = runner.invoke(cli, ["lottery", "verify", str(folder)])
    assert verified.exit_code == 0 and "matches" in verified.output

    first = (folder / "ranking.csv").read_text().splitlines()[1].split(",")[1]
    found = runner.invoke(cli, ["lottery", "rank", str(folder), first])
    assert "rank 1" in found.output and "won" in found.output
    assert runner.invoke(cli, ["lottery", "rank", str(folder), "00000000x"]).exit_code != 0

    _edit_json(folder / "result.json", seed="ab" * 32)
    refused = runner.invoke(cli, ["lottery", "verify", str(folder)])
    assert refused.exit_code == 1 and "MISMATCH" in refused.output


def test_the_quick_draw_benchmark_runs_and_verifies():
    import subprocess

    root = Path(__file__).resolve().parents[1]
    done = subprocess.run([str(root / "scripts" / "bench_draw"), "--quick"], cwd=root,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "100,000 entries" in done.stdout and "verification: matches" in done.stdout
