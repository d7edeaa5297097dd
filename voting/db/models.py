"""The tables of the service (SQLAlchemy 2). Migrations live in voting/migrations.

JSON documents that are hashed or signed are stored as their canonical text, so
what the board proves is byte for byte what was stored.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    BigInteger,
    Boolean,
    DateTime,
    ForeignKey,
    ForeignKeyConstraint,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


class Base(DeclarativeBase):
    pass


class Election(Base):
    __tablename__ = "elections"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    manifest: Mapped[str] = mapped_column(Text)
    """canonical JSON of the manifest (titles, questions, schedule, policy)"""
    status: Mapped[str] = mapped_column(String(16))
    revote_policy: Mapped[str] = mapped_column(String(16))
    trustee_count: Mapped[int] = mapped_column(Integer)
    threshold: Mapped[int] = mapped_column(Integer)
    ceremony_fingerprint: Mapped[str] = mapped_column(String(64))
    joint_key: Mapped[str | None] = mapped_column(String(64))
    fingerprint: Mapped[str | None] = mapped_column(String(64))
    aggregate: Mapped[str | None] = mapped_column(Text)
    result: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    #: Counters kept in the transactions that add voters, cast and supersede
    #: ballots (the status reads them instead of counting rows).
    roll_size: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    ballots_cast: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    ballots_superseded: Mapped[int] = mapped_column(Integer, default=0, server_default="0")


class RollEntry(Base):
    """One eligible voter of one election. ``pseudonym`` is an internal id (never
    on the board); the board shows only the registered voting ``credential``."""

    __tablename__ = "roll"
    __table_args__ = (
        UniqueConstraint("election_id", "pseudonym"),
        Index("ix_roll_employee_id", "employee_id"),
        Index("ux_roll_credential", "election_id", "credential", unique=True),
    )

    election_id: Mapped[str] = mapped_column(ForeignKey("elections.id"), primary_key=True)
    employee_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    department: Mapped[str] = mapped_column(String(200))
    pseudonym: Mapped[str] = mapped_column(String(64))
    #: The voter's registered voting credential for this election (Ed25519 public
    #: key, lowercase hex), and its registration: JSON {chain, signature, registered_at}.
    credential: Mapped[str | None] = mapped_column(String(64), nullable=True)
    registration: Mapped[str | None] = mapped_column(Text, nullable=True)


class Role(Base):
    """Rosters: administrators and auditors (scope '*'), trustees (scope = election id)."""

    __tablename__ = "roles"

    employee_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    role: Mapped[str] = mapped_column(String(16), primary_key=True)
    scope: Mapped[str] = mapped_column(String(64), primary_key=True, default="*")


class Trustee(Base):
    __tablename__ = "trustees"
    __table_args__ = (UniqueConstraint("election_id", "employee_id"),)

    election_id: Mapped[str] = mapped_column(ForeignKey("elections.id"), primary_key=True)
    index: Mapped[int] = mapped_column(Integer, primary_key=True)
    employee_id: Mapped[str] = mapped_column(String(64))
    announcement: Mapped[str | None] = mapped_column(Text)
    announcement_signature: Mapped[str | None] = mapped_column(Text)
    """{chain, signature}: the trustee's certificate signature over its announcement."""
    public_share_confirmed: Mapped[bool] = mapped_column(Boolean, default=False)
    endorsement: Mapped[str | None] = mapped_column(Text)
    """{chain, signature}: the trustee's certificate signature over the joint key."""
    partial_decryption: Mapped[str | None] = mapped_column(Text)


class CeremonyShare(Base):
    """A key share encrypted by one trustee to another: the server only relays it."""

    __tablename__ = "ceremony_shares"

    election_id: Mapped[str] = mapped_column(ForeignKey("elections.id"), primary_key=True)
    sender: Mapped[int] = mapped_column(Integer, primary_key=True)
    recipient: Mapped[int] = mapped_column(Integer, primary_key=True)
    share: Mapped[str] = mapped_column(Text)


class LoginNonce(Base):
    __tablename__ = "login_nonces"

    nonce: Mapped[str] = mapped_column(String(64), primary_key=True)
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    used: Mapped[bool] = mapped_column(Boolean, default=False)


class Session(Base):
    __tablename__ = "sessions"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    employee_id: Mapped[str] = mapped_column(String(64), index=True)
    certificate: Mapped[bytes] = mapped_column(LargeBinary)
    """DER of the leaf certificate the voter logged in with (signs ballots)"""
    certificate_chain: Mapped[str] = mapped_column(Text)
    """JSON list of base64 DER: leaf first, as in the login token's x5c"""
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    last_seen: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    revoked: Mapped[bool] = mapped_column(Boolean, default=False)
    login_method: Mapped[str] = mapped_column(String(32), default="token", server_default="token")
    """"token" (a login token the certificate's key signed) or "client-certificate"
    (the TLS client certificate the reverse proxy passed on: the browser holds no
    signing key, voting/auth/client_certificate.py)"""


