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
from datetime import datetime, timedelta, timezone

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from crypto import ca
from crypto import credentials as cr
from crypto.encoding import canonical_json

NOW = datetime(2030, 1, 1, tzinfo=timezone.utc)
ISSUED = datetime(2025, 1, 1, tzinfo=timezone.utc)
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
        return serialization.load_pem_private_key(RSA_1024_PEM.encode(), None)
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
    usage = {
        name: False
        for name in (
            "digital_signature",
            "content_commitment",
            "key_encipherment",
            "data_encipherment",
            "key_agreement",
            "key_cert_sign",
            "crl_sign",
            "encipher_only",
            "decipher_only",
        )
    }
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


def generate() -> dict[str, object]:
    root = ca.create_root_ca(
        "City Hall Test Root CA", now=ISSUED, key=fixed_key("root"), serial=0x1000
    )
    issuing = ca.create_issuing_ca(
        root, "City Hall Test Issuing CA", now=ISSUED, key=fixed_key("issuing"), serial=0x1001
    )
    other_root = ca.create_root_ca(
        "Unknown Root CA",
        now=ISSUED,
        key=fixed_key("other root"),
        organization="Elsewhere",
        serial=0x2000,
    )
    other_issuing = ca.create_issuing_ca(
        other_root, "Unknown Issuing CA", now=ISSUED, key=fixed_key("other issuing"), serial=0x2001
    )

    keys = {
        "es256": fixed_key("es256"),
        "rs256": fixed_key("rs256", "RSA-2048"),
        "eddsa": fixed_key("eddsa", "Ed25519"),
        "expired": fixed_key("expired"),
        "not_yet_valid": fixed_key("not yet valid"),
        "revoked": fixed_key("revoked"),
        "unknown_ca": fixed_key("unknown ca"),
        "no_client_auth": fixed_key("no client auth"),
        "key_encipherment": fixed_key("key encipherment"),
        "rsa1024": fixed_key("rsa1024", "RSA-1024"),
    }
    ids = {label: f"T{i:04d}" for i, label in enumerate(keys, start=1)}
    names = {"es256": "山田 太郎", "rs256": "鈴木 花子", "eddsa": "佐藤 次郎"}

    def employee(label: str, **changes: object) -> x509.Certificate:
        spec = {
            "issuer": issuing,
            "not_before": ISSUED,
            "not_after": datetime(2035, 1, 1, tzinfo=timezone.utc),
        }
        spec.update(changes)
        return build_leaf(
            spec.pop("issuer"),
            keys[label].public_key(),
            employee_id=ids[label],
            name=names.get(label, f"Test {label}"),
            serial=0x3000 + list(keys).index(label),
            **spec,
        )

    certs = {label: employee(label) for label in ("es256", "rs256", "eddsa", "revoked", "rsa1024")}
    certs["expired"] = employee("expired", not_after=datetime(2026, 1, 1, tzinfo=timezone.utc))
    certs["not_yet_valid"] = employee(
        "not_yet_valid", not_before=datetime(2031, 1, 1, tzinfo=timezone.utc)
    )
    certs["unknown_ca"] = employee("unknown_ca", issuer=other_issuing)
    certs["no_client_auth"] = employee("no_client_auth", eku=False)
    certs["key_encipherment"] = employee("key_encipherment", key_usage="key_encipherment")
    chains = {label: [cert, issuing.certificate] for label, cert in certs.items()}
    chains["unknown_ca"] = [certs["unknown_ca"], other_issuing.certificate]

    this_update = NOW - timedelta(days=1)
    next_update = NOW + timedelta(days=6)
    revoked = [
        ca.revoke(
            issuing,
            certs["revoked"],
            now=NOW - timedelta(days=2),
            reason=x509.ReasonFlags.key_compromise,
        )
    ]
    root_crl = ca.build_crl(root, [], now=this_update, next_update=next_update, crl_number=1)
    issuing_crl = ca.build_crl(
        issuing, revoked, now=this_update, next_update=next_update, crl_number=7
    )
    stale_crl = ca.build_crl(
        issuing,
        revoked,
        now=NOW - timedelta(days=8),
        next_update=NOW - timedelta(days=1),
        crl_number=6,
    )
    forged_issuer = ca.Authority(root.key, root.certificate)
    forged_crl = (
        x509.CertificateRevocationListBuilder()
        .issuer_name(issuing.certificate.subject)
        .last_update(this_update)
        .next_update(next_update)
        .add_extension(x509.CRLNumber(8), critical=False)
        .sign(forged_issuer.key, hashes.SHA256(), ecdsa_deterministic=True)
    )
    crl_sets = {
        "current": [root_crl, issuing_crl],
        "stale": [root_crl, stale_crl],
        "wrong_signer": [root_crl, forged_crl],
        "missing": [root_crl],
    }

    tokens: list[dict[str, object]] = []

    def case(
        case_id: str,
        description: str,
        token: str,
        *,
        valid: bool,
        error: str | None = None,
        employee_id: str | None = None,
        nonce: str | None = None,
        nonce_fresh: bool = True,
        crls: str = "current",
    ) -> None:
        tokens.append(
            {
                "id": case_id,
                "description": description,
                "token": token,
                "nonce": nonce or _nonce(case_id),
                "nonce_fresh": nonce_fresh,
                "crls": crls,
                "valid": valid,
                "error": error,
                "employee_id": employee_id if valid else None,
            }
        )

    def login(label: str, case_id: str) -> str:
        header = {"alg": alg_of(keys[label]), "x5c": x5c(chains[label])}
        return jws(header, payload(ids[label], _nonce(case_id)), keys[label])

    for label in ("es256", "rs256", "eddsa"):
        token = cr.make_login_token(
            keys[label], chains[label], nonce=_nonce(f"{label}_valid"), audience=AUDIENCE, now=NOW
        )
        assert token == login(label, f"{label}_valid")  # the service's client and this file agree
        case(
            f"{label}_valid",
            f"a valid {label.upper()} login token",
            token,
            valid=True,
            employee_id=ids[label],
        )
    case(
        "chain_with_root",
        "x5c may also carry the root",
        jws(
            {"alg": "ES256", "x5c": x5c(chains["es256"] + [root.certificate])},
            payload(ids["es256"], _nonce("chain_with_root")),
            keys["es256"],
        ),
        valid=True,
        employee_id=ids["es256"],
    )
    case(
        "issued_within_skew",
        "iat 50 s in the future is within the clock skew",
        jws(
            {"alg": "ES256", "x5c": x5c(chains["es256"])},
            payload(ids["es256"], _nonce("issued_within_skew"), iat=NOW + timedelta(seconds=50)),
            keys["es256"],
        ),
        valid=True,
        employee_id=ids["es256"],
    )

    for label, what, error in (
        ("expired", "the certificate expired in 2026", "certificate_invalid"),
        ("not_yet_valid", "the certificate is valid from 2031", "certificate_invalid"),
        (
            "unknown_ca",
            "the certificate chains to a root the service does not trust",
            "certificate_invalid",
        ),
        (
            "no_client_auth",
            "the certificate has no clientAuth extended key usage",
            "certificate_invalid",
        ),
        (
            "key_encipherment",
            "the certificate's key usage is keyEncipherment, not digitalSignature",
            "certificate_invalid",
        ),
        ("revoked", "the certificate is on the issuing CA's CRL", "certificate_revoked"),
        ("rsa1024", "the certificate's own key is RSA-1024", "weak_key"),
    ):
        case(f"cert_{label}", what, login(label, f"cert_{label}"), valid=False, error=error)

    es_header = {"alg": "ES256", "x5c": x5c(chains["es256"])}
    good = login("es256", "es256_valid")
    head, body, sig = good.split(".")
    case(
        "leaf_only",
        "x5c without the issuing CA cannot be chained",
        jws(
            {"alg": "ES256", "x5c": x5c(chains["es256"][:1])},
            payload(ids["es256"], _nonce("leaf_only")),
            keys["es256"],
        ),
        valid=False,
        error="certificate_invalid",
    )
    case(
        "nonce_replayed",
        "the nonce was already used (the service's consume_nonce says no)",
        good,
        valid=False,
        error="nonce_invalid",
        nonce=_nonce("es256_valid"),
        nonce_fresh=False,
    )
    case(
        "audience_wrong",
        "the token is for another service",
        jws(
            es_header,
            payload(ids["es256"], _nonce("audience_wrong"), aud="https://other.example.jp"),
            keys["es256"],
        ),
        valid=False,
        error="audience_invalid",
    )
    case(
        "token_expired",
        "exp is 10 minutes ago",
        jws(
            es_header,
            payload(ids["es256"], _nonce("token_expired"), iat=NOW - timedelta(minutes=12)),
            keys["es256"],
        ),
        valid=False,
        error="token_expired",
    )
    case(
        "token_from_future",
        "iat is 5 minutes ahead, beyond the clock skew",
        jws(
            es_header,
            payload(ids["es256"], _nonce("token_from_future"), iat=NOW + timedelta(minutes=5)),
            keys["es256"],
        ),
        valid=False,
        error="token_expired",
    )
    case(
        "lifetime_too_long",
        "exp - iat is one hour",
        jws(
            es_header,
            payload(ids["es256"], _nonce("lifetime_too_long"), lifetime_s=3600),
            keys["es256"],
        ),
        valid=False,
        error="token_malformed",
    )
    case(
        "sub_mismatch",
        "sub names another employee than the certificate",
        jws(es_header, payload(ids["rs256"], _nonce("sub_mismatch")), keys["es256"]),
        valid=False,
        error="token_subject_mismatch",
    )
    case(
        "alg_none",
        "alg none is never accepted",
        jws(
            {"alg": "none", "x5c": es_header["x5c"]},
            payload(ids["es256"], _nonce("alg_none")),
            None,
        ),
        valid=False,
        error="token_malformed",
    )
    hs_input = (
        b64url(canonical_json({"alg": "HS256", "x5c": es_header["x5c"]}))
        + "."
        + b64url(canonical_json(payload(ids["es256"], _nonce("alg_hs256"))))
    )
    hs_key = cr.certificate_to_pem(certs["es256"]).encode()
    case(
        "alg_hs256",
        "HMAC keyed with the public certificate (key confusion)",
        hs_input + "." + b64url(hmac.new(hs_key, hs_input.encode(), hashlib.sha256).digest()),
        valid=False,
        error="token_malformed",
    )
    case(
        "alg_mismatch",
        "alg RS256 with an EC P-256 certificate",
        jws(
            {"alg": "RS256", "x5c": es_header["x5c"]},
            payload(ids["es256"], _nonce("alg_mismatch")),
            keys["es256"],
        ),
        valid=False,
        error="token_malformed",
    )
    tampered_body = b64url(
        canonical_json(payload(ids["es256"], _nonce("es256_valid"), aud=AUDIENCE + "/"))
    )
    case(
        "payload_tampered",
        "the payload was changed after signing",
        f"{head}.{tampered_body}.{sig}",
        valid=False,
        error="token_signature_invalid",
        nonce=_nonce("es256_valid"),
    )
    raw_sig = bytearray(base64.urlsafe_b64decode(sig + "=="))
    raw_sig[10] ^= 0x01
    case(
        "signature_tampered",
        "one bit of the signature flipped",
        f"{head}.{body}.{b64url(bytes(raw_sig))}",
        valid=False,
        error="token_signature_invalid",
        nonce=_nonce("es256_valid"),
    )
    signing_input = (head + "." + body).encode()
    der_sig = keys["es256"].sign(
        signing_input, ec.ECDSA(hashes.SHA256(), deterministic_signing=True)
    )
    case(
        "es256_der_signature",
        "an ES256 signature in DER form (JWS needs raw r||s, as WebCrypto gives)",
        f"{head}.{body}.{b64url(der_sig)}",
        valid=False,
        error="token_signature_invalid",
        nonce=_nonce("es256_valid"),
    )
    case(
        "truncated",
        "the signature part is missing",
        f"{head}.{body}",
        valid=False,
        error="token_malformed",
        nonce=_nonce("es256_valid"),
    )
    case(
        "oversized",
        "longer than 16384 characters",
        good + "A" * (cr.MAX_TOKEN_LENGTH - len(good) + 4),
        valid=False,
        error="token_malformed",
        nonce=_nonce("es256_valid"),
    )
    case(
        "garbage_base64",
        "the header is not base64url",
        "!!!." + body + "." + sig,
        valid=False,
        error="token_malformed",
        nonce=_nonce("es256_valid"),
    )
    case(
        "padded_base64url",
        "base64url with '=' padding is refused",
        f"{head}.{body}.{sig}=",
        valid=False,
        error="token_malformed",
        nonce=_nonce("es256_valid"),
    )
    case(
        "extra_header_member",
        "a header member other than alg and x5c",
        jws(
            {**es_header, "kid": "1"},
            payload(ids["es256"], _nonce("extra_header_member")),
            keys["es256"],
        ),
        valid=False,
        error="token_malformed",
    )
    for crl_set, error in (
        ("stale", "past its nextUpdate"),
        ("wrong_signer", "signed by the root, not the issuing CA"),
        ("missing", "missing for the issuing CA"),
    ):
        case(
            f"crl_{crl_set}",
            f"a valid token, but the issuing CA's CRL is {error} (fail closed)",
            good,
            valid=False,
            error="crl_invalid",
            nonce=_nonce("es256_valid"),
            crls=crl_set,
        )

    ballots: list[dict[str, object]] = []
    for label in ("es256", "rs256", "eddsa"):
        signature = cr.sign_ballot(
            keys[label], election_fingerprint=ELECTION_FINGERPRINT, tracking_code=TRACKING_CODE
        )
        ballots.append(
            {
                "id": f"{label}_valid",
                "certificate": label,
                "election_fingerprint": ELECTION_FINGERPRINT.hex(),
                "tracking_code": TRACKING_CODE.hex(),
                "signature": signature.hex(),
                "valid": True,
                "error": None,
            }
        )
    es_signature = bytes.fromhex(ballots[0]["signature"])
    other = hashlib.sha256(b"other").digest()
    message = cr.ballot_signature_message(
        election_fingerprint=ELECTION_FINGERPRINT, tracking_code=TRACKING_CODE
    )
    for case_id, label, fingerprint, tracking, signature in (
        ("other_election", "es256", other, TRACKING_CODE, es_signature),
        ("other_tracking_code", "es256", ELECTION_FINGERPRINT, other, es_signature),
        ("other_key", "eddsa", ELECTION_FINGERPRINT, TRACKING_CODE, es_signature),
        (
            "es256_der",
            "es256",
            ELECTION_FINGERPRINT,
            TRACKING_CODE,
            keys["es256"].sign(message, ec.ECDSA(hashes.SHA256(), deterministic_signing=True)),
        ),
    ):
        ballots.append(
            {
                "id": case_id,
                "certificate": label,
                "election_fingerprint": fingerprint.hex(),
                "tracking_code": tracking.hex(),
                "signature": signature.hex(),
                "valid": False,
                "error": "ballot_signature_invalid",
            }
        )

    files: list[dict[str, object]] = []
    for label in ("es256", "rs256", "eddsa"):
        doc = cr._seal(
            keys[label],
            chains[label],
            PIN,
            employee_id=ids[label],
            name=names[label],
            iterations=PIN_ITERATIONS,
            salt=hashlib.sha256(f"salt {label}".encode()).digest()[:16],
            nonce=hashlib.sha256(f"nonce {label}".encode()).digest()[:12],
        )
        files.append(
            {
                "id": f"{label}_open",
                "file": doc,
                "pin": PIN,
                "valid": True,
                "error": None,
                "employee_id": ids[label],
            }
        )
    es_file = files[0]["file"]
    files.append(
        {
            "id": "full_width_pin",
            "file": es_file,
            "pin": "２４６８１０",
            "valid": True,
            "error": None,
            "employee_id": ids["es256"],
            "description": "the PIN is NFKC-normalized: full-width digits work",
        }
    )
    files.append(
        {
            "id": "wrong_pin",
            "file": es_file,
            "pin": "246811",
            "valid": False,
            "error": "credential_invalid",
            "employee_id": None,
        }
    )
    key_bytes = bytearray(base64.b64decode(es_file["key"]))
    key_bytes[0] ^= 0x01
    files.append(
        {
            "id": "tampered_key",
            "file": {**es_file, "key": base64.b64encode(bytes(key_bytes)).decode()},
            "pin": PIN,
            "valid": False,
            "error": "credential_invalid",
            "employee_id": None,
        }
    )
    files.append(
        {
            "id": "edited_name",
            "file": {**es_file, "name": "山田 花子"},
            "pin": PIN,
            "valid": False,
            "error": "credential_invalid",
            "employee_id": None,
            "description": "the cleartext fields are AES-GCM associated data",
        }
    )

    return {
        "credentials.json": {
            "description": "Login tokens, ballot signatures and credential files (docs/parts/credentials.md). "
            "Verify tokens at 'now' against 'roots' and the named CRL set; consume_nonce returns 'nonce_fresh'.",
            "now": NOW.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "audience": AUDIENCE,
            "roots": [_pem(root.certificate)],
            "certificates": {
                "issuing_ca": _pem(issuing.certificate),
                **{k: _pem(v) for k, v in certs.items()},
            },
            "private_keys": {k: _pem(v) for k, v in keys.items()},
            "crls": {name: [_pem(c) for c in crls] for name, crls in crl_sets.items()},
            "tokens": tokens,
            "ballot_signatures": ballots,
            "credential_files": files,
        }
    }
