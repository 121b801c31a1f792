/* procstat.c: the process's resident memory and CPU use, as /varz and
 * /metrics report them (the reference's "mem" and "cpu"). The CPU figure is
 * the share of one core used since the previous sample (at most one sample
 * per 100 ms; the first is the average since start), rounded to one decimal
 * as the reference's /varz shows it. */
#include "core/server.h"
#include "monitor/monitor.h"

#include <pthread.h>

static struct {
    pthread_mutex_t lock;
    int64_t last_cpu_ns, last_sample_ns;
    double cpu;
} ps = {.lock = PTHREAD_MUTEX_INITIALIZER};

int64_t process_rss_bytes(void)
{
    return os_proc_rss_bytes();
}

double process_cpu_percent(void)
{
    int64_t cpu = os_proc_cpu_ns();
    int64_t now = now_mono_ns();
    pthread_mutex_lock(&ps.lock);
    if (ps.last_sample_ns == 0) {
        /* First sample: average since start. */
        int64_t el = now - srv->start_mono_ns;
        ps.cpu = el > 0 ? 100.0 * (double)cpu / (double)el : 0;
    } else if (now - ps.last_sample_ns > 100000000LL) {
        ps.cpu = 100.0 * (double)(cpu - ps.last_cpu_ns) / (double)(now - ps.last_sample_ns);
    }
    if (now - ps.last_sample_ns > 100000000LL) {
        ps.last_sample_ns = now;
        ps.last_cpu_ns = cpu;
    }
    double v = ps.cpu;
    pthread_mutex_unlock(&ps.lock);
    /* Go rounds to one decimal in varz */
    return (double)((int64_t)(v * 10 + 0.5)) / 10.0;
}
