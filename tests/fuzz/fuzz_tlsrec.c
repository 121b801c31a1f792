/* fuzz_tlsrec.c: libFuzzer harness for core/tlsrec.c's reading side, what a TLS 1.3
 * peer's records open to once the handshake is done.
 *
 * Input: a control byte, then either (bit 0 set) the bytes a peer sends, as they are, or
 * a script of records sealed with the peer's key so that they open and the inner
 * parsing is reached (content types, padding, handshake messages, alerts): per record
 * [type][flags][len], then the content (len < 128 bytes, else (len - 128) * 136); type & 3 != 0 is
 * application data, else type >> 2 is the inner type (0 taken as 20); flags & 0x7f zero bytes of
 * padding; flags & 0x80 flips one bit of the sealed record. The stream goes over a socketpair in
 * pieces and is read by tlsrec_recv with a room the control byte picks.
 *
 * Checks: what comes out is a prefix of the application data sealed, in order, and all
 * of it when every record was intact application data; raw bytes never give more
 * plaintext than their own length. */
#include "core/tlsrec.h"

#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static const uint8_t S1[32] = {1, 2, 3}, S2[32] = {4, 5, 6};
static const size_t ROOMS[] = {1, 3, 64, 4096, 16389, 70000};

static char stream[1 << 20], want[1 << 20], got[(1 << 20) + 70000];

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1) return 0;
    uint8_t ctl = data[0];
    data++, size--;
    static const uint16_t suites[] = {0x1301, 0x1302, 0x1303, 0x1301};
    uint16_t suite = suites[(ctl >> 1) & 3];
    size_t hl = suite == 0x1302 ? 48 : 32;
    uint8_t a[48] = {0}, b[48] = {0};
    memcpy(a, S1, sizeof S1);
    memcpy(b, S2, sizeof S2);
    tlsrec_t *peer = tlsrec_from_secrets(suite, false, a, b, hl); /* writes with b */
    tlsrec_t *ours = tlsrec_from_secrets(suite, true, b, a, hl);  /* reads with b */
    if (!peer || !ours) abort();
    size_t slen = 0, wlen = 0;
    bool clean = true;
    if (ctl & 1) {
        memcpy(stream, data, size);
        slen = size;
        clean = false;
    } else {
        size_t i = 0;
        while (i + 3 <= size && slen + 20000 < sizeof stream) {
            uint8_t type = data[i], flags = data[i + 1];
            /* 0-127 bytes, or in steps of 136 up to ~17 KB: past a record's limit */
            size_t len = data[i + 2] < 128 ? data[i + 2] : (data[i + 2] - 128u) * 136u;
            i += 3;
            char content[127 * 136];
            for (size_t k = 0; k < len; k++)
                content[k] = i + k < size ? (char)data[i + k] : (char)k;
            i += len < size - i ? len : size - i;
            /* (no inner type 0: a zero byte there is padding, by definition) */
            uint8_t inner = type & 3 ? 23 : type >> 2 ? type >> 2 : 20;
            size_t n = tlsrec_seal_record(peer, inner, content, len, flags & 0x7f, stream + slen);
            if (!n) continue;
            if (flags & 0x80) {
                stream[slen + (type * 131u + len) % n] ^= (char)(1 << (flags & 7));
                clean = false;
            }
            /* past the limit (content, or with its type and padding 2^14 + 1): refused;
             * empty: more than 32 in a row end it */
            if (inner != 23 || len > 16384 || len == 0 || len + 1 + (flags & 0x7f) > 16385)
                clean = false;
            if (inner == 23 && wlen + len < sizeof want) {
                memcpy(want + wlen, content, len);
                wlen += len;
            }
            slen += n;
        }
    }
    int fd[2];
    if (socketpair(AF_UNIX, SOCK_STREAM, 0, fd) != 0) abort();
    fcntl(fd[1], F_SETFL, O_NONBLOCK);
    size_t room = ROOMS[(ctl >> 3) % 6], piece = (size_t)(ctl >> 6) * 4000 + 1;
    size_t off = 0, glen = 0;
    ssize_t m = -1;
    while (off < slen && m != 0 && m != -2) {
        size_t k = slen - off < piece ? slen - off : piece;
        if (write(fd[0], stream + off, k) != (ssize_t)k) abort();
        off += k;
        do {
            bool dr;
            m = tlsrec_recv(ours, fd[1], got + glen, room, &dr);
            if (m > 0) glen += (size_t)m;
        } while (m > 0);
    }
    if (ctl & 1) {
        if (glen > slen) abort();
    } else {
        if (glen > wlen || memcmp(got, want, glen) != 0) abort();
        if (clean && glen != wlen) abort();
    }
    close(fd[0]);
    close(fd[1]);
    tlsrec_free(peer);
    tlsrec_free(ours);
    return 0;
}
