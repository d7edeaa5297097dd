"""A dishonest server against the unmodified trustee and voter clients.

Each test puts a malicious server stand-in (tests/mitm_support.py) at the
origin the clients use, in front of the real server, and plays one attack of
docs/threat-model.md: the clients must refuse, with a message that says why,
from signed board data and keys they pinned, never from the server's word.
"""

from __future__ import annotations

import json

import pytest

from crypto import threshold
from crypto.ballots import ceremony_fingerprint, election_fingerprint, format_fingerprint, selection_ciphertexts
from crypto.credentials import TrustStore, sign_endorsement
from crypto.elgamal import KeyPair
from crypto.group import Point
from tests.mitm_support import Mitm, Reply, Request
from tests.support import manifest
from voting.client import Client, KeyRefusal, TrusteeRefusal, trustee_ceremony_step

VOTERS = [f"E{i:04d}" for i in range(1, 7)]


def _cast(pilot, election_id: str, voters: list[str]) -> dict:
    ciphertexts = {}
    for number, employee_id in enumerate(voters):
        voter = pilot.login(pilot.pki.enroll(employee_id))
        prepared = voter.prepare_ballot(election_id, {"q1": [f"o{number % 5}"]})
        voter.cast(prepared)
        ciphertexts[employee_id] = [c.to_json() for c in selection_ciphertexts(prepared.ballot)]
    return ciphertexts


def _closed_election(pilot, voters: list[str] = VOTERS, **manifest_fields) -> tuple[str, dict]:
    election_id = pilot.open_election(manifest(**manifest_fields), voters)
    ciphertexts = _cast(pilot, election_id, voters)
    pilot.admin.close_election(election_id)
    return election_id, ciphertexts


# --- attack 1: decrypting one ballot by passing it off as the aggregate ---------------------------


@pytest.mark.slow
def test_trustee_decrypts_the_boards_aggregate_not_what_the_server_calls_the_aggregate(pilot, front):
    election_id, ciphertexts = _closed_election(pilot)
    victim = ciphertexts[VOTERS[0]]

    def append_victim(request: Request, reply: Reply) -> Reply:
        if request.path.endswith("/aggregate") and reply.status == 200:
            doc = reply.json()
            return reply.with_json({**doc, "ciphertexts": doc["ciphertexts"] + victim})
        return reply

    front.on_response = append_victim
    pilot.decrypt(election_id, ["T0001", "T0002"])
    options = len(manifest()["questions"][0]["options"])
    for name in ("T0001", "T0002"):
        saved = json.loads(pilot.trustee_file(name, election_id).read_text())
        assert len(saved["partial_decryption"]["shares"]) == options, "a ciphertext beyond the board's aggregate was decrypted"
    result = pilot.admin.tally(election_id)
    assert result["ballots_counted"] == len(VOTERS)


@pytest.mark.slow
def test_trustee_refuses_a_board_whose_aggregate_is_one_ballot(pilot, front):
    """The server re-signs a board whose aggregate entry is one voter's ballot:
    the trustee recomputes the aggregate from the counted ballots and refuses."""
    election_id, ciphertexts = _closed_election(pilot)
    key = _server_key(pilot)
    front.on_response = _forge_record(key, pilot.server.url, lambda entries: _replace_aggregate(entries, ciphertexts[VOTERS[0]]))
    with pytest.raises(TrusteeRefusal, match="check 8|forked|not an extension|board shrank|not the board"):
        pilot.decrypt(election_id, ["T0001"])
    assert "partial_decryption" not in json.loads(pilot.trustee_file("T0001", election_id).read_text())


@pytest.mark.slow
def test_trustee_refuses_a_forked_board_even_signed_by_the_server_key(pilot, front):
    """The forged board is internally valid (re-signed heads, an aggregate that
    is the sum of its counted ballots: all but the victim's are dropped, as the
    server would to isolate one voter), but it does not extend the board the
    trustee saw during the ceremony."""
    election_id, _ = _closed_election(pilot, voters=VOTERS[:5], min_tally_ballots=1)
    key = _server_key(pilot)
    front.on_response = _forge_record(key, pilot.server.url, _drop_all_ballots_but_one)
    with pytest.raises(TrusteeRefusal):
        pilot.decrypt(election_id, ["T0001"])
    assert "partial_decryption" not in json.loads(pilot.trustee_file("T0001", election_id).read_text())


