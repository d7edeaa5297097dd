"""Creating elections, their rolls and rosters, and the key ceremony.

The server only relays the ceremony: it checks and publishes each trustee's
announcement and passes on shares that are encrypted to their recipients. No
key share ever exists here; the joint key is computed from public commitments.
"""

from __future__ import annotations

import functools
import json
import secrets
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import bindparam, func, select, update
from sqlalchemy.engine import Row
from sqlalchemy.ext.asyncio import AsyncSession

from crypto import threshold
from crypto.ballots import Manifest, ceremony_fingerprint, election_fingerprint
from crypto.credentials import (
    check_revocation,
    is_valid_employee_id,
    parse_voting_credential,
    verify_announcement_signature,
    verify_endorsement,
    verify_registration,
)
from crypto.encoding import canonical_json
from crypto.entry_kinds import (
    ADMIN_ACTION,
    CREDENTIAL_REGISTERED,
    ELECTION_CREATED,
    ELECTION_OPENED,
    JOINT_KEY,
    TRUSTEE_ANNOUNCEMENT,
)
from crypto.errors import CredentialError
from crypto.group import Point
from voting.auth.service import ADMIN, AUDITOR, Principal
from voting.auth.trust import TrustAnchors
from voting.board.service import Board
from voting.db.models import Ballot, BoardEntry, BoardState, CeremonyShare, Election, Role, RollEntry, Session, Trustee
from voting.elections import lifecycle, schedule
from voting.elections.manifest import validate_manifest
from voting.elections.roll import parse_roll
from voting.elections.roll import preview as roll_preview
from voting.elections.schedule import Schedule
from voting.errors import Conflict, Forbidden, Invalid, NotFound

MAX_TRUSTEES = 5
#: A registration the service attests for a session that logged in with a TLS
#: client certificate (also that session's ``login_method``).
ATTESTED_CLIENT_CERTIFICATE = "client-certificate"


def ceremony_parameters(election: Election) -> threshold.CeremonyParameters:
    return threshold.CeremonyParameters(
        election.trustee_count, election.threshold, bytes.fromhex(election.ceremony_fingerprint)
    )


def manifest_of(election: Election) -> Manifest:
    return Manifest.from_json(json.loads(election.manifest))


def signed_announcement(trustee: Trustee) -> dict:
    """The announcement as the board and co-trustees see it: with its signature."""
    assert trustee.announcement is not None and trustee.announcement_signature is not None, "the trustee announced"
    return {**json.loads(trustee.announcement), "signature": json.loads(trustee.announcement_signature)}


#: The status's statements, built once (every voter reads the status): the
#: columns it shows, without the trustees' documents.
_STATUS = (
    select(
        Election.id, Election.status, Election.manifest, Election.trustee_count, Election.threshold,
        Election.ceremony_fingerprint, Election.joint_key, Election.fingerprint, Election.result,
        Election.roll_size, Election.ballots_cast, Election.ballots_superseded, BoardState.size.label("board_size"),
    )
    .join(BoardState, BoardState.election_id == Election.id)
    .where(Election.id == bindparam("election_id"))
)
_TRUSTEES_STATUS = (
    select(
        Trustee.index, Trustee.employee_id, Trustee.announcement.is_not(None).label("announced"),
        Trustee.public_share_confirmed, Trustee.partial_decryption.is_not(None).label("decrypted"),
    )
    .where(Trustee.election_id == bindparam("election_id"))
    .order_by(Trustee.index)
)


#: The registration's statements: the election's row locked first, then the voter's (as casts lock them).
_LOCK_FOR_REGISTRATION = (
    select(Election.status, Election.manifest).where(Election.id == bindparam("election_id")).with_for_update()
)
_ROLL_ENTRY_FOR_UPDATE = (
    select(RollEntry.credential)
    .where(RollEntry.election_id == bindparam("election_id"), RollEntry.employee_id == bindparam("employee_id"))
    .with_for_update()
)
_REGISTER = (  # an UPDATE's parameters may not be named after the table's columns
    update(RollEntry)
    .where(RollEntry.election_id == bindparam("b_election_id"), RollEntry.employee_id == bindparam("b_employee_id"))
    .values(credential=bindparam("b_credential"), registration=bindparam("b_registration"))
    .execution_options(synchronize_session=False)
)


