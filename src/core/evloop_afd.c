/* evloop_afd.c: the event loop's mechanics on Windows (evloop.h is the contract,
 * evloop_ev_afd.h the backend's block): readiness polls, as epoll gives them on Linux.
 *
 * Why AFD polls: Windows' scalable primitive is the I/O completion port, which reports
 * completed I/O, not readiness; the core is readiness-driven (it reads into its own
 * buffers, writes until a socket would block). WSAPoll and select cost O(n) per call
 * and WSAPoll misses failed connects. The Ancillary Function Driver, under Winsock,
 * has a poll request (IOCTL_AFD_POLL, what WSAPoll is built on) that can be issued
 * asynchronously on a handle to \Device\Afd: each request watches one socket for a set
 * of events and completes once, as an ordinary I/O completion on the port that handle is
 * tied to. This is what wepoll (and mio, hence tokio) do; this file is written from
 * the documented shape of that interface, not from their code. Checked under wine 8.0
 * before it was chosen: accept, receive, send, disconnect, abort, connect-fail readiness,
 * cancellation (STATUS_CANCELLED) and PostQueuedCompletionStatus wake-ups all behave.
 *
 * One-shot polls and the contract:
 * - EVLOOP_STREAM is edge-triggered: a socket has a read poll (receive, the peer's
 *   end, reset, local close) and a write poll (send, reset), each issued only when its
 *   direction ran dry: the read poll at evloop_add, then on evloop_blocked(READ) (the
 *   owner read until "would block" or a short read) and evloop_rearm; the write poll on
 *   evloop_blocked(WRITE). A completion is reported once and not re-issued by itself, so
 *   an owner that stops reading on purpose (a paused producer) is not woken again and
 *   again, as with an epoll edge. A poll checks the state when issued: nothing that
 *   happened before it is lost.
 *   TLS: the transport reports "would block" without the direction OpenSSL wants, so a
 *   read arms the read poll and a write the write poll. A read that wants to write (or
 *   the reverse: renegotiation is off, so only a TLS 1.3 key update) waits for its own
 *   direction's next readiness or for the flusher's write poll, not for the other one.
 * - EVLOOP_ACCEPT is level-triggered: a listener's completion is reported, and the poll
 *   issued again at the loop's next evloop_wait, after the owner accepted what waited.
 * - EVLOOP_ACCEPT_SHARED: one poll for the listener, whichever loops hold it; its
 *   completion wakes exactly the loop it was issued on, and the next poll is issued on
 *   the next loop holding it (round-robin), at that loop's next wait.
 * - evloop_del cancels the socket's pending polls; its state stays allocated until each
 *   cancelled poll's completion has been taken (the kernel writes into it until then).
 *
 * State: sockets are found by descriptor in one table under one mutex (a stream's write
 * poll is armed by whichever worker flushes, a shared listener spans loops). Issuing a
 * poll holds the mutex, and so does taking its completion, so neither sees the other
 * half done. The cost per would-block is one lookup and, when the direction is not
 * already watched, one poll request. */
#ifdef _WIN32
#include "core/evloop.h"
#include "base/common.h"
#include "base/os.h"
#include "base/qsbr.h"

#include <mswsock.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <winternl.h>

/* The AFD poll request (its layout as Winsock's own headers-that-are-not-shipped have it,
 * and as wine implements it). */
#define IOCTL_AFD_POLL 0x00012024
#define AFD_POLL_RECEIVE 0x0001
#define AFD_POLL_SEND 0x0004
#define AFD_POLL_DISCONNECT 0x0008
#define AFD_POLL_ABORT 0x0010
#define AFD_POLL_LOCAL_CLOSE 0x0020
#define AFD_POLL_ACCEPT 0x0080
#define AFD_POLL_CONNECT_FAIL 0x0100
#ifndef STATUS_PENDING
#define STATUS_PENDING ((NTSTATUS)0x00000103L)
#endif
#ifndef STATUS_CANCELLED
#define STATUS_CANCELLED ((NTSTATUS)0xC0000120L)
#endif
#ifndef SIO_BASE_HANDLE
#define SIO_BASE_HANDLE _WSAIOR(IOC_WS2, 34)
#endif

