"""Client-certificate path validation, in the manner of x509-limbo.

x509-limbo (C2SP) publishes its test cases as a ``limbo.json`` in its
repository only: it is not a package on PyPI, npm or Debian, so it cannot be a
dependency here. Its cases are mostly server (web PKI) validation; this is our
own table of the ones that apply to a client certificate that signs a login
token, each with a limbo-style id, the expected result (SUCCESS or FAILURE) and,
for a failure, the stable error code. Every case goes through the whole login
check, ``crypto.credentials.verify_login_token``: chain building and policy
(cryptography.x509.verification), our profile checks, the leaf key, the CRLs.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from crypto import ca
from crypto import credentials as cr
from crypto.errors import CredentialError
from tests.vectors.gen_credentials import alg_of, jws, payload, x5c

NOW = datetime(2030, 6, 1, 9, 0, tzinfo=UTC)
AUDIENCE = "https://vote.city-hall.example.jp"
EMPLOYEE = "E0100"

_KEYS: dict[str, object] = {}


def key(label: str, kind: str = "P-256"):
    """Keys are made once per module (RSA is slow)."""
    if (label, kind) not in _KEYS:
        _KEYS[(label, kind)] = (
            ec.generate_private_key(ec.SECP256R1()) if kind == "P-256"
            else ed25519.Ed25519PrivateKey.generate() if kind == "Ed25519"
            else rsa.generate_private_key(65537, int(kind[4:]))
        )
    return _KEYS[(label, kind)]


def name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, "City Hall"), x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


LEAF_USAGE = x509.KeyUsage(True, False, False, False, False, False, False, False, False)
CA_USAGE = x509.KeyUsage(False, False, False, False, False, True, True, False, False)


@dataclass(frozen=True)
class Spec:
    """One certificate of a case's chain; every field can be overridden."""

    subject: x509.Name
    key: str
    key_kind: str = "P-256"
    issuer: str | None = None  # the label of the issuing Spec; None: self-signed
    issuer_name: x509.Name | None = None  # to break name chaining
    signing_key: str | None = None  # to sign with another key than the issuer's
    not_before: datetime = NOW - timedelta(days=30)
    not_after: datetime = NOW + timedelta(days=365)
    ca: bool | None = False  # None: no basicConstraints at all
    path_length: int | None = None
    usage: x509.KeyUsage | None = LEAF_USAGE
    eku: tuple | None = (ExtendedKeyUsageOID.CLIENT_AUTH,)
    san: tuple | None = (x509.UniformResourceIdentifier(cr.EMPLOYEE_URI_PREFIX + EMPLOYEE),)
    aki: bool = True
    extra: tuple = ()
    hash: hashes.HashAlgorithm = field(default_factory=hashes.SHA256)


def root(**changes) -> Spec:
    return replace(Spec(name("Limbo Root"), "root", ca=True, path_length=None, usage=CA_USAGE, eku=None, san=None, aki=False), **changes)


def issuing(**changes) -> Spec:
    return replace(Spec(name("Limbo Issuing CA"), "issuing", issuer="root", ca=True, path_length=0, usage=CA_USAGE, eku=None, san=None), **changes)


def leaf(**changes) -> Spec:
    subject = x509.Name([
        x509.NameAttribute(NameOID.ORGANIZATION_NAME, "City Hall"),
        x509.NameAttribute(NameOID.SERIAL_NUMBER, EMPLOYEE),
        x509.NameAttribute(NameOID.COMMON_NAME, "試験 太郎"),
    ])
    return replace(Spec(subject, "leaf", issuer="issuing"), **changes)


