/**
 * Credentials never reach the log: bearer tokens in headers and in query
 * strings (`?access_token=`, which browsers use for WebSockets), and any
 * other credential-looking query parameter, in every logged URL; and every
 * secret value the process knows of (automation/core/redact.ts), wherever
 * it appears in a log call.
 */
import { redactValue } from "../automation/index.ts";

const CREDENTIAL_PARAMS = /^(access_token|token|api_key|apikey|key|password|secret|sig|signature)$/i;

export const REDACTED = "[redacted]";

/** The URL with every credential-looking query value replaced; the path and other parameters are kept. */
export function redactUrl(url: string): string {
  const q = url.indexOf("?");
  if (q < 0) return url;
  const query = url.slice(q + 1).split("&").map((pair) => {
    const eq = pair.indexOf("=");
    const name = eq < 0 ? pair : pair.slice(0, eq);
    let decoded = name;
    try {
      decoded = decodeURIComponent(name.replace(/\+/g, " "));
    } catch {
      // A malformed name is kept as it is.
    }
    return CREDENTIAL_PARAMS.test(decoded) ? `${name}=${REDACTED}` : pair;
  });
  return `${url.slice(0, q)}?${query.join("&")}`;
}

/**
 * pino's `hooks.logMethod`: each argument of a log call (the merged object,
 * the message, format arguments) with known secret values masked.
 */
export function redactLogCall(this: unknown, args: unknown[], method: (...args: unknown[]) => void): void {
  method.apply(this, args.map((arg) => redactValue(arg)));
}
