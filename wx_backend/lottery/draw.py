"""A draw anyone can recompute: commit, add a public value nobody knew, rank, publish.

Algorithm ``wxb-draw-1`` (written out for residents in ``docs/draw.md``):

1. **Entries.** The entries' 8-digit reservation numbers, sorted ascending, one per line,
   each line ending in ``\\n``, UTF-8: the file ``entries.txt``.
2. **Commitment**, published before the draw (``commitment.json``): the algorithm, the
   draw's name, the number of entries, SHA-256 of ``entries.txt``, the quota, and
   SHA-256 of a 32-byte secret the operator keeps until the draw.
3. **Public value**, chosen at the draw by someone the operator does not control (typed
   by the notary or the witnesses, or a public randomness beacon's output): any text,
   taken as its Unicode NFC form with outer blanks removed.
4. **Seed** = HMAC-SHA256(key = secret, message = ``wxb-draw-1|`` + SHA-256 of the
   commitment file (hex) + ``|`` + public value). The operator cannot steer it (the
   public value came after the commitment); the public cannot either (the secret was
   hidden); and the commitment cannot be changed after (its digest is in the seed).
5. **Rank**: each entry's score is HMAC-SHA256(key = seed, message = reservation number);
   entries are ranked by score (as bytes), lowest first, ties (never seen) by number.
   The first ``quota`` ranks win.
6. **Result**, published after the draw: ``result.json`` (the public value, the secret,
   the seed, the winners) and ``ranking.csv`` (rank, reservation number, score) with every
   entry, so each resident can find their own rank.

``verify`` recomputes all of it from the four files and names what does not match.
Plain functions, no Flask: the operator's commands, the scheduled draw job and the
verification command all use them.
"""

from __future__ import annotations

import csv
import hashlib
import hmac
import io
import json
import re
import secrets
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path

ALGORITHM = "wxb-draw-1"
RESERVATION = re.compile(r"^[0-9]{8}$")
FILES = ("entries.txt", "commitment.json", "result.json", "ranking.csv")


class DrawError(ValueError):
    """The draw's input is not acceptable; the message says what and where."""


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def entries_text(numbers) -> bytes:
    """``entries.txt``: the reservation numbers sorted, one per line; refuses bad ones."""
    ordered = sorted(numbers)
    for number in ordered:
        if not isinstance(number, str) or not RESERVATION.match(number):
            raise DrawError(f"not an 8-digit reservation number: {number!r}")
    for previous, number in zip(ordered, ordered[1:]):
        if previous == number:
            raise DrawError(f"reservation number {number} appears twice")
    return "".join(f"{number}\n" for number in ordered).encode("ascii")


def parse_entries(text: bytes) -> list[str]:
    """The numbers of an ``entries.txt``, checked to be sorted, distinct and well formed."""
    try:
        lines = text.decode("ascii").split("\n")
    except UnicodeDecodeError:
        raise DrawError("entries.txt is not plain ASCII") from None
    if lines[-1] != "":
        raise DrawError("entries.txt must end with a newline")
    numbers = lines[:-1]
    for line_no, number in enumerate(numbers, start=1):
        if not RESERVATION.match(number):
            raise DrawError(f"entries.txt line {line_no}: {number!r} is not 8 digits")
    if any(a >= b for a, b in zip(numbers, numbers[1:])):
        raise DrawError("entries.txt is not sorted ascending without repeats")
    return numbers


def public_value_text(value: str) -> str:
    """The public value as it enters the seed: NFC, no outer blanks, not empty."""
    text = unicodedata.normalize("NFC", value or "").strip()
    if not text or len(text) > 500:
        raise DrawError("the public value must have 1 to 500 characters")
    return text


def canonical_json(data: dict) -> bytes:
    """The one byte form a published JSON file has (sorted keys, UTF-8, final newline)."""
    return (json.dumps(data, ensure_ascii=False, sort_keys=True, indent=2) + "\n").encode()