def build(specs: dict[str, Spec]) -> dict[str, x509.Certificate]:
    """Certificates in dependency order (issuers first)."""
    built: dict[str, x509.Certificate] = {}
    while len(built) < len(specs):
        for label, spec in specs.items():
            if label in built or (spec.issuer and spec.issuer not in built):
                continue
            subject_key = key(spec.key, spec.key_kind)
            issuer_spec = specs[spec.issuer] if spec.issuer else spec
            signer = key(spec.signing_key or issuer_spec.key, issuer_spec.key_kind)
            issuer_name = spec.issuer_name or (built[spec.issuer].subject if spec.issuer else spec.subject)
            builder = (
                x509.CertificateBuilder()
                .subject_name(spec.subject)
                .issuer_name(issuer_name)
                .public_key(subject_key.public_key())
                .serial_number(x509.random_serial_number())
                .not_valid_before(spec.not_before)
                .not_valid_after(spec.not_after)
                .add_extension(x509.SubjectKeyIdentifier.from_public_key(subject_key.public_key()), critical=False)
            )
            if spec.ca is not None:
                builder = builder.add_extension(x509.BasicConstraints(ca=spec.ca, path_length=spec.path_length), critical=True)
            if spec.usage is not None:
                builder = builder.add_extension(spec.usage, critical=True)
            if spec.eku is not None:
                builder = builder.add_extension(x509.ExtendedKeyUsage(list(spec.eku)), critical=False)
            if spec.san is not None:
                builder = builder.add_extension(x509.SubjectAlternativeName(list(spec.san)), critical=False)
            if spec.aki:
                issuer_key = key(issuer_spec.key, issuer_spec.key_kind)
                builder = builder.add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer_key.public_key()), critical=False)
            for extension, critical in spec.extra:
                builder = builder.add_extension(extension, critical=critical)
            algorithm = None if isinstance(signer, ed25519.Ed25519PrivateKey) else spec.hash
            built[label] = builder.sign(signer, algorithm)
    return built


@dataclass(frozen=True)
class Case:
    id: str
    description: str
    expected: str  # "SUCCESS" or "FAILURE"
    code: str | None = None
    specs: dict[str, Spec] = field(default_factory=dict)
    presented: tuple[str, ...] = ("leaf", "issuing")  # the token's x5c, leaf first
    trusted: tuple[str, ...] = ("root",)
    revoked: tuple[str, ...] = ()


def world(**specs: Spec) -> dict[str, Spec]:
    return {"root": root(), "issuing": issuing(), "leaf": leaf(), **specs}


