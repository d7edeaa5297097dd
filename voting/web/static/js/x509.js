// X.509 certificate chains and CRLs in the browser, mirroring crypto/credentials:
// `TrustStore.verify_chain` (pyca/cryptography's client verifier, a CA/B
// "web PKI" profile), `employee_id_of`, `check_key`, `_check_usage` and
// `check_revocation`. Same accept/refuse decisions and the same error codes
// (errors.js): tests/js/x509.test.mjs checks them against tests/vectors/x509.json.
//
// API (used by the trustee page and by the record verification):
//
//   parseCertificate(der) -> Certificate       strict DER; CertificateError if unreadable
//   rootsFromPem(text) -> Uint8Array[]          the DER of every PEM certificate (CertificateError if none)
//   fingerprint(der) -> "hex"                   SHA-256 of the DER, lowercase hex (certificate_fingerprint)
//   checkTrustAnchors(rootsDer[]) -> Certificate[]   TrustStore(...): each root must be a CA
//   await verifyChain(chainDer[], rootsDer[], {now: Date, employeeId?})
//        -> {employeeId, name, fingerprint, chain: Certificate[] leaf first, root last}
//        The chain (leaf first, intermediates in any order) builds to one of the
//        roots at `now`. With `employeeId`, first (as `_verify_signed`): the
//        leaf's key is one the service accepts (check_key: WeakKeyError) and the
//        leaf names that employee (CertificateError). Throws CertificateError.
//   checkUsage(leaf)                            digitalSignature and clientAuth (CertificateError)
//   checkKey(certificate)                       P-256, RSA >= 2048 bits or Ed25519 (WeakKeyError)
//   employeeIdOf(certificate), displayNameOf(certificate)
//   parseCrl(der) -> Crl                        strict DER; CrlError if unreadable
//        {der, issuer (Name DER), thisUpdate: Date, nextUpdate: Date|null,
//         revoked: Map<serialHex, Date>, extensions: [{oid, critical}], unsupported: oid|null}
//   await crlSignedBy(crl, issuerCertificate) -> bool   (is_signature_valid)
//   await checkRevocation(chain, crls, {now})   check_revocation: every non-root
//        certificate of a built chain against its issuer's newest signed CRL
//        (CrlError, CertificateRevoked)
//
// A Certificate is {der, version, serial (hex of the DER INTEGER's content),
// issuer, subject (Name DER), notBefore, notAfter (Date), spki (DER), keyAlg
// ("ES256"|"P-384"|"P-521"|"RS256"|"EdDSA"|null), rsaBits, extensions
// (Map oid -> {critical, value}), subjectAltUris, commonNames, serialNumbers, ...}.
//
// Why no npm X.509 library: the policy below is the part that matters and has
// to be written out anyway; @peculiar/x509 or pkijs would add some 150-300 KB
// to the bundle and parse more than the pilot's certificates use. The DER
// reader here is strict (definite minimal lengths, nothing trailing); every
// signature is checked by WebCrypto.
//
// One difference from Python, on the refusing side: a CA certificate with a
// nameConstraints extension is refused (the city's CAs have none).

import { b64decode, toHex } from "./bytes.js";
import { sha256 } from "./encoding.js";
import { CertificateError, CertificateRevoked, CrlError, WeakKeyError } from "./errors.js";

export const EMPLOYEE_URI_PREFIX = "urn:x-city-hall:employee:";
const EMPLOYEE_ID = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;
const MIN_RSA_BITS = 2048;
const MAX_CHAIN_DEPTH = 8; // the verifier's default
const CLOCK_SKEW_MS = 60_000;

// --- strict DER ---------------------------------------------------------------------------

class DerError extends Error {}

function element(der, offset, limit) {
  if (offset + 2 > limit) throw new DerError("truncated");
  const tag = der[offset];
  if ((tag & 0x1f) === 0x1f) throw new DerError("multi-byte tag");
  let length = der[offset + 1];
  let start = offset + 2;
  if (length === 0x80) throw new DerError("indefinite length");
  if (length & 0x80) {
    const n = length & 0x7f;
    if (n > 3 || start + n > limit) throw new DerError("length");
    length = 0;
    for (let i = 0; i < n; i++) length = length * 256 + der[start + i];
    if (der[start] === 0 || length < 0x80) throw new DerError("non-minimal length");
    start += n;
  }
  if (start + length > limit) throw new DerError("truncated");
  return { tag, offset, start, end: start + length };
}

function single(der, tag, what) {
  const el = element(der, 0, der.length);
  if (el.end !== der.length) throw new DerError(`trailing bytes after ${what}`);
  return expect(el, tag, what);
}

function children(der, parent) {
  const out = [];
  for (let offset = parent.start; offset < parent.end; ) {
    const child = element(der, offset, parent.end);
    out.push(child);
    offset = child.end;
  }
  return out;
}

