// Follows one job from a page (or Node): the job's event stream over
// EventSource, and polling with If-None-Match when there is no stream to
// be had. Browser-safe: platform APIs only, nothing from Node.

const FINAL = new Set(["completed", "failed", "cancelled"]);

/**
 * Calls `onUpdate(record)` for each state of `jobId` and `onEnd(record)`
 * once it has ended; returns `{ close() }`. A token goes into the stream's
 * URL (`?access_token=`, as EventSource sends no headers): give pages a
 * read token only. Without EventSource, or when the stream cannot be
 * opened, it polls every `pollIntervalMs`.
 */
export function watchJob(api, jobId, { token, onUpdate = () => {}, onEnd = () => {}, onError = () => {},
  pollIntervalMs = 3000, EventSource: Source = globalThis.EventSource } = {}) {
  const base = `${String(api).replace(/\/$/, "")}/api/v1/jobs/${encodeURIComponent(jobId)}`;
  let closed = false;
  let source = null;
  let timer = null;
  let etag = null;
  let last = null;

  const take = (record) => {
    last = record;
    onUpdate(record);
    if (FINAL.has(record.status)) finish();
  };
  const finish = () => {
    if (closed) return;
    close();
    onEnd(last);
  };
  const close = () => {
    closed = true;
    source?.close();
    clearTimeout(timer);
  };

  const poll = async () => {
    if (closed) return;
    try {
      const headers = {};
      if (token) headers.Authorization = `Bearer ${token}`;
      if (etag) headers["If-None-Match"] = etag;
      const response = await fetch(`${base}/progress`, { headers });
      if (response.status === 200) {
        etag = response.headers.get("ETag");
        take((await response.json()).data);
      } else if (response.status !== 304) {
        onError(new Error(`GET ${base}/progress: ${response.status}`));
        if (response.status === 401 || response.status === 403 || response.status === 404) return close();
      }
    } catch (err) {
      onError(err);
    }
    if (!closed) timer = setTimeout(poll, pollIntervalMs);
  };

  if (typeof Source === "function") {
    let opened = false;
    source = new Source(token ? `${base}/events?access_token=${encodeURIComponent(token)}` : `${base}/events`);
    source.addEventListener("open", () => { opened = true; });
    source.addEventListener("progress", (event) => take(JSON.parse(event.data)));
    source.addEventListener("end", finish);
    source.addEventListener("error", () => {
      // An open stream that breaks reconnects by itself; one that never
      // opened (a 404, too many streams, a buffering proxy) will not.
      if (closed || (opened && source.readyState !== 2)) return;
      source.close();
      source = null;
      poll();
    });
  } else {
    poll();
  }
  return { close };
}