PAST = NOW - timedelta(days=400)
CASES = [
    Case("pilot::valid-p256", "leaf P-256 <- issuing CA <- root", "SUCCESS", specs=world()),
    Case("pilot::valid-rsa2048-leaf", "an RSA-2048 leaf, as on the My Number card", "SUCCESS", specs=world(leaf=leaf(key_kind="RSA-2048"))),
    Case("pilot::valid-ed25519-leaf", "an Ed25519 leaf", "SUCCESS", specs=world(leaf=leaf(key_kind="Ed25519"))),
    Case("pilot::valid-rsa-issuing-ca", "an RSA-2048 issuing CA", "SUCCESS", specs=world(issuing=issuing(key_kind="RSA-2048"))),
    Case("pilot::leaf-issued-by-root", "no intermediate: the root issued the leaf", "SUCCESS",
         specs={"root": root(), "leaf": leaf(issuer="root")}, presented=("leaf",)),
    Case("pilot::chain-includes-root", "the token's x5c carries the root too", "SUCCESS", specs=world(), presented=("leaf", "issuing", "root")),
    # validity
    Case("rfc5280::validity::expired-leaf", "the leaf's notAfter has passed", "FAILURE", "certificate_invalid",
         specs=world(leaf=leaf(not_before=PAST, not_after=NOW - timedelta(days=1)))),
    Case("rfc5280::validity::leaf-not-yet-valid", "the leaf's notBefore is tomorrow", "FAILURE", "certificate_invalid",
         specs=world(leaf=leaf(not_before=NOW + timedelta(days=1)))),
    Case("rfc5280::validity::expired-intermediate", "the issuing CA has expired, the leaf has not", "FAILURE", "certificate_invalid",
         specs=world(issuing=issuing(not_before=PAST, not_after=NOW - timedelta(days=1)))),
    Case("rfc5280::validity::expired-root", "the trust anchor has expired", "FAILURE", "certificate_invalid",
         specs=world(root=root(not_before=PAST, not_after=NOW - timedelta(days=1)))),
    # key usage and extended key usage
    Case("rfc5280::eku::server-auth-only", "EKU serverAuth, not clientAuth", "FAILURE", "certificate_invalid",
         specs=world(leaf=leaf(eku=(ExtendedKeyUsageOID.SERVER_AUTH,)))),
    Case("rfc5280::eku::missing", "no extended key usage", "FAILURE", "certificate_invalid", specs=world(leaf=leaf(eku=None))),
    Case("rfc5280::eku::any-only", "anyExtendedKeyUsage only", "FAILURE", "certificate_invalid",
         specs=world(leaf=leaf(eku=(ExtendedKeyUsageOID.ANY_EXTENDED_KEY_USAGE,)))),
    Case("rfc5280::ku::no-digital-signature", "key usage keyEncipherment only", "FAILURE", "certificate_invalid",
         specs=world(leaf=leaf(usage=x509.KeyUsage(False, False, True, False, False, False, False, False, False)))),
    Case("rfc5280::ku::missing", "no key usage on the leaf", "FAILURE", "certificate_invalid", specs=world(leaf=leaf(usage=None))),
    Case("rfc5280::ku::intermediate-without-key-cert-sign", "the issuing CA may not sign certificates", "FAILURE", "certificate_invalid",
         specs=world(issuing=issuing(usage=x509.KeyUsage(True, False, False, False, False, False, True, False, False)))),
    # names
    Case("rfc5280::san::missing", "no subject alternative name on the leaf", "FAILURE", "certificate_invalid", specs=world(leaf=leaf(san=None))),
    Case("pilot::san::no-employee-uri", "a SAN without the employee URI", "FAILURE", "certificate_invalid",
         specs=world(leaf=leaf(san=(x509.RFC822Name("taro@city-hall.example.jp"),)))),
    Case("pilot::san::two-employees", "a SAN naming two employees", "FAILURE", "certificate_invalid",
         specs=world(leaf=leaf(san=(x509.UniformResourceIdentifier(cr.EMPLOYEE_URI_PREFIX + EMPLOYEE),
                                    x509.UniformResourceIdentifier(cr.EMPLOYEE_URI_PREFIX + "E0101"))))),
    Case("rfc5280::name-chaining::issuer-mismatch", "the leaf's issuer name is not the issuing CA's subject", "FAILURE", "certificate_invalid",
         specs=world(leaf=leaf(issuer_name=name("Someone Else CA")))),
    Case("rfc5280::aki::missing", "no authority key identifier on the leaf", "FAILURE", "certificate_invalid", specs=world(leaf=leaf(aki=False))),
    # basic constraints and path length
    Case("rfc5280::leaf-is-ca", "the leaf says CA:TRUE", "FAILURE", "certificate_invalid",
         specs=world(leaf=leaf(ca=True, usage=x509.KeyUsage(True, False, False, False, False, True, False, False, False)))),
    Case("rfc5280::bc::intermediate-not-ca", "the issuing certificate says CA:FALSE", "FAILURE", "certificate_invalid",
         specs=world(issuing=issuing(ca=False, path_length=None))),
    Case("rfc5280::bc::intermediate-without-basic-constraints", "the issuing certificate has no basicConstraints", "FAILURE", "certificate_invalid",
         specs=world(issuing=issuing(ca=None, path_length=None))),
    Case("rfc5280::pathlen::root-pathlen-0", "the root allows no intermediate, one is used", "FAILURE", "certificate_invalid",
         specs=world(root=root(path_length=0))),
    Case("rfc5280::pathlen::intermediate-pathlen-0-then-another", "an intermediate with pathLen 0 issued another CA", "FAILURE", "certificate_invalid",
         specs={**world(), "second": issuing(subject=name("Limbo Second CA"), key="second", issuer="issuing"), "leaf": leaf(issuer="second")},
         presented=("leaf", "second", "issuing")),
    Case("rfc5280::pathlen::within-limit", "root pathLen 1 with one intermediate", "SUCCESS", specs=world(root=root(path_length=1))),
    # signatures and keys
    Case("rfc5280::signature::wrong-key", "the leaf is signed by a key that is not the issuing CA's", "FAILURE", "certificate_invalid",
         specs=world(leaf=leaf(signing_key="intruder"))),
    Case("rfc5280::signature::intermediate-wrong-key", "the issuing CA is signed by a key that is not the root's", "FAILURE", "certificate_invalid",
         specs=world(issuing=issuing(signing_key="intruder"))),
    Case("webpki::forbidden-weak-rsa-key-in-intermediate", "an RSA-1024 issuing CA", "FAILURE", "certificate_invalid",
         specs=world(issuing=issuing(key_kind="RSA-1024"))),
    Case("pilot::weak-rsa-leaf-key", "an RSA-1024 leaf key (the library checks only signing keys)", "FAILURE", "weak_key",
         specs=world(leaf=leaf(key_kind="RSA-1024"))),
    Case("webpki::forbidden-sha224-leaf", "the leaf is signed with SHA-224 (SHA-1 cannot even be signed with here)", "FAILURE",
         "certificate_invalid", specs=world(leaf=leaf(hash=hashes.SHA224()))),
    Case("webpki::unknown-critical-extension", "the leaf carries an unknown critical extension", "FAILURE", "certificate_invalid",
         specs=world(leaf=leaf(extra=((x509.UnrecognizedExtension(x509.ObjectIdentifier("1.3.6.1.4.1.55555.1"), b"\x05\x00"), True),)))),
    # trust
    Case("pilot::unknown-root", "a chain to a root the service does not trust", "FAILURE", "certificate_invalid",
         specs={**world(), "other": root(subject=name("Other Root"), key="other")}, trusted=("other",)),
    Case("pilot::missing-intermediate", "the token leaves out the issuing CA", "FAILURE", "certificate_invalid", specs=world(), presented=("leaf",)),
    Case("pilot::self-signed-leaf", "a self-signed end-entity certificate", "FAILURE", "certificate_invalid",
         specs={"root": root(), "leaf": leaf(issuer=None, aki=False)}, presented=("leaf",)),
    Case("pilot::trust-anchor-as-leaf", "the root itself presented as the employee's certificate", "FAILURE",
         specs=world(), presented=("root",)),
    # revocation
    Case("pilot::revoked-leaf", "the leaf is on the issuing CA's CRL", "FAILURE", "certificate_revoked", specs=world(), revoked=("leaf",)),
    Case("pilot::revoked-intermediate", "the issuing CA is on the root's CRL", "FAILURE", "certificate_revoked", specs=world(), revoked=("issuing",)),
]