@pytest.mark.slow
def test_trustee_refuses_a_roll_padded_with_the_servers_own_credentials(pilot, data_dir, database_url):
    """The server registers credentials of its own for every other employee on
    the roll and casts known votes with them, so that the tally minus its own
    votes is the victim's vote. The public record cannot tell (no more
    credentials than the roll); the trustee checks every registration against
    an eligible certificate in the auditors' part and refuses."""
    import asyncio
    import secrets

    from sqlalchemy import update

    from crypto.credentials import VotingCredential
    from voting.auth.service import Principal
    from voting.ballots.service import CastService
    from voting.board.service import Board
    from voting.client import prepare_ballot
    from voting.db.engine import Database, make_engine
    from voting.db.models import RollEntry
    from voting.keys import load_or_create
    from voting.settings import Settings

    voters = VOTERS[:5]
    election_id = pilot.open_election(manifest(), voters)
    victim = pilot.login(pilot.pki.enroll(voters[0]))
    victim.cast(victim.prepare_ballot(election_id, {"q1": ["o3"]}))
    info = pilot.admin.election_info(election_id)

    async def dishonest_server() -> None:
        database = Database(make_engine(Settings(database_url=database_url).db_url))
        board = Board(load_or_create(data_dir / "server-signing-key.pem"))
        casts = CastService(board, database)
        for employee_id in voters[1:]:
            own = VotingCredential.derive(secrets.token_bytes(32), election_id)
            async with database.write() as db:
                await db.execute(
                    update(RollEntry)
                    .where(RollEntry.election_id == election_id, RollEntry.employee_id == employee_id)
                    .values(credential=own.hex)
                )
                await board.append(db, election_id, "credential-registered", {"credential": own.hex}, tracking_code=own.hex)
                await db.commit()
            await casts.cast(Principal(employee_id, "forged", b"", ()), election_id, prepare_ballot(info, None, [[1, 0, 0, 0, 0]], own).cast_body())
        await database.close()

    asyncio.run(dishonest_server())
    pilot.admin.close_election(election_id)
    with pytest.raises(TrusteeRefusal, match="check 5"):
        pilot.decrypt(election_id, ["T0001"])
    assert "partial_decryption" not in json.loads(pilot.trustee_file("T0001", election_id).read_text())


# --- attack 5: a tally of too few ballots --------------------------------------------------------


@pytest.mark.slow
def test_trustee_refuses_an_aggregate_below_the_manifests_minimum(pilot):
    election_id, _ = _closed_election(pilot, voters=VOTERS[:3])
    with pytest.raises(TrusteeRefusal, match=r"only 3 ballot\(s\) are counted.*at least 5"):
        pilot.decrypt(election_id, ["T0001"])
    assert "partial_decryption" not in json.loads(pilot.trustee_file("T0001", election_id).read_text())


# --- attack 2: the ceremony's parameters from the server's word ----------------------------------


def test_trustee_takes_n_and_t_from_the_signed_board_not_the_ceremony_reply(pilot, front):
    election_id = pilot.create(manifest(), VOTERS)
    pilot.admin.start_ceremony(election_id)
    fake = threshold.CeremonyParameters(5, 2, ceremony_fingerprint(pilot_manifest(pilot, election_id), 5, 2))

    def claim_five_trustees(request: Request, reply: Reply) -> Reply:
        if request.path.endswith("/ceremony") and request.method == "GET" and reply.status == 200:
            return reply.with_json({**reply.json(), "parameters": fake.to_json()})
        return reply

    front.on_response = claim_five_trustees
    with pytest.raises(TrusteeRefusal, match="differs from the signed election-created entry"):
        pilot.ceremony_step("T0001", election_id)
    assert not pilot.trustee_file("T0001", election_id).exists() or "secrets" not in json.loads(
        pilot.trustee_file("T0001", election_id).read_text()
    )
    assert not [r for r in front.requests if r.path.endswith("/ceremony/announcement")]


@pytest.mark.slow
def test_trustee_refuses_an_election_created_entry_that_is_not_on_the_signed_board(pilot, front):
    election_id = pilot.create(manifest(), VOTERS)
    pilot.admin.start_ceremony(election_id)

    def five_trustees_on_the_board(request: Request, reply: Reply) -> Reply:
        if request.path.endswith("/board/inclusion") and reply.status == 200:
            doc = reply.json()
            entry = json.loads(doc["entry"]) if isinstance(doc["entry"], str) else doc["entry"]
            body = entry["body"]
            body["trustee_ids"] = body["trustee_ids"] + ["X0004", "X0005"]
            body["trustees"] = 5
            body["ceremony_fingerprint"] = ceremony_fingerprint(pilot_manifest(pilot, election_id), 5, 2).hex()
            return reply.with_json({**doc, "entry": entry})
        return reply

    front.on_response = five_trustees_on_the_board
    with pytest.raises(TrusteeRefusal, match="not on the signed board"):
        pilot.ceremony_step("T0001", election_id)
    assert not [r for r in front.requests if r.path.endswith("/ceremony/announcement")]


