// creds_client: the official Go client (nats.go, Debian's golang-github-nats-io-go-nats-dev)
// logs in with a .creds file made by the official JWT/nkeys libraries, then publishes,
// subscribes and makes a request on the server: what a user of nsc-made credentials does.
// Usage: creds_client URL CREDS SUBJECT  -> prints "ok" or the error, exit 0 / 1.
package main

import (
	"fmt"
	"os"
	"time"

	"github.com/nats-io/nats.go"
)

func main() {
	if len(os.Args) != 4 {
		fmt.Println("usage: creds_client URL CREDS SUBJECT")
		os.Exit(2)
	}
	url, creds, subj := os.Args[1], os.Args[2], os.Args[3]
	nc, err := nats.Connect(url, nats.UserCredentials(creds), nats.Timeout(5*time.Second),
		nats.MaxReconnects(0))
	if err != nil {
		fmt.Println("connect:", err)
		os.Exit(1)
	}
	defer nc.Close()
	sub, err := nc.SubscribeSync(subj)
	if err != nil {
		fmt.Println("subscribe:", err)
		os.Exit(1)
	}
	svc, err := nc.Subscribe(subj+".svc", func(m *nats.Msg) { m.Respond([]byte("pong")) })
	if err != nil {
		fmt.Println("subscribe:", err)
		os.Exit(1)
	}
	defer svc.Unsubscribe()
	if err := nc.Publish(subj, []byte("hello")); err != nil {
		fmt.Println("publish:", err)
		os.Exit(1)
	}
	m, err := sub.NextMsg(5 * time.Second)
	if err != nil || string(m.Data) != "hello" {
		fmt.Println("message:", err)
		os.Exit(1)
	}
	r, err := nc.Request(subj+".svc", []byte("ping"), 5*time.Second)
	if err != nil || string(r.Data) != "pong" {
		fmt.Println("request:", err)
		os.Exit(1)
	}
	fmt.Println("ok")
}
