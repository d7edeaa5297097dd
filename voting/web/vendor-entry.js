// The one entry point of the browser's third-party cryptography, bundled by
// esbuild at install time (`npm run build`, run by `make install`) into
// static/vendor/noble.js. Only these names are used by static/js/*.js.
export { ed25519, ristretto255, ristretto255_hasher } from "@noble/curves/ed25519.js";
// threshold.js: the key ceremony's encrypted shares, as crypto/threshold.py.
export { x25519 } from "@noble/curves/ed25519.js";
export { hkdf } from "@noble/hashes/hkdf.js";
export { chacha20poly1305 } from "@noble/ciphers/chacha.js";
export { sha256, sha512 } from "@noble/hashes/sha2.js";
// qr.js: the printed receipt's QR code, made and read (@paulmillr/qr, by
// the author of @noble; no dependencies).
export { default as encodeQR } from "@paulmillr/qr";
export { default as decodeQR } from "@paulmillr/qr/decode.js";
// record_verify.js: the trustee page reads the election record's zip
// (unzipSync with a filter: only the record's known files are inflated).
export { unzipSync } from "fflate";
