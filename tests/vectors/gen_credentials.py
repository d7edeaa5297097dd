"""Test vectors for certificate login, ballot signatures and credential files:
``credentials.json`` (docs/parts/credentials.md).

Everything is fixed: EC and Ed25519 keys derive from labels, the two RSA keys
are embedded below, serials and dates are constants, and ECDSA signs
deterministically (RFC 6979), so regenerating gives the same file. The
certificates are valid 2025-01-01 to 2035-01-01 and every check uses ``NOW``.
Each case carries ``valid`` and, when invalid, the ``error`` code of the
exception the verifier must raise, so the browser's JavaScript can check that
the tokens it produces, and its reading of the files, agree with the service.

The private keys here are test keys, published on purpose.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from datetime import UTC, datetime, timedelta

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from crypto import ca
from crypto import credentials as cr
from crypto.encoding import canonical_json

NOW = datetime(2030, 1, 1, tzinfo=UTC)
ISSUED = datetime(2025, 1, 1, tzinfo=UTC)
AUDIENCE = "https://vote.city-hall.example.jp"
ELECTION_FINGERPRINT = hashlib.sha256(b"test election fingerprint").digest()
TRACKING_CODE = hashlib.sha256(b"test tracking code").digest()
PIN = "246810"
PIN_ITERATIONS = 1000  # small so the test is fast; files in use have 600000

RSA_2048_PEM = """\
-----BEGIN PRIVATE KEY-----
MIIEvQIBADANBgkqhkiG9w0BAQEFAASCBKcwggSjAgEAAoIBAQDTNwLw18s47c57
3u+JhrPZjlHjiN7zwELNm6AZbI5H0lgn6+V+m4yswd29vNrFALYJDO8UT7C6vE0i
VftpvAECtEsNVLAE6Pbpus3NJ0kA5wcw0/YN05w1q4tBivxRbpz1FvQgZN5cHS9w
9v+Si8nKjnycAKCNlOTIV0kuDMc6p9qH/zo0RAS1hViMRNDtkwPGAdMb2hf9CvM1
JysH1+zLZyRe3UIvg7jrntNF9GaocSEi1ksSj6mfzn5pCU3cJFKNn55/ZeaxaxhB
4tReVMkgMKhkdbAJ6jPBwZiFR9XlYbweLQmUaAP9L1D6qhrGI5q9Q3qN6BxOKWf/
WpVPrULFAgMBAAECggEABcj08KnIbCe/Rw9FGkwxMt0+CvBdwulaKw1/JhMeFoOB
XJ6Oa5hREw5AR4kbqNerJLZQ+gpwubyclDsspqm6kVtkztmp9Ih48s/mAR95VWf+
f2zeyWQpXCL1rnbjEEvqSqA1UYnRuU4nVX2+ZEIl5cFfUlqGCzqvxXj2jSdWcZnI
mjj55fvJ5V28Ygva+l7jiqes4/kdPsNKZGSuHL9aE0QxVqwMBq+zFBEOr329dg7J
f8YpDSEyfar8DgJoBjKXWi2hrQ7okYmuc8JdkGPH1Yto0tPSO6UcVJZJbKFQmxcU
iN37ESSNNEEkHv/giGmAkqwvONpnIv9F1+YXM49LIQKBgQDsGrgZtLpua1iFPlZF
GZLfec4YG6fIPVhnTpLdGY7VTtrlgd6p7IyaaPmFT9Us83cYR1aGzWnKguur0bC0
H0hODF///7IQjIqR+fEYLGAQiZiwK78M/oPYlTQxcrw7vLiaJLSmu2ugoq9wlcfA
gigDXWrMTyGNiXF/8qmbIMIsaQKBgQDlA19a1bk9IZTUefeHFuhWR3b38u6t5Pyv
mbKcKtUGkcJ/NBRQ2Qn6dhNw96FM2L0On+7kLN4LxYknvDfvpoXwtruTRrbifPrE
itu5zjdvPGyPpgKAUl/xG+ur+A40/BDeqode1jAb7ert7DqzN9rvD003AslpWGmh
ttgu2/yH/QKBgHpRyWk/8Yo9QOofBpDcE/SFZVmmEkGyTnePBJVZpV8rcEqRAuuj
6qAgnI0NdBLKu7uvUcua5iENvM0SYOqgflQ5Iw88yGK8fRntlJOCge5vatRyhZNU
1LfDbPvlRlHojvcE5zauSK87OYspfghlJhfAMRFSOb7bIxs3e9krmo1pAoGBAMCQ
H2O/heyTChPHIo0ig+XYXX6LdIofmyEEOZz6nvjRIxvWbKa2eJ9zHVHFxolZTU64
yCRwXZzEUllo+Be4i7Ml03843JqAwFL29166uP39bsMysbO4kBeqhHWrNDb1JDI2
bXEe5ID3gqzgD1OWya5tzV1OKJE92EQz/H8aVrL5AoGAAm6oGOYb3dk/sw/yLsK1
yiNE+bZAcChuXfGK1tnQaSev82/RRefw07H9vyuQxsURlLMd/V5gT+1kVFRZR4N6
ngJynY4cY9iAgS6IrDzeJdGCfi1cH+gOaojF+DwxfLoL2YUAzq7B1FjBVGbr/SaP
pfzdRuckW6g3ZTXCZonWmVY=
-----END PRIVATE KEY-----
"""

RSA_1024_PEM = """\
-----BEGIN PRIVATE KEY-----
MIICeAIBADANBgkqhkiG9w0BAQEFAASCAmIwggJeAgEAAoGBAMS/WuaIl3FD0wKa
BQ+EwgsyrpHNKFHbc4cq3w8B7fJZBw5V6hDRCvddqdZ5reIqfoUj9ViGqOMxQMFq
grnpgRDnUsHfcw4VbbEntHuElxEpVHES+yTHX0TkbwB2fjSXPGDlpO4huDlCfaCK
3xpURmh8t6lwxCwV6K5kSzbsCdp3AgMBAAECgYEApic76whbbMnsf3v23h4tiStq
BbOOY2LC89meupvUiR/qN48SttTzP+gXsAreb+uXIXU2k2ZVZliH6U+7yqmJ1nOC
FlDS2vZFIa6sxaNPjSkgvXoiiDN0LAagAuWoC/wdOPAbY4qZxk9r2uzPKUDDm5Hc
4Uf+x2LzC0JATV4n2TECQQDk2MMLdECyB54RpVVqduoh4R+MkbFCOUEwOsx22tlr
wlFFhiD7VZ56oaipPqRoLLAtnuu8v+rAALJhvf0nvA7TAkEA3BeTcuIdw5uLgYZT
oBURVSYw4kOV9hTpdvZ7vaWpSJyNgWfk8XuDV7gZ2PoQg6nDm1TIhc7hYvULs+cQ
FuPnTQJALQKdSjFxUBLDekEEjc4ZutQmemVlcdsFAVFvSak9vj4X8g6xif2LEB+f
proVaA/yDucFArjUmTMJ4sOVeS051QJBANLSvooIcMxjncFno4kvRRgUajUC2o4L
QAuVVbi3DC4i0CWKGLL8Rjbrgc7m0pTcNCQBlccfAaTh5+DfT/ktO+0CQQCt9G0r
590eItcpQs7w3CxbQN3lVY+ntQUBGwCPUaikvrCs+Y3f/2rtxoWIxuPDXsObtZPi
db07bf/WfChgDH9y
-----END PRIVATE KEY-----
"""


def fixed_key(label: str, key_type: str = "P-256") -> cr.PrivateKey:
    """A reproducible test key."""
    seed = hashlib.sha256(("votingpilot test key " + label).encode()).digest()
    if key_type == "P-256":
        return ec.derive_private_key(int.from_bytes(seed, "big"), ec.SECP256R1())
    if key_type == "Ed25519":
        return ed25519.Ed25519PrivateKey.from_private_bytes(seed)
    if key_type == "RSA-2048":
        return cr.private_key_from_pem(RSA_2048_PEM)
    if key_type == "RSA-1024":
        return cr.private_key_from_pem(RSA_1024_PEM)
    raise ValueError(key_type)


def build_leaf(
    issuer: ca.Authority,
    public_key: object,
    *,
    employee_id: str,
    name: str,
    not_before: datetime,
    not_after: datetime,
    serial: int,
    eku: bool = True,
    key_usage: str = "digital_signature",
) -> x509.Certificate:
    """An employee certificate built by hand, so it can break the profile
    (no EKU, wrong key usage, weak key) in ways ``ca`` refuses to."""
    usage = dict.fromkeys(("digital_signature", "content_commitment", "key_encipherment", "data_encipherment", "key_agreement", "key_cert_sign", "crl_sign", "encipher_only", "decipher_only"), False)
    usage[key_usage] = True
    builder = (
        x509.CertificateBuilder()
        .subject_name(
            x509.Name(
                [
                    x509.NameAttribute(NameOID.SERIAL_NUMBER, employee_id),
                    x509.NameAttribute(NameOID.COMMON_NAME, name),
                ]
            )
        )
        .issuer_name(issuer.certificate.subject)
        .public_key(public_key)
        .serial_number(serial)
        .not_valid_before(not_before)
        .not_valid_after(not_after)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public_key), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer.key.public_key()),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.KeyUsage(**usage), critical=True)
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.UniformResourceIdentifier(cr.employee_uri(employee_id))]
            ),
            critical=False,
        )
    )
    if eku:
        builder = builder.add_extension(
            x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False
        )
    return builder.sign(issuer.key, hashes.SHA256(), ecdsa_deterministic=True)


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def x5c(chain: list[x509.Certificate]) -> list[str]:
    return [
        base64.b64encode(c.public_bytes(serialization.Encoding.DER)).decode("ascii") for c in chain
    ]


def jws(header: dict, payload: dict, private_key: cr.PrivateKey | None) -> str:
    """A compact JWS signed as the token rules say (any header, any payload)."""
    signing_input = b64url(canonical_json(header)) + "." + b64url(canonical_json(payload))
    signature = raw_sign(private_key, signing_input.encode("ascii")) if private_key else b"\0"
    return signing_input + "." + b64url(signature)


def alg_of(private_key: cr.PrivateKey) -> str:
    if isinstance(private_key, ec.EllipticCurvePrivateKey):
        return "ES256"
    return "RS256" if isinstance(private_key, rsa.RSAPrivateKey) else "EdDSA"


def raw_sign(private_key: cr.PrivateKey, message: bytes) -> bytes:
    """JWS signature bytes for any key, weak ones included (the service's own
    signing refuses those)."""
    if isinstance(private_key, ec.EllipticCurvePrivateKey):
        der = private_key.sign(message, ec.ECDSA(hashes.SHA256(), deterministic_signing=True))
        r, s = decode_dss_signature(der)
        return r.to_bytes(32, "big") + s.to_bytes(32, "big")
    if isinstance(private_key, rsa.RSAPrivateKey):
        return private_key.sign(message, padding.PKCS1v15(), hashes.SHA256())
    return private_key.sign(message)


def payload(
    employee_id: str, nonce: str, *, iat: datetime = NOW, lifetime_s: int = 120, aud: str = AUDIENCE
) -> dict:
    seconds = int(iat.timestamp())
    return {
        "aud": aud,
        "exp": seconds + lifetime_s,
        "iat": seconds,
        "nonce": nonce,
        "sub": employee_id,
    }


def _pem(value: object) -> str:
    if isinstance(value, x509.Certificate):
        return cr.certificate_to_pem(value)
    if isinstance(value, x509.CertificateRevocationList):
        return cr.crl_to_pem(value)
    return cr.private_key_to_pem(value)


def _nonce(case_id: str) -> str:
    return b64url(hashlib.sha256(case_id.encode()).digest())


def _utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


class _Pki:
    """The fixed root, issuing CA, employees (one per case that needs its own
    certificate), and the CRL sets the token cases name."""

    LABELS = (
        "es256",
        "rs256",
        "eddsa",
        "expired",
        "not_yet_valid",
        "revoked",
        "unknown_ca",
        "no_client_auth",
        "key_encipherment",
        "rsa1024",
    )
    KEY_TYPES = {"rs256": "RSA-2048", "eddsa": "Ed25519", "rsa1024": "RSA-1024"}
    NAMES = {"es256": "山田 太郎", "rs256": "鈴木 花子", "eddsa": "佐藤 次郎"}

    def __init__(self) -> None:
        self.root = ca.create_root_ca(
            "City Hall Test Root CA", now=ISSUED, key=fixed_key("root"), serial=0x1000
        )
        self.issuing = ca.create_issuing_ca(
            self.root,
            "City Hall Test Issuing CA",
            now=ISSUED,
            key=fixed_key("issuing"),
            serial=0x1001,
        )
        other_root = ca.create_root_ca(
            "Unknown Root CA",
            now=ISSUED,
            key=fixed_key("other root"),
            organization="Elsewhere",
            serial=0x2000,
        )
        other_issuing = ca.create_issuing_ca(
            other_root,
            "Unknown Issuing CA",
            now=ISSUED,
            key=fixed_key("other issuing"),
            serial=0x2001,
        )
        self.keys = {
            label: fixed_key(label, self.KEY_TYPES.get(label, "P-256")) for label in self.LABELS
        }
        self.ids = {label: f"T{i:04d}" for i, label in enumerate(self.LABELS, start=1)}
        changes: dict[str, dict[str, object]] = {
            "expired": {"not_after": _utc(2026, 1, 1)},
            "not_yet_valid": {"not_before": _utc(2031, 1, 1)},
            "unknown_ca": {"issuer": other_issuing},
            "no_client_auth": {"eku": False},
            "key_encipherment": {"key_usage": "key_encipherment"},
        }
        self.certs: dict[str, x509.Certificate] = {}
        self.chains: dict[str, list[x509.Certificate]] = {}
        for serial, label in enumerate(self.LABELS, start=0x3000):
            spec = {"issuer": self.issuing, "not_before": ISSUED, "not_after": _utc(2035, 1, 1)}
            spec.update(changes.get(label, {}))
            issuer = spec.pop("issuer")
            self.certs[label] = build_leaf(
                issuer,
                self.keys[label].public_key(),
                employee_id=self.ids[label],
                name=self.name(label),
                serial=serial,
                **spec,
            )
            self.chains[label] = [self.certs[label], issuer.certificate]

        this_update, next_update = NOW - timedelta(days=1), NOW + timedelta(days=6)
        revoked = [
            ca.revoke(
                self.issuing,
                self.certs["revoked"],
                now=NOW - timedelta(days=2),
                reason=x509.ReasonFlags.key_compromise,
            )
        ]
        root_crl = ca.build_crl(
            self.root, [], now=this_update, next_update=next_update, crl_number=1
        )
        issuing_crl = ca.build_crl(
            self.issuing, revoked, now=this_update, next_update=next_update, crl_number=7
        )
        stale_crl = ca.build_crl(
            self.issuing,
            revoked,
            now=NOW - timedelta(days=8),
            next_update=NOW - timedelta(days=1),
            crl_number=6,
        )
        forged_crl = (  # the issuing CA's name, the root's key
            x509.CertificateRevocationListBuilder()
            .issuer_name(self.issuing.certificate.subject)
            .last_update(this_update)
            .next_update(next_update)
            .add_extension(x509.CRLNumber(8), critical=False)
            .sign(self.root.key, hashes.SHA256(), ecdsa_deterministic=True)
        )
        self.crl_sets = {
            "current": [root_crl, issuing_crl],
            "stale": [root_crl, stale_crl],
            "wrong_signer": [root_crl, forged_crl],
            "missing": [root_crl],
        }

    def name(self, label: str) -> str:
        return self.NAMES.get(label, f"Test {label}")

    def token(
        self, label: str, case_id: str, *, header: dict | None = None, **claims: object
    ) -> str:
        """A token from employee ``label``, with header or claims changed."""
        header = header or {"alg": alg_of(self.keys[label]), "x5c": x5c(self.chains[label])}
        return jws(header, payload(self.ids[label], _nonce(case_id), **claims), self.keys[label])


def _token_cases(pki: _Pki) -> list[dict[str, object]]:
    cases: list[dict[str, object]] = []

    def case(
        case_id: str,
        description: str,
        token: str,
        *,
        error: str | None = None,
        employee: str | None = None,
        nonce_of: str | None = None,
        nonce_fresh: bool = True,
        crls: str = "current",
    ) -> None:
        cases.append(
            {
                "id": case_id,
                "description": description,
                "token": token,
                "nonce": _nonce(nonce_of or case_id),
                "nonce_fresh": nonce_fresh,
                "crls": crls,
                "valid": error is None,
                "error": error,
                "employee_id": pki.ids[employee] if employee else None,
            }
        )

    for label in ("es256", "rs256", "eddsa"):
        case_id = f"{label}_valid"
        token = cr.make_login_token(
            pki.keys[label], pki.chains[label], nonce=_nonce(case_id), audience=AUDIENCE, now=NOW
        )
        assert token == pki.token(label, case_id)  # the Python client and this file agree
        case(case_id, f"a valid {alg_of(pki.keys[label])} login token", token, employee=label)
    es_header = {"alg": "ES256", "x5c": x5c(pki.chains["es256"])}
    case(
        "chain_with_root",
        "x5c may also carry the root",
        pki.token(
            "es256",
            "chain_with_root",
            header={"alg": "ES256", "x5c": x5c([*pki.chains["es256"], pki.root.certificate])},
        ),
        employee="es256",
    )
    case(
        "issued_within_skew",
        "iat 50 s ahead is within the clock skew",
        pki.token("es256", "issued_within_skew", iat=NOW + timedelta(seconds=50)),
        employee="es256",
    )

    for label, what, error in (
        ("expired", "the certificate expired in 2026", "certificate_invalid"),
        ("not_yet_valid", "the certificate is valid from 2031", "certificate_invalid"),
        (
            "unknown_ca",
            "the chain leads to a root the service does not trust",
            "certificate_invalid",
        ),
        ("no_client_auth", "the certificate has no clientAuth EKU", "certificate_invalid"),
        (
            "key_encipherment",
            "key usage keyEncipherment, not digitalSignature",
            "certificate_invalid",
        ),
        ("revoked", "the certificate is on the issuing CA's CRL", "certificate_revoked"),
        ("rsa1024", "the certificate's own key is RSA-1024", "weak_key"),
    ):
        case(f"cert_{label}", what, pki.token(label, f"cert_{label}"), error=error)

    leaf_only = {"alg": "ES256", "x5c": x5c(pki.chains["es256"][:1])}
    case(
        "leaf_only",
        "x5c without the issuing CA cannot be chained",
        pki.token("es256", "leaf_only", header=leaf_only),
        error="certificate_invalid",
    )
    case(
        "audience_wrong",
        "the token is for another service",
        pki.token("es256", "audience_wrong", aud="https://other.example.jp"),
        error="audience_invalid",
    )
    case(
        "token_expired",
        "exp was 10 minutes ago",
        pki.token("es256", "token_expired", iat=NOW - timedelta(minutes=12)),
        error="token_expired",
    )
    case(
        "token_from_future",
        "iat is 5 minutes ahead, beyond the clock skew",
        pki.token("es256", "token_from_future", iat=NOW + timedelta(minutes=5)),
        error="token_expired",
    )
    case(
        "lifetime_too_long",
        "exp - iat is one hour",
        pki.token("es256", "lifetime_too_long", lifetime_s=3600),
        error="token_malformed",
    )
    case(
        "sub_mismatch",
        "sub names another employee than the certificate",
        jws(es_header, payload(pki.ids["rs256"], _nonce("sub_mismatch")), pki.keys["es256"]),
        error="token_subject_mismatch",
    )
    case(
        "alg_none",
        "alg none is never accepted",
        jws({**es_header, "alg": "none"}, payload(pki.ids["es256"], _nonce("alg_none")), None),
        error="token_malformed",
    )
    hs_input = ".".join(
        b64url(canonical_json(part))
        for part in ({**es_header, "alg": "HS256"}, payload(pki.ids["es256"], _nonce("alg_hs256")))
    )
    hs_key = cr.certificate_to_pem(pki.certs["es256"]).encode()
    case(
        "alg_hs256",
        "HMAC keyed with the public certificate (key confusion)",
        hs_input + "." + b64url(hmac.new(hs_key, hs_input.encode(), hashlib.sha256).digest()),
        error="token_malformed",
    )
    case(
        "alg_mismatch",
        "alg RS256 with an EC P-256 certificate",
        pki.token("es256", "alg_mismatch", header={**es_header, "alg": "RS256"}),
        error="token_malformed",
    )
    case(
        "extra_header_member",
        "a header member other than alg and x5c",
        pki.token("es256", "extra_header_member", header={**es_header, "kid": "1"}),
        error="token_malformed",
    )

    # Damaged copies of the valid ES256 token (its nonce).
    good = cases[0]["token"]
    head, body, sig = good.split(".")
    flipped = bytearray(base64.urlsafe_b64decode(sig + "=="))
    flipped[10] ^= 0x01
    other_body = b64url(
        canonical_json(payload(pki.ids["es256"], _nonce("es256_valid"), aud=AUDIENCE + "/"))
    )
    der = pki.keys["es256"].sign(
        f"{head}.{body}".encode(), ec.ECDSA(hashes.SHA256(), deterministic_signing=True)
    )
    for case_id, description, token, error in (
        ("nonce_replayed", "consume_nonce says the nonce was used", good, "nonce_invalid"),
        (
            "payload_tampered",
            "the payload changed after signing",
            f"{head}.{other_body}.{sig}",
            "token_signature_invalid",
        ),
        (
            "signature_tampered",
            "one bit of the signature flipped",
            f"{head}.{body}.{b64url(bytes(flipped))}",
            "token_signature_invalid",
        ),
        (
            "es256_der_signature",
            "ES256 signature in DER; JWS (and WebCrypto) use raw r||s",
            f"{head}.{body}.{b64url(der)}",
            "token_signature_invalid",
        ),
        ("truncated", "the signature part is missing", f"{head}.{body}", "token_malformed"),
        (
            "oversized",
            "longer than 16384 characters",
            good + "A" * (cr.MAX_TOKEN_LENGTH - len(good) + 4),
            "token_malformed",
        ),
        ("garbage_base64", "the header is not base64url", f"!!!.{body}.{sig}", "token_malformed"),
        (
            "padded_base64url",
            "base64url with '=' padding",
            f"{head}.{body}.{sig}=",
            "token_malformed",
        ),
    ):
        case(
            case_id,
            description,
            token,
            error=error,
            nonce_of="es256_valid",
            nonce_fresh=case_id != "nonce_replayed",
        )
    for crl_set, what in (
        ("stale", "past its nextUpdate"),
        ("wrong_signer", "signed by the root, not by the issuing CA"),
        ("missing", "missing"),
    ):
        case(
            f"crl_{crl_set}",
            f"a valid token, but the issuing CA's CRL is {what} (fail closed)",
            good,
            error="crl_invalid",
            nonce_of="es256_valid",
            crls=crl_set,
        )
    return cases


def _ballot_cases(pki: _Pki) -> list[dict[str, object]]:
    def case(
        case_id: str,
        label: str,
        fingerprint: bytes,
        tracking: bytes,
        signature: bytes,
        error: str | None = None,
    ) -> dict[str, object]:
        return {
            "id": case_id,
            "certificate": label,
            "election_fingerprint": fingerprint.hex(),
            "tracking_code": tracking.hex(),
            "signature": signature.hex(),
            "valid": error is None,
            "error": error,
        }

    def sign(label: str) -> bytes:
        return cr.sign_ballot(
            pki.keys[label], election_fingerprint=ELECTION_FINGERPRINT, tracking_code=TRACKING_CODE
        )

    bad = "ballot_signature_invalid"
    other = hashlib.sha256(b"other").digest()
    message = cr.ballot_signature_message(
        election_fingerprint=ELECTION_FINGERPRINT, tracking_code=TRACKING_CODE
    )
    der = pki.keys["es256"].sign(message, ec.ECDSA(hashes.SHA256(), deterministic_signing=True))
    return [
        *(
            case(f"{label}_valid", label, ELECTION_FINGERPRINT, TRACKING_CODE, sign(label))
            for label in ("es256", "rs256", "eddsa")
        ),
        case("other_election", "es256", other, TRACKING_CODE, sign("es256"), bad),
        case("other_tracking_code", "es256", ELECTION_FINGERPRINT, other, sign("es256"), bad),
        case("other_key", "eddsa", ELECTION_FINGERPRINT, TRACKING_CODE, sign("es256"), bad),
        case("es256_der", "es256", ELECTION_FINGERPRINT, TRACKING_CODE, der, bad),
    ]


def _file_cases(pki: _Pki) -> list[dict[str, object]]:
    def case(case_id: str, doc: dict, pin: str, label: str | None, description: str = "") -> dict:
        return {
            "id": case_id,
            "description": description,
            "file": doc,
            "pin": pin,
            "valid": label is not None,
            "error": None if label else "credential_invalid",
            "employee_id": pki.ids[label] if label else None,
        }

    cases = []
    for label in ("es256", "rs256", "eddsa"):
        doc = cr._seal(
            pki.keys[label],
            pki.chains[label],
            PIN,
            employee_id=pki.ids[label],
            name=pki.name(label),
            iterations=PIN_ITERATIONS,
            salt=hashlib.sha256(f"salt {label}".encode()).digest()[:16],
            nonce=hashlib.sha256(f"nonce {label}".encode()).digest()[:12],
        )
        cases.append(case(f"{label}_open", doc, PIN, label))
    doc = cases[0]["file"]
    damaged = bytearray(base64.b64decode(doc["key"]))
    damaged[0] ^= 0x01
    return [
        *cases,
        case("full_width_pin", doc, "２４６８１０", "es256", "the PIN is NFKC-normalized"),
        case("wrong_pin", doc, "246811", None),
        case("tampered_key", {**doc, "key": base64.b64encode(bytes(damaged)).decode()}, PIN, None),
        case(
            "edited_name",
            {**doc, "name": "山田 花子"},
            PIN,
            None,
            "the cleartext fields are AES-GCM associated data",
        ),
    ]


VOTING_ELECTIONS = ("2026-union-board", "2027-union-board", "e")


def _voting_credential_cases(pki: _Pki) -> list[dict[str, object]]:
    """pkcs8 -> secret -> per-election seed -> Ed25519 public key, the
    registration message and its signature by the certificate key, and a ballot
    signature by the voting credential (docs/parts/credentials.md)."""
    cases = []
    for label in ("es256", "rs256", "eddsa"):
        pkcs8 = cr.pkcs8_of(pki.keys[label])
        secret = cr.credential_secret(pkcs8)
        elections = []
        for election_id in VOTING_ELECTIONS:
            voting = cr.VotingCredential.derive(secret, election_id)
            message = cr.registration_message(election_id, voting.public_bytes)
            elections.append(
                {
                    "election_id": election_id,
                    "seed": cr.voting_credential_seed(secret, election_id).hex(),
                    "credential": voting.hex,
                    "registration_message": message.hex(),
                    "registration_signature": cr.sign_registration(
                        pki.keys[label], election_id=election_id, credential_pub=voting.public_bytes
                    ).hex(),
                    "ballot_signature": voting.sign_ballot(
                        election_fingerprint=ELECTION_FINGERPRINT, tracking_code=TRACKING_CODE
                    ).hex(),
                }
            )
        cases.append(
            {
                "id": label,
                "certificate": label,
                "pkcs8": base64.b64encode(pkcs8).decode("ascii"),
                "secret": secret.hex(),
                "elections": elections,
            }
        )
    return cases


def generate() -> dict[str, object]:
    pki = _Pki()
    return {
        "credentials.json": {
            "description": (
                "Login tokens, ballot signatures and credential files "
                "(docs/parts/credentials.md). Verify each token at 'now' against 'roots' "
                "and its CRL set; consume_nonce returns the case's 'nonce_fresh'. "
                "The private keys are published test keys."
            ),
            "now": NOW.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "audience": AUDIENCE,
            "roots": [_pem(pki.root.certificate)],
            "certificates": {
                "issuing_ca": _pem(pki.issuing.certificate),
                **{label: _pem(cert) for label, cert in pki.certs.items()},
            },
            "private_keys": {label: _pem(key) for label, key in pki.keys.items()},
            "crls": {name: [_pem(crl) for crl in crls] for name, crls in pki.crl_sets.items()},
            "tokens": _token_cases(pki),
            "ballot_signatures": _ballot_cases(pki),
            "credential_files": _file_cases(pki),
            "voting_credentials": {
                "election_fingerprint": ELECTION_FINGERPRINT.hex(),
                "tracking_code": TRACKING_CODE.hex(),
                "cases": _voting_credential_cases(pki),
            },
        }
    }
