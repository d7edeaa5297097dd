"""The election record's files (docs/election-record.md, "Files"), defined once:
one msgspec Struct per file, one per kind of board entry. The published JSON
Schemas (voting/record/schemas/) are generated from them
(``python -m voting.wire.record_schemas``), and the verifier checks every file
it reads against them (voting/verify/parse.py).

The Structs say what is well-formed: members, types, patterns, ranges. What
the record means (the cryptography, the views agreeing with the board, the
order of events, the election policy) is the verifier's to check.

Every pattern is anchored with ``common.exact``; every object refuses unknown
members. Two rules JSON Schema states across members and msgspec cannot: a
Struct's ``__post_init__`` enforces them, and its ``json_schema_extra`` says
them in the generated schema.
"""

from __future__ import annotations

from typing import Annotated, Any, ClassVar, Literal, get_args

from msgspec import UNSET, Meta, Struct, UnsetType

from crypto import entry_kinds as kinds
from voting.record import files as F
from voting.wire.board import Cosignature
from voting.wire.common import Hex32 as _Hex32
from voting.wire.common import Hex64, Position, exact

# -- the scalars ---------------------------------------------------------------------------

Hex32 = Annotated[_Hex32, Meta(description="32 bytes as 64 lowercase hexadecimal characters (hashes, fingerprints, keys).")]
#: The longest signature the record holds: RSA-8192 (1024 bytes). The bound also
#: keeps the pattern cheap: Python's ``re`` keeps a backtracking frame per repeat
#: of its group (about 35 bytes a character), so an unbounded hex string of a
#: hostile record, tens of megabytes, took gigabytes to match.
MAX_HEX = 2048
Hex = Annotated[
    str,
    Meta(
        pattern=exact("([0-9a-f]{2})*"),
        max_length=MAX_HEX,
        description="Bytes (a signature) as lowercase hexadecimal, at most 1024 bytes.",
    ),
]
Point = Annotated[
    str,
    Meta(
        pattern=exact("(?!0{64}$)[0-9a-f]{64}"),
        description="A ristretto255 element (RFC 9496 encoding), never the identity.",
    ),
]
PointOrIdentity = Annotated[
    str,
    Meta(
        pattern=exact("[0-9a-f]{64}"),
        description="A ristretto255 element; the identity (all zeros) is allowed (an empty aggregate).",
    ),
]
Scalar = Annotated[
    str, Meta(pattern=exact("[0-9a-f]{64}"), description="An integer modulo the group order, 32 bytes little-endian, as hex.")
]
Id = Annotated[str, Meta(pattern=exact("[A-Za-z0-9][A-Za-z0-9_.-]{0,63}"), description="An election, question or option id.")]
EmployeeId = Annotated[
    str,
    Meta(
        pattern=exact("[A-Za-z0-9][A-Za-z0-9._-]{0,63}"),
        description="An employee id, as in the employee's certificate (urn:x-city-hall:employee:ID).",
    ),
]
Time = Annotated[
    str,
    Meta(
        pattern=exact(r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]+)?([+-][0-9]{2}:[0-9]{2}|Z)"),
        description="An ISO 8601 time with a time zone (the board writes UTC with milliseconds).",
    ),
]
Index = Position
TrusteeIndex = Annotated[int, Meta(ge=1, le=255)]
Base64 = Annotated[str, Meta(pattern=exact("[A-Za-z0-9+/]*={0,2}"))]
Chain = Annotated[
    list[Base64], Meta(min_length=1, max_length=4, description="base64 DER certificates, leaf first, without the self-signed root")
]
RevotePolicy = Literal["single", "last"]
ClientCertificate = Literal["client-certificate"]


class _Object(Struct, forbid_unknown_fields=True):
    """An object of the record: unknown members are an error."""

    #: JSON Schema this Struct's generated schema also says (a rule across
    #: members, which ``__post_init__`` enforces); merged by the generator.
    json_schema_extra: ClassVar[dict[str, Any] | None] = None


# -- shared pieces -------------------------------------------------------------------------


class Text(_Object):
    """A text in Japanese and English."""

    ja: Annotated[str, Meta(min_length=1)]
    en: Annotated[str, Meta(min_length=1)]


class Ciphertext(_Object):
    """Exponential ElGamal (alpha, beta) = (g^r, g^m K^r)."""

    alpha: PointOrIdentity
    beta: PointOrIdentity


class ChallengeResponse(_Object):
    """A Schnorr or Chaum-Pedersen proof in compact form: challenge c, response s."""

    c: Scalar
    s: Scalar


