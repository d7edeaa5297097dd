"""A witness of the bulletin board: it cosigns each election's newest tree head
once it has checked that head extends the last one it cosigned
(docs/parts/witness.md; running one: docs/operations.md, "Witnesses").

A witness is worth something only if it never cosigns two heads that are not
prefixes of one board. Everything here serves that: the newest cosigned head
per election is written durably to the witness's state file *before* the
cosignature leaves the machine; an inconsistency is refused for good, with a
report file as evidence; a state file restored from an older copy (which
would let the witness cosign a fork) is detected against the cosignatures the
server already holds.

The pieces take their dependencies as arguments (an ``httpx.Client``, the
clock, a logger) so tests and ``voting demo`` drive them directly;
``voting witness`` (voting/cli/witness.py) is the command around them.
"""

from __future__ import annotations

import json
import logging
import os
import re
import stat
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import MappingProxyType
from typing import Any

import httpx
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from crypto import log as merkle
from crypto.ballots import Manifest
from crypto.encoding import canonical_json
from crypto.entry_kinds import ELECTION_CREATED
from crypto.errors import CryptoError
from crypto.witness import Cosignature, WitnessPolicy, cosign, verify_cosignature
from voting import tls
from voting.files import write_file

STATE_FORMAT = "votingpilot-witness-state"
STATE_VERSION = 1
REPORT_FORMAT = "votingpilot-witness-refusal"
ELECTION_ID = re.compile(r"\A[A-Za-z0-9._-]{1,64}\Z")
"""An election id as manifests allow it: also safe in a report file's name."""

log = logging.getLogger("voting.witness")


def now_ms() -> int:
    """The wall clock in milliseconds since the Unix epoch (the default clock)."""
    return time.time_ns() // 1_000_000


# --- the state file -----------------------------------------------------------------------


class WitnessStateError(Exception):
    """The state file is missing, damaged, foreign or unsafe: one line saying which."""


@dataclass(frozen=True, slots=True)
class Cosigned:
    """The newest head this witness cosigned for an election, with its cosignature."""

    tree_head: merkle.SignedTreeHead
    cosignature: Cosignature

    @property
    def size(self) -> int:
        return self.tree_head.head.size

    def to_json(self) -> dict[str, object]:
        return {"tree_head": self.tree_head.to_json(), "cosignature": self.cosignature.to_json()}

    @classmethod
    def from_json(cls, doc: object) -> Cosigned:
        if not isinstance(doc, dict) or set(doc) != {"tree_head", "cosignature"}:
            raise ValueError("cosigned must be an object with exactly tree_head and cosignature")
        return cls(merkle.SignedTreeHead.from_json(doc["tree_head"]), Cosignature.from_json(doc["cosignature"]))


@dataclass(frozen=True, slots=True)
class ElectionState:
    server_url: str
    server_key: bytes | None
    """pinned from the election-created entry at first contact"""
    cosigned: Cosigned | None = None
    refused: Mapping[str, object] | None = None
    """{"reason", "report", "time_ms"} once refused: never cosigned again"""

    def to_json(self) -> dict[str, object]:
        return {
            "server_url": self.server_url,
            "server_key": self.server_key.hex() if self.server_key is not None else None,
            "cosigned": self.cosigned.to_json() if self.cosigned else None,
            "refused": dict(self.refused) if self.refused is not None else None,
        }

    @classmethod
    def from_json(cls, doc: object) -> ElectionState:
        if not isinstance(doc, dict) or set(doc) != {"server_url", "server_key", "cosigned", "refused"}:
            raise ValueError("an election must have exactly server_url, server_key, cosigned and refused")
        key = doc["server_key"]
        if key is not None and not (isinstance(key, str) and re.fullmatch(r"[0-9a-f]{64}", key)):
            raise ValueError("server_key must be 64 lowercase hex digits or null")
        refused = doc["refused"]
        if refused is not None and not (
            isinstance(refused, dict) and isinstance(refused.get("reason"), str) and isinstance(refused.get("report"), str)
        ):
            raise ValueError("refused must be null or an object with reason and report")
        if not isinstance(doc["server_url"], str):
            raise ValueError("server_url must be a string")
        cosigned = Cosigned.from_json(doc["cosigned"]) if doc["cosigned"] is not None else None
        return cls(
            doc["server_url"],
            bytes.fromhex(key) if key is not None else None,
            cosigned,
            MappingProxyType(dict(refused)) if refused is not None else None,
        )


