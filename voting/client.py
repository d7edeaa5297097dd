"""A Python client of the HTTP API, shared by the CLI, the tests and the load tests.

It does on the employee's machine what must never happen on the server:
opening the credential file with the PIN, signing the login challenge,
encrypting the ballot and signing its tracking code, and (for trustees)
holding the key share.
"""

from __future__ import annotations

import base64
import hashlib
import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from crypto import threshold
from crypto.ballots import (
    AuditOpening,
    EncryptedBallot,
    Manifest,
    ceremony_fingerprint,
    choices_from_ids,
    election_fingerprint,
    encrypt_ballot,
    format_fingerprint,
    format_tracking_code,
    tracking_code,
    verify_audit_opening,
    verify_ballot,
)
from crypto.credentials import (
    Credential,
    TrustStore,
    VotingCredential,
    is_valid_employee_id,
    make_login_token,
    sign_announcement,
    sign_ballot_with,
    sign_endorsement,
    sign_registration,
    verify_announcement_signature,
    verify_credential_signature,
    verify_endorsement,
)
from crypto.elgamal import Ciphertext
from crypto.encoding import canonical_json
from crypto.entry_kinds import AGGREGATE, BALLOT, BALLOT_AUDITED, ELECTION_CREATED, JOINT_KEY
from crypto.errors import CryptoError
from crypto.group import Point
from crypto.log import ConsistencyProof, InclusionProof, SignedTreeHead, leaf_hash, verify_tree_head
from crypto.receipts import verify_receipt, verify_receipt_against
from voting import tls
from voting.files import write_file
from voting.origin import origin_of

BOARD_PAGE = 500
#: Pauses before resending a cast whose outcome is unknown (a 503, or the
#: connection lost awaiting the reply): resending the same ballot is safe.
CAST_RETRY_DELAYS_S = (0.5, 1.0, 2.0, 4.0)


class ApiError(Exception):
    """The server refused a request: ``status`` and the stable ``code``."""

    def __init__(self, status: int, code: str, detail: str, body: dict | None = None) -> None:
        super().__init__(f"{status} {code}: {detail}")
        self.status = status
        self.code = code
        self.detail = detail
        self.body = body or {}


@dataclass(frozen=True)
class ElectionInfo:
    election_id: str
    manifest: Manifest
    joint_key: Point
    fingerprint: bytes

    @classmethod
    def from_status(cls, status: dict) -> ElectionInfo:
        if not status.get("joint_key"):
            raise ApiError(409, "ceremony_unfinished", "the election has no joint key yet")
        manifest = Manifest.from_json(status["manifest"])
        joint = Point.from_hex(status["joint_key"])
        fingerprint = election_fingerprint(manifest, joint)
        if fingerprint.hex() != status["fingerprint"]:
            raise ApiError(0, "fingerprint_mismatch", "the server's fingerprint does not match its manifest and key")
        return cls(status["election_id"], manifest, joint, fingerprint)


@dataclass(frozen=True)
class Replacement:
    """Whether a later ballot replaced a receipt's (``Client.replacement``):
    ``state`` "verified" (on the board, signed with the voter's voting
    credential), "claimed" (the server says so; not proven: still a warning),
    "none" (the server says not: its word only) or "unknown" (not asked)."""

    state: str
    detail: str | None = None
    later_code: str | None = None
    later_index: int | None = None

    @property
    def replaced(self) -> bool:
        return self.state in ("verified", "claimed")


class KeyRefusal(Exception):
    """The voter's client will not encrypt to this election key: it is not the
    key every trustee endorsed, or not the fingerprint the voter pinned."""


@dataclass(frozen=True)
class EndorsedElection:
    """An election key the voter's client checked on the board: every trustee
    named in ``election-created`` signed this joint key and fingerprint."""

    info: ElectionInfo
    trustees: tuple[tuple[int, str, str], ...]
    """(index, employee id, name from the certificate)"""
    threshold: int
    """t: how many of the trustees decrypt together"""
    anchored: bool
    """whether the trustees' certificates were checked against a pinned trust anchor"""

    @property
    def short_fingerprint(self) -> str:
        return format_fingerprint(self.info.fingerprint)


def endorsed_election(
    entries: list[dict],
    election_id: str,
    *,
    trust_store: TrustStore | None = None,
    fingerprint: bytes | None = None,
    now: datetime | None = None,
) -> EndorsedElection:
    """Check the election key from the board's ``election-created`` and
    ``joint-key`` entries: the fingerprint recomputes from the manifest and the
    key, every named trustee endorsed both (certificates chaining to
    ``trust_store`` when given), and it equals the pinned ``fingerprint``."""
    created = entries[0] if entries and entries[0].get("kind") == ELECTION_CREATED else None
    joint = next((e for e in entries if e.get("kind") == JOINT_KEY), None)
    if created is None or joint is None:
        raise KeyRefusal("the board has no election-created or joint-key entry: the key ceremony is not finished")
    try:
        manifest = Manifest.from_json(created["body"]["manifest"])
        ids = created["body"]["trustee_ids"]
        key = Point.from_hex(joint["body"]["joint_key"])
        endorsements = joint["body"]["endorsements"]
        computed = election_fingerprint(manifest, key)
    except (CryptoError, KeyError, TypeError) as exc:
        raise KeyRefusal(f"the board's election entries are malformed: {exc}") from None
    if manifest.election_id != election_id or joint["body"].get("fingerprint") != computed.hex():
        raise KeyRefusal("the board's fingerprint does not recompute from its manifest and joint key")
    policy_error = trustee_policy_error(ids, created["body"].get("trustees"), created["body"].get("threshold"))
    if policy_error:
        raise KeyRefusal(f"the election's trustees break the policy: {policy_error}")
    if not isinstance(endorsements, list) or len(endorsements) != len(ids):
        raise KeyRefusal("the joint key does not carry one endorsement per trustee")
    trustees = []
    for index, (employee_id, doc) in enumerate(zip(ids, endorsements, strict=True), start=1):
        if not isinstance(doc, dict) or doc.get("index") != index:
            raise KeyRefusal(f"the endorsement of trustee {index} is missing")
        try:
            checked = verify_endorsement(
                {k: v for k, v in doc.items() if k != "index"},
                election_id=election_id,
                joint_key=key.to_bytes(),
                fingerprint=computed,
                employee_id=employee_id,
                trust_store=trust_store,
                now=now or datetime.now(UTC),
            )
        except CryptoError as exc:
            raise KeyRefusal(f"the election key is not endorsed by trustee {index} ({employee_id}): {exc}") from None
        trustees.append((index, employee_id, checked.name))
    if fingerprint is not None and fingerprint != computed:
        raise KeyRefusal(
            f"the election's fingerprint {format_fingerprint(computed)} is not the one you pinned "
            f"({format_fingerprint(fingerprint)}): do not vote; tell the election administrators"
        )
    threshold_t = created["body"]["threshold"]
    return EndorsedElection(ElectionInfo(election_id, manifest, key, computed), tuple(trustees), threshold_t, trust_store is not None)