/* ntdll exports it; mingw's winternl.h does not declare it. */
NTSYSAPI NTSTATUS NTAPI NtCancelIoFileEx(HANDLE file, PIO_STATUS_BLOCK req, PIO_STATUS_BLOCK iosb);

typedef struct {
    HANDLE handle;
    ULONG events;
    NTSTATUS status;
} afd_poll_handle_t;

typedef struct {
    LARGE_INTEGER timeout;
    ULONG nhandles;
    ULONG exclusive;
    afd_poll_handle_t h[1];
} afd_poll_t;

#define READ_EVENTS                                                                                \
    (AFD_POLL_RECEIVE | AFD_POLL_DISCONNECT | AFD_POLL_ABORT | AFD_POLL_LOCAL_CLOSE |              \
     AFD_POLL_CONNECT_FAIL)
#define WRITE_EVENTS (AFD_POLL_SEND | AFD_POLL_ABORT | AFD_POLL_LOCAL_CLOSE | AFD_POLL_CONNECT_FAIL)
#define ACCEPT_EVENTS (AFD_POLL_ACCEPT | AFD_POLL_LOCAL_CLOSE)

typedef struct evl_op {
    IO_STATUS_BLOCK iosb; /* a completion gives back its address (the request's context) */
    afd_poll_t poll;
    struct evl_sock *s;
    evloop_t *on; /* the loop whose AFD handle carries the request */
    bool pending;
} evl_op_t;

typedef struct evl_sock {
    struct evl_sock *next; /* table chain */
    int fd;
    HANDLE base; /* the provider's own socket handle: AFD polls take that one */
    void *tag;
    bool listener;
    bool deleted;     /* out of the table: freed once no poll is pending nor held */
    bool held;        /* listener: reported, its poll issued again at the holder's next wait */
    evloop_t *loop;   /* stream: its loop */
    evloop_t **loops; /* listener: the loops holding it */
    int nloops, cap_loops;
    unsigned rr;     /* listener: the next loop to carry its poll */
    evl_op_t rd, wr; /* read (or accept) and write polls */
} evl_sock_t;

#define TABLE_SIZE 4096
static pthread_mutex_t T_mu = PTHREAD_MUTEX_INITIALIZER;
static evl_sock_t *T[TABLE_SIZE];

static unsigned slot(int fd)
{
    return ((unsigned)fd >> 2) % TABLE_SIZE; /* socket handles are multiples of 4 */
}

static evl_sock_t *lookup(int fd)
{
    for (evl_sock_t *s = T[slot(fd)]; s; s = s->next)
        if (s->fd == fd) return s;
    return NULL;
}

static void unlink_sock(evl_sock_t *s)
{
    for (evl_sock_t **pp = &T[slot(s->fd)]; *pp; pp = &(*pp)->next)
        if (*pp == s) {
            *pp = s->next;
            return;
        }
}

static void free_if_done(evl_sock_t *s)
{
    if (s->deleted && !s->rd.pending && !s->wr.pending && !s->held) {
        free(s->loops);
        free(s);
    }
}

/* Issues op's poll for events on loop on. T_mu held. */
static void issue(evl_op_t *op, evloop_t *on, ULONG events)
{
    evl_sock_t *s = op->s;
    memset(&op->poll, 0, sizeof op->poll);
    op->poll.timeout.QuadPart = INT64_MAX;
    op->poll.nhandles = 1;
    op->poll.exclusive = FALSE;
    op->poll.h[0].handle = s->base;
    op->poll.h[0].events = events;
    op->iosb.Status = STATUS_PENDING;
    op->on = on;
    op->pending = true;
    on->npending++;
    NTSTATUS st = NtDeviceIoControlFile(on->afd, NULL, NULL, &op->iosb, &op->iosb, IOCTL_AFD_POLL,
                                        &op->poll, sizeof op->poll, &op->poll, sizeof op->poll);
    if (st != STATUS_PENDING && st != 0) {
        /* No completion will come: post one, so the loop reports the failure as a hang-up
         * (the owner's next call on the socket finds the error). */
        op->iosb.Status = st;
        PostQueuedCompletionStatus(on->iocp, 0, 0, (OVERLAPPED *)&op->iosb);
    }
}

