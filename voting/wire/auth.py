"""Bodies of the login, session and card-enrollment operations (/api/auth, /api/enroll, /api/admin)."""

from __future__ import annotations

import msgspec

from voting.wire.common import Reply


class LoginRequest(msgspec.Struct, forbid_unknown_fields=True):
    token: str
    """A compact JWS signed by the employee's certificate key over the challenge."""


class EnrollRequest(msgspec.Struct, forbid_unknown_fields=True):
    token: str
    """A compact JWS signed by the card, carrying the one-time enrollment code."""


class EnrollmentCodeRequest(msgspec.Struct, forbid_unknown_fields=True):
    employee_id: str


class RevokeRequest(msgspec.Struct, forbid_unknown_fields=True):
    reason: str


class ClientCertificateEnrollRequest(msgspec.Struct, forbid_unknown_fields=True):
    """Enrollment of the card whose TLS client certificate the proxy passed on."""

    code: str
    """The one-time enrollment code, as on the code slip."""
    employee_id: str


# -- replies -----------------------------------------------------------------------------


class Challenge(Reply):
    nonce: str
    audience: str
    """The address the login token must name (a relayed challenge is useless elsewhere)."""
    expires_at: str


class Session(Reply):
    session_token: str
    employee_id: str
    name: str
    roles: list[str]
    expires_at: str


class ClientCertificateSession(Session):
    login_method: str


class LoggedOut(Reply):
    logged_out: bool


class Me(Reply):
    employee_id: str
    roles: list[str]


class Enrolled(Reply):
    employee_id: str
    fingerprint: str
    anchor: str
    enrolled_at: str


class EnrollmentCode(Reply):
    code: str
    """Shown once: only its hash is stored."""
    employee_id: str
    expires_at: str


class Enrollment(Reply):
    fingerprint: str
    employee_id: str
    anchor: str
    subject: str
    issuer: str
    not_after: str
    via: str
    enrolled_at: str
    revoked_at: str | None
    revoked_by: str | None
    revoked_reason: str | None


class Enrollments(Reply):
    enrollments: list[Enrollment]
