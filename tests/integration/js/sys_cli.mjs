// What `nats server list` and `nats server report connections` (the NATS CLI) read from
// the system account, done with nats.js: the CLI's requests, its wait for the servers'
// answers, and the rows it would print (one JSON document on stdout).
// Usage: node sys_cli.mjs URL USER PASS list|connections SERVERS
//   list:        $SYS.REQ.SERVER.PING (statsz) -> a row per server, sorted by name, and
//                the CLI's totals (connections, subscriptions)
//   connections: $SYS.REQ.SERVER.PING.CONNZ {"auth":true,"sort":"msgs_from",...} -> a
//                row per connection (the CLI's columns), most messages in first
// It waits until SERVERS servers answered (the CLI's --expect), at most 5 s.
import { connect, Empty, StringCodec } from "nats";

const [url, user, pass, what, want] = process.argv.slice(2);
const sc = StringCodec();
const nc = await connect({ servers: url, user, pass, timeout: 5000 });

async function gather(subject, body) {
  const inbox = nc.options.inboxPrefix ? `${nc.options.inboxPrefix}.x` : `_INBOX.cli${Date.now()}`;
  const sub = nc.subscribe(inbox);
  const got = [];
  const done = (async () => {
    for await (const m of sub) {
      got.push(JSON.parse(sc.decode(m.data)));
      if (got.length >= Number(want)) break;
    }
  })();
  nc.publish(subject, body ? sc.encode(JSON.stringify(body)) : Empty, { reply: inbox });
  let timer;
  await Promise.race([done, new Promise((r) => { timer = setTimeout(r, 5000); })]);
  clearTimeout(timer);
  sub.unsubscribe();
  return got;
}

let out;
if (what === "list") {
  const rs = await gather("$SYS.REQ.SERVER.PING");
  const rows = rs.map((r) => ({
    name: r.server.name,
    cluster: r.server.cluster || "",
    host: r.server.host,
    version: r.server.ver,
    js: r.server.jetstream,
    conns: r.statsz.connections,
    subs: r.statsz.subscriptions,
    routes: (r.statsz.routes || []).length,
    gateways: (r.statsz.gateways || []).length,
    slow: r.statsz.slow_consumers,
    active_servers: r.statsz.active_servers,
  })).sort((a, b) => a.name.localeCompare(b.name));
  out = {
    rows,
    servers: rows.length,
    conns: rows.reduce((n, r) => n + r.conns, 0),
    subs: rows.reduce((n, r) => n + r.subs, 0),
  };
} else {
  const rs = await gather("$SYS.REQ.SERVER.PING.CONNZ",
                          { auth: true, sort: "msgs_from", limit: 1024, offset: 0 });
  const rows = [];
  for (const r of rs) {
    if (r.error) rows.push({ server: r.server.name, error: r.error });
    for (const c of (r.data && r.data.connections) || []) {
      rows.push({
        name: c.name || "",
        server: r.server.name,
        cluster: r.server.cluster || "",
        account: c.account || "",
        user: c.authorized_user || "",
        kind: c.kind,
        in_msgs: c.in_msgs,
        out_msgs: c.out_msgs,
        in_bytes: c.in_bytes,
        out_bytes: c.out_bytes,
        subs: c.subscriptions,
      });
    }
  }
  rows.sort((a, b) => b.in_msgs - a.in_msgs || a.name.localeCompare(b.name));
  out = { rows, servers: rs.length };
}
console.log(JSON.stringify(out));
await nc.close();