static void cancel(evl_op_t *op)
{
    if (!op->pending) return;
    IO_STATUS_BLOCK cio;
    NtCancelIoFileEx(op->on->afd, &op->iosb, &cio); /* the completion still comes */
}

static bool holds(const evl_sock_t *s, const evloop_t *l)
{
    for (int i = 0; i < s->nloops; i++)
        if (s->loops[i] == l) return true;
    return false;
}

/* A listener's next poll, on the next loop holding it. T_mu held. */
static void listener_issue(evl_sock_t *s)
{
    if (s->deleted || s->held || s->rd.pending || s->nloops == 0) return;
    evloop_t *on = s->loops[s->rr++ % (unsigned)s->nloops];
    issue(&s->rd, on, ACCEPT_EVENTS);
}

int evloop_init(evloop_t *l)
{
    memset(l, 0, sizeof *l);
    l->iocp = CreateIoCompletionPort(INVALID_HANDLE_VALUE, NULL, 0, 0);
    if (!l->iocp) {
        errno = ENOMEM;
        return -1;
    }
    /* Any name under \Device\Afd opens the driver; the suffix only names us in handle
     * listings. */
    static WCHAR name[] = L"\\Device\\Afd\\GnatsdC";
    UNICODE_STRING us = {sizeof name - sizeof(WCHAR), sizeof name, name};
    OBJECT_ATTRIBUTES oa;
    InitializeObjectAttributes(&oa, &us, 0, NULL, NULL);
    IO_STATUS_BLOCK iosb;
    HANDLE afd = NULL;
    NTSTATUS st = NtCreateFile(&afd, SYNCHRONIZE, &oa, &iosb, NULL, 0,
                               FILE_SHARE_READ | FILE_SHARE_WRITE, FILE_OPEN, 0, NULL, 0);
    if (st != 0 || !CreateIoCompletionPort(afd, l->iocp, 0, 0)) {
        if (st == 0) CloseHandle(afd);
        CloseHandle(l->iocp);
        l->iocp = NULL;
        errno = EIO;
        return -1;
    }
    /* Completions go to the port only; nobody waits on the handle itself. */
    SetFileCompletionNotificationModes(afd, FILE_SKIP_SET_EVENT_ON_HANDLE);
    l->afd = afd;
    return 0;
}

/* Takes one completion (T_mu held); fills *ev and returns true if it is to be reported. */
static bool take(evloop_t *l, evl_op_t *op, evloop_event_t *ev)
{
    evl_sock_t *s = op->s;
    op->pending = false;
    op->on->npending--;
    NTSTATUS st = op->iosb.Status;
    if (s->deleted) {
        free_if_done(s);
        return false;
    }
    if (s->listener) {
        if (st == STATUS_CANCELLED || !holds(s, l)) {
            /* This loop let it go (evloop_del) while its poll was out: another one takes it. */
            listener_issue(s);
            return false;
        }
        if (st == 0 && (op->poll.nhandles == 0 || !op->poll.h[0].events)) {
            listener_issue(s);
            return false;
        }
        s->held = true;
        if (l->nheld == l->cap_held) {
            l->cap_held = l->cap_held ? l->cap_held * 2 : 8;
            l->held = xrealloc(l->held, (size_t)l->cap_held * sizeof *l->held);
        }
        l->held[l->nheld++] = s;
        *ev = (evloop_event_t){s->tag, EVLOOP_READ};
        return true;
    }
    uint32_t what = 0;
    if (st != 0) {
        what = EVLOOP_READ | EVLOOP_WRITE | EVLOOP_HUP;
    } else if (op->poll.nhandles == 0) {
        return false; /* nothing happened (cannot with an infinite timeout): stays quiet */
    } else {
        ULONG e = op->poll.h[0].events;
        if (e & AFD_POLL_RECEIVE) what |= EVLOOP_READ;
        if (e & AFD_POLL_SEND) what |= EVLOOP_WRITE;
        if (e & AFD_POLL_DISCONNECT) what |= EVLOOP_READ | EVLOOP_HUP;
        if (e & (AFD_POLL_ABORT | AFD_POLL_CONNECT_FAIL | AFD_POLL_LOCAL_CLOSE))
            what |= EVLOOP_READ | EVLOOP_WRITE | EVLOOP_HUP;
    }
    if (!what) return false;
    *ev = (evloop_event_t){s->tag, what};
    return true;
}

