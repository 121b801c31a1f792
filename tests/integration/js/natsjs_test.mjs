// nats.js against a server: connect, publish/subscribe, queue groups,
// request/reply, headers, flush, drain, unsubscribe (auto and explicit).
// Usage: node natsjs_test.mjs nats://127.0.0.1:PORT ; prints "N passed, N failed".
import { connect, StringCodec, headers } from "nats";

const url = process.argv[2];
const sc = StringCodec();
let passed = 0, failed = 0;
async function check(name, fn) {
  try {
    await fn();
    passed++;
    console.log(`ok   ${name}`);
  } catch (e) {
    failed++;
    console.log(`FAIL ${name}: ${e && e.message ? e.message : e}`);
  }
}
function assert(c, msg) { if (!c) throw new Error(msg); }

const nc = await connect({ servers: url, timeout: 5000 });

await check("pubsub", async () => {
  const sub = nc.subscribe("js.foo", { max: 3 });
  for (let i = 0; i < 3; i++) nc.publish("js.foo", sc.encode(`m${i}`));
  const got = [];
  for await (const m of sub) got.push(sc.decode(m.data));
  assert(got.join(",") === "m0,m1,m2", `got ${got}`);
});

await check("wildcards", async () => {
  const sub = nc.subscribe("js.*.x", { max: 1 });
  nc.publish("js.a.x", sc.encode("w"));
  for await (const m of sub) assert(m.subject === "js.a.x", m.subject);
});

await check("queue group", async () => {
  let na = 0, nb = 0;
  const a = nc.subscribe("js.q", { queue: "g", callback: () => { na++; } });
  const b = nc.subscribe("js.q", { queue: "g", callback: () => { nb++; } });
  await nc.flush();
  for (let i = 0; i < 100; i++) nc.publish("js.q");
  await nc.flush();
  await new Promise((r) => setTimeout(r, 300));
  assert(na + nb === 100, `total ${na + nb}`);
  assert(na > 0 && nb > 0, `spread ${na}/${nb}`);
  a.unsubscribe();
  b.unsubscribe();
});

await check("request/reply", async () => {
  const svc = nc.subscribe("js.svc");
  (async () => { for await (const m of svc) m.respond(sc.encode("pong:" + sc.decode(m.data))); })();
  const r = await nc.request("js.svc", sc.encode("ping"), { timeout: 2000 });
  assert(sc.decode(r.data) === "pong:ping", sc.decode(r.data));
  svc.unsubscribe();
});

await check("headers", async () => {
  const sub = nc.subscribe("js.h", { max: 1 });
  const h = headers();
  h.set("X-Test", "1");
  nc.publish("js.h", sc.encode("hb"), { headers: h });
  for await (const m of sub) assert(m.headers && m.headers.get("X-Test") === "1", "header lost");
});

await check("no responders", async () => {
  try {
    await nc.request("js.nobody", sc.encode("x"), { timeout: 2000 });
    throw new Error("expected no responders");
  } catch (e) {
    assert(String(e.code) === "503", `code ${e.code}`);
  }
});

await check("unsubscribe", async () => {
  let n = 0;
  const sub = nc.subscribe("js.u", { callback: () => { n++; } });
  nc.publish("js.u");
  await nc.flush();
  await new Promise((r) => setTimeout(r, 100));
  sub.unsubscribe();
  nc.publish("js.u");
  await nc.flush();
  await new Promise((r) => setTimeout(r, 100));
  assert(n === 1, `delivered ${n} (expected 1: none after unsubscribe)`);
});

await check("drain", async () => {
  const nc2 = await connect({ servers: url });
  const sub = nc2.subscribe("js.d");
  let n = 0;
  (async () => { for await (const m of sub) n++; })();
  await nc2.flush();
  for (let i = 0; i < 10; i++) nc.publish("js.d");
  await nc.flush();
  await new Promise((r) => setTimeout(r, 200));
  await nc2.drain();
  assert(n === 10, `drained ${n}`);
});

await nc.drain();
console.log(`${passed} passed, ${failed} failed`);
process.exit(failed ? 1 : 0);