function expect(el, tag, what) {
  if (!el || el.tag !== tag) throw new DerError(what);
  return el;
}

const raw = (der, el) => der.subarray(el.offset, el.end);
const value = (der, el) => der.subarray(el.start, el.end);
const oidHex = (der, el) => toHex(value(der, expect(el, 0x06, "object identifier")));

function integer(der, el, what) {
  const bytes = value(der, expect(el, 0x02, what));
  if (!bytes.length || (bytes.length > 1 && ((bytes[0] === 0 && bytes[1] < 0x80) || (bytes[0] === 0xff && bytes[1] >= 0x80)))) {
    throw new DerError(`non-minimal ${what}`);
  }
  return bytes;
}

function boolean(der, el) {
  const bytes = value(der, expect(el, 0x01, "boolean"));
  if (bytes.length !== 1 || (bytes[0] !== 0 && bytes[0] !== 0xff)) throw new DerError("boolean");
  return bytes[0] === 0xff;
}

function smallInteger(bytes) {
  if (bytes[0] & 0x80 || bytes.length > 6) throw new DerError("integer out of range");
  return bytes.reduce((n, b) => n * 256 + b, 0);
}

/** UTCTime YYMMDDHHMMSSZ or GeneralizedTime YYYYMMDDHHMMSSZ, as DER requires. */
function time(der, el) {
  const text = String.fromCharCode(...value(der, el));
  let m;
  let year;
  if (el.tag === 0x17 && (m = /^(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})Z$/.exec(text))) {
    year = Number(m[1]) + (Number(m[1]) >= 50 ? 1900 : 2000);
  } else if (el.tag === 0x18 && (m = /^(\d{4})(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})Z$/.exec(text))) {
    year = Number(m[1]);
  } else {
    throw new DerError("time");
  }
  const [month, day, hour, minute, second] = m.slice(2).map(Number);
  const date = new Date(Date.UTC(year, month - 1, day, hour, minute, second));
  if (date.getUTCMonth() !== month - 1 || date.getUTCDate() !== day || hour > 23 || minute > 59 || second > 59) throw new DerError("time");
  return { date, generalized: el.tag === 0x18, year };
}

function text(der, el) {
  const bytes = value(der, el);
  if (el.tag === 0x0c) return new TextDecoder("utf-8", { fatal: true }).decode(bytes);
  if (el.tag === 0x13 || el.tag === 0x16) {
    if (bytes.some((b) => b > 0x7f)) throw new DerError("non-ASCII string");
    return String.fromCharCode(...bytes);
  }
  if (el.tag === 0x1e) {
    if (bytes.length % 2) throw new DerError("BMPString");
    return new TextDecoder("utf-16be", { fatal: true }).decode(bytes);
  }
  throw new DerError(`string type 0x${el.tag.toString(16)}`);
}

function nameAttributes(der, name) {
  const out = [];
  for (const rdn of children(der, expect(name, 0x30, "name"))) {
    for (const attribute of children(der, expect(rdn, 0x31, "name"))) {
      const [type, val, ...rest] = children(der, expect(attribute, 0x30, "name attribute"));
      if (!val || rest.length) throw new DerError("name attribute");
      out.push({ type: oidHex(der, type), value: val });
    }
  }
  return out;
}

// --- algorithms (the verifier's permitted sets, by their exact DER) -----------------------

const SPKI = {
  "300d06092a864886f70d0101010500": "RSA",
  "301306072a8648ce3d020106082a8648ce3d030107": "P-256",
  "301006072a8648ce3d020106052b81040022": "P-384",
  "301006072a8648ce3d020106052b81040023": "P-521",
};
const PSS = (n, salt) =>
  `30410609 2a864886f70d01010a 3034 a00f300d 06096086480165030402${n} 0500 a11c301a 06092a864886f70d010108 300d 06096086480165030402${n} 0500 a203 0201${salt}`.replace(/ /g, "");
const SIGNATURE = {
  "300d06092a864886f70d01010b0500": { name: "RSASSA-PKCS1-v1_5", hash: "SHA-256" },
  "300d06092a864886f70d01010c0500": { name: "RSASSA-PKCS1-v1_5", hash: "SHA-384" },
  "300d06092a864886f70d01010d0500": { name: "RSASSA-PKCS1-v1_5", hash: "SHA-512" },
  [PSS("01", "20")]: { name: "RSA-PSS", hash: "SHA-256", saltLength: 32 },
  [PSS("02", "30")]: { name: "RSA-PSS", hash: "SHA-384", saltLength: 48 },
  [PSS("03", "40")]: { name: "RSA-PSS", hash: "SHA-512", saltLength: 64 },
  "300a06082a8648ce3d040302": { name: "ECDSA", hash: "SHA-256" },
  "300a06082a8648ce3d040303": { name: "ECDSA", hash: "SHA-384" },
  "300a06082a8648ce3d040304": { name: "ECDSA", hash: "SHA-512" },
};
const EC_SIZE = { "P-256": 32, "P-384": 48, "P-521": 66 };