void evloop_free(evloop_t *l)
{
    if (!l->iocp) return;
    pthread_mutex_lock(&T_mu);
    /* Whatever still refers to this loop lets go of it. */
    for (int i = 0; i < TABLE_SIZE; i++)
        for (evl_sock_t **pp = &T[i]; *pp;) {
            evl_sock_t *s = *pp;
            if (s->listener) {
                for (int k = 0; k < s->nloops; k++)
                    if (s->loops[k] == l) s->loops[k--] = s->loops[--s->nloops];
                if (s->rd.pending && s->rd.on == l) cancel(&s->rd);
                if (s->nloops == 0) {
                    *pp = s->next;
                    s->deleted = true;
                    cancel(&s->rd);
                    free_if_done(s);
                    continue;
                }
            } else if (s->loop == l) {
                *pp = s->next;
                s->deleted = true;
                cancel(&s->rd);
                cancel(&s->wr);
                free_if_done(s);
                continue;
            }
            pp = &s->next;
        }
    for (int i = 0; i < l->nheld; i++) {
        l->held[i]->held = false;
        free_if_done(l->held[i]);
    }
    l->nheld = 0;
    /* Each request issued here completes (cancelled) before the memory it writes to may go. */
    int64_t until = now_mono_ns() + 2000000000LL;
    while (l->npending > 0 && now_mono_ns() < until) {
        OVERLAPPED_ENTRY e[64];
        ULONG n = 0;
        pthread_mutex_unlock(&T_mu);
        BOOL ok = GetQueuedCompletionStatusEx(l->iocp, e, 64, &n, 100, FALSE);
        pthread_mutex_lock(&T_mu);
        if (!ok) continue;
        for (ULONG i = 0; i < n; i++) {
            if (!e[i].lpOverlapped) continue;
            evloop_event_t ev;
            take(l, (evl_op_t *)(void *)e[i].lpOverlapped, &ev);
        }
    }
    pthread_mutex_unlock(&T_mu);
    free(l->held);
    CloseHandle(l->afd);
    CloseHandle(l->iocp);
    memset(l, 0, sizeof *l);
}

static HANDLE base_handle(int fd)
{
    SOCKET b = INVALID_SOCKET;
    DWORD n = 0;
    if (WSAIoctl((SOCKET)(unsigned)fd, SIO_BASE_HANDLE, NULL, 0, &b, sizeof b, &n, NULL, NULL) !=
            0 ||
        b == INVALID_SOCKET)
        b = (SOCKET)(unsigned)fd;
    return (HANDLE)b;
}

void evloop_add(evloop_t *l, int fd, void *tag, enum evloop_mode mode)
{
    HANDLE base = base_handle(fd);
    pthread_mutex_lock(&T_mu);
    evl_sock_t *s = lookup(fd);
    bool listener = mode != EVLOOP_STREAM;
    if (s && (!listener || !s->listener)) {
        /* A descriptor number that was not deleted before reuse: the old state goes. */
        unlink_sock(s);
        s->deleted = true;
        cancel(&s->rd);
        cancel(&s->wr);
        free_if_done(s);
        s = NULL;
    }
    if (!s) {
        s = xcalloc(1, sizeof *s);
        s->fd = fd;
        s->base = base;
        s->listener = listener;
        s->rd.s = s->wr.s = s;
        s->next = T[slot(fd)];
        T[slot(fd)] = s;
    }
    s->tag = tag;
    if (!listener) {
        s->loop = l;
        issue(&s->rd, l, READ_EVENTS);
    } else {
        if (!holds(s, l)) {
            if (s->nloops == s->cap_loops) {
                s->cap_loops = s->cap_loops ? s->cap_loops * 2 : 4;
                s->loops = xrealloc(s->loops, (size_t)s->cap_loops * sizeof *s->loops);
            }
            s->loops[s->nloops++] = l;
        }
        listener_issue(s);
    }
    pthread_mutex_unlock(&T_mu);
}