def trustee_policy_error(ids: object, n: object, t: object) -> str | None:
    """What is wrong with an election's trustees (None if nothing): n distinct
    valid employee ids, 2 <= t <= n. A key held by one person decrypts any ballot."""
    if not isinstance(ids, list) or not all(is_valid_employee_id(e) for e in ids):
        return "trustee_ids must be a list of employee ids"
    if len(set(ids)) != len(ids):
        return "a trustee is named twice"
    if type(n) is not int or n != len(ids):
        return f"n = {n!r} but {len(ids)} trustee ids are named"
    if type(t) is not int or not 2 <= t <= n:
        return f"a threshold of {t!r} of {n} trustees (2 <= t <= n is required)"
    return None


@dataclass(frozen=True)
class PreparedBallot:
    """An encrypted ballot before casting: cast it, or audit it (then never cast it)."""

    election_id: str
    ballot: EncryptedBallot
    opening: AuditOpening
    tracking_code: bytes
    signature: bytes

    @property
    def short_code(self) -> str:
        return format_tracking_code(self.tracking_code)

    def cast_body(self) -> dict:
        return {"ballot": self.ballot.to_json(), "signature": self.signature.hex()}

    def audit_body(self) -> dict:
        return {"ballot": self.ballot.to_json(), "opening": self.opening.to_json()}


class ReceiptRefusal(Exception):
    """The server's receipt is not a valid receipt for the ballot just cast."""


def check_receipt_is_for(receipt: Any, prepared: PreparedBallot) -> None:
    """The receipt verifies on its own (signatures, inclusion) and its entry is
    this ballot, with this tracking code, in this election."""
    try:
        verify_receipt(receipt)
    except CryptoError as exc:
        raise ReceiptRefusal(f"the server's receipt does not verify: {exc}") from None
    body = receipt["entry"]["body"]
    if (
        receipt["election_id"] != prepared.election_id
        or receipt["tracking_code"] != prepared.tracking_code.hex()
        or canonical_json(body.get("ballot")) != canonical_json(prepared.ballot.to_json())
    ):
        raise ReceiptRefusal("the server's receipt is for another ballot than the one you cast")


def check_audience(audience: object, server_url: str) -> str:
    """The challenge must name the origin we connected to (docs/parts/credentials.md,
    "Login token"); refused before anything is signed. Returns that origin."""
    expected = origin_of(server_url)
    if audience != expected:
        shown = repr(audience)[:120]
        raise ApiError(
            0,
            "audience_mismatch",
            f"接続先のサーバーは {shown} と名乗っていますが、接続したのは {expected} です。"
            "フィッシングのおそれがあるため署名しませんでした。アドレスを確認してください。 / "
            f"this server calls itself {shown} but you connected to {expected}: possible phishing, "
            "nothing was signed; check the address",
        )
    return expected


