/* cache_cmd.c — the `evallua cache` command: stats and clear. */
#include "cache_cmd.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cache/cache.h"
#include "util/buf.h"

/* "12.3 KiB" style size. */
static void human_size(int64_t bytes, char *out, size_t outlen)
{
    static const char *const units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
    double v = (double)bytes;
    size_t u = 0;
    while (v >= 1024 && u + 1 < sizeof units / sizeof units[0]) {
        v /= 1024;
        u++;
    }
    if (u == 0) snprintf(out, outlen, "%lld B", (long long)bytes);
    else snprintf(out, outlen, "%.1f %s", v, units[u]);
}

static void print_model(void *ud, const char *kind, const char *model, int64_t rows)
{
    fprintf((FILE *)ud, "  %-40s %-20s %lld\n", model, kind, (long long)rows);
}

static int cmd_stats(cache *c, FILE *out, char *err, size_t errlen)
{
    int64_t rows = 0, bytes = 0;
    char size[32];
    if (cache_stats(c, &rows, &bytes, err, errlen) != 0) return -1;
    human_size(bytes, size, sizeof size);
    fprintf(out, "cache:     %s\nresponses: %lld\nsize:      %s (%lld bytes on disk)\n",
            cache_path(c), (long long)rows, size, (long long)bytes);
    if (rows == 0) return 0;
    fprintf(out, "by model:\n  %-40s %-20s %s\n", "model", "endpoint", "responses");
    return cache_each_model(c, print_model, out, err, errlen);
}

static int cmd_clear(cache *c, FILE *out, char *err, size_t errlen)
{
    int64_t removed = 0;
    if (cache_clear(c, &removed, err, errlen) != 0) return -1;
    fprintf(out, "removed %lld responses from %s\n", (long long)removed, cache_path(c));
    return 0;
}

int cache_cmd_run(const char *sub, const char *path, FILE *out, FILE *errout)
{
    if (!sub || (strcmp(sub, "stats") != 0 && strcmp(sub, "clear") != 0)) {
        fprintf(errout, "evallua cache: %s (usage: evallua cache stats|clear [--cache PATH])\n",
                sub ? "unknown subcommand" : "missing subcommand");
        return 2;
    }
    char *p = path ? xstrdup(path) : cache_default_path();
    if (!p) {
        fprintf(errout, "evallua cache: no cache location: set XDG_CACHE_HOME or HOME, or pass --cache PATH\n");
        return 2;
    }
    struct stat st;
    if (stat(p, &st) != 0) {
        fprintf(out, "cache:     %s\nresponses: 0 (no cache file yet)\n", p);
        free(p);
        return 0;
    }
    char err[1024];
    int rc = -1;
    cache *c = cache_open(p, err, sizeof err);
    if (c) rc = strcmp(sub, "stats") == 0 ? cmd_stats(c, out, err, sizeof err) : cmd_clear(c, out, err, sizeof err);
    if (rc != 0) fprintf(errout, "evallua cache: %s\n", err);
    cache_close(c);
    free(p);
    return rc == 0 ? 0 : 2;
}
