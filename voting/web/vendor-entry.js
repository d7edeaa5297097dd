// The one entry point of the browser's third-party cryptography, bundled by
// esbuild at install time (`npm run build`, run by `make install`) into
// static/vendor/noble.js. Only these names are used by static/js/*.js.
export { ed25519, ristretto255, ristretto255_hasher } from "@noble/curves/ed25519.js";
export { sha256, sha512 } from "@noble/hashes/sha2.js";
