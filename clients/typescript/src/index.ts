/**
 * The todo API's typed client: openapi-fetch over the types openapi-typescript generated from specs/openapi.json
 * (src/schema.d.ts, `npm run generate`). Paths, path and query parameters, bodies, and each status's answer are
 * checked by the compiler; a change to the API that breaks a caller breaks its build.
 */
import createClient, { type Client, type ClientOptions, type Middleware } from "openapi-fetch";

import type { components, paths } from "./schema.js";

export type { components, operations, paths } from "./schema.js";

/** A task as the API returns it. */
export type Task = components["schemas"]["TaskRead"];
/** The body of POST (create) and PUT (replace): `title`, optional `description`. */
export type TaskWrite = components["schemas"]["TaskWrite"];
/** The optional body of PATCH .../complete: sets completion; no body toggles it. */
export type CompletionUpdate = components["schemas"]["CompletionUpdate"];
/** Every error: RFC 9457 problem details (`application/problem+json`). */
export type Problem = components["schemas"]["Problem"];
export type FieldError = components["schemas"]["FieldError"];
export type StatusFilter = components["schemas"]["StatusFilter"];
export type SortOrder = components["schemas"]["SortOrder"];

export type TodoClient = Client<paths>;

/** Where the bearer token comes from: called before every request; `null`/`undefined` sends no Authorization. */
export type TokenSource = () => Promise<string | null | undefined> | string | null | undefined;

/** The `Authorization: Bearer <token>` middleware. */
export function bearerAuth(getToken: TokenSource): Middleware {
  return {
    async onRequest({ request }) {
      const token = await getToken();
      if (token) {
        request.headers.set("Authorization", `Bearer ${token}`);
      }
      return request;
    },
  };
}

/**
 * A typed client for the API at `baseUrl` (the origin, e.g. `https://api.example.com`): every request carries the
 * token `getToken` returns, e.g. `betterAuthToken(authUrl)`.
 */
export function createTodoClient(
  baseUrl: string,
  getToken: TokenSource,
  options: Omit<ClientOptions, "baseUrl"> = {},
): TodoClient {
  const client = createClient<paths>({ ...options, baseUrl: baseUrl.replace(/\/+$/, "") });
  client.use(bearerAuth(getToken));
  return client;
}

/** True for an RFC 9457 problem details body as this API sends it. */
export function isProblem(value: unknown): value is Problem {
  if (typeof value !== "object" || value === null) {
    return false;
  }
  const body = value as Record<string, unknown>;
  return typeof body["type"] === "string" && typeof body["status"] === "number" && typeof body["title"] === "string";
}

/**
 * The problem types this API sends, as the last segment of `urn:todo-api:problem:<kind>`. The OpenAPI document types
 * `Problem.type` as a plain string, so this list is written here (the interop test checks it against the document).
 */
export const PROBLEM_KINDS = [
  "validation-error",
  "unauthorized",
  "forbidden",
  "not-found",
  "payload-too-large",
  "unsupported-media-type",
  "precondition-failed", // 412: If-Match named a stale tag; the answer's ETag is the current one
  "precondition-required", // 428: this deployment requires If-Match on changes
  "idempotency-key-reused", // 422: the Idempotency-Key was used with another body
  "idempotency-key-in-flight", // 409: a request with this key is still running; retry after Retry-After
  "internal-error",
  "database-unavailable",
] as const;
export type ProblemKind = (typeof PROBLEM_KINDS)[number];

export const PROBLEM_TYPE_PREFIX = "urn:todo-api:problem:";

/** True for a problem of this kind: `isProblemOfType(result.error, "precondition-failed")`. */
export function isProblemOfType(value: unknown, kind: ProblemKind): value is Problem {
  return isProblem(value) && value.type === `${PROBLEM_TYPE_PREFIX}${kind}`;
}

/**
 * A task response's entity tag (`"3"`: the task's version), for `If-Match` on a change or `If-None-Match` on a read.
 * The body has no version, so keep the tag next to the task. Cross-origin, a browser shows the header only if the
 * API's CORS configuration exposes it (Access-Control-Expose-Headers: ETag).
 */
export function etagOf(response: Response): string | undefined {
  return response.headers.get("ETag") ?? undefined;
}

/**
 * A fresh `Idempotency-Key`: a random UUID (Node 20+, and browsers in secure contexts: HTTPS or localhost). Make one
 * per intended create and reuse it for every retry of that create; a new key would create a second task.
 */
export function newIdempotencyKey(): string {
  return crypto.randomUUID();
}

export interface RetryOptions {
  /** Attempts after the first (default 3). */
  retries?: number;
  /** The first wait when the answer names none (default 250 ms), doubling after each attempt. */
  baseDelayMs?: number;
  /** The longest wait between attempts, whatever Retry-After says (default 5000 ms). */
  maxDelayMs?: number;
  /** Stops the retries: passed to fetch, and an abort is never retried. */
  signal?: AbortSignal;
}

