"""A Python client of the HTTP API, shared by the CLI, the tests and the load tests.

It does on the employee's machine what must never happen on the server:
opening the credential file with the PIN, signing the login challenge,
encrypting the ballot and signing its tracking code, and (for trustees)
holding the key share.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import httpx

from crypto import threshold
from crypto.ballots import (
    AuditOpening,
    EncryptedBallot,
    Manifest,
    choices_from_ids,
    election_fingerprint,
    encrypt_ballot,
    format_tracking_code,
    tracking_code,
)
from crypto.credentials import Credential, make_login_token, sign_ballot
from crypto.elgamal import Ciphertext
from crypto.group import Point
from crypto.log import ConsistencyProof, SignedTreeHead
from crypto.receipts import verify_receipt, verify_receipt_against


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


class Client:
    def __init__(self, base_url: str, *, timeout: float = 60.0, transport: httpx.BaseTransport | None = None) -> None:
        self.base_url = base_url.rstrip("/")
        self.http = httpx.Client(base_url=self.base_url, timeout=timeout, transport=transport)
        self.credential: Credential | None = None
        self.session: dict | None = None

    def close(self) -> None:
        self.http.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    # -- transport ------------------------------------------------------------------

    def request(self, method: str, path: str, **kwargs: object) -> object:
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

    def get(self, path: str, **params: object) -> object:
        return self.request("GET", path, params={k: v for k, v in params.items() if v is not None})

    def post(self, path: str, body: object = None, **kwargs: object) -> object:
        if body is not None:
            kwargs["json"] = body
        return self.request("POST", path, **kwargs)

    # -- login ----------------------------------------------------------------------

    def login(self, credential: Credential) -> dict:
        challenge = self.post("/api/auth/challenge")
        token = make_login_token(
            credential.private_key,
            credential.chain,
            nonce=challenge["nonce"],
            audience=challenge["audience"],
            now=datetime.now(UTC),
        )
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

    def import_roll(self, election_id: str, csv_text: str) -> dict:
        return self.post(
            f"/api/elections/{election_id}/roll", content=csv_text.encode("utf-8"), headers={"Content-Type": "text/csv"}
        )

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
        return ElectionInfo.from_status(self.status(election_id))

    def prepare_ballot(self, election_id: str, selected: dict[str, list[str]] | list[list[int]]) -> PreparedBallot:
        """Encrypt and sign on this machine; nothing is sent yet."""
        if self.credential is None:
            raise RuntimeError("log in first")
        info = self.election_info(election_id)
        pseudonym = self.get(f"/api/elections/{election_id}/voter")["pseudonym"]
        choices = choices_from_ids(info.manifest, selected) if isinstance(selected, dict) else selected
        return prepare_ballot(info, pseudonym, choices, self.credential)

    def cast(self, prepared: PreparedBallot) -> dict:
        return self.post(f"/api/elections/{prepared.election_id}/ballots/", prepared.cast_body())

    def check_receipt(self, receipt: dict) -> dict:
        """Check a receipt against this server's newest tree head: the server's
        signatures, the inclusion proof, and consistency with the newest head."""
        election_id = receipt["election_id"]
        server_key = bytes.fromhex(self.get("/api/server-key")["server_key"])
        sth = verify_receipt(receipt, server_key=server_key)
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
    info: ElectionInfo, pseudonym: str, choices: list[list[int]], credential: Credential
) -> PreparedBallot:
    ballot, opening = encrypt_ballot(info.manifest, info.joint_key, info.fingerprint, pseudonym, choices)
    code = tracking_code(info.fingerprint, ballot)
    signature = sign_ballot(credential.private_key, election_fingerprint=info.fingerprint, tracking_code=code)
    return PreparedBallot(info.election_id, ballot, opening, code, signature)


# --- the trustee's side: secrets live in the trustee's own file ---------------------------


def _write_private(path: Path, doc: dict) -> None:
    """Write a trustee file readable by its owner only (atomically)."""
    tmp = path.with_suffix(path.suffix + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        json.dump(doc, handle)
    os.replace(tmp, path)


def trustee_ceremony_step(client: Client, election_id: str, state_path: Path) -> str:
    """Advance this trustee's part of the key ceremony as far as it can go now.

    Idempotent and resumable: the state file records what is done. Returns one
    of "announced", "waiting_for_announcements", "shares_sent",
    "waiting_for_shares", "confirmed".
    """
    info = client.ceremony(election_id)
    params = threshold.CeremonyParameters.from_json(info["parameters"])
    state = json.loads(state_path.read_text()) if state_path.exists() else {}
    if "secrets" not in state and "key" not in state:
        secrets, announcement = threshold.start_ceremony(params, info["index"])
        state = {"election_id": election_id, "secrets": secrets.to_json()}
        _write_private(state_path, state)  # save before publishing
        client.post(f"/api/elections/{election_id}/ceremony/announcement", announcement.to_json())
        return "announced"
    if "key" in state:
        key = threshold.TrusteeKey.from_json(state["key"])
        if info["joint_key"] is None:
            client.post(f"/api/elections/{election_id}/ceremony/confirm", {"public_share": key.public_share.hex()})
        return "confirmed"
    secrets = threshold.TrusteeSecrets.from_json(state["secrets"])
    own = [a for a in info["announcements"] if a["index"] == secrets.index]
    if not own:  # saved but the announcement never reached the server: send it again
        client.post(
            f"/api/elections/{election_id}/ceremony/announcement",
            threshold.make_announcement(params, secrets).to_json(),
        )
        return "announced"
    if len(info["announcements"]) < params.n:
        return "waiting_for_announcements"
    announcements = [threshold.Announcement.from_json(a) for a in info["announcements"]]
    if info["shares_sent"] == 0:
        shares = threshold.make_shares(params, secrets, announcements)
        client.post(f"/api/elections/{election_id}/ceremony/shares", [s.to_json() for s in shares])
        return "shares_sent"
    if len(info["shares_for_me"]) < params.n - 1:
        return "waiting_for_shares"
    shares = [threshold.EncryptedShare.from_json(s) for s in info["shares_for_me"]]
    key = threshold.finish_ceremony(params, secrets, announcements, shares)
    state = {"election_id": election_id, "key": key.to_json()}
    _write_private(state_path, state)
    client.post(f"/api/elections/{election_id}/ceremony/confirm", {"public_share": key.public_share.hex()})
    return "confirmed"


def trustee_decrypt(client: Client, election_id: str, state_path: Path) -> dict:
    """Decrypt the published aggregate with this trustee's key share and submit it.

    Resumable: the partial decryption is saved in the trustee's file before it is
    sent, and a re-run sends the saved one again. (Its proofs are randomized, so a
    fresh one would differ, and the server keeps the first one it accepted.)"""
    state = json.loads(state_path.read_text())
    if "key" not in state:
        raise RuntimeError("this trustee file has no finished key; complete the ceremony first")
    if "partial_decryption" not in state:
        key = threshold.TrusteeKey.from_json(state["key"])
        aggregate = client.aggregate(election_id)
        ciphertexts = [Ciphertext.from_json(c, allow_identity=True) for c in aggregate["ciphertexts"]]
        partial = threshold.partial_decrypt(key, ciphertexts, fingerprint=bytes.fromhex(aggregate["fingerprint"]))
        state = {**state, "partial_decryption": partial.to_json()}
        _write_private(state_path, state)  # save before sending
    return client.post(f"/api/elections/{election_id}/partial-decryptions", state["partial_decryption"])