const OID = {
  commonName: "550403",
  serialNumber: "550405",
  subjectKeyIdentifier: "551d0e",
  keyUsage: "551d0f",
  subjectAltName: "551d11",
  basicConstraints: "551d13",
  nameConstraints: "551d1e",
  extKeyUsage: "551d25",
  authorityKeyIdentifier: "551d23",
  authorityInfoAccess: "2b06010505070101",
  clientAuth: "2b06010505070302",
  anyExtendedKeyUsage: "551d2500",
  ecPublicKey: "2a8648ce3d0201",
  p256: "2a8648ce3d030107",
  rsa: "2a864886f70d010101",
  ed25519: "2b6570",
  crlNumber: "551d14",
  issuerAltName: "551d12",
  deltaCrlIndicator: "551d1b",
  issuingDistributionPoint: "551d1c",
  freshestCrl: "551d2e",
};

// --- certificates ---------------------------------------------------------------------------

/** A DER certificate, read strictly (RFC 5280 4.1); CertificateError if it cannot be read. */
export function parseCertificate(der) {
  if (!(der instanceof Uint8Array)) throw new CertificateError("a certificate must be DER bytes");
  try {
    return readCertificate(der);
  } catch (exc) {
    if (exc instanceof DerError || exc instanceof TypeError || exc instanceof RangeError) {
      throw new CertificateError(`the certificate cannot be parsed (${exc.message})`);
    }
    throw exc;
  }
}

function readCertificate(der) {
  const top = children(der, single(der, 0x30, "certificate"));
  if (top.length !== 3) throw new DerError("certificate");
  const [tbsEl, algEl, sigEl] = top;
  const fields = children(der, expect(tbsEl, 0x30, "tbsCertificate"));
  let i = 0;
  let version = 0;
  if (fields[0]?.tag === 0xa0) {
    const [v, ...rest] = children(der, fields[0]);
    if (rest.length) throw new DerError("version");
    version = smallInteger(integer(der, v, "version"));
    if (version === 0) throw new DerError("explicit default version"); // DER: a default is omitted
    i = 1;
  }
  const serial = integer(der, fields[i++], "serial number");
  const tbsAlg = expect(fields[i++], 0x30, "signature algorithm");
  const issuer = expect(fields[i++], 0x30, "issuer");
  const [nb, na, ...restValidity] = children(der, expect(fields[i++], 0x30, "validity"));
  if (!na || restValidity.length) throw new DerError("validity");
  const subject = expect(fields[i++], 0x30, "subject");
  const spkiEl = expect(fields[i++], 0x30, "subjectPublicKeyInfo");
  const subjectAttributes = nameAttributes(der, subject);
  nameAttributes(der, issuer);
  const extensions = new Map();
  for (const field of fields.slice(i)) {
    if (field.tag === 0x81 || field.tag === 0x82) continue; // unique identifiers
    const [list, ...rest] = children(der, expect(field, 0xa3, "extensions"));
    if (rest.length || field !== fields[fields.length - 1]) throw new DerError("extensions");
    for (const extension of children(der, expect(list, 0x30, "extensions"))) {
      const parts = children(der, expect(extension, 0x30, "extension"));
      const id = oidHex(der, parts[0]);
      let critical = false;
      if (parts.length === 3) {
        critical = boolean(der, parts[1]);
        if (!critical) throw new DerError("explicit default critical flag");
      } else if (parts.length !== 2) throw new DerError("extension");
      if (extensions.has(id)) throw new DerError("duplicate extension");
      const octets = expect(parts[parts.length - 1], 0x04, "extension value");
      extensions.set(id, { critical, der: value(der, octets) });
    }
  }
  expect(sigEl, 0x03, "signature");
  const signature = value(der, sigEl);
  if (signature[0] !== 0) throw new DerError("signature bit string");
  const cert = {
    der,
    tbs: raw(der, tbsEl),
    version,
    serial: toHex(serial),
    serialNegative: (serial[0] & 0x80) !== 0,
    serialLength: serial.length,
    tbsAlgorithm: toHex(raw(der, tbsAlg)),
    signatureAlgorithm: toHex(raw(der, algEl)),
    signature: signature.subarray(1),
    issuer: raw(der, issuer),
    subject: raw(der, subject),
    issuerEmpty: issuer.start === issuer.end,
    notBefore: time(der, nb),
    notAfter: time(der, na),
    spki: raw(der, spkiEl),
    extensions,
    commonNames: subjectAttributes.filter((a) => a.type === OID.commonName).map((a) => text(der, a.value)),
    serialNumbers: subjectAttributes.filter((a) => a.type === OID.serialNumber).map((a) => text(der, a.value)),
    ...publicKey(der, spkiEl),
  };
  Object.assign(cert, readExtensions(cert));
  return cert;
}