@pytest.mark.slow
def test_trustee_makes_no_share_for_an_announcement_the_server_made_up(pilot, front):
    """The share theft: just when a trustee is about to make its shares, the
    server shows it announcements of its own for the co-trustees (keeping their
    signature fields), so the shares would be encrypted to keys it holds and,
    with t = 2, reveal the trustee's whole polynomial. Co-trustees' announcements
    must be signed by the trustees the board names."""
    election_id = pilot.create(manifest(), VOTERS)
    pilot.admin.start_ceremony(election_id)
    fakes: dict[int, threshold.TrusteeSecrets] = {}

    def substitute(request: Request, reply: Reply) -> Reply:
        if request.method == "GET" and request.path.endswith("/ceremony") and reply.status == 200:
            doc = reply.json()
            params = threshold.CeremonyParameters.from_json(doc["parameters"])
            if len(doc["announcements"]) == params.n and doc["shares_sent"] == 0:
                shown = []
                for a in doc["announcements"]:
                    if a["index"] != doc["index"]:
                        fakes.setdefault(a["index"], threshold.start_ceremony(params, a["index"])[0])
                        a = {**threshold.make_announcement(params, fakes[a["index"]]).to_json(), "signature": a["signature"]}
                    shown.append(a)
                return reply.with_json({**doc, "announcements": shown})
        return reply

    for name in pilot.trustee_credentials:  # every trustee announces, honestly relayed
        pilot.ceremony_step(name, election_id)
    front.on_response = substitute
    with pytest.raises(TrusteeRefusal, match="announcement of trustee 2 \\(T0002\\) is not theirs"):
        pilot.ceremony_step("T0001", election_id)
    assert fakes and not [r for r in front.requests if r.path.endswith("/ceremony/shares")]


@pytest.mark.slow
def test_the_trustee_sees_and_may_decline_the_ceremony(pilot):
    election_id = pilot.create(manifest(), VOTERS)
    pilot.admin.start_ceremony(election_id)
    shown = []

    def decline(view) -> bool:
        shown.append((view.params.n, view.params.t, view.index, view.co_trustees))
        return False

    client = pilot.login(pilot.trustee_credentials["T0002"])
    with pytest.raises(TrusteeRefusal, match="declined"):
        trustee_ceremony_step(client, election_id, pilot.trustee_file("T0002", election_id), confirm=decline)
    assert shown == [(3, 2, 2, [(1, "T0001"), (3, "T0003")])]


# --- attack 3: the server's own election key -----------------------------------------------------


def _swap_joint_key(pilot, election_id: str, front: Mitm) -> Point:
    """The stand-in replaces the joint key everywhere a client reads it, with
    the fingerprint recomputed: the old client encrypted to it."""
    own = KeyPair.generate()
    fingerprint = election_fingerprint(pilot_manifest(pilot, election_id), own.public).hex()

    def swap(request: Request, reply: Reply) -> Reply:
        if reply.status != 200 or "json" not in reply.headers.get("content-type", ""):
            return reply
        doc = reply.json()
        if request.path == f"/api/elections/{election_id}":
            return reply.with_json({**doc, "joint_key": own.public.hex(), "fingerprint": fingerprint})
        if request.path.endswith("/board/entries"):
            for entry in doc["entries"]:
                if entry["kind"] == "joint-key":
                    entry["body"].update(joint_key=own.public.hex(), fingerprint=fingerprint)
            return reply.with_json(doc)
        return reply

    front.on_response = swap
    return own.public


@pytest.mark.slow
def test_voter_refuses_a_joint_key_the_trustees_did_not_endorse(pilot, front):
    election_id = pilot.open_election(manifest(), VOTERS)
    _swap_joint_key(pilot, election_id, front)
    voter = pilot.login(pilot.pki.enroll(VOTERS[0]))
    with pytest.raises(KeyRefusal, match="not endorsed by trustee 1"):
        voter.prepare_ballot(election_id, {"q1": ["o1"]})