class Client:
    def __init__(
        self,
        base_url: str,
        *,
        timeout: float = 60.0,
        transport: httpx.BaseTransport | None = None,
        trust_store: TrustStore | None = None,
        fingerprint: bytes | None = None,
    ) -> None:
        """``trust_store`` (the city's root CA, pinned by the user) and
        ``fingerprint`` (from the election notice) are what the client checks
        an election key against before it encrypts to it."""
        self.base_url = base_url.rstrip("/")
        self.trust_store = trust_store
        self.fingerprint = fingerprint
        self.http = httpx.Client(base_url=self.base_url, timeout=timeout, transport=transport, verify=tls.client_context())
        self.credential: Credential | None = None
        self.session: dict | None = None
        self._registered: set[tuple[str, str]] = set()  # (employee, election) whose credential is registered
        self.on_close: list[Callable[[], object]] = []
        """called by close(), e.g. to end a card's session"""

    def close(self) -> None:
        self.http.close()
        while self.on_close:
            self.on_close.pop()()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    # -- transport ------------------------------------------------------------------

    def request(self, method: str, path: str, **kwargs: Any) -> Any:
        """The reply's JSON (any JSON value), or None for an empty reply."""
        response = self.http.request(method, path, **kwargs)
        if response.status_code >= 400:
            try:
                body = response.json()
            except ValueError:
                body = {}
            raise ApiError(
                response.status_code, body.get("code", "http_error"), body.get("detail", response.text[:200]), body
            )
        return response.json() if response.content else None

    def get(self, path: str, **params: object) -> Any:
        return self.request("GET", path, params={k: v for k, v in params.items() if v is not None})

    def post(self, path: str, body: object = None, **kwargs: Any) -> Any:
        if body is not None:
            kwargs["json"] = body
        return self.request("POST", path, **kwargs)

    # -- login ----------------------------------------------------------------------

    def login(self, credential: Credential) -> dict:
        """Sign the server's challenge, for the address this client connected to
        only: a phishing server that relays the real server's challenge would
        otherwise get a token the real server accepts, and log in as us."""
        challenge = self.post("/api/auth/challenge")
        audience = challenge.get("audience") if isinstance(challenge, dict) else None
        audience = check_audience(audience, str(self.http.base_url))  # where the requests really go
        try:
            token = make_login_token(
                credential.private_key, credential.chain, nonce=challenge["nonce"], audience=audience, now=datetime.now(UTC)
            )
        except (KeyError, TypeError, ValueError):
            raise ApiError(0, "challenge_malformed", "the server's login challenge is malformed; nothing was signed") from None
        self.session = self.post("/api/auth/login", {"token": token})
        self.credential = credential
        self.http.headers["Authorization"] = f"Bearer {self.session['session_token']}"
        return self.session

    def logout(self) -> None:
        self.post("/api/auth/logout")
        self.http.headers.pop("Authorization", None)
        self.session = None

    # -- elections (administrators) ------------------------------------------------------

    def create_election(self, manifest: dict, trustees: list[str], threshold_t: int) -> dict:
        return self.post("/api/elections/", {"manifest": manifest, "trustees": trustees, "threshold": threshold_t})

    def import_roll(self, election_id: str, csv_data: str | bytes, *, dry_run: bool = False) -> dict:
        """The file's bytes go as they are: the server decodes UTF-8 or cp932."""
        return self.post(
            f"/api/elections/{election_id}/roll",
            content=csv_data.encode("utf-8") if isinstance(csv_data, str) else csv_data,
            headers={"Content-Type": "text/csv"},
            params={"dry_run": "true"} if dry_run else None,
        )

    def remove_from_roll(self, election_id: str, employee_id: str) -> dict:
        return self.request("DELETE", f"/api/elections/{election_id}/roll/{quote(employee_id, safe='')}")

    def start_ceremony(self, election_id: str) -> dict:
        return self.post(f"/api/elections/{election_id}/ceremony/start")

    def open(self, election_id: str) -> dict:
        return self.post(f"/api/elections/{election_id}/open")

    def close_election(self, election_id: str) -> dict:
        return self.post(f"/api/elections/{election_id}/close")

    def tally(self, election_id: str) -> dict:
        return self.post(f"/api/elections/{election_id}/tally")

    def publish(self, election_id: str) -> dict:
        return self.post(f"/api/elections/{election_id}/publish")

    def status(self, election_id: str) -> dict:
        return self.get(f"/api/elections/{election_id}")

    def result(self, election_id: str) -> dict:
        return self.get(f"/api/elections/{election_id}/result")

    # -- voting -----------------------------------------------------------------------

    def election_info(self, election_id: str) -> ElectionInfo:
        return self.endorsed_election(election_id).info

    def endorsed_election(self, election_id: str) -> EndorsedElection:
        """The election key from the board, checked against the trustees'
        endorsements and the pinned trust anchor and fingerprint: the server's
        own status reply is never what a ballot is encrypted to."""
        return endorsed_election(
            self.board_until(election_id, JOINT_KEY), election_id, trust_store=self.trust_store, fingerprint=self.fingerprint
        )

    def board_until(self, election_id: str, kind: str) -> list[dict]:
        """The board's entries from the first up to the first of ``kind`` (or all)."""
        entries: list[dict] = []
        while True:
            page = self.get(f"/api/elections/{election_id}/board/entries", start=len(entries), limit=BOARD_PAGE)
            entries.extend(page["entries"])
            if any(e.get("kind") == kind for e in page["entries"]) or not page["entries"] or len(entries) >= page["size"]:
                return entries

    def prepare_ballot(
        self, election_id: str, selected: dict[str, list[str]] | list[list[int]], *, info: ElectionInfo | None = None
    ) -> PreparedBallot:
        """Encrypt and sign on this machine, to the endorsed election key; nothing is sent yet."""
        if self.credential is None:
            raise RuntimeError("log in first")
        info = info or self.election_info(election_id)
        voting = self.ensure_registered(election_id)
        choices = choices_from_ids(info.manifest, selected) if isinstance(selected, dict) else selected
        return prepare_ballot(info, voting.hex, choices, voting)

    @property
    def logged_in(self) -> Credential:
        """The credential this client logged in with."""
        if self.credential is None:
            raise RuntimeError("log in first")
        return self.credential

    def voting_credential(self, election_id: str) -> VotingCredential:
        """This employee's voting credential for the election (derived here, the
        same on every device)."""
        return self.logged_in.voting_credential(election_id)

    def register_credential(self, election_id: str) -> dict:
        """Register the voting credential, signed by the certificate key
        (idempotent: the same credential again is accepted)."""
        voting = self.voting_credential(election_id)
        signature = sign_registration(
            self.logged_in.private_key, election_id=election_id, credential_pub=voting.public_bytes
        )
        reply = self.post(
            f"/api/elections/{election_id}/credential", {"credential": voting.hex, "signature": signature.hex()}
        )
        self._registered.add((self.logged_in.employee_id, election_id))
        return reply

    def ensure_registered(self, election_id: str) -> VotingCredential:
        """The voting credential, registered first if the server has none for this
        voter; refuses if another credential is registered to them."""
        voting = self.voting_credential(election_id)
        if (self.logged_in.employee_id, election_id) in self._registered:
            return voting
        registered = self.get(f"/api/elections/{election_id}/voter").get("credential")
        if registered is None:
            self.register_credential(election_id)
        elif registered != voting.hex:
            raise ApiError(
                409,
                "credential_already_registered",
                "このエレクションには別の投票用クレデンシャルが登録されています。選挙管理者に連絡してください。 / "
                "another voting credential is registered for you in this election; tell the election administrators",
            )
        self._registered.add((self.logged_in.employee_id, election_id))
        return voting

    def cast(self, prepared: PreparedBallot) -> dict:
        """Cast, and check that the receipt is for this very ballot (raises
        ReceiptRefusal): a server could otherwise drop the ballot and hand back
        another voter's receipt, which checks out on the board."""
        receipt = self._send_cast(prepared)
        receipt.pop("superseded", None)  # an unsigned reply member, not part of the (signed) receipt
        check_receipt_is_for(receipt, prepared)
        return receipt

    def cast_marked(self, prepared: PreparedBallot) -> tuple[dict, Replacement]:
        """``cast``, and whether a later ballot replaced this one (a ballot sent
        again after the voter voted anew: its old receipt comes back). The
        server's ``superseded`` marks are unsigned: see ``replacement``."""
        receipt = self._send_cast(prepared)
        claimed = receipt.pop("superseded", None) is True
        check_receipt_is_for(receipt, prepared)
        return receipt, self.replacement(receipt, claimed=claimed)

    def replacement(self, receipt: dict, *, claimed: bool = False) -> Replacement:
        """Whether a later ballot replaced the (verified) receipt's, as far as
        the board proves it. The server's reply (GET …/ballots/{code}, or
        ``claimed``: the cast reply's mark) names the later ballot; it counts as
        "verified" only when that ballot is on the board under the newest signed
        head, after this one, with the same voting credential and signed by it
        (which the server cannot do). A server's "no later ballot" is its word
        ("none": the election record shows every replacement), never a proof."""
        election_id, code = receipt["election_id"], receipt["tracking_code"]
        try:
            reply = self.get(f"/api/elections/{election_id}/ballots/{code}")
            if not isinstance(reply, dict) or not isinstance(reply.get("superseded"), bool):
                raise ValueError("the server's reply about this ballot is malformed")
            if not isinstance(reply.get("receipt"), dict) or reply["receipt"].get("tracking_code") != code:
                raise ValueError("the server's reply is about another ballot")
        except (ApiError, httpx.HTTPError, ValueError) as exc:
            return Replacement("claimed" if claimed else "unknown", detail=str(exc))
        if not reply["superseded"]:
            return Replacement("claimed" if claimed else "none", detail="the server contradicts itself" if claimed else None)
        try:
            later, index = self._later_ballot(receipt, reply.get("superseded_by"))
        except (CryptoError, ApiError, httpx.HTTPError, ValueError, KeyError, TypeError) as exc:
            return Replacement("claimed", detail=str(exc))
        return Replacement("verified", later_code=later, later_index=index)

    def _later_ballot(self, receipt: dict, later: object) -> tuple[str, int]:
        """``later`` is a ballot on the board under the newest signed head, after
        the receipt's, of its voting credential and signed by it; returns (code, index)."""
        if not isinstance(later, str) or len(later) != 64 or later.strip("0123456789abcdef"):
            raise ValueError("the server names no later ballot")
        election_id = receipt["election_id"]
        server_key = bytes.fromhex(self.get("/api/server-key")["server_key"])
        verify_receipt(receipt, server_key=server_key)
        newest = self.get(f"/api/elections/{election_id}/board/head")
        head = SignedTreeHead.from_json({k: v for k, v in newest.items() if k != "server_key"})
        verify_tree_head(server_key, head)
        if head.head.log_id != election_id:
            raise ValueError("the newest tree head is for another election")
        reply = self.get(f"/api/elections/{election_id}/board/inclusion", tracking_code=later, size=head.head.size)
        if SignedTreeHead.from_json(reply["tree_head"]) != head:
            raise ValueError("the proof is not under the newest tree head")
        data = reply["entry"].encode() if isinstance(reply["entry"], str) else canonical_json(reply["entry"])
        entry = json.loads(data)
        proof = InclusionProof.from_json(reply["proof"])
        proof.verify(leaf_hash(data), head.head.root, index=entry["index"], tree_size=head.head.size)
        body = entry["body"]
        credential = receipt["entry"]["body"]["credential"]
        if (
            entry["kind"] != BALLOT
            or entry["election_id"] != election_id
            or entry["index"] <= receipt["leaf_index"]
            or body["tracking_code"] != later
            or body["credential"] != credential
        ):
            raise ValueError("the board's entry is not a later ballot of the same voting credential")
        entries = self.board_until(election_id, JOINT_KEY)
        created = next(e for e in entries if e["kind"] == ELECTION_CREATED)["body"]
        joint = next(e for e in entries if e["kind"] == JOINT_KEY)["body"]
        manifest = Manifest.from_json(created["manifest"])
        fingerprint = election_fingerprint(manifest, Point.from_hex(joint["joint_key"]))
        ballot = EncryptedBallot.from_json(receipt["entry"]["body"]["ballot"], manifest)
        if tracking_code(fingerprint, ballot).hex() != receipt["tracking_code"]:
            raise ValueError("the board's election key is not the one this ballot was made for")
        verify_credential_signature(
            bytes.fromhex(credential),
            bytes.fromhex(body["signature"]),
            election_fingerprint=fingerprint,
            tracking_code=bytes.fromhex(later),
        )
        return later, entry["index"]

    def _send_cast(self, prepared: PreparedBallot) -> dict:
        """POST the ballot; on a 503 (not recorded, or outcome unknown) or a
        lost connection, send the very same ballot again after a pause, a few
        times: the server stores it once and returns its receipt."""
        path = f"/api/elections/{prepared.election_id}/ballots/"
        for delay in (*CAST_RETRY_DELAYS_S, None):
            try:
                return self.post(path, prepared.cast_body())
            except ApiError as exc:
                if exc.status != 503 or delay is None:
                    raise
            except httpx.TransportError:
                if delay is None:
                    raise
            time.sleep(delay)
        raise AssertionError("unreachable")  # pragma: no cover

    def publish_audit(self, prepared: PreparedBallot) -> dict:
        """Publish the audited ballot and its opening to the board (it is never
        cast); returns the receipt-shaped document to check on another device."""
        return self.post(f"/api/elections/{prepared.election_id}/audits/", prepared.audit_body())

    def check_audit(self, audit: dict) -> dict:
        """Check a published audit on this server's board, on its own: the entry
        is included under the newest head signed by the key named in the board's
        ``election-created`` entry, that head extends the head in the audit
        file (a consistency proof: a forked board is refused), the ballot's
        proofs and its opening verify against the endorsed election key.
        Returns the choices it encrypts and the tracking code, which the voter
        must compare with the code they noted before choosing to audit."""
        return check_audit(self, audit)

    def check_receipt(self, receipt: dict) -> dict:
        """Check a receipt against this server's newest tree head: the server's
        signatures, the inclusion proof, and consistency with the newest head."""
        server_key = bytes.fromhex(self.get("/api/server-key")["server_key"])
        sth = verify_receipt(receipt, server_key=server_key)  # first: it refuses a file that is not a receipt
        election_id = receipt["election_id"]
        newest = self.get(f"/api/elections/{election_id}/board/head")
        newest_head = SignedTreeHead.from_json({k: v for k, v in newest.items() if k != "server_key"})
        reply = self.get(
            f"/api/elections/{election_id}/board/consistency", old=sth.head.size, new=newest_head.head.size
        )
        verify_receipt_against(
            receipt, newest_head, ConsistencyProof.from_json(reply["proof"]), server_key=server_key
        )
        return {
            "tracking_code": receipt["tracking_code"],
            "short_code": format_tracking_code(bytes.fromhex(receipt["tracking_code"])),
            "leaf_index": receipt["leaf_index"],
            "receipt_tree_size": sth.head.size,
            "newest_tree_size": newest_head.head.size,
        }

    # -- trustees ----------------------------------------------------------------------

    def ceremony(self, election_id: str) -> dict:
        return self.get(f"/api/elections/{election_id}/ceremony")

    def aggregate(self, election_id: str) -> dict:
        return self.get(f"/api/elections/{election_id}/aggregate")