class CdsBranch(_Object):
    """One branch (c_j, v_j) of a CDS proof."""

    c: Scalar
    v: Scalar


DisjunctiveProof = Annotated[
    list[CdsBranch], Meta(min_length=1, description="A CDS proof: one branch (c_j, v_j) per value the manifest allows.")
]


class TrusteeSignature(_Object):
    """A trustee's signature with its employee certificate key, and the certificate chain that names the trustee."""

    chain: Chain
    signature: Hex


class WitnessMember(_Object):
    name: Annotated[str, Meta(min_length=1, max_length=64)]
    public_key: Hex32
    url: Annotated[str, Meta(pattern="^https?://", max_length=200)] | UnsetType = UNSET


class Witnesses(_Object):
    """The manifest's witnesses (docs/parts/witness.md): who cosigns the board, and how many of them (quorum) must cosign a head."""

    quorum: Annotated[int, Meta(ge=0, le=16)]
    members: Annotated[list[WitnessMember], Meta(max_length=16)]


class SignedTreeHead(_Object):
    """A tree head signed by the server key."""

    log_id: Id
    size: Index
    root: Hex32
    timestamp_ms: Index
    signature: Hex64


# -- manifest.json ----------------------------------------------------------------------------


class Option(_Object):
    id: Id
    label: Text


class Question(_Object):
    id: Id
    text: Text
    options: Annotated[list[Option], Meta(min_length=1, max_length=50)]
    min_selections: Annotated[int, Meta(ge=0)]
    max_selections: Annotated[int, Meta(ge=1)]


class Schedule(_Object):
    opens_at: Time | UnsetType = UNSET
    closes_at: Time | UnsetType = UNSET


class Manifest(_Object):
    """The election manifest, as on the board's election-created entry."""

    election_id: Id
    title: Text
    questions: Annotated[list[Question], Meta(min_length=1, max_length=50)]
    revote_policy: RevotePolicy
    description: Text | UnsetType = UNSET
    version: Any = UNSET
    min_tally_ballots: (
        Annotated[
            int,
            Meta(
                ge=1,
                le=1_000_000,
                description="trustees decrypt no aggregate of fewer counted ballots; 5 when absent (the service always writes it)",
            ),
        ]
        | UnsetType
    ) = UNSET
    witnesses: Witnesses | UnsetType = UNSET
    schedule: Schedule | UnsetType = UNSET


# -- the board's entries: one body per kind ------------------------------------------------------


class EncryptedSelection(_Object):
    alpha: Point
    beta: Point
    proof: Annotated[list[CdsBranch], Meta(min_length=2, max_length=2, description="the CDS proof that the selection is 0 or 1")]


class EncryptedQuestion(_Object):
    selections: list[EncryptedSelection]
    limit_proof: DisjunctiveProof


class EncryptedBallot(_Object):
    """A ballot as the voter's device encrypted it (crypto/ballots.py)."""

    version: Literal[1]
    election_id: Id
    voter_id: Annotated[Hex32, Meta(description="the voting credential the proofs are bound to")]
    questions: list[EncryptedQuestion]


class ElectionCreated(_Object):
    manifest: Manifest
    trustees: Annotated[TrusteeIndex, Meta(description="n")]
    trustee_ids: Annotated[
        list[EmployeeId],
        Meta(
            min_length=2,
            description="the trustees' employee ids in index order: trustee i is trustee_ids[i-1]; as many as trustees, distinct",
            # msgspec has no uniqueness constraint: the verifier's check 1 refuses a repeated id.
            extra_json_schema={"uniqueItems": True},
        ),
    ]
    threshold: Annotated[
        TrusteeIndex,
        Meta(description="t: any t trustees decrypt; the election policy (the verifier's check 1) demands at least 2"),
    ]
    ceremony_fingerprint: Hex32
    server_key: Annotated[Hex32, Meta(description="the server's Ed25519 public key")]


class TrusteeAnnouncement(_Object):
    index: TrusteeIndex
    commitments: Annotated[list[Point], Meta(min_length=1)]
    proofs: Annotated[list[ChallengeResponse], Meta(min_length=1)]
    share_public_key: Hex32
    signature: Annotated[
        TrusteeSignature,
        Meta(
            description='trustee index\'s signature (trustee_ids[index-1]) over encode_parts("votingpilot/v1/announcement-signature", '
            "election id, canonical JSON of the other four members)"
        ),
    ]


