// nkey users with the official JavaScript libraries: nkeys.js (the key pair, a
// dependency of nats.js) and nats.js's nkeyAuthenticator (signs the server's nonce).
//   node nkeys_test.mjs keygen          -> prints "<seed> <public key>" of a new user
//   node nkeys_test.mjs connect URL SEED [SUBJECT]
//                                      -> connects with the seed, publishes and receives
//                                         one message; prints "ok" or the error
import { connect, nkeyAuthenticator, StringCodec } from "nats";
import { createUser } from "nkeys.js";

const [mode, url, seed, subject] = process.argv.slice(2);
if (mode === "keygen") {
  const kp = createUser();
  console.log(new TextDecoder().decode(kp.getSeed()) + " " + kp.getPublicKey());
} else {
  try {
    const nc = await connect({
      servers: url, timeout: 5000, reconnect: false,
      authenticator: nkeyAuthenticator(new TextEncoder().encode(seed)),
    });
    const sc = StringCodec();
    const sub = nc.subscribe(subject || "nk.test", { max: 1 });
    nc.publish(subject || "nk.test", sc.encode("hello"));
    for await (const m of sub) {
      if (sc.decode(m.data) !== "hello") throw new Error("bad payload");
    }
    await nc.close();
    console.log("ok");
  } catch (e) {
    console.log("error: " + (e && e.message ? e.message : e));
  }
}