@dataclass(frozen=True, slots=True)
class CardRef:
    """Where a witness's key lives when it is on a card (a PKCS#11 token): the
    module, the token's label and the key (label or ``id:HEX``), and its public
    key. The state file then holds no private key; the card signs."""

    module: str
    token: str
    key: str
    public_key: bytes

    def to_json(self) -> dict[str, object]:
        return {"module": self.module, "token": self.token, "key": self.key}

    @classmethod
    def from_json(cls, doc: object, public_key: bytes) -> CardRef:
        if not isinstance(doc, dict) or set(doc) != {"module", "token", "key"}:
            raise ValueError("card must be an object with exactly module, token and key")
        if not all(isinstance(doc[k], str) and doc[k] for k in ("module", "token", "key")):
            raise ValueError("the card's module, token and key must be non-empty strings")
        return cls(doc["module"], doc["token"], doc["key"], public_key)


@dataclass(frozen=True, slots=True)
class WitnessState:
    """Everything a witness keeps: its identity and, per election, the newest
    head it cosigned. Immutable: an update is a new state, so the HTTP log's
    threads always read a whole one.

    The key is either ``private_key`` (in the state file) or on a card
    (``card``; ``private_key`` is None and the card signs, see ``CardSigner``)."""

    name: str
    url: str | None
    private_key: Ed25519PrivateKey | None = field(repr=False)
    elections: Mapping[str, ElectionState] = field(default_factory=lambda: MappingProxyType({}))
    card: CardRef | None = None

    def __post_init__(self) -> None:
        if (self.private_key is None) == (self.card is None):
            raise ValueError("a witness has either a private key or a card, not both")

    @property
    def public_key(self) -> bytes:
        if self.card is not None:
            return self.card.public_key
        assert self.private_key is not None  # a key or a card: checked when made
        return self.private_key.public_key().public_bytes_raw()

    def member(self) -> dict[str, object]:
        """The entry for a manifest's ``witnesses.members``."""
        doc: dict[str, object] = {"name": self.name, "public_key": self.public_key.hex()}
        if self.url is not None:
            doc["url"] = self.url
        return doc

    def with_election(self, election_id: str, election: ElectionState) -> WitnessState:
        return replace(self, elections=MappingProxyType({**self.elections, election_id: election}))

    def to_json(self) -> dict[str, object]:
        if self.card is not None:
            key: dict[str, object] = {"card": self.card.to_json()}
        else:
            assert self.private_key is not None  # a key or a card: checked when made
            key = {"private_key": self.private_key.private_bytes_raw().hex()}
        return {
            "format": STATE_FORMAT,
            "version": STATE_VERSION,
            "name": self.name,
            "url": self.url,
            **key,
            "public_key": self.public_key.hex(),
            "elections": {e: s.to_json() for e, s in sorted(self.elections.items())},
        }

    @classmethod
    def from_json(cls, doc: object) -> WitnessState:
        """Raises ValueError (or CryptoError) saying what is wrong."""
        if not isinstance(doc, dict) or doc.get("format") != STATE_FORMAT:
            raise ValueError("not a witness state file")
        if doc.get("version") != STATE_VERSION:
            raise ValueError(f"state file version {doc.get('version')!r}; this program reads version {STATE_VERSION}")
        common = {"format", "version", "name", "url", "public_key", "elections"}
        if set(doc) not in (common | {"private_key"}, common | {"card"}):
            raise ValueError(f"the state file must have exactly {sorted(common | {'private_key'})} (or card instead of private_key)")
        key, card = None, None
        if "card" in doc:
            public = doc["public_key"]
            if not (isinstance(public, str) and re.fullmatch(r"[0-9a-f]{64}", public)):
                raise ValueError("public_key must be 64 lowercase hex digits")
            card = CardRef.from_json(doc["card"], bytes.fromhex(public))
        else:
            private = doc["private_key"]
            if not (isinstance(private, str) and re.fullmatch(r"[0-9a-f]{64}", private)):
                raise ValueError("private_key must be 64 lowercase hex digits")
            key = Ed25519PrivateKey.from_private_bytes(bytes.fromhex(private))
            if doc["public_key"] != key.public_key().public_bytes_raw().hex():
                raise ValueError("public_key does not belong to private_key")
        _check_identity(doc["name"], doc["url"])
        elections = doc["elections"]
        if not isinstance(elections, dict) or not all(isinstance(e, str) and ELECTION_ID.match(e) for e in elections):
            raise ValueError("elections must be an object keyed by election id")
        parsed = {}
        for election_id, election in elections.items():
            try:
                parsed[election_id] = ElectionState.from_json(election)
            except (ValueError, CryptoError) as exc:
                raise ValueError(f"election {election_id}: {exc}") from None
        return cls(doc["name"], doc["url"], key, MappingProxyType(parsed), card)


def _check_identity(name: object, url: object) -> None:
    """The name and URL as a manifest will accept them (raises ValueError)."""
    member: dict[str, object] = {"name": name, "public_key": _ANY_KEY}
    if url is not None:
        member["url"] = url
    try:
        WitnessPolicy.from_json({"quorum": 1, "members": [member]})
    except CryptoError as exc:
        raise ValueError(str(exc).removeprefix("witness 1: ")) from None


