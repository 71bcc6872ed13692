/**
 * Where the service is and how to talk to it: the base URL and token (flags,
 * then MATIH_URL / MATIH_TOKEN, then the admin token an embedded default
 * service wrote beside it), and JSON requests whose refusals become
 * CliErrors carrying the service's own code and message.
 */
import { readFileSync } from "node:fs";
import path from "node:path";
import type { ErrorResponse } from "./types.ts";

export const DEFAULT_URL = "http://127.0.0.1:8080";

/** A failure the CLI reports in one line (plus details) and ends with `exitCode`. */
export class CliError extends Error {
  readonly exitCode: number;
  readonly code: string | undefined;
  readonly status: number | undefined;
  readonly details: unknown;
  constructor(message: string, options: { exitCode?: number; code?: string; status?: number; details?: unknown } = {}) {
    super(message);
    this.name = "CliError";
    this.exitCode = options.exitCode ?? 1;
    this.code = options.code;
    this.status = options.status;
    this.details = options.details;
  }
}

export interface Connection {
  url: string;
  token: string | undefined;
  /** Where the token came from, for the message when it is refused; never the token itself. */
  tokenSource: string;
}

/** The admin token file of a default `npm start` (MATIH_DATA_DIR, default ./.matih). */
function tokenFile(env: NodeJS.ProcessEnv, cwd: string): string {
  return path.join(path.resolve(cwd, env.MATIH_DATA_DIR?.trim() || ".matih"), "admin-token");
}

export function resolveConnection(flags: { url?: string | undefined; token?: string | undefined }, env: NodeJS.ProcessEnv = process.env, cwd = process.cwd()): Connection {
  const url = (flags.url ?? env.MATIH_URL?.trim() ?? "") || DEFAULT_URL;
  try {
    const parsed = new URL(url);
    if (parsed.protocol !== "http:" && parsed.protocol !== "https:") throw new Error("not http");
  } catch {
    throw new CliError(`the service URL ${JSON.stringify(url)} is not an http(s) URL (--url or MATIH_URL)`, { exitCode: 2 });
  }
  if (flags.token) return { url: url.replace(/\/+$/, ""), token: flags.token, tokenSource: "--token" };
  if (env.MATIH_TOKEN?.trim()) return { url: url.replace(/\/+$/, ""), token: env.MATIH_TOKEN.trim(), tokenSource: "MATIH_TOKEN" };
  const file = tokenFile(env, cwd);
  try {
    const token = readFileSync(file, "utf8").trim();
    if (token) return { url: url.replace(/\/+$/, ""), token, tokenSource: file };
  } catch {
    // No file: the request goes without a token and the service's 401 says so.
  }
  return { url: url.replace(/\/+$/, ""), token: undefined, tokenSource: "none" };
}

export class Api {
  readonly connection: Connection;
  constructor(connection: Connection) {
    this.connection = connection;
  }

  async request<T>(method: string, route: string, body?: unknown, extraHeaders: Record<string, string> = {}): Promise<T> {
    const headers: Record<string, string> = { accept: "application/json", ...extraHeaders };
    if (this.connection.token) headers.authorization = `Bearer ${this.connection.token}`;
    if (body !== undefined) headers["content-type"] = "application/json";
    let response: Response;
    try {
      response = await fetch(`${this.connection.url}${route}`, { method, headers, ...(body !== undefined ? { body: JSON.stringify(body) } : {}) });
    } catch (error) {
      const cause = (error as { cause?: { code?: string; message?: string } }).cause;
      throw new CliError(`cannot reach the service at ${this.connection.url} (${cause?.code ?? cause?.message ?? (error as Error).message}); is it running (npm start), and is --url or MATIH_URL right?`);
    }
    const text = await response.text();
    let parsed: unknown;
    try {
      parsed = text ? JSON.parse(text) : undefined;
    } catch {
      parsed = undefined;
    }
    if (response.ok) return parsed as T;
    const problem = (parsed ?? {}) as Partial<ErrorResponse>;
    const code = problem.code ?? `http_${response.status}`;
    let message = problem.message ?? `${response.status} ${response.statusText}`;
    if (response.status === 401) {
      message = this.connection.token
        ? `the service refused the token from ${this.connection.tokenSource} (${message})`
        : `no token: set MATIH_TOKEN or pass --token (an embedded default service writes one to .matih/admin-token) (${message})`;
    }
    if (response.status === 403) message = `the token may only read (${message}); this needs an admin token`;
    throw new CliError(message, { code, status: response.status, details: problem.details });
  }

  get<T>(route: string): Promise<T> {
    return this.request<T>("GET", route);
  }

  post<T>(route: string, body: unknown = {}): Promise<T> {
    return this.request<T>("POST", route, body);
  }

  delete<T>(route: string): Promise<T> {
    return this.request<T>("DELETE", route);
  }

  /** The WebSocket URL of a route (ws for http, wss for https). */
  socketUrl(route: string): string {
    return `${this.connection.url.replace(/^http/, "ws")}${route}`;
  }
}

/** A path segment, encoded. */
export const seg = (value: string) => encodeURIComponent(value);

/** A query string of the defined values, with its `?`, or "". */
export function query(values: Record<string, string | number | boolean | undefined>): string {
  const params = new URLSearchParams();
  for (const [key, value] of Object.entries(values)) if (value !== undefined) params.set(key, String(value));
  const text = params.toString();
  return text ? `?${text}` : "";
}