def prepare_ballot(
    info: ElectionInfo,
    voter_id: str | None,
    choices: list[list[int]],
    credential: Credential | VotingCredential,
) -> PreparedBallot:
    """Encrypt for ``voter_id`` (None: the voting credential's own hex, as the
    service requires) and sign with the voting credential (an employee
    ``Credential`` gives its credential for this election)."""
    voting = credential if isinstance(credential, VotingCredential) else credential.voting_credential(info.election_id)
    voter_id = voting.hex if voter_id is None else voter_id
    ballot, opening = encrypt_ballot(info.manifest, info.joint_key, info.fingerprint, voter_id, choices)
    code = tracking_code(info.fingerprint, ballot)
    signature = sign_ballot_with(voting, election_fingerprint=info.fingerprint, tracking_code=code)
    return PreparedBallot(info.election_id, ballot, opening, code, signature)


class AuditCheckError(Exception):
    """A published audit does not check out: the message says what failed."""


def check_audit(client: Client, audit: dict) -> dict:
    """See ``Client.check_audit``."""
    if not isinstance(audit, dict) or not isinstance(audit.get("election_id"), str) or type(audit.get("leaf_index")) is not int:
        raise AuditCheckError("this is not an audit file (no election_id and leaf_index)")
    election_id, index = audit["election_id"], audit["leaf_index"]
    entries = client.board_until(election_id, JOINT_KEY)
    created = entries[0] if entries and entries[0].get("kind") == ELECTION_CREATED else None
    if created is None or not isinstance(created.get("body"), dict):
        raise AuditCheckError("the board has no election-created entry")
    try:
        server_key = bytes.fromhex(created["body"]["server_key"])
    except (KeyError, TypeError, ValueError):
        raise AuditCheckError("the board's election-created entry names no server key") from None
    try:
        published = verify_receipt(audit, server_key=server_key, kind=BALLOT_AUDITED)
        endorsed = endorsed_election(entries, election_id, trust_store=client.trust_store, fingerprint=client.fingerprint)
    except (CryptoError, KeyRefusal) as exc:
        raise AuditCheckError(str(exc)) from None
    reply = client.get(f"/api/elections/{election_id}/board/inclusion", index=index)
    try:
        newest = SignedTreeHead.from_json(reply["tree_head"])
        verify_tree_head(server_key, newest)
        if newest.head.log_id != election_id:
            raise AuditCheckError("the board's tree head is for another election")
        proof = InclusionProof.from_json(reply["proof"])
        entry_bytes = reply["entry"].encode("utf-8")
        if json.loads(entry_bytes) != audit["entry"] or proof.leaf_index != index or proof.tree_size != newest.head.size:
            raise AuditCheckError("the board's entry at this index is not the audited ballot")
        proof.verify(leaf_hash(entry_bytes), newest.head.root, index=index, tree_size=newest.head.size)
    except (CryptoError, KeyError, TypeError, ValueError) as exc:
        raise AuditCheckError(f"the audited ballot is not on the board under its newest signed head: {exc}") from None
    # The head the audit was published under must be a prefix of the newest one
    # (as for receipts): a forked board, one view for this device, is refused.
    try:
        if published.head.log_id != election_id:
            raise AuditCheckError("the audit file's tree head is for another election")
        if newest.head.size < published.head.size:
            raise AuditCheckError(
                f"the board shrank from {published.head.size} to {newest.head.size} entries since the audit was published"
            )
        reply = client.get(
            f"/api/elections/{election_id}/board/consistency", old=published.head.size, new=newest.head.size
        )
        consistency = ConsistencyProof.from_json(reply["proof"])
        if (consistency.old_size, consistency.new_size) != (published.head.size, newest.head.size):
            raise AuditCheckError("the board's consistency proof is for other tree sizes")
        consistency.verify(
            published.head.root, newest.head.root, old_size=published.head.size, new_size=newest.head.size
        )
    except (ApiError, CryptoError, KeyError, TypeError, ValueError) as exc:
        raise AuditCheckError(
            f"the newest board does not extend the board the audit was published on (a forked or rewritten board): {exc}"
        ) from None
    body = audit["entry"]["body"]
    info = endorsed.info
    try:
        ballot = EncryptedBallot.from_json(body["ballot"], info.manifest)
        verify_ballot(info.manifest, info.joint_key, info.fingerprint, body["credential"], ballot)
        if tracking_code(info.fingerprint, ballot).hex() != body["tracking_code"]:
            raise AuditCheckError("the tracking code does not match the audited ballot")
        choices = verify_audit_opening(info.manifest, info.joint_key, ballot, AuditOpening.from_json(body["opening"]))
    except (CryptoError, KeyError, TypeError) as exc:
        raise AuditCheckError(f"the audited ballot does not open: {exc}") from None
    return {
        "election_id": election_id,
        "tracking_code": body["tracking_code"],
        "short_code": format_tracking_code(bytes.fromhex(body["tracking_code"])),
        "leaf_index": index,
        "audit_tree_size": published.head.size,
        "newest_tree_size": newest.head.size,
        "choices": choices,
        "manifest": info.manifest,
    }