function publicKey(der, spki) {
  const [algorithm, key, ...rest] = children(der, spki);
  expect(key, 0x03, "public key");
  if (rest.length) throw new DerError("subjectPublicKeyInfo");
  const [id, params] = children(der, expect(algorithm, 0x30, "key algorithm"));
  const type = oidHex(der, id);
  const spkiAlgorithm = SPKI[toHex(raw(der, algorithm))] ?? null;
  if (type === OID.rsa) {
    const bits = value(der, key);
    if (bits[0] !== 0) throw new DerError("public key bit string");
    const inner = bits.subarray(1);
    const [n] = children(inner, single(inner, 0x30, "RSA public key"));
    const modulus = integer(inner, n, "RSA modulus");
    const stripped = modulus[0] === 0 ? modulus.subarray(1) : modulus;
    const rsaBits = stripped.length ? (stripped.length - 1) * 8 + (32 - Math.clz32(stripped[0])) : 0;
    return { keyType: "RSA", spkiAlgorithm, rsaBits, rsaModulusBytes: modulus.length };
  }
  if (type === OID.ecPublicKey) {
    const curve = params?.tag === 0x06 ? oidHex(der, params) : null;
    return { keyType: curve === OID.p256 ? "P-256" : "EC", spkiAlgorithm };
  }
  if (type === OID.ed25519) return { keyType: "Ed25519", spkiAlgorithm };
  return { keyType: null, spkiAlgorithm };
}

/** The extensions the policy reads, decoded (malformed ones make the certificate unreadable, as in Python). */
function readExtensions(cert) {
  const out = { basicConstraints: null, keyUsage: null, extKeyUsage: null, authorityKeyIdentifier: null, subjectAltUris: null };
  const ext = cert.extensions;
  const decode = (id, fn) => {
    const e = ext.get(id);
    if (e) fn(e.der, single(e.der, e.der[0], id));
  };
  decode(OID.basicConstraints, (d, seq) => {
    expect(seq, 0x30, "basicConstraints");
    const parts = children(d, seq);
    let ca = false;
    let pathLength = null;
    let k = 0;
    if (parts[k]?.tag === 0x01) {
      ca = boolean(d, parts[k++]);
      if (!ca) throw new DerError("explicit default cA");
    }
    if (parts[k]) pathLength = smallInteger(integer(d, parts[k++], "pathLenConstraint"));
    if (k !== parts.length) throw new DerError("basicConstraints");
    out.basicConstraints = { ca, pathLength };
  });
  decode(OID.keyUsage, (d, bits) => {
    const bytes = value(d, expect(bits, 0x03, "keyUsage"));
    if (!bytes.length || bytes[0] > 7) throw new DerError("keyUsage");
    const has = (bit) => 1 + (bit >> 3) < bytes.length && (bytes[1 + (bit >> 3)] & (0x80 >> (bit & 7))) !== 0;
    out.keyUsage = { digitalSignature: has(0), keyCertSign: has(5), crlSign: has(6) };
  });
  decode(OID.extKeyUsage, (d, seq) => {
    out.extKeyUsage = children(d, expect(seq, 0x30, "extKeyUsage")).map((el) => oidHex(d, el));
  });
  decode(OID.authorityKeyIdentifier, (d, seq) => {
    const tags = children(d, expect(seq, 0x30, "authorityKeyIdentifier")).map((el) => el.tag);
    out.authorityKeyIdentifier = { keyIdentifier: tags.includes(0x80), issuer: tags.includes(0xa1), serial: tags.includes(0x82) };
  });
  decode(OID.subjectAltName, (d, seq) => {
    out.subjectAltUris = children(d, expect(seq, 0x30, "subjectAltName"))
      .filter((n) => n.tag === 0x86)
      .map((n) => text(d, { ...n, tag: 0x16 }));
  });
  return out;
}

/** Every certificate of a PEM text, as DER (certificates_from_pem). */
export function rootsFromPem(pem) {
  const found = [...String(pem).matchAll(/-----BEGIN CERTIFICATE-----([A-Za-z0-9+/=\s]+?)-----END CERTIFICATE-----/g)];
  if (!found.length) throw new CertificateError("no readable PEM certificate");
  return found.map((m) => {
    const der = b64decode(m[1].replace(/\s+/g, ""), CertificateError, "a PEM certificate");
    parseCertificate(der);
    return der;
  });
}

export function fingerprint(der) {
  return toHex(sha256(der));
}

