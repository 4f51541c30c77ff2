/**
 * Random bytes without importing Node's `crypto` into the core: Web Crypto is
 * a global in Node 20, browsers and Deno alike.
 */
export function randomFillSync(bytes: Uint8Array): void {
  globalThis.crypto.getRandomValues(bytes);
}