@pytest.mark.slow
def test_voter_refuses_a_key_endorsed_by_impostors_from_another_ca(pilot, front, data_dir):
    """The server makes its own key and endorses it with certificates of its own
    CA naming the trustees: the voter checks them against the root it pinned."""
    election_id = pilot.open_election(manifest(), VOTERS)
    from tests.support import make_pki

    rogue = make_pki(data_dir / "rogue")
    impostors = [rogue.enroll(t) for t in pilot.trustee_credentials]
    own = KeyPair.generate()
    front.on_response = _own_key_endorsed_by(pilot, election_id, own, impostors)
    anchor = TrustStore((pilot.pki.root.certificate,))
    voter = Client(pilot.url, trust_store=anchor)
    pilot.clients.append(voter)
    voter.login(pilot.pki.enroll(VOTERS[0]))
    with pytest.raises(KeyRefusal, match="certificate is not trusted"):
        voter.prepare_ballot(election_id, {"q1": ["o1"]})
    # Without the pinned anchor the forged endorsements verify: the anchor is what stops it.
    unanchored = Client(pilot.url)
    pilot.clients.append(unanchored)
    unanchored.login(pilot.pki.enroll(VOTERS[1]))
    assert unanchored.endorsed_election(election_id).info.joint_key == own.public


@pytest.mark.parametrize(
    "trustee_ids, n, t, reason",
    [
        (["A0001"], 1, 1, "a threshold of 1 of 1"),
        (["A0001", "A0001"], 2, 2, "a trustee is named twice"),
        (["A0001", "E0001"], 3, 2, "n = 3 but 2 trustee ids"),
    ],
)
@pytest.mark.slow
def test_voter_refuses_a_key_held_by_too_few_trustees(pilot, front, trustee_ids, n, t, reason):
    """The administrator's server names only itself (or one colluder) as trustee
    and endorses its own key with a genuine city certificate: every signature
    verifies against the pinned root, but the election's policy does not hold."""
    election_id = pilot.open_election(manifest(), VOTERS)
    signers = {e: pilot.pki.enroll(e) for e in set(trustee_ids)}
    own = KeyPair.generate()
    front.on_response = _own_key_endorsed_by(
        pilot, election_id, own, [signers[e] for e in trustee_ids], trustee_ids=trustee_ids, trustees=n, threshold=t
    )
    voter = Client(pilot.url, trust_store=TrustStore((pilot.pki.root.certificate,)))
    pilot.clients.append(voter)
    voter.login(pilot.pki.enroll(VOTERS[0]))
    with pytest.raises(KeyRefusal, match=f"trustees break the policy: {reason}"):
        voter.prepare_ballot(election_id, {"q1": ["o1"]})


@pytest.mark.slow
def test_voter_refuses_a_fingerprint_other_than_the_pinned_one(pilot):
    election_id = pilot.open_election(manifest(), VOTERS)
    honest = pilot.admin.endorsed_election(election_id)
    assert [t[1] for t in honest.trustees] == list(pilot.trustee_credentials)
    assert honest.short_fingerprint == format_fingerprint(honest.info.fingerprint)
    voter = Client(pilot.url, fingerprint=bytes(32))
    pilot.clients.append(voter)
    voter.login(pilot.pki.enroll(VOTERS[0]))
    with pytest.raises(KeyRefusal, match="not the one you pinned"):
        voter.prepare_ballot(election_id, {"q1": ["o1"]})


@pytest.mark.slow
def test_the_cli_voter_refuses_the_servers_own_key(pilot, front, tmp_path):
    from click.testing import CliRunner

    from crypto.credentials import certificate_to_pem, seal_credential
    from voting.cli import main

    election_id = pilot.open_election(manifest(), VOTERS)
    credential = pilot.pki.enroll(VOTERS[0])
    path = tmp_path / "E0001.credential.json"
    path.write_text(json.dumps(seal_credential(credential.private_key, credential.chain, "123456", employee_id=VOTERS[0], name="職員", iterations=1000)))
    (tmp_path / "root.pem").write_text(certificate_to_pem(pilot.pki.root.certificate))
    args = ["vote", election_id, "-c", str(path), "--pin", "123456", "--server", pilot.url, "--choose", "q1=o1"]
    runner = CliRunner()
    honest = runner.invoke(main, [*args, "--audit", "--receipt", str(tmp_path / "audit.json")])
    assert honest.exit_code == 0, honest.output
    short = format_fingerprint(pilot.admin.endorsed_election(election_id).info.fingerprint)
    assert short in honest.output
    _swap_joint_key(pilot, election_id, front)
    swapped = runner.invoke(main, [*args, "--yes"])
    assert swapped.exit_code == 1
    assert "DO NOT VOTE" in swapped.output and "not endorsed" in swapped.output
    assert not [r for r in front.requests if r.method == "POST" and r.path.endswith("/ballots/")]
    pinned = runner.invoke(main, [*args, "--yes", "--fingerprint", "AAAA-AAAA-AAAA-AAAA"])
    assert pinned.exit_code == 1 and "DO NOT VOTE" in pinned.output


