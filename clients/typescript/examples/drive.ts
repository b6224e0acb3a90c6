/// <reference types="node" />
/**
 * Drives every route of a live API through the typed client, with the token a real Better Auth issues for a signed-in
 * session, then keyed creates (createTaskOnce, including a simulated lost reply) and conditional requests (If-Match,
 * If-None-Match), and prints what it saw as one JSON object (tests/interop/test_typed_client.py asserts it).
 *
 * Environment: API_URL (our API's origin), AUTH_URL (Better Auth's), COOKIE (the session cookie of USER_ID, as a
 * Cookie header), USER_ID (that user's Better Auth id), OTHER_USER_ID (another user's id).
 * Node 20 cannot run TypeScript: compile it with tsc first.
 */
import {
  betterAuthToken,
  createTaskOnce,
  createTodoClient,
  etagOf,
  isProblem,
  newIdempotencyKey,
  PROBLEM_KINDS,
  PROBLEM_TYPE_PREFIX,
} from "../src/index.js";

function env(name: string): string {
  const value = process.env[name];
  if (!value) {
    throw new Error(`${name} is not set`);
  }
  return value;
}

const userId = env("USER_ID");
const otherUserId = env("OTHER_USER_ID");

let tokenCalls = 0;
const countingFetch: typeof fetch = (input, init) => {
  tokenCalls += 1;
  return fetch(input, init);
};
const getToken = betterAuthToken(env("AUTH_URL"), { fetch: countingFetch, headers: { cookie: env("COOKIE") } });
const api = createTodoClient(env("API_URL"), getToken);
const anonymous = createTodoClient(env("API_URL"), () => null);

/** What a test needs to know of an answer: its status, its content type and the parts of its headers we promise. */
function seen(response: Response) {
  return {
    status: response.status,
    contentType: response.headers.get("Content-Type"),
    location: response.headers.get("Location"),
    wwwAuthenticate: response.headers.get("WWW-Authenticate"),
    etag: etagOf(response) ?? null,
  };
}

function problem(error: unknown) {
  return isProblem(error) ? { type: error.type, status: error.status, errors: error.errors ?? null } : null;
}

const results: Record<string, unknown> = {};

const created = await api.POST("/api/{user_id}/tasks", {
  params: { path: { user_id: userId } },
  body: { title: "  Typed milk  ", description: "from the TypeScript client" },
});
if (!created.data) {
  throw new Error(`create failed: ${JSON.stringify(created.error)}`);
}
const task = created.data;
const path = { user_id: userId, task_id: task.id };
results["create"] = { ...seen(created.response), task };

const read = await api.GET("/api/{user_id}/tasks/{task_id}", { params: { path } });
results["read"] = { ...seen(read.response), task: read.data ?? null };

const pending = await api.GET("/api/{user_id}/tasks", {
  params: { path: { user_id: userId }, query: { status: "pending", sort: "-created_at", limit: 10 } },
});
const completedBefore = await api.GET("/api/{user_id}/tasks", {
  params: { path: { user_id: userId }, query: { status: "completed" } },
});
results["list"] = {
  ...seen(pending.response),
  pendingIds: (pending.data ?? []).map((each) => each.id),
  completedIds: (completedBefore.data ?? []).map((each) => each.id),
};

const replaced = await api.PUT("/api/{user_id}/tasks/{task_id}", {
  params: { path },
  body: { title: "Typed oat milk" },
});
results["replace"] = { ...seen(replaced.response), task: replaced.data ?? null };

const toggles: unknown[] = [];
for (let i = 0; i < 2; i++) {
  const toggled = await api.PATCH("/api/{user_id}/tasks/{task_id}/complete", { params: { path } });
  toggles.push({ ...seen(toggled.response), completed: toggled.data?.completed ?? null });
}
const sets: unknown[] = [];
for (let i = 0; i < 2; i++) {
  const set = await api.PATCH("/api/{user_id}/tasks/{task_id}/complete", {
    params: { path },
    body: { completed: true },
  });
  sets.push({ ...seen(set.response), completed: set.data?.completed ?? null, completedAt: set.data?.completed_at });
}
results["toggle"] = toggles;
results["set"] = sets;

const invalid = await api.POST("/api/{user_id}/tasks", { params: { path: { user_id: userId } }, body: { title: " " } });
results["invalid"] = { ...seen(invalid.response), problem: problem(invalid.error) };

const deleted = await api.DELETE("/api/{user_id}/tasks/{task_id}", { params: { path } });
results["delete"] = { ...seen(deleted.response), data: deleted.data ?? null };

const gone = await api.GET("/api/{user_id}/tasks/{task_id}", { params: { path } });
results["readAfterDelete"] = { ...seen(gone.response), problem: problem(gone.error) };

const foreign = await api.GET("/api/{user_id}/tasks", { params: { path: { user_id: otherUserId } } });
results["otherUsersPath"] = { ...seen(foreign.response), problem: problem(foreign.error) };

const noToken = await anonymous.GET("/api/{user_id}/tasks", { params: { path: { user_id: userId } } });
results["noToken"] = { ...seen(noToken.response), problem: problem(noToken.error) };