# --- the trustee's side: secrets live in the trustee's own file ---------------------------


def _write_private(path: Path, doc: dict) -> None:
    """Write a trustee file readable by its owner only (0600, a directory made
    for it 0700), atomically and durably: it holds a key share."""
    write_file(path, json.dumps(doc), private=True)


class TrusteeRefusal(Exception):
    """The trustee's client will not act on what the server showed it: the
    message says what was wrong and that the election's officials must be told."""


@dataclass(frozen=True)
class CeremonyView:
    """The ceremony as the signed ``election-created`` entry fixes it, never as
    the server's ceremony reply says: n, t, the trustees and this one's index."""

    params: threshold.CeremonyParameters
    manifest: Manifest
    trustee_ids: tuple[str, ...]
    index: int

    @property
    def co_trustees(self) -> list[tuple[int, str]]:
        return [(i, e) for i, e in enumerate(self.trustee_ids, start=1) if i != self.index]


class StateFileError(Exception):
    """The trustee's state file is not one this client wrote."""


def load_trustee_state(state_path: Path) -> dict:
    """The trustee's state file, its shape checked (a hand-edited or foreign file
    gets a clear message, not a traceback)."""
    if not state_path.exists():
        return {}
    try:
        state = json.loads(state_path.read_text(encoding="utf-8"))
    except (ValueError, UnicodeDecodeError):
        raise StateFileError(f"{state_path} is not a trustee state file (not JSON)") from None
    if not isinstance(state, dict):
        raise StateFileError(f"{state_path} is not a trustee state file (not a JSON object)")
    server_key = state.get("server_key")
    if server_key is not None and not (isinstance(server_key, str) and len(server_key) == 64 and _is_hex(server_key)):
        raise StateFileError(f"{state_path}: server_key must be 64 hex digits; restore the file from its backup")
    try:
        if "seen_head" in state:
            SignedTreeHead.from_json(state["seen_head"])
    except CryptoError:
        raise StateFileError(f"{state_path}: seen_head is not a signed tree head; restore the file from its backup") from None
    return state


def _is_hex(text: str) -> bool:
    return all(c in "0123456789abcdef" for c in text)


def pinned_head(client: Client, election_id: str, state: dict) -> SignedTreeHead:
    """The board's newest head, signed by the server key this trustee pinned at
    first contact and consistent with the newest head it saw before (both kept in
    ``state``, which the caller saves). A server that rolls its board back, forks
    it, or changes its key is refused."""
    if "server_key" not in state:
        state["server_key"] = client.get("/api/server-key")["server_key"]
    server_key = bytes.fromhex(state["server_key"])
    doc = client.get(f"/api/elections/{election_id}/board/head")
    head = SignedTreeHead.from_json({k: v for k, v in doc.items() if k != "server_key"})
    try:
        verify_tree_head(server_key, head)
    except CryptoError:
        raise TrusteeRefusal(
            "the board's tree head is not signed by the server key pinned in the state file; "
            "the server's key changed or the head is forged"
        ) from None
    if head.head.log_id != election_id:
        raise TrusteeRefusal(f"the server sent the board of {head.head.log_id!r}, not of {election_id!r}")
    if "seen_head" in state:
        seen = SignedTreeHead.from_json(state["seen_head"])
        if head.head.size < seen.head.size:
            raise TrusteeRefusal(
                f"the board shrank from {seen.head.size} to {head.head.size} entries since this trustee last saw it"
            )
        if head.head.size > seen.head.size:
            reply = client.get(
                f"/api/elections/{election_id}/board/consistency", old=seen.head.size, new=head.head.size
            )
            try:
                ConsistencyProof.from_json(reply["proof"]).verify(
                    seen.head.root, head.head.root, old_size=seen.head.size, new_size=head.head.size
                )
            except CryptoError:
                raise TrusteeRefusal(
                    "the board is not an extension of the board this trustee saw before (a forked board)"
                ) from None
        elif head.head.root != seen.head.root:
            raise TrusteeRefusal("the board changed without growing (a forked board)")
    state["seen_head"] = head.to_json()
    return head