/** The leaf's key is one the service accepts (check_key). */
export function checkKey(cert) {
  if (cert.keyType === "RSA") {
    if (cert.rsaBits < MIN_RSA_BITS) throw new WeakKeyError(`RSA key of ${cert.rsaBits} bits is too short; at least ${MIN_RSA_BITS} bits are required`);
  } else if (cert.keyType === "EC") {
    throw new WeakKeyError("only P-256 EC keys are accepted");
  } else if (cert.keyType !== "P-256" && cert.keyType !== "Ed25519") {
    throw new WeakKeyError("unsupported key type");
  }
}

/** The one urn:x-city-hall:employee: SAN URI (employee_id_of). */
export function employeeIdOf(cert) {
  if (cert.subjectAltUris === null) throw new CertificateError("the certificate has no subject alternative name");
  const ids = cert.subjectAltUris.filter((u) => u.startsWith(EMPLOYEE_URI_PREFIX)).map((u) => u.slice(EMPLOYEE_URI_PREFIX.length));
  if (ids.length !== 1) throw new CertificateError(`the certificate must name exactly one employee (${EMPLOYEE_URI_PREFIX}<id>), found ${ids.length}`);
  if (!EMPLOYEE_ID.test(ids[0])) throw new CertificateError("the certificate's employee id is not valid");
  if (cert.serialNumbers.some((s) => s !== ids[0])) throw new CertificateError("the certificate's subject serialNumber differs from its employee id");
  return ids[0];
}

export function displayNameOf(cert) {
  if (cert.commonNames.length !== 1 || !cert.commonNames[0]) throw new CertificateError("the certificate's subject must have exactly one common name");
  return cert.commonNames[0];
}

/** Key usage and clientAuth on the leaf (_check_usage). */
export function checkUsage(leaf) {
  if (!leaf.keyUsage) throw new CertificateError("the certificate has no key usage extension");
  if (!leaf.extKeyUsage) throw new CertificateError("the certificate has no extended key usage extension");
  if (!leaf.keyUsage.digitalSignature) throw new CertificateError("the certificate's key usage does not allow digital signatures");
  if (!leaf.extKeyUsage.includes(OID.clientAuth)) throw new CertificateError("the certificate is not for client authentication (no clientAuth EKU)");
}

/** Key usage with digitalSignature, for a card whose certificate names no employee (check_card_usage). */
export function checkCardUsage(leaf) {
  if (!leaf.keyUsage) throw new CertificateError("the certificate has no key usage extension");
  if (!leaf.keyUsage.digitalSignature) throw new CertificateError("the certificate's key usage does not allow digital signatures");
}

/** The roots of a trust store: each must be a CA certificate (TrustStore.__post_init__). */
export function checkTrustAnchors(rootsDer) {
  if (!Array.isArray(rootsDer) || !rootsDer.length) throw new CertificateError("a trust store needs at least one root certificate");
  return rootsDer.map((der) => {
    const root = parseCertificate(der);
    if (!root.basicConstraints?.ca) throw new CertificateError("a trust anchor is not a CA certificate");
    return root;
  });
}

// --- the chain: pyca/cryptography's client verifier policy ---------------------------------

class Refused extends Error {}

const sameBytes = (a, b) => a.length === b.length && a.every((x, k) => x === b[k]);

/** permits_basic: v3, matching algorithms, a sane serial, an issuer, valid at `now`. */
function permitsBasic(cert, now) {
  if (cert.version !== 2) throw new Refused("certificate must be an X509v3 certificate");
  if (cert.signatureAlgorithm !== cert.tbsAlgorithm) throw new Refused("mismatch between signatureAlgorithm and SPKI algorithm");
  if (cert.serialLength < 1 || cert.serialLength > 21) throw new Refused("certificate must have a serial between 1 and 20 octets");
  if (cert.serialNegative) throw new Refused("certificate serial number cannot be negative");
  if (cert.issuerEmpty) throw new Refused("certificate must have a non-empty Issuer");
  for (const t of [cert.notBefore, cert.notAfter]) {
    if (t.generalized && t.year >= 1950 && t.year < 2050) throw new Refused("validity dates between 1950 and 2049 must be UtcTime");
  }
  if (now < cert.notBefore.date || now > cert.notAfter.date) throw new Refused("cert is not valid at validation time");
}

/** The extension policy: `rules` maps an OID to [presence, criticality, check]; others must not be critical. */
function permitsExtensions(cert, rules) {
  for (const [id, ext] of cert.extensions) {
    if (!rules[id]) {
      if (ext.critical) throw new Refused(`certificate contains unaccounted-for critical extensions: ${id}`);
    }
  }
  for (const [id, [presence, criticality, check]] of Object.entries(rules)) {
    const ext = cert.extensions.get(id);
    if (!ext) {
      if (presence === "present") throw new Refused("Certificate is missing required extension");
      continue;
    }
    if (presence === "absent") throw new Refused("Certificate contains prohibited extension");
    if ((criticality === "critical" && !ext.critical) || (criticality === "noncritical" && ext.critical)) {
      throw new Refused("Certificate extension has incorrect criticality");
    }
    check?.(cert);
  }
}