@dataclass(frozen=True)
class Commitment:
    """What is published before the draw."""

    name: str
    entries_count: int
    entries_sha256: str
    quota: int
    secret_sha256: str
    committed_at: str
    algorithm: str = ALGORITHM

    def as_json(self) -> bytes:
        return canonical_json({"algorithm": self.algorithm, "name": self.name,
                               "entries_count": self.entries_count,
                               "entries_sha256": self.entries_sha256, "quota": self.quota,
                               "secret_sha256": self.secret_sha256,
                               "committed_at": self.committed_at})

    @property
    def digest(self) -> str:
        return _sha256(self.as_json())


def new_secret() -> bytes:
    """32 random bytes, kept by the operator until the draw."""
    return secrets.token_bytes(32)


def commit(name: str, entries: bytes, quota: int, secret: bytes,
           committed_at: str) -> Commitment:
    """The commitment to ``entries`` (an ``entries.txt``) for a draw of ``quota`` winners."""
    if isinstance(quota, bool) or not isinstance(quota, int) or quota < 0:
        raise DrawError("the quota must be a whole number >= 0")
    if len(secret) < 16:
        raise DrawError("the secret must have at least 16 bytes")
    count = len(parse_entries(entries))
    return Commitment(name=name, entries_count=count, entries_sha256=_sha256(entries),
                      quota=quota, secret_sha256=_sha256(secret), committed_at=committed_at)


def seed_for(secret: bytes, commitment: Commitment, public_value: str) -> bytes:
    """The seed: HMAC-SHA256(secret, "wxb-draw-1|<commitment digest>|<public value>")."""
    message = f"{ALGORITHM}|{commitment.digest}|{public_value_text(public_value)}"
    return hmac.digest(secret, message.encode("utf-8"), "sha256")


def rank(seed: bytes, numbers: list[str]) -> list[tuple[str, bytes]]:
    """(reservation number, score) for every entry, lowest score first."""
    digest = hmac.digest
    scores = [digest(seed, number.encode("ascii"), "sha256") for number in numbers]
    # Scores are 32 random bytes: equal ones (never seen) fall back to the number, as
    # ``numbers`` is sorted and the sort is stable.
    order = sorted(range(len(numbers)), key=scores.__getitem__)
    return [(numbers[i], scores[i]) for i in order]


@dataclass
class Result:
    """What is published after the draw."""

    commitment: Commitment
    public_value: str
    secret: bytes
    seed: bytes
    ranking: list[tuple[str, bytes]] = field(repr=False)

    @property
    def winners(self) -> list[str]:
        return [number for number, _ in self.ranking[: self.commitment.quota]]

    def as_json(self) -> bytes:
        return canonical_json({"algorithm": ALGORITHM,
                               "commitment_sha256": self.commitment.digest,
                               "public_value": self.public_value,
                               "secret": self.secret.hex(), "seed": self.seed.hex(),
                               "quota": self.commitment.quota,
                               "entries_count": len(self.ranking),
                               "winners": self.winners})

    def ranking_csv(self) -> bytes:
        """``ranking.csv``, byte for byte as ``verify`` recomputes it."""
        # Not through core.tabular.spreadsheet_csv, on purpose: its bytes are part of the
        # algorithm (verify compares them, with no BOM), and no cell can start a formula:
        # a rank, eight digits and lower-case hex. Nothing a resident typed is in any of
        # the four files (entries.txt holds the numbers alone; the public value is JSON).
        out = io.StringIO()
        out.write("rank,reservation_no,score\n")
        out.writelines(f"{n},{number},{score.hex()}\n"
                       for n, (number, score) in enumerate(self.ranking, start=1))
        return out.getvalue().encode("ascii")


def draw(commitment: Commitment, entries: bytes, secret: bytes, public_value: str) -> Result:
    """Draw the committed entries with the public value; refuses anything not committed."""
    if _sha256(entries) != commitment.entries_sha256:
        raise DrawError("the entries differ from those committed to")
    if _sha256(secret) != commitment.secret_sha256:
        raise DrawError("the secret is not the one committed to")
    value = public_value_text(public_value)
    seed = seed_for(secret, commitment, value)
    return Result(commitment, value, secret, seed, rank(seed, parse_entries(entries)))


def publish(directory: Path, entries: bytes, commitment: Commitment,
            result: Result | None = None) -> None:
    """Write the draw's public files (the result ones once it is drawn)."""
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "entries.txt").write_bytes(entries)
    (directory / "commitment.json").write_bytes(commitment.as_json())
    if result is not None:
        (directory / "result.json").write_bytes(result.as_json())
        (directory / "ranking.csv").write_bytes(result.ranking_csv())