def ceremony_view(client: Client, election_id: str, state: dict) -> CeremonyView:
    """n, t, the trustees and this trustee's index from the ``election-created``
    entry, proven on the pinned board; the ceremony fingerprint recomputed."""
    head = pinned_head(client, election_id, state)
    reply = client.get(f"/api/elections/{election_id}/board/inclusion", index=0, size=head.head.size)
    try:
        leaf = reply["entry"].encode("utf-8") if isinstance(reply["entry"], str) else canonical_json(reply["entry"])
        InclusionProof.from_json(reply["proof"]).verify(leaf_hash(leaf), head.head.root, index=0, tree_size=head.head.size)
        entry = json.loads(leaf)
    except (CryptoError, ValueError, KeyError, TypeError, AttributeError):
        raise TrusteeRefusal("the election-created entry is not on the signed board") from None
    body = entry.get("body") if isinstance(entry, dict) else None
    if not isinstance(body, dict) or entry.get("kind") != ELECTION_CREATED or entry.get("index") != 0:
        raise TrusteeRefusal("the board's first entry is not the election-created entry")
    try:
        manifest = Manifest.from_json(body.get("manifest"))
    except (CryptoError, KeyError, TypeError, ValueError, AttributeError) as exc:
        raise TrusteeRefusal(f"the election-created entry's manifest is malformed: {exc}") from None
    ids: Any = body.get("trustee_ids")  # JSON, checked by trustee_policy_error below
    n: Any = body.get("trustees")
    t: Any = body.get("threshold")
    policy_error = trustee_policy_error(ids, n, t)
    if policy_error:
        raise TrusteeRefusal(f"the election's trustees break the policy: {policy_error}")
    fp = ceremony_fingerprint(manifest, n, t)
    if body.get("ceremony_fingerprint") != fp.hex() or manifest.election_id != election_id:
        raise TrusteeRefusal("the election-created entry's ceremony fingerprint does not recompute")
    me = client.credential.employee_id if client.credential else None
    if me is None and client.credential is not None:
        # A card enrolled under another CA (e.g. JPKI) names nobody: the other
        # trustees and the voters check each trustee's signature against the
        # employee id in its certificate, so a trustee needs one that names them.
        raise TrusteeRefusal(
            "your certificate names no employee id: a trustee signs with a certificate that names them "
            "(e.g. the pilot CA's, for a card: voting ca issue --csr)"
        )
    if me not in ids:
        raise TrusteeRefusal(f"{me} is not among the trustees the board names: {', '.join(ids)}")
    return CeremonyView(threshold.CeremonyParameters(n, t, fp), manifest, tuple(ids), ids.index(me) + 1)


def trustee_ceremony_step(
    client: Client, election_id: str, state_path: Path, *, confirm: Callable[[CeremonyView], bool] | None = None
) -> str:
    """Advance this trustee's part of the key ceremony as far as it can go now.

    The parameters come from the signed board, never from the server's ceremony
    reply (which must agree with it); ``confirm`` is shown them once, before
    anything leaves this machine, and may decline. Idempotent and resumable: the
    state file records what is done. Returns one of "announced",
    "waiting_for_announcements", "shares_sent", "waiting_for_shares", "confirmed".
    """
    state = load_trustee_state(state_path)
    bind_trust_anchors(client, state)
    view = ceremony_view(client, election_id, state)
    info = client.ceremony(election_id)
    if info["index"] != view.index or info["parameters"] != view.params.to_json():
        raise TrusteeRefusal(
            f"the server's ceremony (trustee {info['index']}, {info['parameters']}) differs from the signed "
            f"election-created entry (trustee {view.index} of n={view.params.n}, t={view.params.t})"
        )
    params = view.params
    if "secrets" not in state and "key" not in state:
        if confirm is not None and not confirm(view):
            raise TrusteeRefusal("the trustee declined the ceremony's parameters")
        secrets, announcement = threshold.start_ceremony(params, view.index)
        state.update(election_id=election_id, secrets=secrets.to_json())
        _write_private(state_path, state)  # save before publishing
        _announce(client, view, announcement)
        return "announced"
    _write_private(state_path, state)  # the newest head seen
    if "key" in state:
        if info["joint_key"] is None:
            key = threshold.TrusteeKey.from_json(state["key"])
            client.post(f"/api/elections/{election_id}/ceremony/confirm", _confirmation(client, view, key, info, state))
        return "confirmed"
    secrets = threshold.TrusteeSecrets.from_json(state["secrets"])
    own = [a for a in info["announcements"] if a["index"] == secrets.index]
    if not own:  # saved but the announcement never reached the server: send it again
        _announce(client, view, threshold.make_announcement(params, secrets))
        return "announced"
    if len(info["announcements"]) < params.n:
        return "waiting_for_announcements"
    announcements = signed_announcements(client, view, info["announcements"])
    digest = announcements_digest(announcements)
    if state.setdefault("announcements", digest) != digest:
        raise TrusteeRefusal("the server now relays other announcements than those this trustee made its shares for")
    _write_private(state_path, state)  # pinned before any share is made
    if info["shares_sent"] == 0:
        shares = threshold.make_shares(params, secrets, announcements)
        client.post(f"/api/elections/{election_id}/ceremony/shares", [s.to_json() for s in shares])
        return "shares_sent"
    if len(info["shares_for_me"]) < params.n - 1:
        return "waiting_for_shares"
    shares = [threshold.EncryptedShare.from_json(s) for s in info["shares_for_me"]]
    key = threshold.finish_ceremony(params, secrets, announcements, shares)
    state = {**{k: v for k, v in state.items() if k != "secrets"}, "key": key.to_json()}
    _write_private(state_path, state)
    client.post(f"/api/elections/{election_id}/ceremony/confirm", _confirmation(client, view, key, info, state))
    return "confirmed"


def _announce(client: Client, view: CeremonyView, announcement: threshold.Announcement) -> None:
    signature = sign_announcement(client.logged_in, election_id=view.manifest.election_id, announcement=announcement.to_json())
    client.post(
        f"/api/elections/{view.manifest.election_id}/ceremony/announcement",
        {"announcement": announcement.to_json(), "signature": signature},
    )


def signed_announcements(client: Client, view: CeremonyView, docs: list) -> list[threshold.Announcement]:
    """Exactly one announcement per trustee 1..n, each signed by the trustee the
    board names at that index (certificates against the pinned trust anchor when
    the client has one), each with valid proofs: a server cannot slip in an
    announcement of its own to receive a co-trustee's shares."""
    indices: list[Any] | None = [d.get("index") for d in docs if isinstance(d, dict)] if isinstance(docs, list) else None
    if indices is None or not all(type(i) is int for i in indices) or sorted(indices) != list(range(1, view.params.n + 1)):
        raise TrusteeRefusal(f"the server did not relay exactly one announcement for each of trustees 1..{view.params.n}")
    announcements = []
    for doc in sorted(docs, key=lambda d: d["index"]):
        body = {k: v for k, v in doc.items() if k != "signature"}
        employee_id = view.trustee_ids[doc["index"] - 1]
        try:
            verify_announcement_signature(
                doc.get("signature"), election_id=view.manifest.election_id, announcement=body,
                employee_id=employee_id, trust_store=client.trust_store, now=datetime.now(UTC),
            )
            announcements.append(threshold.Announcement.from_json(body))
        except CryptoError as exc:
            raise TrusteeRefusal(f"the announcement of trustee {doc['index']} ({employee_id}) is not theirs: {exc}") from None
    try:
        threshold.verify_announcements(view.params, announcements)
    except CryptoError as exc:
        raise TrusteeRefusal(f"an announcement does not verify: {exc}") from None
    return announcements