const EE_RULES = {
  [OID.authorityInfoAccess]: ["maybe", "noncritical"],
  [OID.authorityKeyIdentifier]: ["present", "noncritical"],
  [OID.subjectKeyIdentifier]: ["maybe", "agnostic"],
  [OID.keyUsage]: ["maybe", "agnostic", (c) => { if (c.keyUsage.keyCertSign) throw new Refused("EE keyUsage must not assert keyCertSign"); }],
  [OID.subjectAltName]: ["present", "agnostic"],
  [OID.basicConstraints]: ["maybe", "agnostic", (c) => { if (c.basicConstraints.ca) throw new Refused("basicConstraints.cA must not be asserted in an EE certificate"); }],
  [OID.nameConstraints]: ["absent"],
  [OID.extKeyUsage]: ["maybe", "noncritical", (c) => { if (!c.extKeyUsage.includes(OID.clientAuth)) throw new Refused("required EKU not found"); }],
};

/** A card certificate that names no employee (TrustStore.verify_chain(require_san=False)): the SAN may be absent. */
const CARD_EE_RULES = { ...EE_RULES, [OID.subjectAltName]: ["maybe", "agnostic"] };

const CA_RULES = {
  [OID.authorityInfoAccess]: ["maybe", "noncritical"],
  [OID.authorityKeyIdentifier]: ["maybe", "noncritical", (c) => {
    const aki = c.authorityKeyIdentifier;
    if (!aki.keyIdentifier) throw new Refused("authorityKeyIdentifier must contain keyIdentifier");
    if (aki.issuer) throw new Refused("authorityKeyIdentifier must not contain authorityCertIssuer");
    if (aki.serial) throw new Refused("authorityKeyIdentifier must not contain authorityCertSerialNumber");
  }],
  [OID.subjectKeyIdentifier]: ["maybe", "noncritical"],
  [OID.keyUsage]: ["present", "agnostic", (c) => { if (!c.keyUsage.keyCertSign) throw new Refused("keyUsage.keyCertSign must be asserted in a CA certificate"); }],
  [OID.subjectAltName]: ["maybe", "agnostic"],
  [OID.basicConstraints]: ["present", "critical", (c) => { if (!c.basicConstraints.ca) throw new Refused("basicConstraints.cA must be asserted in a CA certificate"); }],
  [OID.nameConstraints]: ["absent"], // Python checks them; the city's CAs have none (see the top)
  [OID.extKeyUsage]: ["maybe", "noncritical", (c) => {
    if (!c.extKeyUsage.includes(OID.clientAuth) && !c.extKeyUsage.includes(OID.anyExtendedKeyUsage)) throw new Refused("required EKU not found");
  }],
};

function permitsCa(cert, depth, now) {
  permitsBasic(cert, now);
  const bc = cert.basicConstraints;
  if (bc && bc.pathLength !== null && depth > bc.pathLength) throw new Refused("path length constraint violated");
  permitsExtensions(cert, CA_RULES);
}

/** DER ECDSA-Sig-Value {r, s} -> raw r || s as WebCrypto takes it (null if malformed). */
function rawEcdsa(sig, size) {
  try {
    const [r, s, ...rest] = children(sig, single(sig, 0x30, "ECDSA signature"));
    if (rest.length) return null;
    const out = new Uint8Array(2 * size);
    for (const [k, el] of [r, s].entries()) {
      let v = integer(sig, el, "ECDSA integer");
      if (v[0] & 0x80) return null;
      if (v[0] === 0) v = v.subarray(1);
      if (v.length > size) return null;
      out.set(v, (k + 1) * size - v.length);
    }
    return out;
  } catch {
    return null;
  }
}

/** Whether `issuer`'s key made `signature` over `data` with algorithm `algorithmHex`. */
async function signedBy(issuer, algorithmHex, signature, data) {
  const alg = SIGNATURE[algorithmHex];
  const keyAlg = issuer.spkiAlgorithm;
  if (!alg || !keyAlg || (alg.name === "ECDSA") !== (keyAlg !== "RSA")) return false;
  const importAlg = alg.name === "ECDSA" ? { name: "ECDSA", namedCurve: keyAlg } : { name: alg.name, hash: alg.hash };
  let key;
  try {
    key = await crypto.subtle.importKey("spki", issuer.spki, importAlg, false, ["verify"]);
  } catch {
    return false;
  }
  const sig = alg.name === "ECDSA" ? rawEcdsa(signature, EC_SIZE[keyAlg]) : signature;
  if (!sig) return false;
  try {
    return await crypto.subtle.verify(alg, key, sig, data);
  } catch {
    return false;
  }
}

