// Operator-mode (JWT) material made by the official libraries, for test_operator.py:
// keys by @nats-io/nkeys, operator/account/user JWTs and .creds files by
// @nats-io/jwt, logins by nats.js (credsAuthenticator / jwtAuthenticator).
//
//   node jwt_tool.mjs serve        reads one JSON request per line on stdin, answers
//                                  one JSON line on stdout each ({"error": ...} on
//                                  failure); the python side keeps it running
//   node jwt_tool.mjs CMD 'JSON'   one request from the command line, e.g.
//                                  node jwt_tool.mjs keys '{"kind":"account"}'
//
// Requests ({"cmd": CMD, ...}):
//   keys     {kind: operator|account|user, n?}          -> {keys: [{seed, pub}]}
//   operator {seed, name?, signing_keys?: [pub], system_account?, exp?, signer?}
//                                                       -> {jwt}
//   account  {pub, signer (operator or operator signing key seed), name?, limits?,
//             exports?, imports?, signing_keys?: [pub | {key, role, template}],
//             revocations?: {userpub: unix-seconds}, default_permissions?, exp?, nbf?}
//                                                       -> {jwt}  (limits not given
//             are unlimited (-1): a missing limit decodes as 0, which the server reads
//             as "none allowed")
//   user     {pub, account (account seed), signer? (an account signing key seed:
//             issuer_account is then set), name?, pub_allow?, pub_deny?, sub_allow?,
//             sub_deny?, resp?, bearer_token?, exp?, nbf?, scoped? (no permissions
//             or limits at all: the scoped signing key's template applies)}
//                                                       -> {jwt}
//   creds    {jwt, seed, path}  writes the standard .creds file -> {path}
//   sign     {seed, nonce}      base64url signature of the nonce -> {sig}
//   decode   {jwt}              verified claims -> {claims}
//   connect  {url, creds? (path) | jwt + seed? (bearer: no seed), subject?}
//            nats.js login, then a publish/subscribe round trip on subject
//                                                       -> {ok: true} | {error}
import { connect, credsAuthenticator, jwtAuthenticator, StringCodec } from "nats";
import jwtlib from "@nats-io/jwt";
import * as nkeys from "@nats-io/nkeys";
import { readFileSync, writeFileSync } from "node:fs";
import { createInterface } from "node:readline";

const { encodeOperator, encodeAccount, encodeUser, decode, fmtCreds, newScopedSigner } = jwtlib;
const te = new TextEncoder();
const td = new TextDecoder();

function kp(seed) { return nkeys.fromSeed(te.encode(seed)); }

function dates(r) {
  const o = {};
  if (r.exp !== undefined) o.exp = r.exp;
  if (r.nbf !== undefined) o.nbf = r.nbf;
  return o;
}

const UNLIMITED = { subs: -1, data: -1, payload: -1, imports: -1, exports: -1,
                    wildcards: true, conn: -1, leaf: -1 };

const handlers = {
  keys(r) {
    const make = { operator: nkeys.createOperator, account: nkeys.createAccount,
                   user: nkeys.createUser }[r.kind];
    if (!make) throw new Error("unknown key kind " + r.kind);
    const keys = [];
    for (let i = 0; i < (r.n || 1); i++) {
      const k = make();
      keys.push({ seed: td.decode(k.getSeed()), pub: k.getPublicKey() });
    }
    return { keys };
  },

  async operator(r) {
    const o = {};
    if (r.signing_keys) o.signing_keys = r.signing_keys;
    if (r.system_account) o.system_account = r.system_account;
    const opts = dates(r);
    let who = kp(r.seed);
    if (r.signer) { opts.signer = kp(r.signer); who = who.getPublicKey(); }
    return { jwt: await encodeOperator(r.name || "OP", who, o, opts) };
  },

  async account(r) {
    const a = { limits: Object.assign({}, UNLIMITED, r.limits || {}) };
    for (const f of ["exports", "imports", "revocations", "default_permissions"]) {
      if (r[f]) a[f] = r[f];
    }
    if (r.signing_keys) {
      a.signing_keys = r.signing_keys.map((k) =>
        typeof k === "string" ? k : newScopedSigner(k.key, k.role || "scoped", k.template || {}));
    }
    const opts = Object.assign(dates(r), { signer: kp(r.signer) });
    return { jwt: await encodeAccount(r.name || "ACC", r.pub, a, opts) };
  },

  async user(r) {
    const u = {};
    const perm = (allow, deny) => {
      const p = {};
      if (allow) p.allow = allow;
      if (deny) p.deny = deny;
      return p;
    };
    if (r.pub_allow || r.pub_deny) u.pub = perm(r.pub_allow, r.pub_deny);
    if (r.sub_allow || r.sub_deny) u.sub = perm(r.sub_allow, r.sub_deny);
    if (r.resp) u.resp = r.resp;
    if (r.bearer_token) u.bearer_token = true;
    const opts = Object.assign(dates(r), { scopedUser: !!r.scoped });
    let issuer = kp(r.account);
    if (r.signer) { opts.signer = kp(r.signer); issuer = issuer.getPublicKey(); }
    return { jwt: await encodeUser(r.name || "U", r.pub, issuer, u, opts) };
  },

  creds(r) {
    writeFileSync(r.path, fmtCreds(r.jwt, kp(r.seed)));
    return { path: r.path };
  },

  sign(r) {
    const sig = kp(r.seed).sign(te.encode(r.nonce));
    return { sig: Buffer.from(sig).toString("base64url") };
  },

  decode(r) { return { claims: decode(r.jwt) }; },

  async connect(r) {
    const authenticator = r.creds
      ? credsAuthenticator(new Uint8Array(readFileSync(r.creds)))
      : jwtAuthenticator(r.jwt, r.seed ? te.encode(r.seed) : undefined);
    let nc;
    try {
      nc = await connect({ servers: r.url, timeout: 5000, reconnect: false, authenticator });
      const sc = StringCodec();
      const subject = r.subject || "jwt.test";
      const sub = nc.subscribe(subject, { max: 1 });
      nc.publish(subject, sc.encode("hello"));
      const got = (async () => {
        for await (const m of sub) {
          if (sc.decode(m.data) !== "hello") throw new Error("bad payload");
        }
      })();
      let timer;
      const timeout = new Promise((_, rej) => {
        timer = setTimeout(() => rej(new Error("no message within 5s")), 5000);
      });
      await Promise.race([got, timeout]);
      clearTimeout(timer);
      await nc.close();
      return { ok: true };
    } catch (e) {
      if (nc) nc.close().catch(() => {});
      return { error: String(e && e.message ? e.message : e) };
    }
  },
};

async function handle(r) {
  try {
    const h = handlers[r.cmd];
    if (!h) throw new Error("unknown command " + r.cmd);
    return await h(r);
  } catch (e) {
    return { error: String(e && e.message ? e.message : e) };
  }
}

const [mode, arg] = process.argv.slice(2);
if (mode === "serve") {
  const rl = createInterface({ input: process.stdin, terminal: false });
  for await (const line of rl) {
    if (!line.trim()) continue;
    let r;
    try { r = JSON.parse(line); } catch (e) { r = { cmd: "bad json: " + line }; }
    process.stdout.write(JSON.stringify(await handle(r)) + "\n");
  }
  process.exit(0);
} else if (mode) {
  const out = await handle(Object.assign({ cmd: mode }, arg ? JSON.parse(arg) : {}));
  console.log(JSON.stringify(out));
  process.exit(out.error ? 1 : 0);
} else {
  console.error("usage: node jwt_tool.mjs serve | CMD 'JSON'");
  process.exit(2);
}