def load_commitment(data: bytes) -> Commitment:
    """A commitment from its published file."""
    try:
        fields = json.loads(data)
        return Commitment(name=str(fields["name"]), entries_count=int(fields["entries_count"]),
                          entries_sha256=str(fields["entries_sha256"]),
                          quota=int(fields["quota"]), secret_sha256=str(fields["secret_sha256"]),
                          committed_at=str(fields["committed_at"]),
                          algorithm=str(fields["algorithm"]))
    except (ValueError, KeyError, TypeError) as error:
        raise DrawError(f"commitment.json is not a commitment: {error}") from None


@dataclass
class Verdict:
    """What ``verify`` found: ``ok`` when every published figure was recomputed."""

    problems: list[str] = field(default_factory=list)
    checked: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


def verify(directory: Path) -> Verdict:
    """Recompute a published draw from its four files and say whether everything matches."""
    verdict = Verdict()
    missing = [name for name in FILES if not (directory / name).is_file()]
    if missing:
        verdict.problems.append("missing file(s): " + ", ".join(missing))
        return verdict
    entries = (directory / "entries.txt").read_bytes()
    try:
        commitment = load_commitment((directory / "commitment.json").read_bytes())
        numbers = parse_entries(entries)
        published = json.loads((directory / "result.json").read_bytes())
        secret = bytes.fromhex(str(published["secret"]))
        public_value = str(published["public_value"])
    except (DrawError, ValueError, KeyError) as error:
        verdict.problems.append(str(error))
        return verdict
    problem, check = verdict.problems.append, verdict.checked.append
    if commitment.algorithm != ALGORITHM or published.get("algorithm") != ALGORITHM:
        problem(f"unknown algorithm (this tool knows {ALGORITHM})")
        return verdict
    if _sha256(entries) != commitment.entries_sha256 or len(numbers) != commitment.entries_count:
        problem("entries.txt is not the list committed to (digest or count differs)")
    else:
        check(f"entries: {len(numbers)} reservation numbers, digest as committed")
    if _sha256(secret) != commitment.secret_sha256:
        problem("the revealed secret does not hash to the committed secret_sha256")
    else:
        check("secret: hashes to the committed value")
    if published.get("commitment_sha256") != commitment.digest:
        problem("result.json names another commitment")
    seed = seed_for(secret, commitment, public_value)
    if published.get("seed") != seed.hex():
        problem("the published seed is not HMAC-SHA256(secret, algorithm|commitment|public value)")
    else:
        check(f"seed: recomputed from the secret and the public value {public_value!r}")
    ranking = rank(seed, numbers)
    winners = [number for number, _ in ranking[: commitment.quota]]
    if published.get("quota") != commitment.quota:
        problem("result.json states another quota than the commitment")
    if published.get("winners") != winners:
        problem("the published winners are not the first quota of the recomputed ranking")
    else:
        check(f"winners: the {len(winners)} lowest scores")
    expected = Result(commitment, public_value, secret, seed, ranking).ranking_csv()
    actual = (directory / "ranking.csv").read_bytes()
    if actual != expected:
        problem("ranking.csv differs from the recomputed ranking"
                + _first_difference(actual, expected))
    else:
        check(f"ranking.csv: all {len(ranking)} ranks and scores recomputed")
    return verdict


def _first_difference(actual: bytes, expected: bytes) -> str:
    for n, (a, b) in enumerate(zip(actual.split(b"\n"), expected.split(b"\n")), start=1):
        if a != b:
            return f" (first at line {n}: {a.decode(errors='replace')!r})"
    return " (length differs)"


def rank_of(directory: Path, reservation_no: str) -> dict | None:
    """A resident's line in a published ranking, or None."""
    if not RESERVATION.match(reservation_no or ""):
        raise DrawError("a reservation number has 8 digits")
    with (directory / "ranking.csv").open(newline="") as handle:
        for row in csv.DictReader(handle):
            if row["reservation_no"] == reservation_no:
                return {"rank": int(row["rank"]), "score": row["score"]}
    return None