/** valid_issuer: `issuer` is a CA at `depth`, of a permitted key type and size, and signed `child`. */
async function validIssuer(issuer, child, depth, now) {
  permitsCa(issuer, depth, now);
  if (!issuer.spkiAlgorithm) throw new Refused("Forbidden public key algorithm");
  if (!SIGNATURE[child.signatureAlgorithm]) throw new Refused("Forbidden signature algorithm");
  if (issuer.spkiAlgorithm === "RSA" && issuer.rsaModulusBytes * 8 < MIN_RSA_BITS) throw new Refused("RSA key is too weak");
  if (!(await signedBy(issuer, child.signatureAlgorithm, child.signature, child.tbs))) throw new Refused("signature does not match");
}

/** Depth-first path building, roots before intermediates (as the verifier). */
async function buildChain(working, depth, intermediates, roots, now, used) {
  if (depth > MAX_CHAIN_DEPTH) throw new Refused("chain construction exceeds max depth");
  let last = new Refused("candidates exhausted: no issuer found");
  for (const root of roots) {
    if (!sameBytes(root.subject, working.issuer)) continue;
    try {
      await validIssuer(root, working, depth, now);
      return [root];
    } catch (exc) {
      if (!(exc instanceof Refused)) throw exc;
      last = exc;
    }
  }
  for (const candidate of intermediates) {
    if (used.has(candidate) || !sameBytes(candidate.subject, working.issuer)) continue;
    try {
      await validIssuer(candidate, working, depth, now);
      const selfIssued = sameBytes(candidate.subject, candidate.issuer);
      const rest = await buildChain(candidate, selfIssued ? depth : depth + 1, intermediates, roots, now, new Set([...used, candidate]));
      return [candidate, ...rest];
    } catch (exc) {
      if (!(exc instanceof Refused)) throw exc;
      last = exc;
    }
  }
  throw last;
}

/**
 * The chain (DER, leaf first) builds to one of `rootsDer` at `now` under the
 * verifier's client policy; with `employeeId`, the leaf's key is accepted and it
 * names that employee. Returns {employeeId, name, fingerprint, chain}.
 */
export async function verifyChain(chainDer, rootsDer, { now, employeeId, requireSan = true } = {}) {
  if (!(now instanceof Date) || Number.isNaN(now.getTime())) throw new Error("now must be a Date");
  if (!Array.isArray(chainDer) || !chainDer.length) throw new CertificateError("the chain needs at least the leaf certificate");
  const roots = checkTrustAnchors(rootsDer);
  const [leaf, ...intermediates] = chainDer.map(parseCertificate);
  if (employeeId !== undefined) {
    checkKey(leaf);
    const named = employeeIdOf(leaf);
    if (named !== employeeId) throw new CertificateError(`the certificate names ${named}, not ${employeeId}`);
  }
  const at = new Date(Math.floor(now.getTime() / 1000) * 1000); // X.509 times are to the second
  let chain;
  try {
    permitsBasic(leaf, at);
    permitsExtensions(leaf, requireSan ? EE_RULES : CARD_EE_RULES);
    chain = [leaf, ...(await buildChain(leaf, 0, intermediates, roots, at, new Set()))];
  } catch (exc) {
    if (!(exc instanceof Refused)) throw exc;
    if (exc.message.includes("not valid at validation time")) throw new CertificateError("a certificate in the chain is expired or not yet valid");
    throw new CertificateError(`the certificate chain is not trusted: ${exc.message}`);
  }
  const out = { chain, fingerprint: fingerprint(leaf.der) };
  if (employeeId !== undefined) Object.assign(out, { employeeId, name: displayNameOf(leaf) });
  return out;
}

// --- CRLs -----------------------------------------------------------------------------------

/** A DER CRL (RFC 5280 5.1), read strictly; CrlError if it cannot be read. */
export function parseCrl(der) {
  if (!(der instanceof Uint8Array)) throw new CrlError("a CRL must be DER bytes");
  try {
    return readCrl(der);
  } catch (exc) {
    if (exc instanceof DerError || exc instanceof TypeError || exc instanceof RangeError) throw new CrlError(`no readable DER CRL (${exc.message})`);
    throw exc;
  }
}

