import { describe, expect, it } from "vitest";
import { THREAD_NETWORK_KEY, deriveKeys, ip6ToString, openFrame, parseIp6, sealFrame } from "./wire.ts";

const ext = Uint8Array.from([0x12, 0x34, 0x56, 0x78, 0x9a, 0xbc, 0xde, 0xf0]);

describe("Thread wire model", () => {
  it("derives MLE and MAC keys as Thread does (HMAC-SHA256(key, seq || 'Thread'))", () => {
    const k = deriveKeys(THREAD_NETWORK_KEY, 0);
    // Golden vector (the Thread key-derivation example for network key 00112233..eeff, key sequence 0).
    expect(Buffer.from(k.mle).toString("hex")).toBe("5445f4158fd75912175809f8b57a66a4");
    expect(Buffer.from(k.mac).toString("hex")).toBe("de89c53af382b421e0fde5a9bae3bef0");
    expect(Buffer.from(k.mle).equals(Buffer.from(deriveKeys(THREAD_NETWORK_KEY, 1).mle))).toBe(false);
  });

  it("opens what it sealed, and a wrong key or a flipped ciphertext bit fails the MIC", () => {
    const keys = deriveKeys(THREAD_NETWORK_KEY);
    const plaintext = Uint8Array.from([9, 3, 8, 1, 2, 3, 4, 5, 6, 7, 8]);
    const frame = sealFrame({ seq: 7, pan: 0xabcd, srcExt: ext, dst: { broadcast: true }, kind: 1, counter: 42, keys, plaintext });
    expect(frame[15]).toBe(0x3f);
    expect([...(openFrame(frame, keys)?.plaintext ?? [])]).toEqual([...plaintext]);
    const other = THREAD_NETWORK_KEY.slice();
    other[15] = (other[15] ?? 0) ^ 0xff;
    expect(openFrame(frame, deriveKeys(other))?.plaintext).toBeUndefined();
    const damaged = frame.slice();
    damaged[20] = (damaged[20] ?? 0) ^ 1;
    expect(openFrame(damaged, keys)?.plaintext).toBeUndefined();
  });

  it("formats and parses IPv6 addresses like OpenThread", () => {
    const a = parseIp6("fdde:ad00:beef::1");
    expect(a && ip6ToString(a)).toBe("fdde:ad00:beef:0:0:0:0:1");
    expect(parseIp6("ff03::1")?.[15]).toBe(1);
    expect(parseIp6("1::2::3")).toBeUndefined();
    expect(parseIp6("fdde:ad00")).toBeUndefined();
  });
});