def announcements_digest(announcements: list[threshold.Announcement]) -> str:
    """What the trustee's state file pins once it makes shares: the set must never change after."""
    return hashlib.sha256(canonical_json([a.to_json() for a in announcements])).hexdigest()


def _confirmation(client: Client, view: CeremonyView, key: threshold.TrusteeKey, info: dict, state: dict) -> dict:
    """The public share, and the endorsement of the joint key this trustee
    computes itself from the announcements it verified (never the server's)."""
    announcements = signed_announcements(client, view, info["announcements"])
    if state.get("announcements") not in (None, announcements_digest(announcements)):
        raise TrusteeRefusal("the server now relays other announcements than those this trustee made its shares for")
    joint = threshold.joint_public_key(announcements)
    if threshold.public_share(announcements, view.index) != key.public_share:
        raise TrusteeRefusal("the announcements the server relays now differ from those this trustee's key came from")
    fingerprint = election_fingerprint(view.manifest, joint)
    endorsement = sign_endorsement(
        client.logged_in, election_id=view.manifest.election_id, joint_key=joint.to_bytes(), fingerprint=fingerprint
    )
    return {"public_share": key.public_share.hex(), "endorsement": endorsement}


@dataclass(frozen=True)
class VerifiedAggregate:
    """The aggregate a trustee may decrypt: recomputed from the counted ballots
    of a board that ``voting verify`` passes."""

    ciphertexts: list[Ciphertext]
    fingerprint: bytes
    ballots_counted: int
    minimum: int
    board_size: int
    attested: int = 0
    """registrations attested by a TLS client certificate login, which the trustee accepted"""


#: The checks that must pass before a trustee decrypts (docs/election-record.md).
REQUIRED_CHECKS = (1, 2, 3, 4, 5, 6, 7, 8, 11)


def attested_refusal(count: int, accepted: int | None) -> str | None:
    """Why a trustee does not decrypt a record with ``count`` registrations
    attested by a TLS client certificate login, having accepted ``accepted``
    (None: none); None when it may. The number must be the record's exactly."""
    if accepted == count or (accepted is None and count == 0):
        return None
    given = "" if accepted is None else f" (--accept-attested {accepted} was given)"
    return (
        f"the record holds {count} registration{'s' if count != 1 else ''} attested by a TLS client certificate login"
        f"{given}: no card signed {'them' if count != 1 else 'it'}, so {'they rest' if count != 1 else 'it rests'} on the "
        "server's word only (a dishonest server could register and vote for card holders who never voted); "
        f"decrypt only if you accept that number: --accept-attested {count}"
    )


def verified_aggregate(
    client: Client, election_id: str, state: dict, progress: Callable[[str, int, int], None] | None = None, *, accept_attested: int | None = None
) -> VerifiedAggregate:
    """Download the public record and verify it as an auditor would, under the
    pinned server key and consistent with every head seen; take the aggregate
    from the board, never from the server's word. Registrations attested by a
    TLS client certificate login (the server's word only) are refused unless
    ``accept_attested`` is exactly their number."""
    from voting.record import files as F
    from voting.record.files import has_auditors_part, read_record_zip
    from voting.verify import verify_record

    head = pinned_head(client, election_id, state)
    # With the auditors' part: every registered credential is checked against an
    # eligible certificate (check 5), so credentials the server registered for
    # non-voters cannot pad the count around one voter's ballot.
    response = client.http.get(f"/api/elections/{election_id}/record/private")
    if response.status_code >= 400:
        raise ApiError(response.status_code, "record_unavailable", "the record with its auditors' part cannot be downloaded")
    files = read_record_zip(response.content)
    if not has_auditors_part(files):
        raise TrusteeRefusal("the record has no auditors' part, so the voters' eligibility cannot be checked")
    check_trust_anchors(files, client.trust_store)
    report = verify_record(files, server_key=bytes.fromhex(state["server_key"]), progress=progress, crls_after_events=False)
    failed = [n for n in REQUIRED_CHECKS if report.check(n).status != "pass"]
    if failed:
        reasons = "; ".join(f"check {n}: {report.check(n).first_failure or report.check(n).status}" for n in failed)
        raise TrusteeRefusal(f"the board does not verify, so nothing is decrypted: {reasons}")
    refusal = attested_refusal(report.attested_registrations, accept_attested)
    if refusal:
        raise TrusteeRefusal(refusal)
    entries = [json.loads(line) for line in files[F.BOARD].splitlines() if line.strip()]
    head_docs = json.loads(files[F.TREE_HEADS])
    heads = {h["size"]: h for h in head_docs}
    if heads.get(head.head.size, {}).get("root") != head.head.root.hex():
        raise TrusteeRefusal("the record's board is not the board whose signed head this trustee checked")
    aggregates = [e for e in entries if e["kind"] == AGGREGATE]
    joint = [e for e in entries if e["kind"] == JOINT_KEY]
    if len(aggregates) != 1 or len(joint) != 1:
        raise TrusteeRefusal("the board has no single aggregate: is the election closed?")
    manifest = Manifest.from_json(entries[0]["body"]["manifest"])
    body = aggregates[0]["body"]
    ciphertexts = [Ciphertext.from_json(c, allow_identity=True) for c in body["ciphertexts"]]
    if len(ciphertexts) != sum(len(q.option_ids) for q in manifest.questions):
        raise TrusteeRefusal("the aggregate does not hold exactly one ciphertext per option of the manifest")
    if body["ballots_counted"] < manifest.min_tally_ballots:
        raise TrusteeRefusal(
            f"only {body['ballots_counted']} ballot(s) are counted; the manifest requires at least "
            f"{manifest.min_tally_ballots} before the tally may be decrypted (a smaller tally would reveal votes)"
        )
    # The witnesses must have cosigned the board whose aggregate is decrypted: the
    # record's own newest head (check 7 verified it), not merely the head the
    # server showed before, which may predate the aggregate.
    newest = SignedTreeHead.from_json(head_docs[-1])
    verify_tree_head(bytes.fromhex(state["server_key"]), newest)
    if newest.head.size != len(entries) or newest.head.size <= aggregates[0]["index"]:
        raise TrusteeRefusal("the record's newest tree head does not cover its board and its aggregate")
    _require_witnesses(client, election_id, manifest, state, newest, aggregates[0]["index"], progress)
    return VerifiedAggregate(
        ciphertexts, bytes.fromhex(joint[0]["body"]["fingerprint"]), body["ballots_counted"], manifest.min_tally_ballots, len(entries),
        report.attested_registrations,
    )


