/* faults.c — which fault, if any, a POST request gets: the periodic options (--fail-first,
 * --fail-every, --garbage-every, --reset-every, --stall-every, --truncate-every) and the
 * random mix of --faults, drawn by hashing the request number with --fault-seed. */
#include "fake_openai.h"

#include <stdlib.h>
#include <string.h>

#include "util/buf.h"

static int every(long k, long n)
{
    return k > 0 && n % k == 0;
}

/* splitmix64: a well-mixed 64-bit hash of x. */
static uint64_t mix64(uint64_t x)
{
    x += 0x9E3779B97F4A7C15ULL;
    x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ULL;
    x = (x ^ (x >> 27)) * 0x94D049BB133111EBULL;
    return x ^ (x >> 31);
}

/* The --faults draw for request n: 0..99. */
static long fault_draw(const fo_fault_mix *m, long n)
{
    return (long)(mix64((uint64_t)n ^ mix64((uint64_t)m->seed)) % 100u);
}

static fo_fault random_fault(const fo_fault_mix *m, long n, unsigned *status)
{
    long d = fault_draw(m, n), at = 0;
    if (d < (at += m->p500)) {
        *status = 500;
        return FO_FAULT_STATUS;
    }
    if (d < (at += m->p429)) {
        *status = 429;
        return FO_FAULT_STATUS;
    }
    if (d < (at += m->reset)) return FO_FAULT_RESET;
    if (d < (at += m->truncate)) return FO_FAULT_TRUNCATE;
    if (d < (at += m->stall)) return FO_FAULT_STALL;
    return FO_FAULT_NONE;
}

fo_fault fo_fault_for(const fo_server *srv, long n, unsigned *status)
{
    *status = (unsigned)srv->fail_status;
    if (n <= srv->fail_first || every(srv->fail_every, n)) return FO_FAULT_STATUS;
    if (every(srv->garbage_every, n)) return FO_FAULT_GARBAGE;
    if (every(srv->reset_every, n)) return FO_FAULT_RESET;
    if (every(srv->stall_every, n)) return FO_FAULT_STALL;
    fo_fault f = random_fault(&srv->faults, n, status);
    if (f != FO_FAULT_NONE) return f;
    if (every(srv->truncate_every, n)) return FO_FAULT_TRUNCATE;
    return FO_FAULT_NONE;
}

/* One "NAME:PERCENT" item of --faults. */
static int fault_item(fo_fault_mix *m, const char *item, char *err, size_t errlen)
{
    const char *colon = strchr(item, ':');
    char *end;
    long pct = colon ? strtol(colon + 1, &end, 10) : -1;
    if (!colon || colon == item || !colon[1] || *end || pct < 0 || pct > 100)
        return errf(err, errlen, "--faults: '%s' is not NAME:PERCENT", item);
    size_t k = (size_t)(colon - item);
    struct { const char *name; long *slot; } names[] = {
        {"500", &m->p500}, {"429", &m->p429}, {"reset", &m->reset},
        {"truncate", &m->truncate}, {"stall", &m->stall},
    };
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        if (strlen(names[i].name) == k && strncmp(item, names[i].name, k) == 0) {
            *names[i].slot = pct;
            return 0;
        }
    }
    return errf(err, errlen, "--faults: unknown fault '%.*s' (500, 429, reset, truncate, stall)",
                (int)k, item);
}

int fo_faults_parse(fo_fault_mix *mix, const char *spec, char *err, size_t errlen)
{
    char *copy = xstrdup(spec), *save = NULL;
    int rc = 0;
    for (char *it = strtok_r(copy, ",", &save); it && !rc; it = strtok_r(NULL, ",", &save))
        rc = fault_item(mix, it, err, errlen);
    free(copy);
    if (!rc && mix->p500 + mix->p429 + mix->reset + mix->truncate + mix->stall > 100)
        rc = errf(err, errlen, "--faults: the percentages add up to more than 100");
    return rc;
}

int fo_quirks_parse(fo_quirks *q, const char *spec, char *err, size_t errlen)
{
    char *copy = xstrdup(spec), *save = NULL;
    int rc = 0;
    for (char *it = strtok_r(copy, ",", &save); it && !rc; it = strtok_r(NULL, ",", &save)) {
        if (strcmp(it, "logprobs-bool") == 0) q->logprobs_bool = 1;
        else if (strcmp(it, "no-echo-logprobs") == 0) q->no_echo_logprobs = 1;
        else rc = errf(err, errlen, "--quirks: unknown quirk '%s' (logprobs-bool, no-echo-logprobs)", it);
    }
    free(copy);
    return rc;
}
