/* durations.c: durations written the way the reference's monitoring shows
 * them: /varz's uptime ("1d2h3m4s") and Go's time.Duration.String ("338µs",
 * "8.596858ms", "1m0s") for RTTs and log lines. */
#include "monitor/monitor.h"

void format_uptime(buf_t *b, int64_t ns)
{
    int64_t s = ns / 1000000000LL;
    int64_t y = s / (365 * 86400);
    s -= y * 365 * 86400;
    int64_t d = s / 86400;
    s -= d * 86400;
    int64_t h = s / 3600;
    s -= h * 3600;
    int64_t m = s / 60;
    s -= m * 60;
    if (y)
        buf_printf(b, "%lldy%lldd%lldh%lldm%llds", (long long)y, (long long)d, (long long)h,
                   (long long)m, (long long)s);
    else if (d)
        buf_printf(b, "%lldd%lldh%lldm%llds", (long long)d, (long long)h, (long long)m,
                   (long long)s);
    else if (h)
        buf_printf(b, "%lldh%lldm%llds", (long long)h, (long long)m, (long long)s);
    else if (m)
        buf_printf(b, "%lldm%llds", (long long)m, (long long)s);
    else
        buf_printf(b, "%llds", (long long)s);
}

/* Go's fmtFrac: the fraction of v below 10^prec, trailing zeros dropped. */
static void put_frac(buf_t *b, uint64_t frac, int prec)
{
    char d[16];
    int n = 0;
    bool print = false;
    for (int i = 0; i < prec; i++) {
        int digit = (int)(frac % 10);
        print = print || digit != 0;
        if (print) d[n++] = (char)('0' + digit);
        frac /= 10;
    }
    if (!print) return;
    buf_putc(b, '.');
    while (n > 0)
        buf_putc(b, d[--n]);
}

void format_duration(buf_t *b, int64_t ns)
{
    uint64_t u = ns < 0 ? (uint64_t)(-ns) : (uint64_t)ns;
    if (ns < 0) buf_putc(b, '-');
    if (u == 0) {
        buf_puts(b, "0s");
    } else if (u < 1000) {
        buf_printf(b, "%lluns", (unsigned long long)u);
    } else if (u < 1000000) {
        buf_printf(b, "%llu", (unsigned long long)(u / 1000));
        put_frac(b, u % 1000, 3);
        buf_puts(b, "\xc2\xb5s");
    } else if (u < 1000000000) {
        buf_printf(b, "%llu", (unsigned long long)(u / 1000000));
        put_frac(b, u % 1000000, 6);
        buf_puts(b, "ms");
    } else {
        uint64_t s = u / 1000000000ULL, m = s / 60, h = m / 60;
        if (h) buf_printf(b, "%lluh", (unsigned long long)h);
        if (m) buf_printf(b, "%llum", (unsigned long long)(m % 60));
        buf_printf(b, "%llu", (unsigned long long)(s % 60));
        put_frac(b, u % 1000000000ULL, 9);
        buf_putc(b, 's');
    }
}