def _require_witnesses(
    client: Client, election_id: str, manifest: Manifest, state: dict, head: SignedTreeHead, aggregate_index: int,
    progress: Callable[[str, int, int], None] | None,
) -> None:
    """The election's quorum of witnesses cosigned a head that holds the
    aggregate and is on one board with the head this trustee verified: the
    board being decrypted is the one everybody else is shown."""
    from voting import witnessed

    def tell(message: str) -> None:
        if callable(progress):
            progress(message, 0, 1)

    try:
        witnessed.witnessed_board(
            client, election_id, manifest.witnesses, bytes.fromhex(state["server_key"]), head, aggregate_index,
            wait_s=witnessed.TRUSTEE_WAIT_S, progress=tell,
        )
    except (witnessed.SplitView, witnessed.WitnessWait, witnessed.Unavailable) as exc:
        raise TrusteeRefusal(f"nothing is decrypted: {exc}") from None


def wait_for_cosigned_board(
    client: Client,
    election_id: str,
    seconds: float,
    *,
    progress: Callable[[int, int, int, float], None] | None = None,
    poll_s: float = 1.0,
) -> tuple[int, int | None]:
    """Wait until the quorum of the election's witnesses cosigned the whole
    board, at most ``seconds`` (before an export: the record's check 12 needs
    it); ``progress(quorum, cosigned, size, seconds left)`` each time they
    get further. Returns the quorum (0: the election names no witnesses) and the
    board's size if they cosigned all of it, else None."""
    board = f"/api/elections/{election_id}/board"
    quorum = client.get(f"{board}/witnesses")["quorum"]
    if not quorum:
        return 0, None
    deadline, shown = time.monotonic() + seconds, None
    while True:
        size = client.get(f"{board}/head")["size"]
        try:
            cosigned = client.get(f"{board}/cosigned")["tree_head"]["size"]
        except ApiError as exc:
            if exc.code != "not_cosigned":
                raise
            cosigned = 0
        if cosigned >= size:
            return quorum, size
        left = deadline - time.monotonic()
        if left <= 0:
            return quorum, None
        if progress is not None and shown != (cosigned, size):
            progress(quorum, cosigned, size, left)
            shown = (cosigned, size)
        time.sleep(min(poll_s, left))


def check_trust_anchors(files: dict, trust_store: TrustStore | None) -> None:
    """Every trust anchor of the record (against which check 5 judges the
    voters' certificates: the login anchors of auditors/trust.json and the card
    anchors of auditors/enrollments.json) must be a root this trustee pinned: a
    server could otherwise name a CA of its own, make certificates or "cards"
    under it and register credentials for roll members who never vote."""
    from voting.record import files as F
    from voting.verify import Bad, unpinned_anchors

    if trust_store is None:
        return
    pinned = {root.public_bytes(serialization.Encoding.DER) for root in trust_store.roots}
    try:
        if not json.loads(files[F.TRUST])["trust_anchors"]:
            raise TrusteeRefusal("the record names no trust anchor to judge eligibility against")
        foreign = unpinned_anchors(files, pinned)
    except (Bad, KeyError, TypeError, ValueError) as exc:
        raise TrusteeRefusal(f"the record's trust anchors cannot be read: {exc}") from None
    if foreign:
        raise TrusteeRefusal(
            f"the record judges eligibility against {'; '.join(foreign)}, which this trustee did not pin; nothing is "
            "decrypted (pin a card anchor's root with --trust-anchor, or in the trustee file, only if the election "
            "notice names it)"
        )


def pinned_trust_store(state: dict) -> TrustStore | None:
    """The root CA pinned in a trustee file the trustee page made
    (``state["trust_anchors"]``: each the base64 of a root's DER, or PEM text),
    or None when the state pins none (a state file the CLI's ceremony made)."""
    if "trust_anchors" not in state:
        return None
    anchors = state["trust_anchors"]
    anchors = [anchors] if isinstance(anchors, str) else anchors
    if not isinstance(anchors, list) or not anchors or not all(isinstance(a, str) for a in anchors):
        raise TrusteeRefusal("the trustee file's pinned root CA (trust_anchors) is missing or malformed")
    try:
        roots: list[x509.Certificate] = []
        for anchor in anchors:
            raw = anchor.encode("ascii") if anchor.lstrip().startswith("-----BEGIN") else base64.b64decode(anchor, validate=True)
            if raw.lstrip().startswith(b"-----BEGIN"):
                roots.extend(TrustStore.from_pem(raw).roots)
            else:
                roots.extend(TrustStore.from_der([raw]).roots)
        return TrustStore(tuple(roots))
    except (CryptoError, ValueError, TypeError) as exc:
        raise TrusteeRefusal(f"the trustee file's pinned root CA (trust_anchors) is unreadable: {exc}") from None


def bind_trust_anchors(client: Client, state: dict) -> None:
    """The root CA pinned in the trustee file is the one the co-trustees' and the
    voters' certificates are checked against: the client uses it, and a
    ``--trust-anchor`` that names other roots is refused (it may only repeat the
    pinned one). A state that pins none keeps the client's trust store."""
    pinned = pinned_trust_store(state)
    if pinned is None:
        return
    if client.trust_store is None:
        client.trust_store = pinned
        return
    der = lambda store: {root.public_bytes(serialization.Encoding.DER) for root in store.roots}  # noqa: E731
    if der(client.trust_store) != der(pinned):
        raise TrusteeRefusal(
            "the --trust-anchor given is not the root CA pinned in the trustee file; use the root.pem of the "
            "election notice, or leave --trust-anchor out to use the pinned one"
        )


def trustee_decrypt(
    client: Client,
    election_id: str,
    state_path: Path,
    *,
    progress: Callable[[str, int, int], None] | None = None,
    accept_attested: int | None = None,
) -> dict:
    """Verify the board, then decrypt its aggregate with this trustee's key share
    and submit the partial decryption.

    Resumable: the partial decryption is saved in the trustee's file before it is
    sent, and a re-run sends the saved one again. (Its proofs are randomized, so a
    fresh one would differ, and the server keeps the first one it accepted.)"""
    state = load_trustee_state(state_path)
    if "key" not in state:
        raise RuntimeError("this trustee file has no finished key; complete the ceremony first")
    bind_trust_anchors(client, state)
    if "partial_decryption" not in state:
        key = threshold.TrusteeKey.from_json(state["key"])
        checked = verified_aggregate(client, election_id, state, progress, accept_attested=accept_attested)
        partial = threshold.partial_decrypt(key, checked.ciphertexts, fingerprint=checked.fingerprint)
        state = {**state, "partial_decryption": partial.to_json(), "ballots_counted": checked.ballots_counted}
        _write_private(state_path, state)  # save before sending
    return client.post(f"/api/elections/{election_id}/partial-decryptions", state["partial_decryption"])
