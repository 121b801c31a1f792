/* gb_proto.h: the raw NATS protocol client of gnatsd-bench.
 *
 * A deliberately small client: one TCP socket, one growable read buffer
 * with a MSG frame splitter that never copies payloads, and one write
 * buffer flushed with big writes. It is what keeps the tool cheaper than
 * the server it measures at 16-byte messages. */
#ifndef GB_PROTO_H
#define GB_PROTO_H

#include "gb.h"

#include <stddef.h>
#include <stdint.h>

/* A MSG frame header. Pointers are into the read buffer and valid only
 * during the callback; the payload itself is skipped, not delivered. */
typedef struct gb_msg {
    const char *subj;
    size_t subj_len;
    const char *reply;
    size_t reply_len;
    size_t size;
} gb_msg;

typedef void (*gb_msg_fn)(void *arg, const gb_msg *m);

typedef struct gb_conn {
    int fd;
    char *rbuf;
    size_t rcap, rpos, rlen; /* unparsed bytes are rbuf[rpos..rlen) */
    size_t skip;             /* payload + CRLF bytes still to discard */
    char *wbuf;
    size_t wcap, wlen;
    uint64_t pongs;
    uint64_t msgs;
    bool got_info;
    int err; /* -ERR seen or socket failure */
    char errmsg[160];
} gb_conn;

/* Buffers only; rcap is the initial read buffer size (it grows for long lines). */
int gb_conn_init(gb_conn *c, size_t rcap, size_t wcap);
void gb_conn_free(gb_conn *c);

/* Blocking connect + INFO + CONNECT + PING/PONG handshake. timeout_ms also
 * becomes the socket send timeout so a stuck server cannot hang a writer. */
int gb_conn_open(gb_conn *c, const gb_cfg *cfg, int timeout_ms);

/* Start a non-blocking TCP connect (conns mode); returns the fd or -1. */
int gb_tcp_start(const gb_cfg *cfg);

/* CONNECT line for cfg (credentials included) into out; returns length. */
size_t gb_connect_line(const gb_cfg *cfg, char *out, size_t cap);

/* Queue bytes / a formatted line in the write buffer (grows as needed). */
int gb_conn_append(gb_conn *c, const void *p, size_t n);
int gb_conn_appendf(gb_conn *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Write the whole write buffer (blocking socket). */
int gb_conn_flush(gb_conn *c);
int gb_write_all(int fd, const void *p, size_t n);

/* Wait up to timeout_ms for data, read once, split frames. Returns the
 * number of MSG frames seen (>= 0), or -1 on EOF/error/-ERR. PINGs are
 * answered automatically. */
int gb_conn_poll(gb_conn *c, int timeout_ms, gb_msg_fn fn, void *arg);

/* Read what is available (non-blocking fds in conns mode); same returns. */
int gb_conn_read(gb_conn *c, gb_msg_fn fn, void *arg);

/* Split the frames already in the read buffer. */
int gb_conn_parse(gb_conn *c, gb_msg_fn fn, void *arg);

/* PING and wait for the PONG: the server has processed all we sent. */
int gb_conn_ping(gb_conn *c, int timeout_ms, gb_msg_fn fn, void *arg);

/* decimal formatting without printf, for the hot paths */
size_t gb_utoa(char *out, uint64_t v);

#endif
