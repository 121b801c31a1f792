/* gofmt.h: text formatted byte for byte as the reference (Go) prints it, for log
 * lines, error texts and monitoring JSON that must match nats-server: strconv.Quote
 * (%q), time.Duration.String and the reference's uptime ("1d2h3m4s").
 *
 * Contract: pure (libc only), thread-safe. Every function writes into out[0..cap),
 * always NUL-terminates when cap > 0, and returns the length written (without NUL). */
#ifndef GNATSD_GOFMT_H
#define GNATSD_GOFMT_H

#include <stddef.h>
#include <stdint.h>

/* Go's %q (strconv.Quote) of n bytes into out (cap >= 3): quotes, backslash escapes,
 * \xNN for invalid UTF-8 and control bytes, \uNNNN for non-printable runes. Used for
 * peer-chosen text in log lines, so a newline cannot forge a line. Content that does
 * not fit is cut at a character boundary; the closing quote is always there. An
 * input of n bytes needs at most 4 * n + 3 bytes. */
size_t quote_go(char *out, size_t cap, const char *s, size_t n);
/* The same for a NUL-terminated s; a cap below 3 yields "". */
size_t quote_go_str(char *out, size_t cap, const char *s);

/* Go's time.Duration.String(): "0s", "1.5µs", "8.596858ms", "1m0s", "-2h3m4.5s".
 * GO_DURATION_MAX holds any int64. */
#define GO_DURATION_MAX 32
size_t go_duration(char *out, size_t cap, int64_t ns);

/* The reference's uptime form (myUptime): whole seconds as [Ny][Nd][Nh][Nm]Ns, the
 * leading zero units left out. GO_UPTIME_MAX holds any int64. */
#define GO_UPTIME_MAX 64
size_t go_uptime(char *out, size_t cap, int64_t ns);

#endif