_ANY_KEY = Ed25519PrivateKey.from_private_bytes(bytes(32)).public_key().public_bytes_raw().hex()
"""A valid public key, to check a name and URL with the manifest's own rules."""


def new_state(name: str, url: str | None = None) -> WitnessState:
    """A witness with a fresh Ed25519 key and no elections yet."""
    _check_identity(name, url)
    return WitnessState(name, url, Ed25519PrivateKey.generate())


def new_card_state(name: str, url: str | None, card: CardRef) -> WitnessState:
    """A witness whose Ed25519 key is on a card (``card``), no elections yet."""
    _check_identity(name, url)
    return WitnessState(name, url, None, card=card)


# --- a witness key on a card ---------------------------------------------------------------


class SignerUnavailable(Exception):
    """The card did not sign (pulled out, logged out, refused): nothing was
    cosigned or saved; the round is tried again."""


#: Rounds in a row in which the card did not sign before ``run_rounds`` gives up
#: (``SignerGone``): a card pulled out and put back needs a new session, which
#: only a new process opens (under systemd, the restart after EX_TEMPFAIL).
SIGNER_GONE_ROUNDS = 3


class SignerGone(Exception):
    """The card has not signed for ``SIGNER_GONE_ROUNDS`` rounds in a row: stop,
    so that a new start opens the card again (and checks it is the same key)."""


class CardSigner:
    """A witness's Ed25519 key on a card, in the shape ``crypto.witness.cosign``
    uses a key (``public_key()``, ``sign()``): CKM_EDDSA on the token
    (voting/card.py ``CardKey``). Card failures become ``SignerUnavailable``."""

    def __init__(self, key: object) -> None:
        if not isinstance(key.public_key(), Ed25519PublicKey):  # type: ignore[attr-defined]
            raise ValueError(f"a witness key must be Ed25519; {key!r} is not")
        self.key = key

    def public_key(self) -> Ed25519PublicKey:
        public: Ed25519PublicKey = self.key.public_key()  # type: ignore[attr-defined]
        return public

    def sign(self, message: bytes) -> bytes:
        import sys

        try:
            return self.key.sign_jws(message)  # type: ignore[attr-defined]
        except Exception as exc:
            card = sys.modules.get("voting.card")
            if card is not None and isinstance(exc, card.CardError):
                raise SignerUnavailable(str(exc)) from None
            raise


def load_state(path: Path) -> WitnessState:
    """The state file, checked; WitnessStateError (one line) if it cannot be used."""
    try:
        mode = stat.S_IMODE(path.stat().st_mode)
        raw = path.read_bytes()
    except FileNotFoundError:
        raise WitnessStateError(f"{path}: no such witness state file (create one with: voting witness init --state {path})") from None
    except OSError as exc:
        raise WitnessStateError(f"{path}: cannot read the witness state file: {exc.strerror}") from None
    if os.name == "posix" and mode & 0o077:
        raise WitnessStateError(
            f"{path} holds the witness's private key but others may read it (mode {mode:o}): chmod 600 {path}"
        )
    try:
        doc = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        raise WitnessStateError(
            f"{path} is not a witness state file (not JSON): it is damaged; restore the NEWEST backup, never an older one"
        ) from None
    try:
        return WitnessState.from_json(doc)
    except (ValueError, CryptoError) as exc:
        raise WitnessStateError(f"{path} is not a usable witness state file: {exc}") from None


def save_state(path: Path, state: WitnessState) -> None:
    """Replace the state file atomically and durably (mode 0600): once this
    returns, a crash or power cut leaves the new state, never a mix or the old one."""
    write_file(path, json.dumps(state.to_json(), ensure_ascii=False, indent=1), private=True)


def create_state_file(path: Path, state: WitnessState) -> None:
    """Write a new state file; never overwrites one (that would lose a key and
    the heads it cosigned)."""
    if path.exists():
        raise WitnessStateError(f"{path} already exists: a witness keeps its key and state file for good; choose another file")
    try:
        write_file(path, json.dumps(state.to_json(), ensure_ascii=False, indent=1), private=True, exclusive=True)
    except FileExistsError:  # it appeared meanwhile
        raise WitnessStateError(f"{path} already exists; not overwriting it") from None


