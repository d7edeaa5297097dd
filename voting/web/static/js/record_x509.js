// The certificate checks of the record's verifier (voting/verify/
// `_registered`, `check_trustee_signature`, `_check_revoked_at`) on top of
// x509.js (crypto/credentials's chain policy): a certificate is judged at
// the time of the board entry that used it — the chain built to the record's
// trust anchors then, digitalSignature and clientAuth, and not revoked then.
//
// Revocation is judged from CRLs issued after the event (`afterEvent`, the
// auditors' rule), or from CRLs current now (a trustee right after closing,
// before the CA published its next CRL), never from no CRL at all.

import { Bad } from "./record_verify.js";
import { checkCardUsage, checkTrustAnchors, checkUsage, crlSignedBy, fingerprint, parseCrl, verifyChain } from "./x509.js";
import { b64decode } from "./bytes.js";

const seconds = (ms) => Math.floor(ms / 1000) * 1000;
const stamp = (ms) => new Date(ms).toISOString().slice(0, 19).replace("T", " ");
const sameBytes = (a, b) => a.length === b.length && a.every((x, k) => x === b[k]);
const message = (exc) => (exc instanceof Error ? exc.message || exc.name : String(exc));

/**
 * `anchors`, `crls`: DER bytes from auditors/trust.json (throws if one cannot
 * be read, as TrustStore.from_der and load_der_x509_crl). Returns
 * {voter(chainDer, atUs, event), trustee({chain, signature}, atUs, event),
 * builds(chainDer, atUs)}: the first two throw Bad with verify.py's words, or
 * resolve; `builds` says whether the chain builds to `anchors` then.
 * `card`: the anchors of auditors/enrollments.json, whose certificates name no
 * employee (no SAN needed; key usage digitalSignature, check_card_usage).
 */
export function certificateChecks(anchors, crlDers, { afterEvent = true, nowMs = Date.now(), card = false } = {}) {
  checkTrustAnchors(anchors);
  const crls = crlDers.map((der) => {
    const crl = parseCrl(der);
    // As Python's load_der_x509_crl: such a CRL is unreadable, not merely unsigned.
    if (crl.tbsAlgorithm !== crl.signatureAlgorithm) throw new Bad("Inner and outer signature algorithms do not match. This is an invalid CRL.");
    return crl;
  });
  const signatures = new Map(); // (CRL, issuer) -> signed: every chain meets the same few CRLs

  async function signedBy(crl, issuer) {
    // Keyed by the whole of both (as verify.py's _signed_by): a copy of a signed
    // CRL with other dates must never inherit the original's verdict.
    const key = `${fingerprint(crl.der)}/${fingerprint(issuer.der)}`;
    if (!signatures.has(key)) signatures.set(key, await crlSignedBy(crl, issuer));
    return signatures.get(key);
  }

  async function revokedAt(chain, atMs, event) {
    const at = seconds(atMs);
    for (let k = 0; k + 1 < chain.length; k++) {
      const [certificate, issuer] = [chain[k], chain[k + 1]];
      const name = "the issuing CA";
      const signed = [];
      for (const crl of crls) if (sameBytes(crl.issuer, issuer.subject) && (await signedBy(crl, issuer))) signed.push(crl);
      if (!signed.length) throw new Bad(`no CRL signed by ${name}: revocation cannot be checked`);
      const partial = signed.find((crl) => crl.unsupported);
      if (partial) throw new Bad(`the CRL from ${name} is partial or delta (${partial.unsupported})`);
      const newest = signed.reduce((a, b) => (b.thisUpdate > a.thisUpdate ? b : a));
      if (!afterEvent) {
        if (newest.nextUpdate === null || newest.nextUpdate.getTime() <= nowMs) {
          throw new Bad(`the newest CRL from ${name} is out of date (nextUpdate ${newest.nextUpdate?.toISOString() ?? "None"}); publish a new CRL`);
        }
      } else if (newest.thisUpdate.getTime() < at) {
        throw new Bad(
          `the newest CRL from ${name} (thisUpdate ${stamp(newest.thisUpdate.getTime())}) predates the time ${event} (${stamp(at)}); ` +
            "export the record with a CRL issued after voting closed",
        );
      }
      for (const crl of signed) {
        const date = crl.revoked.get(certificate.serial);
        if (date && date.getTime() <= at) throw new Bad(`the certificate was revoked on ${stamp(date.getTime())}, before ${event}`);
      }
    }
  }

  async function judge(ders, atUs, event, employeeId) {
    const atMs = Math.floor(atUs / 1000);
    let built;
    try {
      built = await verifyChain(ders, anchors, { now: new Date(atMs), employeeId, requireSan: !card });
    } catch (exc) {
      throw new Bad(`the certificate was not valid when ${event}: ${message(exc)}`);
    }
    try {
      (card ? checkCardUsage : checkUsage)(built.chain[0]);
    } catch (exc) {
      throw new Bad(message(exc));
    }
    await revokedAt(built.chain, atMs, event);
  }

  return {
    builds: async (ders, atUs) => {
      try {
        await verifyChain(ders, anchors, { now: new Date(Math.floor(atUs / 1000)), requireSan: !card });
        return true;
      } catch {
        return false;
      }
    },
    voter: (ders, atUs, event) => judge(ders, atUs, event),
    trustee: (doc, atUs, event) => {
      const chain = doc && Array.isArray(doc.chain) ? doc.chain : [];
      const ders = chain.map((c) => b64decode(c, Bad, "a certificate"));
      return judge(ders, atUs, event);
    },
  };
}
