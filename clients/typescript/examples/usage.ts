/**
 * Every route of the API through the typed client, as a frontend would call it. Type-checked (`npm run typecheck`);
 * examples/drive.ts runs the same calls against a live server in the interop tests.
 */
import {
  betterAuthToken,
  createTaskOnce,
  createTodoClient,
  etagOf,
  isProblem,
  isProblemOfType,
  newIdempotencyKey,
  type Problem,
  type Task,
  type TaskWrite,
} from "../src/index.js";

// In a browser, Better Auth's session cookie goes with `credentials: "include"`; the JWT it returns is cached.
const api = createTodoClient("http://127.0.0.1:8000", betterAuthToken("http://127.0.0.1:3000"));

/** A problem's one-line summary: "422 urn:todo-api:problem:validation-error (body.title: ...)". */
export function describeProblem(problem: Problem): string {
  const fields = (problem.errors ?? []).map((error) => `${error.field}: ${error.message}`).join("; ");
  return `${problem.status} ${problem.type}${fields ? ` (${fields})` : ""}`;
}

export async function example(userId: string): Promise<void> {
  // POST: 201, the task and its Location. `body` must be a TaskWrite: a missing or misspelt title does not compile,
  // and `satisfies TaskWrite` also refuses extra fields (`completed`, `id`), which the server would answer with 422.
  const created = await api.POST("/api/{user_id}/tasks", {
    params: { path: { user_id: userId } },
    body: { title: "Buy milk", description: "2 litres" } satisfies TaskWrite,
  });
  if (created.error) {
    // `error` is the Problem type of this route's 401/403/413/415/422/500/503 answers.
    throw new Error(describeProblem(created.error));
  }
  const task: Task = created.data;
  console.log("created", task.id, created.response.headers.get("Location"));
  const path = { user_id: userId, task_id: task.id };

  // GET the list: query parameters are typed (status, sort as enums; limit; cursor from the Link header).
  const pending = await api.GET("/api/{user_id}/tasks", {
    params: { path: { user_id: userId }, query: { status: "pending", sort: "-created_at", limit: 20 } },
  });
  if (pending.data) {
    console.log(pending.data.map((each) => each.title), "next page:", pending.response.headers.get("Link"));
  }

  // GET one task.
  const read = await api.GET("/api/{user_id}/tasks/{task_id}", { params: { path } });
  console.log("read", read.data?.title);

  // PUT replaces title and description (an omitted description becomes null).
  const replaced = await api.PUT("/api/{user_id}/tasks/{task_id}", {
    params: { path },
    body: { title: "Buy oat milk" },
  });
  console.log("replaced", replaced.data?.title, replaced.data?.description);

  // PATCH .../complete with no body toggles; with {completed} it sets (safe to retry).
  const toggled = await api.PATCH("/api/{user_id}/tasks/{task_id}/complete", { params: { path } });
  console.log("toggled", toggled.data?.completed);
  const set = await api.PATCH("/api/{user_id}/tasks/{task_id}/complete", {
    params: { path },
    body: { completed: false },
  });
  console.log("set", set.data?.completed, set.data?.completed_at);

  // DELETE: 204, no body.
  const deleted = await api.DELETE("/api/{user_id}/tasks/{task_id}", { params: { path } });
  console.log("deleted", deleted.response.status);

  // Errors are problem+json: a read after the delete is a 404 with type urn:todo-api:problem:not-found.
  const gone = await api.GET("/api/{user_id}/tasks/{task_id}", { params: { path } });
  if (gone.error && isProblem(gone.error) && gone.response.status === 404) {
    console.log("gone:", describeProblem(gone.error), "request id", gone.error.request_id);
  }
}

/** A task with the entity tag it was read at: the body carries no version, the `ETag` header does. */
interface Tagged {
  task: Task;
  etag: string;
}

function tagged(task: Task, response: Response): Tagged {
  const etag = etagOf(response);
  if (!etag) {
    // Every task answer carries one; a browser hides it cross-origin unless the API exposes it (CORS).
    throw new Error("no ETag on a task response: is it in Access-Control-Expose-Headers?");
  }
  return { task, etag };
}

/** Retried creates, edits that do not overwrite someone else's, and cheap re-reads. */
export async function concurrencyExample(userId: string): Promise<void> {
  // One key per intended create, made before the first attempt and kept for every retry: the server creates at most
  // one task per key and replays that 201 (same id, Location, body and ETag) to a retry with the same body.
  // createTaskOnce retries a network error, a 409 (the same key still in flight) and a 503 with that key.
  const key = newIdempotencyKey();
  const created = await createTaskOnce(api, userId, { title: "Buy bread" }, key, { retries: 3 });
  if (created.error) {
    // 422 idempotency-key-reused: this key was already used with another body; make a new key for a new task.
    throw new Error(describeProblem(created.error));
  }
  let current = tagged(created.data, created.response);
  const path = { user_id: userId, task_id: current.task.id };

  // A conditional PUT: If-Match is typed (`params.header`). On 412 someone changed the task since we read it and
  // nothing was written: re-read, rebuild the change on what is there now (their description is kept), and redo.
  const rename = (task: Task): TaskWrite => ({ title: "Buy rye bread", description: task.description ?? null });
  for (let attempt = 0; ; attempt++) {
    const put = await api.PUT("/api/{user_id}/tasks/{task_id}", {
      params: { path, header: { "If-Match": current.etag } },
      body: rename(current.task),
    });
    if (put.data) {
      current = tagged(put.data, put.response);
      break;
    }
    if (!isProblemOfType(put.error, "precondition-failed") || attempt >= 2) {
      throw new Error(describeProblem(put.error));
    }
    // The 412 carries the current ETag, but not the task: read it to decide what the change is now.
    const fresh = await api.GET("/api/{user_id}/tasks/{task_id}", { params: { path } });
    if (!fresh.data) {
      throw new Error(`re-read failed: ${fresh.response.status}`);
    }
    current = tagged(fresh.data, fresh.response);
  }

  // Revalidate a cached copy: If-None-Match with its tag answers 304 (no body) while it is current. openapi-fetch has
  // no 304 case (it is neither a success nor an error to it): it returns no data and no Problem (`error` is the empty
  // body, ""), so test the status first; `if (read.error) ... else read.data` would take undefined for a Task.
  const read = await api.GET("/api/{user_id}/tasks/{task_id}", {
    params: { path, header: { "If-None-Match": current.etag } },
  });
  if (read.response.status === 304) {
    console.log("still current at", current.etag);
  } else if (read.data) {
    current = tagged(read.data, read.response);
  }

  // DELETE only the version we last saw (412 if it changed meanwhile).
  const deleted = await api.DELETE("/api/{user_id}/tasks/{task_id}", {
    params: { path, header: { "If-Match": current.etag } },
  });
  if (isProblemOfType(deleted.error, "precondition-failed")) {
    console.log("changed meanwhile; now", etagOf(deleted.response));
  }
}