class StateLock:
    """An exclusive lock beside the state file, held while ``run`` works: two
    witness processes on one state file could each cosign a different branch."""

    def __init__(self, path: Path) -> None:
        if path.is_symlink():
            # Two paths to one file would take two different locks.
            raise WitnessStateError(f"{path} is a symbolic link: give the state file's real path")
        path = path.resolve()
        self.path = path.with_name(path.name + ".lock")
        self._fd: int | None = None

    def __enter__(self) -> StateLock:
        import fcntl

        self._fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(self._fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(self._fd)
            self._fd = None
            raise WitnessStateError(
                f"another witness process is running with this state file (it holds {self.path}); run only one"
            ) from None
        return self

    def __exit__(self, *_: object) -> None:
        if self._fd is not None:
            os.close(self._fd)  # closing releases the lock
            self._fd = None


def report_path(state_path: Path, election_id: str) -> Path:
    """Where a refusal's evidence goes: ``<state>.refused-<election>.json``, or,
    should that exist already, a name with the time (evidence is never overwritten)."""
    path = state_path.with_name(f"{state_path.name}.refused-{election_id}.json")
    if path.exists():
        path = path.with_name(f"{state_path.name}.refused-{election_id}-{now_ms()}.json")
    return path


# --- the server, as the witness sees it -------------------------------------------------------


class ServerUnavailable(Exception):
    """The server did not answer usefully (down, an error, not JSON): try again later."""


class ServerRefused(ServerUnavailable):
    """The server answered with a problem detail (4xx)."""

    def __init__(self, status: int, code: str, detail: str) -> None:
        super().__init__(f"the server refused: {detail} [{code}, HTTP {status}]")
        self.status, self.code = status, code


class BoardApi:
    """The public board endpoints of one server. ``http`` is any httpx.Client
    (tests give one with a transport or a short timeout)."""

    def __init__(self, server_url: str, http: httpx.Client | None = None) -> None:
        self.server_url = server_url.rstrip("/")
        self.http = http or httpx.Client(timeout=30, verify=tls.client_context())

    def close(self) -> None:
        self.http.close()

    def _path(self, election_id: str, what: str) -> str:
        return f"{self.server_url}/api/elections/{election_id}/board/{what}"

    def _call(self, method: str, url: str, **kwargs: Any) -> Any:
        try:
            response = self.http.request(method, url, **kwargs)
        except httpx.HTTPError as exc:
            raise ServerUnavailable(
                tls.describe(exc, self.server_url) or f"cannot reach {self.server_url}: {exc or type(exc).__name__}"
            ) from None
        try:
            body = response.json()
        except ValueError:
            body = None
        if 400 <= response.status_code < 500 and isinstance(body, dict):
            raise ServerRefused(response.status_code, str(body.get("code")), str(body.get("detail", ""))[:300])
        if response.status_code >= 400 or body is None:
            raise ServerUnavailable(f"{self.server_url} answered HTTP {response.status_code} to {method} {url.split('?')[0]}")
        return body

    def get(self, election_id: str, what: str, **params: object) -> Any:
        return self._call("GET", self._path(election_id, what), params=params)

    def head(self, election_id: str) -> Any:
        return self.get(election_id, "head")

    def inclusion(self, election_id: str, index: int, size: int) -> Any:
        return self.get(election_id, "inclusion", index=index, size=size)

    def consistency(self, election_id: str, old: int, new: int) -> Any:
        return self.get(election_id, "consistency", old=old, new=new)

    def witnesses(self, election_id: str) -> object:
        return self.get(election_id, "witnesses")

    def post_cosignature(self, election_id: str, size: int, cosignature: Cosignature) -> object:
        body = {"size": size, "cosignature": cosignature.to_json()}
        return self._call("POST", self._path(election_id, "cosignatures"), json=body)


# --- one poll of one election --------------------------------------------------------------


class Refusal(Exception):
    """The server showed something no honest board shows: this election is never cosigned again."""

    def __init__(self, reason: str, **evidence: object) -> None:
        super().__init__(reason)
        self.reason = reason
        self.evidence = evidence


class NotWitnessable(Exception):
    """This election cannot be witnessed by this key (not named, no such election, …)."""


@dataclass(frozen=True, slots=True)
class Outcome:
    status: str
    """cosigned, current (nothing new), refused, not_named, unavailable"""
    message: str
    signer_failed: bool = False
    """unavailable because the card did not sign (not the server)"""

    @property
    def ok(self) -> bool:
        return self.status in ("cosigned", "current")


class WitnessRunner:
    """Polls elections on one server and cosigns what checks out.

    ``state_path`` is read once here and rewritten on every change; the caller
    holds a StateLock so no other process writes it meanwhile."""

    def __init__(
        self,
        state_path: Path,
        api: BoardApi,
        *,
        clock: Callable[[], int] = now_ms,
        logger: logging.Logger = log,
        signer: CardSigner | None = None,
    ) -> None:
        """``signer``: the card, when the state file says the key is on one."""
        self.state_path = state_path
        self.api = api
        self.clock = clock
        self.log = logger
        self.state = load_state(state_path)
        if self.state.card is not None:
            if signer is None:
                raise WitnessStateError(f"{state_path}: this witness's key is on card {self.state.card.token!r}; open the card first")
            if signer.public_key().public_bytes_raw() != self.state.public_key:
                raise WitnessStateError(
                    f"the key {self.state.card.key!r} on card {self.state.card.token!r} is not this witness's key "
                    f"{self.state.public_key.hex()[:16]}…; insert the witness's own card"
                )
        elif signer is not None:
            raise WitnessStateError(f"{state_path}: this witness's key is in its state file, not on a card")
        self.signer = signer
        self._compared: set[str] = set()
        """elections checked against the server's stored cosignatures since start"""
        self._unposted: set[str] = set()
        """elections whose newest cosignature the server may not have"""

    def round(self, election_ids: Iterable[str]) -> dict[str, Outcome]:
        return {election_id: self.poll(election_id) for election_id in election_ids}

    def poll(self, election_id: str) -> Outcome:
        """One step for one election; never raises for what the server does."""
        current = self.state.elections.get(election_id)
        if current is not None and current.refused is not None:
            return Outcome("refused", f"{election_id}: refused earlier ({current.refused['reason']}); report: {current.refused['report']}")
        try:
            if election_id not in self._compared:
                self._compare_with_server(election_id)
                self._compared.add(election_id)
            if election_id in self._unposted:
                self._post(election_id)
            outcome = self._step(election_id)
        except Refusal as refusal:
            return self._refuse(election_id, refusal)
        except NotWitnessable as exc:
            self.log.error("%s", exc)
            return Outcome("not_named", str(exc))
        except ServerUnavailable as exc:
            message = f"{election_id}: {exc}; trying again next round / 次回再試行します"
            self.log.warning("%s", message)
            return Outcome("unavailable", message)
        except SignerUnavailable as exc:
            message = f"{election_id}: the card did not sign ({exc}); nothing was cosigned; trying again next round / カードで署名できませんでした"
            self.log.warning("%s", message)
            return Outcome("unavailable", message, signer_failed=True)
        if outcome.status == "cosigned":
            self.log.info("%s", outcome.message)
        return outcome

    # -- the steps ----------------------------------------------------------------------

    def _step(self, election_id: str) -> Outcome:
        sth = self._fetch_head(election_id)
        election = self.state.elections.get(election_id)
        if election is None or election.cosigned is None:
            return self._cosign(election_id, self._first_contact(election_id, sth), sth, None)
        ours = election.cosigned
        server_key = election.server_key
        assert server_key is not None  # pinned with the first cosignature
        self._check_signed(election_id, server_key, sth)
        if sth.head.size < ours.size:
            return Outcome("current", f"{election_id}: the server showed head {sth.head.size}, older than head {ours.size} already cosigned")
        if sth.head.size == ours.size:
            if sth.head.root != ours.tree_head.head.root:
                raise Refusal(
                    f"the server signed two different boards of {sth.head.size} entries (a split view)",
                    cosigned=ours.to_json(), server_head=sth.to_json(),
                )
            return Outcome("current", f"{election_id}: head {ours.size} is cosigned already")
        try:
            reply = self.api.consistency(election_id, ours.size, sth.head.size)
        except ServerRefused as exc:
            if exc.status not in (400, 404):
                raise
            # The server denies a head it signed itself: it cannot prove it, so it is no extension.
            raise Refusal(
                f"the server signed a board of {sth.head.size} entries but cannot prove it extends the board of "
                f"{ours.size} entries this witness cosigned ({exc})",
                cosigned=ours.to_json(), server_head=sth.to_json(), consistency=None,
            ) from None
        proof_doc = reply.get("proof") if isinstance(reply, dict) else None
        try:
            proof = merkle.ConsistencyProof.from_json(proof_doc)
            if (proof.old_size, proof.new_size) != (ours.size, sth.head.size):
                raise CryptoError(f"the proof is from size {proof.old_size} to {proof.new_size}")
            proof.verify(ours.tree_head.head.root, sth.head.root, old_size=ours.size, new_size=sth.head.size)
        except CryptoError as exc:
            raise Refusal(
                f"the board of {sth.head.size} entries does not extend the board of {ours.size} entries "
                f"this witness cosigned (the consistency proof fails: {exc})",
                cosigned=ours.to_json(), server_head=sth.to_json(), consistency=reply,
            ) from None
        return self._cosign(election_id, server_key, sth, ours)

    def _fetch_head(self, election_id: str) -> merkle.SignedTreeHead:
        doc = self.api.head(election_id)
        try:
            return merkle.SignedTreeHead.from_json({k: v for k, v in doc.items() if k != "server_key"})
        except (CryptoError, AttributeError) as exc:
            raise ServerUnavailable(f"the server's tree head is malformed ({exc})") from None

    def _check_signed(self, election_id: str, server_key: bytes, sth: merkle.SignedTreeHead) -> None:
        """An unsigned or misaddressed head proves nothing (anyone on the path can
        send one): not cosigned, not refused; said loudly each round."""
        try:
            merkle.verify_tree_head(server_key, sth)
        except CryptoError:
            raise ServerUnavailable(
                "the board's tree head is not signed by the server key the election was created with"
            ) from None
        if sth.head.log_id != election_id:
            raise ServerUnavailable(f"the server sent the board of {sth.head.log_id!r}, not of {election_id!r}")

    def _first_contact(self, election_id: str, sth: merkle.SignedTreeHead) -> bytes:
        """Entry 0, proven under the head, must be this election's election-created
        entry naming this witness; its server key is pinned from then on."""
        if sth.head.size == 0:
            raise ServerUnavailable("the board is empty")
        reply = self.api.inclusion(election_id, 0, sth.head.size)
        try:
            raw = reply["entry"]
            data = raw.encode("utf-8") if isinstance(raw, str) else canonical_json(raw)
            proof = merkle.InclusionProof.from_json(reply["proof"])
            if (proof.leaf_index, proof.tree_size) != (0, sth.head.size):
                raise ValueError("the proof is for another leaf or size")
            proof.verify(merkle.leaf_hash(data), sth.head.root, index=0, tree_size=sth.head.size)
            entry = json.loads(data)
            body = entry["body"]
            if entry.get("kind") != ELECTION_CREATED or entry.get("index") != 0 or entry.get("election_id") != election_id:
                raise ValueError("entry 0 is not this election's election-created entry")
            manifest = Manifest.from_json(body["manifest"])
            server_key = bytes.fromhex(body["server_key"])
            if manifest.election_id != election_id or len(server_key) != 32:
                raise ValueError("the election-created entry is for another election or has no server key")
        except (CryptoError, ValueError, KeyError, TypeError, AttributeError) as exc:
            raise ServerUnavailable(f"cannot prove the election-created entry on the board ({exc})") from None
        self._check_signed(election_id, server_key, sth)
        if manifest.witnesses.witness(self.state.public_key) is None:
            raise NotWitnessable(
                f"{election_id}: the election's manifest does not name this witness's key {self.state.public_key.hex()[:16]}…; "
                "if you were asked to witness this election, its witnesses may have been swapped: tell the election "
                "administrators and the audit office / この選挙のマニフェストにこの立会人の公開鍵がありません。"
                "立会人を依頼されていた場合は、選挙管理者と監査事務局に連絡してください"
            )
        return server_key

    def _cosign(
        self, election_id: str, server_key: bytes, sth: merkle.SignedTreeHead, ours: Cosigned | None
    ) -> Outcome:
        time_ms = max(self.clock(), ours.cosignature.time_ms + 1 if ours else 0)
        signer = self.signer or self.state.private_key
        assert signer is not None  # a key or a card: checked when the state was made
        cosigned = Cosigned(sth, cosign(signer, sth.head, time_ms))
        if self.signer is not None and self.state.card is not None:
            try:  # a card that signs wrongly must not put a bad cosignature in the state file
                verify_cosignature(sth.head, cosigned.cosignature)
            except CryptoError:
                raise SignerUnavailable(f"card {self.state.card.token!r} made a cosignature that does not verify") from None
        self._save(election_id, ElectionState(self.api.server_url, server_key, cosigned))
        self._unposted.add(election_id)  # durable first, then sent
        self._post(election_id)
        return Outcome("cosigned", f"cosigned head {sth.head.size} of {election_id} / 連署しました")

    def _post(self, election_id: str) -> None:
        """Send the newest cosignature; a failure is retried next round."""
        cosigned = self.state.elections[election_id].cosigned
        assert cosigned is not None  # only a cosigned election has one to send
        try:
            self.api.post_cosignature(election_id, cosigned.size, cosigned.cosignature)
        except ServerUnavailable as exc:
            self.log.warning("%s: the cosignature of head %d was not delivered (%s); sending it again next round",
                             election_id, cosigned.size, exc)
            return
        self._unposted.discard(election_id)

    def _compare_with_server(self, election_id: str) -> None:
        """Once after start: a valid cosignature by this key that the state file
        does not hold means the file was rolled back (restored from an older
        copy), so it may not know a head it cosigned: refuse rather than risk
        cosigning a fork of it. A server lacking our newest gets it again."""
        try:
            doc = self.api.witnesses(election_id)
        except ServerRefused as exc:
            if exc.code == "no_witnesses":
                raise NotWitnessable(f"{election_id}: the election names no witnesses / この選挙には立会人がいません") from None
            raise
        mine = self.state.public_key.hex()
        members = doc.get("witnesses") if isinstance(doc, dict) else None
        member = next((m for m in members or () if isinstance(m, dict) and m.get("public_key") == mine), None)
        newest = member.get("newest") if member else None
        election = self.state.elections.get(election_id)
        ours = election.cosigned if election else None
        if newest is None:
            if ours is not None:
                self._unposted.add(election_id)
            return
        try:
            theirs = Cosigned.from_json({"tree_head": newest["tree_head"], "cosignature": newest["cosignature"]})
            if theirs.cosignature.witness_key != self.state.public_key:
                raise CryptoError("the cosignature is by another key")
            # Only a head of this election, signed by the key pinned for it, can
            # show a rollback: the server could otherwise replay this witness's
            # public cosignature of another election's head to get it refused.
            if theirs.tree_head.head.log_id != election_id:
                raise CryptoError(f"the head is of another log ({theirs.tree_head.head.log_id!r})")
            if election is not None:
                if election.server_key is None:
                    raise CryptoError("no server key is pinned for this election")
                merkle.verify_tree_head(election.server_key, theirs.tree_head)
            verify_cosignature(theirs.tree_head.head, theirs.cosignature)
        except (CryptoError, ValueError, KeyError, TypeError) as exc:
            self.log.warning("%s: the server shows a cosignature of this witness that does not verify (%s); ignoring it",
                             election_id, exc)
            if ours is not None:
                self._unposted.add(election_id)
            return
        if ours is None or theirs.size > ours.size or (theirs.size == ours.size and theirs != ours):
            held = f"head {ours.size}" if ours else "no head"
            raise Refusal(
                f"the server holds this witness's cosignature of head {theirs.size} (made at {theirs.cosignature.time_ms} ms) "
                f"that the state file does not ({held}): the state file was restored from an older copy or the key "
                "was used elsewhere, so this witness may not know what it cosigned",
                cosigned=ours.to_json() if ours else None, server_holds=theirs.to_json(),
            )
        if theirs.size < ours.size:
            self._unposted.add(election_id)

    # -- refusing and saving ------------------------------------------------------------------

    def _refuse(self, election_id: str, refusal: Refusal) -> Outcome:
        at = self.clock()
        election = self.state.elections.get(election_id) or ElectionState(self.api.server_url, None)
        path = report_path(self.state_path, election_id)
        report = {
            "format": REPORT_FORMAT,
            "election_id": election_id,
            "witness": self.state.member(),
            "server_url": self.api.server_url,
            "server_key": election.server_key.hex() if election.server_key else None,
            "time_ms": at,
            "reason": refusal.reason,
            **refusal.evidence,
        }
        write_file(path, json.dumps(report, ensure_ascii=False, indent=1))
        refused = MappingProxyType({"reason": refusal.reason, "report": str(path), "time_ms": at})
        self._save(election_id, replace(election, refused=refused))
        message = (
            f"REFUSED to witness {election_id}: {refusal.reason}. This witness will never cosign {election_id} again. "
            f"Evidence: {path} — give it to the election administrators, the trustees and the other witnesses. / "
            f"掲示板の不正（分岐・巻き戻し）の疑いがあるため、{election_id} への連署を永久に停止しました。"
            f"報告ファイル {path} を選挙管理委員会・管理者・他の立会人に提出してください。"
        )
        self.log.error("%s", message)
        return Outcome("refused", message)

    def _save(self, election_id: str, election: ElectionState) -> None:
        state = self.state.with_election(election_id, election)
        save_state(self.state_path, state)
        self.state = state


def run_rounds(
    runner: WitnessRunner,
    election_ids: list[str],
    *,
    interval: float,
    stop: threading.Event,
    once: bool = False,
    signer_gone_rounds: int | None = None,
) -> dict[str, Outcome]:
    """Poll every ``interval`` seconds until ``stop`` is set (or one round with
    ``once``). An election that does not name this witness is dropped; a refused
    one is skipped quietly after its first report. Returns the last outcomes.

    With ``signer_gone_rounds``, raises ``SignerGone`` once the card has failed
    to sign in that many rounds in a row (a round that cosigns resets the count;
    one with nothing to sign leaves it as it is)."""
    active = list(election_ids)
    outcomes: dict[str, Outcome] = {}
    failed_rounds = 0
    while True:
        this_round = runner.round(active)
        outcomes.update(this_round)
        active = [e for e in active if outcomes[e].status not in ("not_named", "refused")]
        if any(o.status == "cosigned" for o in this_round.values()):
            failed_rounds = 0
        elif any(o.signer_failed for o in this_round.values()):
            failed_rounds += 1
            if signer_gone_rounds is not None and failed_rounds >= signer_gone_rounds and not once:
                raise SignerGone(
                    f"the card has not signed for {failed_rounds} rounds in a row; stopping so that the card is opened "
                    "again at the next start / カードで署名できない状態が続いたため停止します"
                )
        if once or stop.wait(interval):
            return outcomes


class BackgroundWitness:
    """A witness in a thread of this process, with its HTTP log: ``voting demo``
    runs its witnesses beside the server this way. ``stop`` ends it between
    rounds and releases the state file."""

    def __init__(
        self, state_path: Path, server_url: str, election_ids: list[str], *, interval: float, listen: tuple[str, int] | None,
        signer: CardSigner | None = None,
    ) -> None:
        self.signer = signer
        self.state_path = state_path
        self.server_url = server_url
        self.election_ids = election_ids
        self.interval = interval
        self.listen = listen
        self.log_server: LogServer | None = None
        self._stop = threading.Event()
        self._lock = StateLock(state_path)
        self._thread: threading.Thread | None = None

    def start(self) -> BackgroundWitness:
        """Raises WitnessStateError (the state file) or OSError (the log's port)."""
        self._lock.__enter__()
        try:
            self.runner = WitnessRunner(self.state_path, BoardApi(self.server_url), signer=self.signer)
            if self.listen is not None:
                self.log_server = LogServer(*self.listen, view=lambda: self.runner.state).start()
        except BaseException:
            self._lock.__exit__()
            raise
        self._thread = threading.Thread(target=self._run, name=f"witness-{self.state_path.stem}", daemon=True)
        self._thread.start()
        return self

    def _run(self) -> None:
        try:
            run_rounds(self.runner, self.election_ids, interval=self.interval, stop=self._stop)
        except Exception:  # a bug: say so, the server goes on
            log.exception("the witness %s stopped", self.runner.state.name)

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(30)
        if self.log_server is not None:
            self.log_server.stop()
        self.runner.api.close()
        self._lock.__exit__()


# --- the witness's own read-only HTTP log ----------------------------------------------------------


def log_document(state: WitnessState, path: str) -> tuple[int, dict[str, object]]:
    """(status, JSON) of ``GET path``: what the witness cosigned, for anyone to
    compare with what their server shows them."""
    path = path.split("?", 1)[0].rstrip("/") or "/"
    if path == "/":
        cosigned = sorted(e for e, s in state.elections.items() if s.cosigned is not None)
        return 200, {"name": state.name, "public_key": state.public_key.hex(), "elections": cosigned}
    match = re.fullmatch(r"/elections/([A-Za-z0-9._-]{1,64})", path)
    election = state.elections.get(match.group(1)) if match else None
    if election is None or election.cosigned is None or election.server_key is None:
        return 404, {"error": "not_found", "detail": "this witness has cosigned no head of that election"}
    return 200, {
        "server_key": election.server_key.hex(),
        "tree_head": election.cosigned.tree_head.to_json(),
        "cosignature": election.cosigned.cosignature.to_json(),
    }


class LogServer:
    """``GET /`` and ``GET /elections/{id}`` over HTTP, read-only, CORS-open
    (voters' pages fetch it from another origin). ``view`` returns the current
    state; the server runs in a daemon thread until ``stop``."""

    def __init__(self, host: str, port: int, view: Callable[[], WitnessState]) -> None:
        handler = type("Handler", (_LogHandler,), {"view": staticmethod(view)})
        self.httpd = ThreadingHTTPServer((host, port), handler)
        self.httpd.daemon_threads = True
        self.thread = threading.Thread(target=self.httpd.serve_forever, name="witness-log", daemon=True)

    @property
    def url(self) -> str:
        host, port = self.httpd.server_address[:2]
        assert isinstance(host, str)  # an IP address: the server was bound to one
        return f"http://{f'[{host}]' if ':' in host else host}:{port}"

    def start(self) -> LogServer:
        self.thread.start()
        return self

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(5)


class _LogHandler(BaseHTTPRequestHandler):
    view: Callable[[], WitnessState]
    server_version = "voting-witness"
    sys_version = ""

    def do_GET(self) -> None:
        status, doc = log_document(self.view(), self.path)
        self._send(status, doc)

    def _not_allowed(self) -> None:
        self._send(405, {"error": "method_not_allowed", "detail": "this log is read-only: GET only"}, allow=True)

    do_POST = do_PUT = do_DELETE = do_PATCH = do_HEAD = do_OPTIONS = _not_allowed  # noqa: N815

    def _send(self, status: int, doc: dict[str, object], *, allow: bool = False) -> None:
        body = json.dumps(doc, ensure_ascii=False).encode("utf-8")
        self.send_response(status)
        self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Access-Control-Allow-Origin", "*")
        self.send_header("Cache-Control", "no-store")
        self.send_header("X-Content-Type-Options", "nosniff")
        if allow:
            self.send_header("Allow", "GET")
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - http.server's signature
        log.debug("log request: " + format, *args)


def parse_listen(text: str) -> tuple[str, int]:
    """``HOST:PORT`` (``[::1]:8001`` for IPv6); raises ValueError."""
    host, sep, port = text.rpartition(":")
    host = host.strip("[]")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError(f"{text!r} is not HOST:PORT (e.g. 127.0.0.1:8001)")
    return host, int(port)