class Endorsement(_Object):
    """A trustee's signature over the election id, joint key and fingerprint."""

    index: TrusteeIndex
    chain: Chain
    signature: Hex


class JointKey(_Object):
    joint_key: Point
    fingerprint: Hex32
    public_shares: dict[Annotated[str, Meta(pattern=exact("[1-9][0-9]{0,2}"))], Point]
    endorsements: Annotated[
        list[Endorsement],
        Meta(
            description="one per trustee, in index order: the trustee's signature over the election id, joint key and fingerprint"
        ),
    ]


class ElectionOpened(_Object):
    by: str
    roll_size: Annotated[int, Meta(ge=0, description="the number of voters on the roll, frozen at opening")]


class ByAdministrator(_Object):
    by: str


class CredentialRegistered(_Object):
    credential: Hex32


class Ballot(_Object):
    tracking_code: Hex32
    credential: Annotated[Hex32, Meta(description="the voting credential: a 32-byte Ed25519 public key; equals ballot.voter_id")]
    ballot: EncryptedBallot
    signature: Annotated[Hex64, Meta(description="Ed25519 signature by the credential over the ballot-signature message")]


class BallotSuperseded(_Object):
    tracking_code: Hex32
    superseded_by: Hex32
    credential: Hex32


class OpenedSelection(_Object):
    m: Literal[0, 1]
    r: Hex32


class AuditOpening(_Object):
    version: Literal[1]
    selections: Annotated[
        list[list[OpenedSelection]],
        Meta(description="per question, per option: the plaintext m (0 or 1) and the randomness r"),
    ]


class BallotAudited(_Object):
    tracking_code: Hex32
    credential: Hex32
    ballot: EncryptedBallot
    opening: AuditOpening


class Aggregate(_Object):
    ballots_counted: Index
    ciphertexts: list[Ciphertext]


class PartialDecryption(_Object):
    index: TrusteeIndex
    shares: list[PointOrIdentity]
    proofs: list[ChallengeResponse]


class ResultOption(_Object):
    id: Id
    count: Index


class ResultQuestion(_Object):
    id: Id
    options: list[ResultOption]


class Result(_Object):
    ballots_counted: Index
    questions: list[ResultQuestion]
    trustees: Annotated[list[TrusteeIndex], Meta(min_length=1)]


class AdminAction(_Object):
    action: str
    by: str
    added: Annotated[int, Meta(ge=0)] | UnsetType = UNSET
    removed: Annotated[int, Meta(ge=0)] | UnsetType = UNSET


# -- board.jsonl: one entry per line, a union tagged by its kind -----------------------------------


class _Entry(Struct, forbid_unknown_fields=True, tag_field="kind"):
    """A bulletin-board entry, in canonical JSON (RFC 8785 subset), exactly the bytes its Merkle leaf hashes."""

    election_id: Id
    index: Annotated[Index, Meta(description="the leaf index: the line's position, from 0")]
    time: Time


class ElectionCreatedEntry(_Entry, tag=kinds.ELECTION_CREATED):
    body: ElectionCreated


class TrusteeAnnouncementEntry(_Entry, tag=kinds.TRUSTEE_ANNOUNCEMENT):
    body: TrusteeAnnouncement


class JointKeyEntry(_Entry, tag=kinds.JOINT_KEY):
    body: JointKey


class ElectionOpenedEntry(_Entry, tag=kinds.ELECTION_OPENED):
    body: ElectionOpened


class CredentialRegisteredEntry(_Entry, tag=kinds.CREDENTIAL_REGISTERED):
    body: CredentialRegistered


class BallotEntry(_Entry, tag=kinds.BALLOT):
    body: Ballot


class BallotSupersededEntry(_Entry, tag=kinds.BALLOT_SUPERSEDED):
    body: BallotSuperseded


class BallotAuditedEntry(_Entry, tag=kinds.BALLOT_AUDITED):
    body: BallotAudited


class ElectionClosedEntry(_Entry, tag=kinds.ELECTION_CLOSED):
    body: ByAdministrator


class AggregateEntry(_Entry, tag=kinds.AGGREGATE):
    body: Aggregate


class PartialDecryptionEntry(_Entry, tag=kinds.PARTIAL_DECRYPTION):
    body: PartialDecryption


class ResultEntry(_Entry, tag=kinds.RESULT):
    body: Result


class ElectionPublishedEntry(_Entry, tag=kinds.ELECTION_PUBLISHED):
    body: ByAdministrator


class AdminActionEntry(_Entry, tag=kinds.ADMIN_ACTION):
    body: AdminAction