# --- helpers: a stand-in that holds the server's signing key -------------------------------------


def _own_key_endorsed_by(pilot, election_id: str, own: KeyPair, signers: list, **created):
    """A stand-in that shows the board with a joint key of its own, endorsed by
    ``signers`` (and ``created`` changed in the election-created entry)."""
    fingerprint = election_fingerprint(pilot_manifest(pilot, election_id), own.public)
    endorsements = [
        {"index": i, **sign_endorsement(c, election_id=election_id, joint_key=own.public.to_bytes(), fingerprint=fingerprint)}
        for i, c in enumerate(signers, start=1)
    ]

    def rewrite(request: Request, reply: Reply) -> Reply:
        if not (request.path.endswith("/board/entries") and reply.status == 200):
            return reply
        doc = reply.json()
        for entry in doc["entries"]:
            if entry["kind"] == "election-created":
                entry["body"].update(created)
            if entry["kind"] == "joint-key":
                entry["body"].update(joint_key=own.public.hex(), fingerprint=fingerprint.hex(), endorsements=endorsements)
        return reply.with_json(doc)

    return rewrite


def pilot_manifest(pilot, election_id: str):
    from crypto.ballots import Manifest

    return Manifest.from_json(pilot.admin.status(election_id)["manifest"])


def _server_key(pilot):
    from voting.keys import load_or_create

    return load_or_create(pilot.data_dir / "server-signing-key.pem")


def _replace_aggregate(entries: list[dict], ciphertexts: list[dict]) -> list[dict]:
    for entry in entries:
        if entry["kind"] == "aggregate":
            entry["body"]["ciphertexts"] = ciphertexts
    return entries


def _drop_all_ballots_but_one(entries: list[dict]) -> list[dict]:
    """Keep only the first ballot; the aggregate becomes that ballot alone."""
    ballots = [e for e in entries if e["kind"] == "ballot"]
    kept = ballots[0]
    out = [e for e in entries if e["kind"] not in ("ballot", "ballot-superseded") or e is kept]
    for index, entry in enumerate(out):
        entry["index"] = index
        if entry["kind"] == "aggregate":
            from crypto.ballots import EncryptedBallot, Manifest

            manifest_doc = out[0]["body"]["manifest"]
            ballot = EncryptedBallot.from_json(kept["body"]["ballot"], Manifest.from_json(manifest_doc))
            entry["body"] = {"ballots_counted": 1, "ciphertexts": [c.to_json() for c in selection_ciphertexts(ballot)]}
    return out


def _forge_record(key, upstream: str, rewrite):
    """A stand-in holding the server's key: from its first answer on, it shows
    the trustee a rewritten board, every tree head recomputed and re-signed."""
    import httpx

    from crypto import log as merkle
    from crypto.encoding import canonical_json
    from voting.record import files as F
    from voting.record.build import build_record
    from voting.record.files import read_record_zip, record_zip

    forged: dict = {}

    def forge(upstream: str, election_id: str) -> None:
        files = read_record_zip(httpx.get(f"{upstream}/api/elections/{election_id}/record/").content)
        entries = rewrite([json.loads(line) for line in files[F.BOARD].splitlines() if line.strip()])
        lines = [canonical_json(e) for e in entries]
        log = merkle.MemoryLog()
        heads = []
        timestamp = json.loads(files[F.TREE_HEADS])[-1]["timestamp_ms"]
        for line in lines:
            log.append(line)
            heads.append(merkle.sign_tree_head(key.private_key, merkle.TreeHead(election_id, log.size, log.root(), timestamp)).to_json())
        exported_at = json.loads(files[F.RECORD])["exported_at"]
        forged["heads"] = heads
        forged["zip"] = record_zip(build_record(election_id, lines, heads, exported_at=exported_at))

    def on_response(request: Request, reply: Reply) -> Reply:
        parts = request.path.split("/")
        if reply.status != 200 or len(parts) < 5 or parts[:3] != ["", "api", "elections"]:
            return reply
        if not forged:
            forge(upstream, parts[3])
        if request.path.endswith("/record/"):
            return Reply(200, reply.headers, forged["zip"])
        if request.path.endswith("/board/head"):
            return reply.with_json({**forged["heads"][-1], "server_key": reply.json()["server_key"]})
        return reply

    return on_response