/**
 * POST a task under an Idempotency-Key, retrying with the same key and body, so that however many attempts reach the
 * server, at most one task is created and every answer is that create's 201 (replayed: same id, Location, body, ETag).
 * Retries, at most `retries` times:
 * - when fetch throws a TypeError (the Fetch standard's network error): the request may or may not have arrived;
 * - on 409 idempotency-key-in-flight (an earlier attempt is still running), after its Retry-After;
 * - on 503 database-unavailable, after its Retry-After: nothing was created, and the key keeps a retry safe.
 * Any other answer (including 422 idempotency-key-reused: the key was used with another body) is returned as is.
 * Note a replayed 201 is the create's answer: if the task changed since, its ETag is no longer current.
 */
export async function createTaskOnce(
  client: TodoClient,
  userId: string,
  body: TaskWrite,
  key: string = newIdempotencyKey(),
  options: RetryOptions = {},
) {
  const { retries = 3, baseDelayMs = 250, maxDelayMs = 5000, signal } = options;
  const post = () =>
    client.POST("/api/{user_id}/tasks", {
      params: { path: { user_id: userId }, header: { "Idempotency-Key": key } },
      body,
      ...(signal ? { signal } : {}),
    });
  for (let attempt = 0; ; attempt++) {
    const backoff = Math.min(baseDelayMs * 2 ** attempt, maxDelayMs);
    let result: Awaited<ReturnType<typeof post>>;
    try {
      result = await post();
    } catch (error) {
      if (attempt >= retries || !(error instanceof TypeError) || signal?.aborted) {
        throw error;
      }
      await sleep(backoff, signal);
      continue;
    }
    const status = result.response.status;
    if (attempt >= retries || (status !== 409 && status !== 503)) {
      return result;
    }
    await sleep(Math.min(retryAfterMs(result.response) ?? backoff, maxDelayMs), signal);
  }
}

/** `Retry-After` in milliseconds (delay-seconds or an HTTP date); undefined when absent or unreadable. */
export function retryAfterMs(response: Response): number | undefined {
  const value = response.headers.get("Retry-After")?.trim();
  if (!value) {
    return undefined;
  }
  if (/^\d+$/.test(value)) {
    return Number(value) * 1000;
  }
  const date = Date.parse(value);
  return Number.isNaN(date) ? undefined : Math.max(0, date - Date.now());
}

function sleep(ms: number, signal: AbortSignal | undefined): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) {
      reject(signal.reason);
      return;
    }
    const timer = setTimeout(() => {
      signal?.removeEventListener("abort", onAbort);
      resolve();
    }, ms);
    function onAbort() {
      clearTimeout(timer);
      reject(signal?.reason);
    }
    signal?.addEventListener("abort", onAbort, { once: true });
  });
}

export interface BetterAuthTokenOptions {
  /** fetch to call Better Auth with (default: globalThis.fetch). */
  fetch?: typeof fetch;
  /** Sent with GET /api/auth/token, e.g. a session cookie outside a browser. */
  headers?: HeadersInit;
  /** Renew a token this many seconds before its `exp` (default 60). */
  renewMarginSeconds?: number;
}

/**
 * A TokenSource backed by Better Auth's JWT plugin: `GET {authBaseUrl}/api/auth/token` with the session cookie
 * (`credentials: "include"` in a browser), the token cached until `renewMarginSeconds` before its `exp`.
 */
export function betterAuthToken(authBaseUrl: string, options: BetterAuthTokenOptions = {}): TokenSource {
  const call = options.fetch ?? globalThis.fetch;
  const margin = options.renewMarginSeconds ?? 60;
  const url = `${authBaseUrl.replace(/\/+$/, "")}/api/auth/token`;
  let cached: { token: string; exp: number } | undefined;
  let pending: Promise<string> | undefined;

  async function fetchToken(): Promise<string> {
    const init: RequestInit = { credentials: "include" };
    if (options.headers !== undefined) {
      init.headers = options.headers;
    }
    const response = await call(url, init);
    if (!response.ok) {
      throw new Error(`GET ${url} answered ${response.status}: is the user signed in?`);
    }
    const { token } = (await response.json()) as { token: string };
    cached = { token, exp: expiresAt(token) };
    return token;
  }

  return async () => {
    if (cached && cached.exp - Date.now() / 1000 > margin) {
      return cached.token;
    }
    // One request for concurrent callers.
    pending ??= fetchToken().finally(() => {
      pending = undefined;
    });
    return pending;
  };
}

/** A JWT's `exp` (seconds since the epoch), read without verifying: only to know when to renew; 0 if absent. */
export function expiresAt(token: string): number {
  const payload = token.split(".")[1];
  if (!payload) {
    return 0;
  }
  try {
    const base64 = payload.replace(/-/g, "+").replace(/_/g, "/");
    const claims = JSON.parse(atob(base64.padEnd(base64.length + ((4 - (base64.length % 4)) % 4), "="))) as {
      exp?: unknown;
    };
    return typeof claims.exp === "number" ? claims.exp : 0;
  } catch {
    return 0;
  }
}