@functools.lru_cache(maxsize=64)
def schedule_of(manifest: str) -> Schedule:
    """A manifest's schedule, parsed once per manifest text (by its text, not by
    the election's id: an archived election's id can be used again)."""
    return Schedule.of(json.loads(manifest))


def public_view(election: Election | Row) -> dict:
    return {
        "election_id": election.id,
        "status": election.status,
        "manifest": json.loads(election.manifest),
        "trustee_count": election.trustee_count,
        "threshold": election.threshold,
        "ceremony_fingerprint": election.ceremony_fingerprint,
        "joint_key": election.joint_key,
        "fingerprint": election.fingerprint,
    }


async def set_role(db: AsyncSession, employee_id: str, role: str) -> None:
    """Roster change by the operator (voting/operator.py); never reachable over HTTP."""
    if role not in (ADMIN, AUDITOR):
        raise Invalid("role must be admin or auditor")
    if not is_valid_employee_id(employee_id):
        raise Invalid(f"invalid employee id {employee_id!r}")
    if await db.get(Role, (employee_id, role, "*")) is None:
        db.add(Role(employee_id=employee_id, role=role, scope="*"))
        await db.commit()


class ElectionService:
    def __init__(self, board: Board, trust: TrustAnchors) -> None:
        self.board = board
        self.trust = trust

    async def get(self, db: AsyncSession, election_id: str, *, for_update: bool = False) -> Election:
        election = await db.get(Election, election_id, with_for_update=for_update, populate_existing=for_update)
        if election is None:
            raise NotFound(f"no election {election_id!r}", code="election_not_found")
        return election

    async def list_for(self, db: AsyncSession, principal: Principal) -> list[dict]:
        if ADMIN in principal.roles or AUDITOR in principal.roles:
            elections = list(await db.scalars(select(Election).order_by(Election.created_at)))
        else:
            elections = list(
                await db.scalars(
                    select(Election)
                    .join(RollEntry, RollEntry.election_id == Election.id, isouter=True)
                    .join(Trustee, Trustee.election_id == Election.id, isouter=True)
                    .where((RollEntry.employee_id == principal.employee_id) | (Trustee.employee_id == principal.employee_id))
                    .distinct()
                )
            )
        return [public_view(e) for e in elections]

    async def create(self, db: AsyncSession, admin: Principal, body: dict) -> dict:
        admin.require(ADMIN)
        if not isinstance(body, dict) or set(body) != {"manifest", "trustees", "threshold"}:
            raise Invalid("send {manifest, trustees: [employee ids], threshold}", code="invalid_request")
        manifest = validate_manifest(body["manifest"])
        if manifest.witnesses.witness(self.board.key.public_bytes) is not None:
            # The server cosigning its own heads would detect nothing.
            raise Invalid("a witness cannot have the server's own key: witnesses are independent of it", code="invalid_manifest")
        trustees, t = body["trustees"], body["threshold"]
        # Policy (docs/parts/service-protocol.md, "Election policy"): at least two
        # trustees must decrypt, and no trustee also runs or audits the election,
        # so no single person can decrypt, nor both run the server and decrypt.
        if (
            not isinstance(trustees, list)
            or not 2 <= len(trustees) <= MAX_TRUSTEES
            or len(set(trustees)) != len(trustees)
            or not all(is_valid_employee_id(e) for e in trustees)
        ):
            raise Invalid(f"trustees must be 2 to {MAX_TRUSTEES} distinct employee ids", code="invalid_trustees")
        if not isinstance(t, int) or isinstance(t, bool) or not 2 <= t <= len(trustees):
            raise Invalid("threshold must be at least 2 and at most the number of trustees", code="invalid_threshold")
        if admin.employee_id in trustees:
            raise Invalid(
                f"you ({admin.employee_id}) cannot be a trustee of an election you create: name other employees",
                code="trustee_is_admin",
            )
        rostered = (
            await db.execute(select(Role.employee_id, Role.role).where(Role.employee_id.in_(trustees), Role.role.in_((ADMIN, AUDITOR))))
        ).all()
        if rostered:
            employee_id, role = sorted(rostered)[0]
            raise Invalid(
                f"trustee {employee_id} is an {'administrator' if role == ADMIN else 'auditor'}: "
                "name trustees who hold no admin or auditor role",
                code="trustee_is_admin" if role == ADMIN else "trustee_is_auditor",
            )
        if await db.get(Election, manifest.election_id) is not None:
            raise Conflict(f"election {manifest.election_id!r} already exists", code="election_exists")
        fp = ceremony_fingerprint(manifest, len(trustees), t)
        election = Election(
            id=manifest.election_id,
            manifest=canonical_json(manifest.document).decode("utf-8"),
            status=lifecycle.DRAFT,
            revote_policy=manifest.document["revote_policy"],
            trustee_count=len(trustees),
            threshold=t,
            ceremony_fingerprint=fp.hex(),
            created_at=datetime.now(UTC),
        )
        db.add(election)
        db.add_all(Trustee(election_id=election.id, index=i, employee_id=e) for i, e in enumerate(trustees, start=1))
        await db.flush()
        await self.board.create(db, election.id)
        await self.board.append(
            db,
            election.id,
            ELECTION_CREATED,
            {
                "manifest": manifest.document,
                "trustees": len(trustees),
                "trustee_ids": list(trustees),
                "threshold": t,
                "ceremony_fingerprint": fp.hex(),
                "server_key": self.board.key.public_bytes.hex(),
            },
        )
        await self.board.append(db, election.id, ADMIN_ACTION, {"action": "create", "by": admin.employee_id})
        await db.commit()
        return public_view(election)

    async def import_roll(
        self, db: AsyncSession, admin: Principal, election_id: str, data: bytes | str, *, dry_run: bool = False
    ) -> dict:
        """Add the voters of a roll file (UTF-8 or cp932 CSV bytes), all or none.
        ``dry_run``: the preview (rows as read and every wrong line); nothing written."""
        admin.require(ADMIN)
        election = await self.get(db, election_id, for_update=not dry_run)
        lifecycle.require(election, lifecycle.DRAFT, lifecycle.KEY_CEREMONY, action="change the voter roll")
        existing = set(await db.scalars(select(RollEntry.employee_id).where(RollEntry.election_id == election_id)))
        parsed = parse_roll(data, existing)
        if dry_run:
            return {**roll_preview(parsed), "total": len(existing)}
        if parsed.errors:
            raise Invalid(
                f"{len(parsed.errors)} line(s) of the roll are wrong; nothing was imported",
                code="roll_invalid",
                extra={"errors": parsed.error_json()[:1000]},
            )
        rows = parsed.rows
        if not rows:
            raise Invalid("the roll file has no voters", code="roll_empty")
        db.add_all(
            RollEntry(
                election_id=election_id,
                employee_id=r.employee_id,
                name=r.name,
                department=r.department,
                pseudonym="v-" + secrets.token_hex(12),
            )
            for r in rows
        )
        election.roll_size = len(existing) + len(rows)  # the status's counter; the row is locked
        await self.board.append(
            db, election_id, ADMIN_ACTION, {"action": "roll-import", "by": admin.employee_id, "added": len(rows)}
        )
        await db.commit()
        return {"added": len(rows), "total": election.roll_size}

    async def roll_entries(self, db: AsyncSession, admin: Principal, election_id: str) -> dict:
        """The roll as the administrator sees it (employee id, name, department), by employee id."""
        admin.require(ADMIN)
        election = await self.get(db, election_id)
        entries = await db.execute(
            select(RollEntry.employee_id, RollEntry.name, RollEntry.department)
            .where(RollEntry.election_id == election_id)
            .order_by(RollEntry.employee_id)
        )
        return {
            "status": election.status,
            "entries": [{"employee_id": e, "name": n, "department": d} for e, n, d in entries],
        }

    async def remove_from_roll(self, db: AsyncSession, admin: Principal, election_id: str, employee_id: str) -> dict:
        """Correct the roll before voting opens: remove one voter. Until then no
        credential is registered and no ballot cast, and the board holds only the
        counts (``roll-import``); the frozen roll's size is published at opening.
        The board records the removal as ``roll-remove`` with the count, never the
        employee: the roll itself is in the auditors' part of the record only."""
        admin.require(ADMIN)
        election = await self.get(db, election_id, for_update=True)
        lifecycle.require(election, lifecycle.DRAFT, lifecycle.KEY_CEREMONY, action="change the voter roll")
        entry = await db.get(RollEntry, (election_id, employee_id), with_for_update=True)
        if entry is None:
            raise NotFound(f"employee {employee_id[:64]!r} is not on this election's roll", code="roll_entry_not_found")
        await db.delete(entry)
        await db.flush()
        # The status's counter, counted here (the row is locked; corrections are rare).
        election.roll_size = (
            await db.scalar(select(func.count()).select_from(RollEntry).where(RollEntry.election_id == election_id))
        ) or 0
        await self.board.append(
            db, election_id, ADMIN_ACTION, {"action": "roll-remove", "by": admin.employee_id, "removed": 1}
        )
        await db.commit()
        return {"removed": employee_id, "total": election.roll_size}

    async def voter_info(self, db: AsyncSession, principal: Principal, election_id: str) -> dict:
        """The logged-in voter's registered voting credential (bound into their
        ballots' proofs; null before registration) and the tracking codes of the
        ballots they cast."""
        await self.get(db, election_id)
        entry = await db.get(RollEntry, (election_id, principal.employee_id))
        if entry is None:
            raise Forbidden("you are not on this election's voter roll", code="not_on_roll")
        ballots = await db.scalars(
            select(Ballot).where(Ballot.election_id == election_id, Ballot.pseudonym == entry.pseudonym).order_by(Ballot.id)
        )
        return {
            "name": entry.name,
            "credential": entry.credential,
            "ballots": [{"tracking_code": b.tracking_code, "superseded": b.superseded} for b in ballots],
        }

    async def register_credential(self, db: AsyncSession, principal: Principal, election_id: str, body: object) -> dict:
        """Register the voter's voting credential for this election: signed by the
        session's certificate key, one per roll entry, never another voter's.
        Publishes ``credential-registered`` (the credential only); the registration
        itself (chain and signature) goes to the auditors' part of the record.

        A session that logged in with a TLS client certificate (a browser with a
        card: voting/auth/client_certificate.py) holds no key to sign with; it
        sends ``{credential, attested: "client-certificate"}`` and the service
        attests the registration (``signature`` null, ``attested`` in the
        record): the server's word only (docs/threat-model.md)."""
        if not isinstance(body, dict) or set(body) not in ({"credential", "signature"}, {"credential", "attested"}):
            raise Invalid("send {credential, signature}", code="invalid_request")
        credential_hex, signature_hex = body["credential"], body.get("signature")
        credential = parse_voting_credential(credential_hex)
        attested = "attested" in body
        if attested:
            if body["attested"] != ATTESTED_CLIENT_CERTIFICATE:
                raise Invalid(f"attested must be {ATTESTED_CLIENT_CERTIFICATE!r}", code="invalid_request")
            method = await db.scalar(select(Session.login_method).where(Session.id == principal.session_id))
            if method != ATTESTED_CLIENT_CERTIFICATE:
                raise Forbidden(
                    "only a session that logged in with the card in this computer (a TLS client certificate) "
                    "has its registration attested; sign the registration with your key",
                    code="attestation_not_allowed",
                )
        elif (
            not isinstance(signature_hex, str)
            or not 0 < len(signature_hex) <= 1024
            or len(signature_hex) % 2
            or any(c not in "0123456789abcdef" for c in signature_hex)
        ):
            raise Invalid("the signature must be lowercase hex", code="invalid_signature_encoding")
        else:
            # The certificate signed it: checked before any lock is taken.
            verify_registration(
                principal.certificate, bytes.fromhex(signature_hex), election_id=election_id, credential_pub=credential
            )
        keys = {"election_id": election_id, "employee_id": principal.employee_id}
        election = (await db.execute(_LOCK_FOR_REGISTRATION, keys)).one_or_none()  # orders it with casts and closing
        if election is None:
            raise NotFound(f"no election {election_id!r}", code="election_not_found")
        entry = (await db.execute(_ROLL_ENTRY_FOR_UPDATE, keys)).one_or_none()
        if entry is None:
            raise Forbidden("you are not on this election's voter roll", code="not_on_roll")
        lifecycle.require(election, lifecycle.OPEN, action="register a voting credential")
        if entry.credential is not None:
            if entry.credential == credential_hex:
                return {"credential": credential_hex, "leaf_index": await self._registered_at(db, election_id, credential_hex)}
            raise Conflict(
                "you already registered another voting credential for this election",
                code="credential_already_registered",
            )
        taken = await db.scalar(
            select(RollEntry.employee_id).where(RollEntry.election_id == election_id, RollEntry.credential == credential_hex)
        )
        if taken is not None:
            raise Conflict("this voting credential is registered to another voter", code="credential_taken")
        registration = {
            "chain": list(principal.chain_b64),
            "signature": None if attested else signature_hex,
            **({"attested": ATTESTED_CLIENT_CERTIFICATE} if attested else {}),
            "registered_at": datetime.now(UTC).isoformat(),
        }
        await db.execute(
            _REGISTER,
            {
                "b_election_id": election_id, "b_employee_id": principal.employee_id,
                "b_credential": credential_hex, "b_registration": json.dumps(registration),
            },
        )
        # By the board's clock, as casts: a credential registered at or after closes_at has no use,
        # and would date the board past the close.
        appender = await self.board.appender(db, election_id)
        schedule_of(election.manifest).require_registering(appender.now)
        appended = appender.append(CREDENTIAL_REGISTERED, {"credential": credential_hex}, tracking_code=credential_hex)
        await appender.flush(db)
        await db.commit()
        return {"credential": credential_hex, "leaf_index": appended.leaf_index}

    async def _registered_at(self, db: AsyncSession, election_id: str, credential_hex: str) -> int | None:
        return await db.scalar(
            select(BoardEntry.leaf_index).where(
                BoardEntry.election_id == election_id,
                BoardEntry.tracking_code == credential_hex,
                BoardEntry.kind == CREDENTIAL_REGISTERED,
            )
        )

    # -- lifecycle --------------------------------------------------------------------

    async def transition(self, db: AsyncSession, admin: Principal, election_id: str, to: str) -> dict:
        admin.require(ADMIN)
        election = await self.get(db, election_id, for_update=True)
        if to == lifecycle.OPEN:
            if election.joint_key is None:
                raise Conflict("the key ceremony is not finished", code="ceremony_unfinished")
            roll = await db.scalar(select(func.count()).select_from(RollEntry).where(RollEntry.election_id == election_id))
            if not roll:
                raise Conflict("the voter roll is empty", code="roll_empty")
        lifecycle.advance(election, to)
        if to == lifecycle.OPEN:
            # The roll is frozen once open: anyone checks that no more credentials than this registered.
            await self.board.append(db, election_id, ELECTION_OPENED, {"by": admin.employee_id, "roll_size": roll})
        else:
            await self.board.append(db, election_id, ADMIN_ACTION, {"action": to, "by": admin.employee_id})
        await db.commit()
        return public_view(election)

    async def status(self, db: AsyncSession, election_id: str) -> dict:
        """The same work at any size of election: the counts are the election
        row's counters, kept by the roll import and the casts."""
        election = (await db.execute(_STATUS, {"election_id": election_id})).one_or_none()
        if election is None:
            raise NotFound(f"no election {election_id!r}", code="election_not_found")
        trustees = await db.execute(_TRUSTEES_STATUS, {"election_id": election_id})
        return {
            **public_view(election),
            "roll_size": election.roll_size,
            "ballots_cast": election.ballots_cast,
            "ballots_counted": election.ballots_cast - election.ballots_superseded,
            "board_size": election.board_size,
            "schedule": Schedule.of(json.loads(election.manifest)).view(election.status, schedule.now()),
            "trustees": [
                {
                    "index": t.index,
                    "employee_id": t.employee_id,
                    "announced": t.announced,
                    "confirmed": t.public_share_confirmed,
                    "decrypted": t.decrypted,
                }
                for t in trustees
            ],
            "result": json.loads(election.result) if election.result else None,
        }

    def check_endorsement(self, election_id: str, trustee: Trustee, joint: Point, fingerprint: bytes, doc: object) -> dict:
        """The trustee's certificate signed this joint key and fingerprint."""
        return self.check_trustee_signature(
            trustee,
            doc,
            lambda store, now: verify_endorsement(
                doc, election_id=election_id, joint_key=joint.to_bytes(), fingerprint=fingerprint,
                employee_id=trustee.employee_id, trust_store=store, now=now,
            ),
        )

    def check_trustee_signature(self, trustee: Trustee, doc: Any, verify: Callable) -> dict:
        """``verify(trust_store, now)`` passed, and the chain is unrevoked now (as at login)."""
        now = datetime.now(UTC)
        try:
            checked = verify(self.trust.store(), now)
            check_revocation(checked.chain, self.trust.crls(), now=now)
        except CredentialError as exc:
            raise Invalid(f"trustee {trustee.index}'s signature is not acceptable: {exc}", code=exc.code) from None
        return {"chain": doc["chain"], "signature": doc["signature"]}

    # -- key ceremony (trustees) --------------------------------------------------------

    async def trustee_of(self, db: AsyncSession, principal: Principal, election_id: str) -> Trustee:
        trustee = await db.scalar(
            select(Trustee).where(Trustee.election_id == election_id, Trustee.employee_id == principal.employee_id)
        )
        if trustee is None:
            raise Forbidden("you are not a trustee of this election", code="not_trustee")
        return trustee

    async def ceremony(self, db: AsyncSession, principal: Principal, election_id: str) -> dict:
        election = await self.get(db, election_id)
        trustee = await self.trustee_of(db, principal, election_id)
        trustees = list(await db.scalars(select(Trustee).where(Trustee.election_id == election_id).order_by(Trustee.index)))
        shares = await db.scalars(
            select(CeremonyShare).where(CeremonyShare.election_id == election_id, CeremonyShare.recipient == trustee.index)
        )
        sent = await db.scalar(
            select(func.count()).select_from(CeremonyShare).where(
                CeremonyShare.election_id == election_id, CeremonyShare.sender == trustee.index
            )
        )
        return {
            "status": election.status,
            "parameters": ceremony_parameters(election).to_json(),
            "index": trustee.index,
            "announcements": [signed_announcement(t) for t in trustees if t.announcement],
            "shares_for_me": [json.loads(s.share) for s in shares],
            "shares_sent": sent,
            "joint_key": election.joint_key,
        }

    async def announce(self, db: AsyncSession, principal: Principal, election_id: str, doc: object) -> dict:
        """A trustee's announcement, signed with its certificate: co-trustees
        make shares only for announcements signed by the trustees the board names."""
        election = await self.get(db, election_id, for_update=True)
        trustee = await self.trustee_of(db, principal, election_id)
        lifecycle.require(election, lifecycle.KEY_CEREMONY, action="announce")
        if not isinstance(doc, dict) or set(doc) != {"announcement", "signature"}:
            raise Invalid("send {announcement, signature}", code="invalid_request")
        announcement = threshold.Announcement.from_json(doc["announcement"])
        if announcement.index != trustee.index:
            raise Invalid(f"you are trustee {trustee.index}", code="wrong_trustee_index")
        threshold.verify_announcement(ceremony_parameters(election), announcement)
        signature = self.check_trustee_signature(
            trustee,
            doc["signature"],
            lambda store, now: verify_announcement_signature(
                doc["signature"], election_id=election_id, announcement=announcement.to_json(),
                employee_id=trustee.employee_id, trust_store=store, now=now,
            ),
        )
        if trustee.announcement is not None:
            if json.loads(trustee.announcement) == announcement.to_json():
                return {"index": trustee.index}
            raise Conflict("you have already announced", code="already_announced")
        trustee.announcement = canonical_json(announcement.to_json()).decode()
        trustee.announcement_signature = canonical_json(signature).decode()
        await self.board.append(db, election_id, TRUSTEE_ANNOUNCEMENT, signed_announcement(trustee))
        await db.commit()
        return {"index": trustee.index}

    async def submit_shares(self, db: AsyncSession, principal: Principal, election_id: str, docs: object) -> dict:
        election = await self.get(db, election_id, for_update=True)
        trustee = await self.trustee_of(db, principal, election_id)
        lifecycle.require(election, lifecycle.KEY_CEREMONY, action="send key shares")
        if not isinstance(docs, list):
            raise Invalid("send a list of encrypted shares", code="invalid_request")
        shares = [threshold.EncryptedShare.from_json(d) for d in docs]
        recipients = sorted(s.recipient for s in shares)
        expected = [i for i in range(1, election.trustee_count + 1) if i != trustee.index]
        if recipients != expected or any(s.sender != trustee.index for s in shares):
            raise Invalid(f"send exactly one share from trustee {trustee.index} to each of {expected}", code="invalid_shares")
        existing = await db.scalar(
            select(func.count()).select_from(CeremonyShare).where(
                CeremonyShare.election_id == election_id, CeremonyShare.sender == trustee.index
            )
        )
        if existing:
            raise Conflict("you have already sent your shares", code="shares_already_sent")
        db.add_all(
            CeremonyShare(election_id=election_id, sender=s.sender, recipient=s.recipient, share=canonical_json(s.to_json()).decode())
            for s in shares
        )
        await db.commit()
        return {"sent": len(shares)}

    async def confirm(self, db: AsyncSession, principal: Principal, election_id: str, body: object) -> dict:
        """A trustee confirms that it opened every share and holds the public share
        the commitments predict, and endorses the joint key with its certificate;
        when all have, the joint key is published with every endorsement (voters
        accept no joint key without them)."""
        election = await self.get(db, election_id, for_update=True)
        trustee = await self.trustee_of(db, principal, election_id)
        lifecycle.require(election, lifecycle.KEY_CEREMONY, action="confirm the ceremony")
        trustees = list(await db.scalars(select(Trustee).where(Trustee.election_id == election_id).order_by(Trustee.index)))
        announced = [t.announcement for t in trustees if t.announcement is not None]
        if len(announced) < len(trustees):
            raise Conflict("not every trustee has announced yet", code="ceremony_unfinished")
        announcements = [threshold.Announcement.from_json(json.loads(a)) for a in announced]
        expected = threshold.public_share(announcements, trustee.index)
        if not isinstance(body, dict):
            raise Invalid("send {public_share, endorsement}", code="invalid_request")
        if body.get("public_share") != expected.hex():
            raise Invalid("the public share does not match the commitments", code="public_share_mismatch")
        if set(body) != {"public_share", "endorsement"}:
            raise Invalid("send {public_share, endorsement}", code="invalid_request")
        joint = threshold.joint_public_key(announcements)
        fingerprint = election_fingerprint(manifest_of(election), joint)
        endorsement = self.check_endorsement(election_id, trustee, joint, fingerprint, body["endorsement"])
        if trustee.public_share_confirmed:
            return {"confirmed": True, "joint_key": election.joint_key}
        trustee.public_share_confirmed = True
        trustee.endorsement = canonical_json(endorsement).decode()
        if all(t.public_share_confirmed for t in trustees) and election.joint_key is None:
            election.joint_key = joint.hex()
            election.fingerprint = fingerprint.hex()
            await self.board.append(
                db,
                election_id,
                JOINT_KEY,
                {
                    "joint_key": joint.hex(),
                    "fingerprint": election.fingerprint,
                    "public_shares": {str(a.index): threshold.public_share(announcements, a.index).hex() for a in announcements},
                    "endorsements": [{"index": t.index, **json.loads(t.endorsement)} for t in trustees if t.endorsement],
                },
            )
        await db.commit()
        return {"confirmed": True, "joint_key": election.joint_key}