BoardEntry = (
    ElectionCreatedEntry
    | TrusteeAnnouncementEntry
    | JointKeyEntry
    | ElectionOpenedEntry
    | CredentialRegisteredEntry
    | BallotEntry
    | BallotSupersededEntry
    | BallotAuditedEntry
    | ElectionClosedEntry
    | AggregateEntry
    | PartialDecryptionEntry
    | ResultEntry
    | ElectionPublishedEntry
    | AdminActionEntry
)


# -- the views of the board -------------------------------------------------------------------


class RecordFile(_Object):
    """record.json: what this record is."""

    format: Literal["votingpilot-election-record"]
    version: Literal[5]
    election_id: Id
    exported_at: Time
    board_size: Index
    stage: Literal["empty", "created", "key_ceremony", "keys_ready", "open", "closed", "tallied", "published"]
    auditors_part: bool


class Parameters(_Object):
    election_id: Id
    group: Literal["ristretto255"]
    trustees: Annotated[TrusteeIndex, Meta(description="n")]
    trustee_ids: Annotated[
        list[EmployeeId], Meta(description="the trustees' employee ids in index order (trustee i is trustee_ids[i-1])")
    ]
    threshold: Annotated[TrusteeIndex, Meta(description="t: any t trustees decrypt")]
    ceremony_fingerprint: Hex32
    joint_key: Point | None
    fingerprint: Hex32 | None
    revote_policy: RevotePolicy
    server_key: Annotated[Hex32, Meta(description="the server's Ed25519 public key")]


class Trustee(TrusteeAnnouncement):
    """A trustee's announcement as on the board, with its board position and its public share (null before the joint key)."""

    leaf_index: Index
    public_share: Point | None


class BallotRow(_Object):
    leaf_index: Index
    tracking_code: Hex32
    credential: Annotated[Hex32, Meta(description="the voting credential (Ed25519 public key) that cast the ballot")]
    signature: Annotated[Hex64, Meta(description="the credential's Ed25519 signature over the ballot-signature message")]
    cast_at: Time
    counted: bool
    superseded_by: Hex32 | None
    superseded_at: Index | None


class AggregateView(Aggregate):
    leaf_index: Index


class PartialDecryptionView(PartialDecryption):
    leaf_index: Index


class ResultView(Result):
    leaf_index: Index


class CosignedHead(_Object):
    tree_head: SignedTreeHead
    cosignatures: Annotated[
        list[
            Annotated[
                Cosignature,
                Meta(description="A witness's Ed25519 cosignature on a tree head, at the witness's time (ms since the epoch)."),
            ]
        ],
        Meta(min_length=1, max_length=16),
    ]


class Cosignatures(_Object):
    witnesses: Witnesses
    heads: Annotated[list[CosignedHead], Meta(description="every head with at least one cosignature, by size")]


# -- the auditors' part ----------------------------------------------------------------------------


class Registration(_Object):
    """A voter's registration of their voting credential: signed by their
    certificate key, or attested by a TLS client certificate login (no
    signature by the card, the server's word only: the verifier counts these)."""

    chain: Annotated[
        list[Base64],
        Meta(
            min_length=1,
            max_length=4,
            description="base64 DER certificates (of the TLS client certificate, when attested), leaf first, without the self-signed root",
        ),
    ]
    signature: (
        Annotated[
            Hex,
            Meta(description="the certificate key's signature (JWS form: ES256 r||s, RS256, EdDSA) over the registration message"),
        ]
        | None
    )
    registered_at: Annotated[Time, Meta(description="informational; the registration is judged at its board entry's time")]
    attested: ClientCertificate | UnsetType = UNSET

    json_schema_extra: ClassVar[dict[str, Any] | None] = {
        "oneOf": [
            {
                "description": "a registration signed with the certificate key",
                "not": {"required": ["attested"]},
                "properties": {"signature": {"type": "string"}},
            },
            {
                "description": "a registration attested by a TLS client certificate login: no signature by the card, "
                "the server's word only (the verifier counts these)",
                "required": ["attested"],
                "properties": {"signature": {"type": "null"}},
            },
        ]
    }

    def __post_init__(self) -> None:
        if (self.attested is UNSET) == (self.signature is None):
            raise ValueError("a registration has a signature, or is attested (attested: client-certificate) with none")


class RollRow(_Object):
    employee_id: Id
    name: str
    credential: Hex32 | None
    registration: Registration | None


class Trust(_Object):
    """auditors/trust.json."""

    trust_anchors: Annotated[list[Base64], Meta(min_length=1)]
    crls: list[Base64]


