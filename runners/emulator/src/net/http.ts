/** HTTP/1.0 just far enough for `GET /`: request/response encoding and parsing, as lwIP's httpd and curl use it. */

export const HTTP_PORT = 80;

export function httpGetRequest(host: string, path = "/"): Uint8Array {
  return new TextEncoder().encode(`GET ${path} HTTP/1.0\r\nHost: ${host}\r\nUser-Agent: tock-hil-host\r\n\r\n`);
}

/** The request line once the header block is complete, else undefined (more bytes needed). */
export function parseHttpRequest(bytes: Uint8Array): { method: string; path: string } | undefined {
  const text = new TextDecoder().decode(bytes);
  if (!text.includes("\r\n\r\n")) return undefined;
  const [method = "", path = ""] = (text.split("\r\n")[0] ?? "").split(" ");
  return { method, path };
}

export function httpResponse(status: number, reason: string, body: string, contentType = "text/html"): Uint8Array {
  const b = new TextEncoder().encode(body);
  const head = `HTTP/1.0 ${status} ${reason}\r\nServer: lwIP/2.1.3\r\nContent-Type: ${contentType}\r\nContent-Length: ${b.length}\r\n\r\n`;
  const h = new TextEncoder().encode(head);
  const out = new Uint8Array(h.length + b.length);
  out.set(h);
  out.set(b, h.length);
  return out;
}

/** Parses a complete response; throws when the status line or Content-Length do not add up. */
export function parseHttpResponse(bytes: Uint8Array): { status: number; body: string } {
  const text = new TextDecoder().decode(bytes);
  const split = text.indexOf("\r\n\r\n");
  if (split < 0) throw new Error("HTTP response has no end of headers");
  const lines = text.slice(0, split).split("\r\n");
  const m = /^HTTP\/1\.[01] (\d{3}) /.exec(lines[0] ?? "");
  if (!m) throw new Error(`bad HTTP status line ${JSON.stringify(lines[0])}`);
  const body = text.slice(split + 4);
  const cl = lines.find((l) => /^content-length:/i.test(l));
  if (cl && Number.parseInt(cl.split(":")[1] ?? "", 10) !== new TextEncoder().encode(body).length)
    throw new Error("HTTP body length differs from Content-Length");
  return { status: Number(m[1]), body };
}