// Idempotent creates: the same key and body twice is one task; the same key with another body is refused.
const key = newIdempotencyKey();
const breadPath = (id: number) => ({ user_id: userId, task_id: id });
const keyed = await createTaskOnce(api, userId, { title: "Typed bread", description: "keyed" }, key);
const keyedAgain = await createTaskOnce(api, userId, { title: "Typed bread", description: "keyed" }, key);
const keyReused = await createTaskOnce(api, userId, { title: "Typed cake" }, key);
if (!keyed.data) {
  throw new Error(`keyed create failed: ${JSON.stringify(keyed.error)}`);
}
const bread = keyed.data;
const path2 = breadPath(bread.id);
results["keyedCreate"] = { ...seen(keyed.response), task: bread };
results["keyedCreateAgain"] = { ...seen(keyedAgain.response), task: keyedAgain.data ?? null };
results["keyReused"] = { ...seen(keyReused.response), problem: problem(keyReused.error) };

// A lost reply: the first attempt reaches the server but its answer is lost (fetch throws the network TypeError),
// the second is told the key is in flight (409, Retry-After: 0); createTaskOnce retries with the same key and gets the
// first attempt's 201 replayed.
const lossyKeys: (string | null)[] = [];
const lossy = createTodoClient(env("API_URL"), getToken, {
  fetch: async (request) => {
    lossyKeys.push(request.headers.get("Idempotency-Key"));
    if (lossyKeys.length === 2) {
      const body = { type: `${PROBLEM_TYPE_PREFIX}idempotency-key-in-flight`, title: "Conflict", status: 409 };
      const headers = { "Content-Type": "application/problem+json", "Retry-After": "0" };
      return new Response(JSON.stringify({ ...body, detail: "simulated", instance: "/" }), { status: 409, headers });
    }
    const response = await fetch(request);
    if (lossyKeys.length === 1) {
      await response.body?.cancel();
      throw new TypeError("fetch failed (simulated: the reply was lost)");
    }
    return response;
  },
});
const lostReply = await createTaskOnce(lossy, userId, { title: "Typed rolls" }, undefined, { baseDelayMs: 10 });
results["lostReply"] = {
  ...seen(lostReply.response),
  task: lostReply.data ?? null,
  keys: lossyKeys,
};
const everything = await api.GET("/api/{user_id}/tasks", {
  params: { path: { user_id: userId }, query: { status: "all", limit: 100 } },
});
results["titles"] = (everything.data ?? []).map((each) => each.title);

// Conditional requests: If-Match with the create's tag changes the task and gives a new tag; the old tag is refused.
const createdTag = etagOf(keyed.response) ?? "";
const ifMatch = await api.PUT("/api/{user_id}/tasks/{task_id}", {
  params: { path: path2, header: { "If-Match": createdTag } },
  body: { title: "Typed rye bread" },
});
results["ifMatch"] = { ...seen(ifMatch.response), task: ifMatch.data ?? null };
const stale = await api.PUT("/api/{user_id}/tasks/{task_id}", {
  params: { path: path2, header: { "If-Match": createdTag } },
  body: { title: "Typed stale bread" },
});
results["staleIfMatch"] = { ...seen(stale.response), problem: problem(stale.error) };
const afterStale = await api.GET("/api/{user_id}/tasks/{task_id}", { params: { path: path2 } });
results["afterStale"] = { ...seen(afterStale.response), task: afterStale.data ?? null };

// The key replayed after the change: still the create's 201 (its body and tag), not the task as it is now.
const replayAfterChange = await createTaskOnce(api, userId, { title: "Typed bread", description: "keyed" }, key);
results["replayAfterChange"] = { ...seen(replayAfterChange.response), task: replayAfterChange.data ?? null };

// Revalidation: the current tag gets 304 and no body (openapi-fetch: no data, and `error` the empty body, not a
// Problem); a stale tag gets the 200.
const currentTag = etagOf(ifMatch.response) ?? "";
const notModified = await api.GET("/api/{user_id}/tasks/{task_id}", {
  params: { path: path2, header: { "If-None-Match": currentTag } },
});
results["notModified"] = {
  ...seen(notModified.response),
  dataIsUndefined: notModified.data === undefined,
  error: notModified.error === undefined ? "<undefined>" : notModified.error,
};
const modified = await api.GET("/api/{user_id}/tasks/{task_id}", {
  params: { path: path2, header: { "If-None-Match": createdTag } },
});
results["modifiedSince"] = { ...seen(modified.response), task: modified.data ?? null };

// DELETE: a stale tag is refused, the current one deletes.
const staleDelete = await api.DELETE("/api/{user_id}/tasks/{task_id}", {
  params: { path: path2, header: { "If-Match": createdTag } },
});
results["staleDelete"] = { ...seen(staleDelete.response), problem: problem(staleDelete.error) };
const currentDelete = await api.DELETE("/api/{user_id}/tasks/{task_id}", {
  params: { path: path2, header: { "If-Match": currentTag } },
});
results["currentDelete"] = seen(currentDelete.response);

results["problemTypes"] = PROBLEM_KINDS.map((kind) => `${PROBLEM_TYPE_PREFIX}${kind}`);
results["tokenEndpointCalls"] = tokenCalls;
console.log(JSON.stringify(results));