class CardAnchor(_Object):
    name: Annotated[str, Meta(pattern=exact("[a-z0-9][a-z0-9_-]{0,31}"))]
    certificates: Annotated[list[Base64], Meta(min_length=1, description="DER of the anchor's root certificates")]


class EnrollmentProof(_Object):
    """What proves the enrollment: the token the card signed, or the server's word for a TLS client certificate login."""

    token: (
        Annotated[
            str,
            Meta(
                description="the enrollment token the card signed (compact JWS: aud, employee_id, enrollment_code, exp, iat, nonce)"
            ),
        ]
        | UnsetType
    ) = UNSET
    via: (
        Annotated[
            ClientCertificate, Meta(description="enrolled over a TLS client certificate login: the server's word only")
        ]
        | UnsetType
    ) = UNSET

    json_schema_extra: ClassVar[dict[str, Any] | None] = {"oneOf": [{"required": ["token"]}, {"required": ["via"]}]}

    def __post_init__(self) -> None:
        if (self.token is UNSET) == (self.via is UNSET):
            raise ValueError("an enrollment's proof has exactly one of token and via")


class Enrollment(_Object):
    fingerprint: Annotated[Hex32, Meta(description="SHA-256 of the card certificate's DER")]
    employee_id: Id
    anchor: Annotated[str, Meta(description="the name of the trust anchor the card certificate chains to")]
    chain: Annotated[
        list[Base64],
        Meta(min_length=1, max_length=4, description="base64 DER, leaf (the card certificate) first, as the card sent it"),
    ]
    proof: EnrollmentProof
    enrolled_at: Time
    revoked_at: Time | None


class Enrollments(_Object):
    anchors: list[CardAnchor]
    enrollments: list[Enrollment]


# -- every file -------------------------------------------------------------------------------------


class FileShape(Struct, frozen=True):
    """A file of the record: the type its JSON must convert to (for board.jsonl:
    each line), and the title of its published schema."""

    type: Any
    title: str


#: By the file's path in the record.
FILES: dict[str, FileShape] = {
    F.RECORD: FileShape(RecordFile, "record.json: what this record is"),
    F.MANIFEST: FileShape(Manifest, "manifest.json: the election manifest, as on the board's election-created entry"),
    F.PARAMETERS: FileShape(Parameters, "parameters.json: the election's cryptographic parameters"),
    F.TRUSTEES: FileShape(
        list[Trustee],
        "trustees.json: each trustee's key-ceremony announcement (with its signature) and public share",
    ),
    F.BOARD: FileShape(
        BoardEntry,
        "One line of board.jsonl: a bulletin-board entry, in canonical JSON (RFC 8785 subset), exactly the bytes its Merkle leaf hashes",
    ),
    F.TREE_HEADS: FileShape(
        Annotated[list[SignedTreeHead], Meta(min_length=1)], "tree_heads.json: every signed tree head, by size"
    ),
    F.BALLOTS: FileShape(
        list[BallotRow],
        "ballots.json: every ballot on the board, with its status (the encrypted ballots are in board.jsonl)",
    ),
    F.AGGREGATE: FileShape(AggregateView | None, "aggregate.json: the encrypted tally (null until voting closes)"),
    F.PARTIAL_DECRYPTIONS: FileShape(
        list[PartialDecryptionView],
        "partial_decryptions.json: each trustee's decryption shares of the aggregate, with proofs",
    ),
    F.RESULT: FileShape(ResultView | None, "result.json: the counts (null until tallied)"),
    F.COSIGNATURES: FileShape(
        Cosignatures, "cosignatures.json: the witnesses of the manifest and every tree head they cosigned"
    ),
    F.ROLL: FileShape(
        list[RollRow],
        "auditors/roll.json (auditors only): the voter roll, each employee with the voting credential they registered "
        "and their signed registration",
    ),
    F.TRUST: FileShape(
        Trust, "auditors/trust.json (auditors only): the login trust anchors and the CRLs as of the export"
    ),
    F.ENROLLMENTS: FileShape(
        Enrollments,
        "auditors/enrollments.json (auditors only): the trust anchors whose certificates name no employee, and the card "
        "enrollments of the employees on the roll",
    ),
}

#: Each kind of board entry's Struct (crypto/entry_kinds.py names the kinds).
ENTRY_TYPES: dict[str, type[_Entry]] = {str(entry.__struct_config__.tag): entry for entry in get_args(BoardEntry)}
