// The prelude of every run (docs/functions.md): evaluated in a FRESH QuickJS context before the user's
// source. It defines args, secrets, console, fetch, setTimeout/clearTimeout, removes what a function must
// not reach, and hands the host driver its entry points on globalThis.__nsl, which the host reads and
// deletes before the user's code runs (so user code can neither call nor replace them).
// Host functions are never installed in the context (quickjs-ng refuses Python callables under a time
// limit, and they would be host objects within reach): fetch and timers are queues the host drains.
(function () {
  "use strict";
  const G = globalThis;
  const jsonStringify = JSON.stringify;
  const jsonParse = JSON.parse;
  const freeze = Object.freeze;
  const defineProperty = Object.defineProperty;
  const PromiseCtor = Promise;
  const StringCtor = String;
  const ErrorCtor = Error;
  let cfg = null;
  let outcome = null;
  let logs = [];
  let logBytes = 0;
  let logsTruncated = false;
  let fetchesMade = 0;
  let nextId = 1;
  const pendingFetches = [];   // [id, request] queued for the host
  const waitingFetches = new Map();  // id -> [resolve, reject]
  const timers = new Map();    // id -> [due_ms, callback, args]
  let clock = 0;               // virtual ms since start, advanced by the host as timers fire

  function deepFreeze(value) {
    if (value !== null && typeof value === "object") {
      for (const key of Object.keys(value)) deepFreeze(value[key]);
      freeze(value);
    }
    return value;
  }

  function show(value) {
    if (typeof value === "string") return value;
    try {
      const text = jsonStringify(value);
      if (text !== undefined) return text;
    } catch (e) { /* cyclic or BigInt: fall back to String */ }
    try { return StringCtor(value); } catch (e) { return "[unprintable]"; }
  }

  function log(level) {
    return function (...items) {
      if (logsTruncated) return;
      const line = level + ": " + items.map(show).join(" ") + "\n";
      // UTF-16 length is a bound close enough to bytes for a budget (the host checks bytes again).
      if (logBytes + line.length > cfg.maxLogBytes) {
        logsTruncated = true;
        return;
      }
      logBytes += line.length;
      logs.push(line);
    };
  }

  class Response {
    constructor(r) {
      this.status = r.status;
      this.ok = r.status >= 200 && r.status < 300;
      this.headers = freeze(Object.assign({}, r.headers));
      this.url = r.url;
      const body = r.body;
      this.text = async () => body;
      this.json = async () => jsonParse(body);
      freeze(this);
    }
  }

  function fetch(url, init) {
    init = init || {};
    if (fetchesMade >= cfg.maxFetches) {
      return PromiseCtor.reject(new ErrorCtor("fetch limit reached: at most " + cfg.maxFetches + " calls"));
    }
    fetchesMade += 1;
    const request = {
      url: StringCtor(url),
      method: StringCtor(init.method || "GET").toUpperCase(),
      headers: Object.assign({}, init.headers || {}),
      body: init.body === undefined || init.body === null ? "" : StringCtor(init.body),
    };
    for (const key of Object.keys(request.headers)) request.headers[key] = StringCtor(request.headers[key]);
    const id = nextId++;
    pendingFetches.push([id, request]);
    return new PromiseCtor((resolve, reject) => waitingFetches.set(id, [resolve, reject]));
  }

  function setTimeout(callback, ms, ...rest) {
    if (typeof callback !== "function") throw new TypeError("setTimeout needs a function");
    if (timers.size >= cfg.maxTimers) throw new RangeError("too many timers: at most " + cfg.maxTimers);
    const delay = Math.max(0, Math.min(Number(ms) || 0, cfg.timeoutMs));
    const id = nextId++;
    timers.set(id, [clock + delay, callback, rest]);
    return id;
  }

  function clearTimeout(id) { timers.delete(id); }

  function errorOf(e) {
    if (e instanceof ErrorCtor) {
      return { name: StringCtor(e.name), message: StringCtor(e.message), stack: StringCtor(e.stack || "") };
    }
    if (!["undefined", "object", "boolean", "number", "bigint", "string", "symbol", "function"].includes(typeof e)) {
      // No value of the language: what QuickJS throws when out of memory while building its own error.
      return { name: "InternalError", message: "out of memory", stack: "" };
    }
    let text;
    try { text = StringCtor(e); } catch (inner) { text = "[a value whose conversion to text failed]"; }
    return { name: "Error", message: "uncaught " + typeof e + ": " + text, stack: "" };
  }

  function settle(kind, value) {
    if (outcome !== null) return;
    if (kind === "error") {
      outcome = { status: "failed", error: errorOf(value) };
      return;
    }
    let text;
    try {
      text = jsonStringify(value === undefined ? null : value);
    } catch (e) {
      const why = errorOf(e);
      outcome = { status: "failed", error: { name: why.name, message: "the result is not JSON: " + why.message, stack: "" } };
      return;
    }
    if (text === undefined) text = "null";  // a function or symbol result
    if (text.length > cfg.maxOutputBytes) {
      outcome = { status: "output_too_large", size: text.length };
      return;
    }
    outcome = { status: "succeeded", result: text };
  }

  const driver = {
    setup(configJson) {
      const c = jsonParse(configJson);
      cfg = c;
      const args = deepFreeze(c.args);
      const secrets = deepFreeze(c.secrets);
      const console = freeze({ log: log("log"), info: log("info"), debug: log("debug"), warn: log("warn"), error: log("error") });
      for (const [name, value] of [["args", args], ["secrets", secrets], ["console", console], ["fetch", fetch],
                                   ["setTimeout", setTimeout], ["clearTimeout", clearTimeout]]) {
        defineProperty(G, name, { value, writable: false, configurable: false, enumerable: false });
      }
    },
    start(fn) {
      let promise;
      try { promise = fn(); } catch (e) { settle("error", e); return; }
      promise.then((v) => settle("value", v), (e) => settle("error", e));
    },
    outcome() {
      if (outcome === null) return null;
      const o = Object.assign({ logs: logs.join(""), logsTruncated, fetches: fetchesMade }, outcome);
      return jsonStringify(o);
    },
    takeFetches() {
      if (pendingFetches.length === 0) return null;
      const out = jsonStringify(pendingFetches);
      pendingFetches.length = 0;
      return out;
    },
    resolveFetch(id, answerJson) {
      const waiting = waitingFetches.get(id);
      if (waiting === undefined) return;
      waitingFetches.delete(id);
      const answer = jsonParse(answerJson);
      if (answer.error) {
        const err = new ErrorCtor(answer.error.message);
        err.code = answer.error.code;
        waiting[1](err);
      } else {
        waiting[0](new Response(answer.response));
      }
    },
    nextTimer() {
      let due = -1;
      for (const t of timers.values()) if (due < 0 || t[0] < due) due = t[0];
      return due < 0 ? -1 : due - clock;
    },
    fireTimer() {
      let best = null;
      for (const [id, t] of timers) if (best === null || t[0] < timers.get(best)[0]) best = id;
      if (best === null) return;
      const [due, callback, rest] = timers.get(best);
      timers.delete(best);
      clock = Math.max(clock, due);
      callback(...rest);
    },
  };

  // What a function must not reach (issue 16): no WebAssembly, no shared memory, no blocking waits.
  for (const name of ["WebAssembly", "SharedArrayBuffer", "require", "process", "Deno", "Bun", "std", "os"]) {
    delete G[name];
  }
  if (typeof Atomics === "object") {
    delete Atomics.wait;
    delete Atomics.waitAsync;
  }
  G.__nsl = driver;
})();