def crls_for(certificates: dict[str, x509.Certificate], specs: dict[str, Spec], revoked: tuple[str, ...]) -> list:
    """A current CRL from every CA of the case, listing the revoked certificates it issued."""
    result = []
    for label, spec in specs.items():
        if not spec.ca:
            continue
        authority = ca.Authority(key(spec.key, spec.key_kind), certificates[label])
        entries = [
            x509.RevokedCertificateBuilder().serial_number(certificates[r].serial_number).revocation_date(NOW - timedelta(days=1)).build()
            for r in revoked
            if specs[r].issuer == label
        ]
        try:
            result.append(ca.build_crl(authority, entries, now=NOW - timedelta(hours=1), next_update=NOW + timedelta(days=7), crl_number=1))
        except ValueError:  # a CA key the pilot's tooling refuses (RSA-1024): no CRL from it
            continue
    return result


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_client_certificate_case(case: Case) -> None:
    certificates = build(case.specs)
    leaf_spec = case.specs[case.presented[0]]
    chain = [certificates[label] for label in case.presented]
    subject = EMPLOYEE if case.presented[0] == "leaf" else "E0999"
    token = jws({"alg": alg_of(key(leaf_spec.key, leaf_spec.key_kind)), "x5c": x5c(chain)},
                payload(subject, "n" * 22, iat=NOW, aud=AUDIENCE), key(leaf_spec.key, leaf_spec.key_kind))
    verify: Callable[[], cr.VerifiedLogin] = lambda: cr.verify_login_token(  # noqa: E731
        token,
        trust_store=cr.TrustStore(tuple(certificates[t] for t in case.trusted)),
        crls=crls_for(certificates, case.specs, case.revoked),
        audience=AUDIENCE,
        now=NOW,
        consume_nonce=lambda nonce: True,
    )
    if case.expected == "SUCCESS":
        assert verify().employee_id == EMPLOYEE
    else:
        with pytest.raises(CredentialError) as refused:
            verify()
        if case.code:
            assert refused.value.code == case.code, f"{case.id}: {refused.value.code}: {refused.value}"