void evloop_del(evloop_t *l, int fd)
{
    pthread_mutex_lock(&T_mu);
    evl_sock_t *s = lookup(fd);
    if (s && s->listener) {
        for (int k = 0; k < s->nloops; k++)
            if (s->loops[k] == l) s->loops[k--] = s->loops[--s->nloops];
        if (s->nloops == 0) {
            unlink_sock(s);
            s->deleted = true;
            cancel(&s->rd);
            free_if_done(s);
        } else if (s->rd.pending && s->rd.on == l) {
            cancel(&s->rd); /* its completion here hands the poll to another loop */
        }
    } else if (s) {
        unlink_sock(s);
        s->deleted = true;
        cancel(&s->rd);
        cancel(&s->wr);
        free_if_done(s);
    }
    pthread_mutex_unlock(&T_mu);
}

void evloop_blocked(evloop_t *l, int fd, uint32_t what)
{
    (void)l; /* the socket's own loop: a writer may be another worker */
    pthread_mutex_lock(&T_mu);
    evl_sock_t *s = lookup(fd);
    if (s && !s->listener) {
        if ((what & EVLOOP_READ) && !s->rd.pending) issue(&s->rd, s->loop, READ_EVENTS);
        if ((what & EVLOOP_WRITE) && !s->wr.pending) issue(&s->wr, s->loop, WRITE_EVENTS);
    }
    pthread_mutex_unlock(&T_mu);
}

void evloop_rearm(evloop_t *l, int fd, void *tag)
{
    (void)tag;
    evloop_blocked(l, fd, EVLOOP_READ);
}

void evloop_wake(evloop_t *l)
{
    /* One packet at a time, as an eventfd's counter: a burst of wake-ups is one event. */
    if (!atomic_exchange(&l->wake_posted, 1)) PostQueuedCompletionStatus(l->iocp, 0, 0, NULL);
}

void evloop_woken(evloop_t *l)
{
    atomic_store(&l->wake_posted, 0);
}

#define MAX_ENTRIES 256

int evloop_wait(evloop_t *l, evloop_event_t *evs, int max, int max_ms)
{
    if (l->nheld) {
        /* Level-triggered listeners: their owners accepted since; watch them again. */
        pthread_mutex_lock(&T_mu);
        for (int i = 0; i < l->nheld; i++) {
            evl_sock_t *s = l->held[i];
            s->held = false;
            if (s->deleted)
                free_if_done(s);
            else
                listener_issue(s);
        }
        l->nheld = 0;
        pthread_mutex_unlock(&T_mu);
    }
    int timeout = evloop_timeout_ms(l, max_ms);
    OVERLAPPED_ENTRY e[MAX_ENTRIES];
    if (max > MAX_ENTRIES) max = MAX_ENTRIES;
    ULONG n = 0;
    qsbr_offline();
    BOOL ok = GetQueuedCompletionStatusEx(l->iocp, e, (ULONG)max, &n,
                                          timeout < 0 ? INFINITE : (DWORD)timeout, FALSE);
    qsbr_online();
    if (!ok) return 0; /* WAIT_TIMEOUT */
    int out = 0;
    bool locked = false;
    for (ULONG i = 0; i < n; i++) {
        if (!e[i].lpOverlapped) {
            evs[out++] = (evloop_event_t){NULL, EVLOOP_READ};
            continue;
        }
        if (!locked) {
            pthread_mutex_lock(&T_mu);
            locked = true;
        }
        if (take(l, (evl_op_t *)(void *)e[i].lpOverlapped, &evs[out])) out++;
    }
    if (locked) pthread_mutex_unlock(&T_mu);
    return out;
}
#endif