function readCrl(der) {
  const top = children(der, single(der, 0x30, "CRL"));
  if (top.length !== 3) throw new DerError("CRL");
  const [tbsEl, algEl, sigEl] = top;
  const fields = children(der, expect(tbsEl, 0x30, "tbsCertList"));
  let i = 0;
  if (fields[0]?.tag === 0x02) {
    if (smallInteger(integer(der, fields[i++], "version")) !== 1) throw new DerError("CRL version");
  }
  const tbsAlg = expect(fields[i++], 0x30, "signature algorithm");
  const issuer = expect(fields[i++], 0x30, "issuer");
  nameAttributes(der, issuer);
  if (!fields[i] || (fields[i].tag !== 0x17 && fields[i].tag !== 0x18)) throw new DerError("thisUpdate");
  const thisUpdate = time(der, fields[i++]).date;
  let nextUpdate = null;
  if (fields[i] && (fields[i].tag === 0x17 || fields[i].tag === 0x18)) nextUpdate = time(der, fields[i++]).date;
  const revoked = new Map();
  if (fields[i]?.tag === 0x30) {
    for (const entry of children(der, fields[i++])) {
      const [serial, date, entryExtensions, ...rest] = children(der, expect(entry, 0x30, "revoked certificate"));
      if (rest.length || (entryExtensions && entryExtensions.tag !== 0x30)) throw new DerError("revoked certificate");
      revoked.set(toHex(integer(der, serial, "serial")), time(der, date).date);
    }
  }
  const extensions = [];
  if (fields[i]?.tag === 0xa0) {
    const [list, ...rest] = children(der, fields[i++]);
    if (rest.length) throw new DerError("crlExtensions");
    for (const extension of children(der, expect(list, 0x30, "crlExtensions"))) {
      const parts = children(der, expect(extension, 0x30, "extension"));
      const critical = parts.length === 3 ? boolean(der, parts[1]) : false;
      if (parts.length !== 2 && parts.length !== 3) throw new DerError("extension");
      expect(parts[parts.length - 1], 0x04, "extension value");
      extensions.push({ oid: oidHex(der, parts[0]), critical });
    }
  }
  if (i !== fields.length) throw new DerError("tbsCertList");
  expect(sigEl, 0x03, "signature");
  const signature = value(der, sigEl);
  if (signature[0] !== 0) throw new DerError("signature bit string");
  const known = [OID.crlNumber, OID.authorityKeyIdentifier, OID.issuerAltName, OID.authorityInfoAccess, OID.freshestCrl];
  const unsupported = extensions.find(
    (e) => e.oid === OID.issuingDistributionPoint || e.oid === OID.deltaCrlIndicator || (e.critical && !known.includes(e.oid)),
  );
  return {
    der,
    tbs: raw(der, tbsEl),
    tbsAlgorithm: toHex(raw(der, tbsAlg)),
    signatureAlgorithm: toHex(raw(der, algEl)),
    signature: signature.subarray(1),
    issuer: raw(der, issuer),
    thisUpdate,
    nextUpdate,
    revoked,
    extensions,
    unsupported: unsupported ? unsupported.oid : null,
  };
}

/** The issuer's key signed this CRL (is_signature_valid). */
export async function crlSignedBy(crl, issuer) {
  if (crl.signatureAlgorithm !== crl.tbsAlgorithm) return false;
  return signedBy(issuer, crl.signatureAlgorithm, crl.signature, crl.tbs);
}

/**
 * Every non-root certificate of a built chain (leaf first, root last) against
 * its issuer's CRLs (check_revocation): fails closed — an issuer without a
 * current complete CRL signed by its own key is an error, not a pass.
 */
export async function checkRevocation(chain, crls, { now }) {
  if (!(now instanceof Date) || Number.isNaN(now.getTime())) throw new Error("now must be a Date");
  for (let k = 0; k + 1 < chain.length; k++) {
    const [certificate, issuer] = [chain[k], chain[k + 1]];
    const sameName = crls.filter((crl) => sameBytes(crl.issuer, issuer.subject));
    const signed = [];
    for (const crl of sameName) if (await crlSignedBy(crl, issuer)) signed.push(crl);
    if (!signed.length) {
      if (sameName.length) throw new CrlError("the CRL for the issuing CA is not signed by that CA's key");
      throw new CrlError("no CRL from the issuing CA; revocation cannot be checked");
    }
    const partial = signed.find((crl) => crl.unsupported);
    if (partial) throw new CrlError(`the CRL has an unsupported extension ${partial.unsupported}`);
    const latest = signed.reduce((a, b) => (b.thisUpdate > a.thisUpdate ? b : a));
    if (latest.thisUpdate.getTime() > now.getTime() + CLOCK_SKEW_MS) throw new CrlError("the CRL is not valid yet");
    if (latest.nextUpdate === null) throw new CrlError("the CRL has no nextUpdate");
    if (now >= latest.nextUpdate) throw new CrlError("the CRL is out of date; publish a new CRL");
    for (const crl of signed) {
      const date = crl.revoked.get(certificate.serial);
      if (date) throw new CertificateRevoked(`the certificate (serial ${certificate.serial}) was revoked on ${date.toISOString()}`);
    }
  }
}
