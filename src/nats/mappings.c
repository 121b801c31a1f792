/* mappings.c: per-account subject mappings (see mappings.h). */
#include "nats/mappings.h"
#include "base/qsbr.h"
#include "base/subject.h"
#include "base/subject_map.h"

#include <stdlib.h>
#include <string.h>

typedef struct dest {
    smap_t *map;
    int weight;
} dest_t;

typedef struct amap {
    char *src; /* the source pattern */
    dest_t *dests;
    int ndests;
} amap_t;

typedef struct acct_maps {
    size_t n;
    amap_t v[];
} acct_maps_t;

static void set_free(void *p)
{
    acct_maps_t *s = p;
    for (size_t i = 0; s && i < s->n; i++) {
        free(s->v[i].src);
        for (int k = 0; k < s->v[i].ndests; k++)
            smap_free(s->v[i].dests[k].map);
        free(s->v[i].dests);
    }
    free(s);
}

/* The destinations in force: those of our cluster if the mapping names it, else the
 * ones without a cluster (as the reference picks them). */
static void build_one(amap_t *am, const mapping_t *m, const char *cluster)
{
    bool ours = false;
    for (size_t k = 0; k < m->ndests && cluster; k++)
        ours = ours || (m->dests[k].cluster && strcmp(m->dests[k].cluster, cluster) == 0);
    am->dests = xcalloc(m->ndests ? m->ndests : 1, sizeof *am->dests);
    char err[256];
    am->src = xstrdup(m->src);
    for (size_t k = 0; k < m->ndests; k++) {
        const mapping_dest_t *d = &m->dests[k];
        bool use = ours ? (d->cluster && strcmp(d->cluster, cluster) == 0) : !d->cluster;
        if (!use) continue;
        smap_t *sm = smap_compile(m->src, d->subject, err, sizeof err);
        if (!sm) continue; /* refused at load */
        am->dests[am->ndests++] = (dest_t){sm, d->weight};
    }
}

static void apply_one(account_t *a, const mapping_t *ms, size_t n, const char *cluster)
{
    acct_maps_t *set = NULL;
    if (n) {
        set = xcalloc(1, sizeof *set + n * sizeof(amap_t));
        for (size_t i = 0; i < n; i++) {
            build_one(&set->v[set->n], &ms[i], cluster);
            set->n++;
        }
    }
    acct_maps_t *old = atomic_exchange(&a->maps, set);
    if (old) qsbr_retire(old, set_free);
}

void mappings_apply(const opts_t *o)
{
    const char *cl =
        o->cluster.port && o->cluster.name && *o->cluster.name ? o->cluster.name : NULL;
    apply_one(account_global(), o->mappings, o->nmappings, cl);
    for (size_t i = 0; i < o->naccounts; i++) {
        account_t *a = account_lookup(o->accounts[i].name, strlen(o->accounts[i].name));
        if (a) apply_one(a, o->accounts[i].mappings, o->accounts[i].nmappings, cl);
    }
}

static bool free_one(account_t *a, void *arg)
{
    (void)arg;
    set_free(atomic_exchange(&a->maps, NULL));
    return true;
}

void mappings_free_all(void)
{
    accounts_foreach(free_one, NULL);
}

bool mappings_map(account_t *a, worker_t *w, slice_t subj, char *out, size_t cap, slice_t *res)
{
    const acct_maps_t *set = atomic_load_explicit(&a->maps, memory_order_acquire);
    for (size_t i = 0; set && i < set->n; i++) {
        const amap_t *m = &set->v[i];
        if (!subject_is_subset(subj.p, subj.n, m->src, strlen(m->src))) continue;
        int pick = (int)(worker_rand(w) % 100), acc = 0;
        for (int k = 0; k < m->ndests; k++) {
            acc += m->dests[k].weight;
            if (pick >= acc) continue;
            size_t n = smap_apply(m->dests[k].map, subj.p, subj.n, out, cap);
            if (!n) return false;
            *res = (slice_t){out, n};
            return true;
        }
        return false; /* the rest of the weight: unchanged */
    }
    return false;
}