class Ballot(Base):
    __tablename__ = "ballots"
    __table_args__ = (UniqueConstraint("election_id", "tracking_code"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    election_id: Mapped[str] = mapped_column(ForeignKey("elections.id"), index=True)
    pseudonym: Mapped[str] = mapped_column(String(64), index=True)
    tracking_code: Mapped[str] = mapped_column(String(64))
    ballot: Mapped[str] = mapped_column(Text)
    signature: Mapped[str] = mapped_column(Text)
    certificate_chain: Mapped[str] = mapped_column(Text)
    """auditors-only: reveals who cast it"""
    leaf_index: Mapped[int] = mapped_column(BigInteger)
    superseded: Mapped[bool] = mapped_column(Boolean, default=False)
    receipt: Mapped[str] = mapped_column(Text)
    cast_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class BoardEntry(Base):
    """One leaf of an election's bulletin board: canonical JSON of a public event."""

    __tablename__ = "board_entries"

    election_id: Mapped[str] = mapped_column(ForeignKey("elections.id"), primary_key=True)
    leaf_index: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    kind: Mapped[str] = mapped_column(String(32))
    data: Mapped[str] = mapped_column(Text)
    leaf_hash: Mapped[bytes] = mapped_column(LargeBinary(32))
    tracking_code: Mapped[str | None] = mapped_column(String(64), index=True)


class BoardNode(Base):
    """A perfect subtree hash (RFC 9162), kept so proofs need O(log n) reads."""

    __tablename__ = "board_nodes"

    election_id: Mapped[str] = mapped_column(ForeignKey("elections.id"), primary_key=True)
    level: Mapped[int] = mapped_column(Integer, primary_key=True)
    index: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    hash: Mapped[bytes] = mapped_column(LargeBinary(32))


class BoardState(Base):
    """The log's frontier: the one row every append locks (the serialization point)."""

    __tablename__ = "board_state"

    election_id: Mapped[str] = mapped_column(ForeignKey("elections.id"), primary_key=True)
    size: Mapped[int] = mapped_column(BigInteger)
    frontier: Mapped[str] = mapped_column(Text)


class TreeHead(Base):
    __tablename__ = "tree_heads"

    election_id: Mapped[str] = mapped_column(ForeignKey("elections.id"), primary_key=True)
    size: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    root: Mapped[bytes] = mapped_column(LargeBinary(32))
    timestamp_ms: Mapped[int] = mapped_column(BigInteger)
    signature: Mapped[bytes] = mapped_column(LargeBinary(64))


class Cosignature(Base):
    """A witness's cosignature on one of an election's signed tree heads
    (docs/parts/witness.md). A table of its own: storing one never touches
    ``board_state``, which every append locks."""

    __tablename__ = "cosignatures"
    __table_args__ = (
        ForeignKeyConstraint(["election_id", "size"], ["tree_heads.election_id", "tree_heads.size"]),
        Index("ix_cosignatures_witness", "election_id", "witness_key", "size"),
    )

    election_id: Mapped[str] = mapped_column(ForeignKey("elections.id"), primary_key=True)
    size: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    witness_key: Mapped[bytes] = mapped_column(LargeBinary(32), primary_key=True)
    """the witness's raw Ed25519 public key, one the election's manifest names"""
    time_ms: Mapped[int] = mapped_column(BigInteger)
    """the witness's clock when it cosigned (signed with the head)"""
    signature: Mapped[bytes] = mapped_column(LargeBinary(64))


class CrlState(Base):
    """The newest CRL seen from each CA, so that an older one read later (an old
    file put back, an old CRL replayed at the URL) never replaces it: not after a
    restart, nor in another app process. Only CRLs whose signature verified are
    kept (voting/auth/trust.py)."""

    __tablename__ = "crl_state"

    issuer: Mapped[str] = mapped_column(String(64), primary_key=True)
    """SHA-256 (hex) of the issuer name's DER and the signing CA's public key (SPKI DER)"""
    issuer_name: Mapped[str] = mapped_column(Text)
    """RFC 4514, for people reading the table"""
    sort_key: Mapped[str] = mapped_column(String(80))
    """CRL number (49 digits, zero-padded; dashes when absent), a space, thisUpdate
    (YYYYMMDDTHHMMSSZ): a newer CRL of the same CA has a larger key, as text"""
    crl: Mapped[bytes] = mapped_column(LargeBinary)
    """DER of the CRL"""
    signer: Mapped[bytes] = mapped_column(LargeBinary)
    """DER of the CA certificate whose key verified the CRL"""
    stored_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class EnrollmentCode(Base):
    """A one-time enrollment code handed to one employee (on a slip, by HR or an
    administrator): it links the first card that signs it to that employee
    (voting/auth/enrollment.py). Only its hash is kept."""

    __tablename__ = "enrollment_codes"

    code_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    """SHA-256 (hex) of the code's 12 characters, without the dashes"""
    employee_id: Mapped[str] = mapped_column(String(64), index=True)
    created_by: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    used_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)


class Enrollment(Base):
    """A card certificate from a trust anchor whose certificates name no employee
    (identity "enrollment", such as JPKI), linked to one employee."""

    __tablename__ = "enrollments"

    fingerprint: Mapped[str] = mapped_column(String(64), primary_key=True)
    """SHA-256 (hex) of the card certificate's DER"""
    employee_id: Mapped[str] = mapped_column(String(64), index=True)
    anchor: Mapped[str] = mapped_column(String(64))
    """the name of the trust anchor the certificate chains to (VOTING_TRUST_ANCHORS_FILE)"""
    certificate: Mapped[bytes] = mapped_column(LargeBinary)
    """DER of the card certificate"""
    chain: Mapped[str] = mapped_column(Text)
    """JSON list of base64 DER: leaf first, as the card sent it"""
    proof: Mapped[str] = mapped_column(Text)
    """JSON: {"token": the enrollment token the card signed}, or {"via": "client-certificate"}"""
    enrolled_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    revoked_by: Mapped[str | None] = mapped_column(String(64), nullable=True)
    revoked_reason: Mapped[str | None] = mapped_column(Text, nullable=True)
