/* sandbox_probe.c — find the Python interpreter, then choose once per process the
 * strongest isolation this machine allows by running a small program under each candidate
 * configuration in turn (sandbox.h lists the protections). Also removes working
 * directories that killed evallua processes left behind. */
#define _GNU_SOURCE
#include "score/sandbox.h"
#include "score/sandbox_impl.h"
#include "util/buf.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

#define DEFAULT_UID_BASE 0x7FFF0000UL /* far above the ids distributions hand out */

static pthread_once_t probe_once = PTHREAD_ONCE_INIT;
static sandbox_env probe_env;
static sandbox_isolation probe_iso;
static char probe_err[768];
static int probe_ok;

static int is_dir(const char *p)
{
    struct stat st;
    return stat(p, &st) == 0 && S_ISDIR(st.st_mode);
}

/* Copy src into dst[n]; -1 (dst untouched) when it does not fit. */
static int copy_str(char *dst, size_t n, const char *src)
{
    size_t len = strlen(src);
    if (len >= n) return -1;
    memcpy(dst, src, len + 1);
    return 0;
}

/* path is dir or inside it. */
static int under(const char *path, const char *dir)
{
    size_t n = strlen(dir);
    return strncmp(path, dir, n) == 0 && (path[n] == '\0' || path[n] == '/');
}

/* An executable named `name` (a path, or looked up on $PATH) into out. */
static int find_program(const char *name, char *out, size_t n)
{
    struct stat st;
    if (strchr(name, '/')) {
        snprintf(out, n, "%s", name);
        return stat(out, &st) == 0 && S_ISREG(st.st_mode) && access(out, X_OK) == 0 ? 0 : -1;
    }
    const char *path = getenv("PATH");
    if (!path || !*path) path = "/usr/local/bin:/usr/bin:/bin";
    for (;;) {
        const char *colon = strchr(path, ':');
        int len = colon ? (int)(colon - path) : (int)strlen(path);
        snprintf(out, n, "%.*s/%s", len ? len : 1, len ? path : ".", name);
        if (stat(out, &st) == 0 && S_ISREG(st.st_mode) && access(out, X_OK) == 0) return 0;
        if (!colon) return -1;
        path = colon + 1;
    }
}

/* Split "a\nb\nc\n" into the three lines. */
static int three_lines(char *text, char lines[3][1024])
{
    char *save = NULL, *line = strtok_r(text, "\n", &save);
    for (int i = 0; i < 3; i++, line = strtok_r(NULL, "\n", &save)) {
        if (!line) return -1;
        if (copy_str(lines[i], 1024, line) != 0) return -1;
    }
    return 0;
}

/* sys.executable, sys.prefix and sys.base_prefix of the interpreter at path, which runs
 * with our environment (a pyenv shim needs it) and a fixed program, outside the sandbox. */
static int query_python(const char *path, char lines[3][1024], char *err, size_t n)
{
    int pfd[2];
    if (pipe2(pfd, O_CLOEXEC) != 0) return errf(err, n, "pipe: %s", strerror(errno));
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, pfd[1], 1);
    posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
    char *argv[] = {(char *)path, (char *)"-I", (char *)"-c",
                    (char *)"import sys; print(sys.executable); print(sys.prefix); "
                            "print(sys.base_prefix)",
                    NULL};
    pid_t pid;
    int rc = posix_spawn(&pid, path, &fa, NULL, argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    close(pfd[1]);
    if (rc != 0) {
        close(pfd[0]);
        return errf(err, n, "cannot run %s: %s", path, strerror(rc));
    }
    char text[4096];
    size_t len = 0;
    ssize_t r;
    while (len < sizeof text - 1 && ((r = read(pfd[0], text + len, sizeof text - 1 - len)) > 0 ||
                                     (r < 0 && errno == EINTR)))
        if (r > 0) len += (size_t)r;
    text[len] = '\0';
    close(pfd[0]);
    int st = 0;
    while (waitpid(pid, &st, 0) < 0 && errno == EINTR) {}
    if (!WIFEXITED(st) || WEXITSTATUS(st) != 0 || three_lines(text, lines) != 0)
        return errf(err, n, "%s could not report its sys.executable (exit status %d)", path,
                    WIFEXITED(st) ? WEXITSTATUS(st) : -1);
    return 0;
}

/* The interpreter: $EVALLUA_PYTHON or python3 on $PATH, resolved to sys.executable. */
static int find_python(sandbox_env *e, char lines[3][1024], char *err, size_t n)
{
    const char *name = getenv("EVALLUA_PYTHON");
    if (!name || !*name) name = "python3";
    char found[1024];
    if (find_program(name, found, sizeof found) != 0)
        return errf(err, n, "no Python interpreter: '%s' is not an executable on PATH "
                    "(install python3 or set EVALLUA_PYTHON)", name);
    if (query_python(found, lines, err, n) != 0) return -1;
    if (lines[0][0] != '/') copy_str(lines[0], 1024, found);
    if (copy_str(e->python, sizeof e->python, lines[0]) != 0)
        return errf(err, n, "the interpreter's path is too long: %.200s...", lines[0]);
    return 0;
}

static int is_system_dir(const char *p)
{
    static const char *const sys_dirs[] = {"/", "/usr", "/bin", "/sbin", "/lib", "/lib64", "/etc",
        "/var", "/opt", "/tmp", "/dev", "/proc", "/sys", "/run", "/srv", "/boot", "/mnt", "/media"};
    for (size_t i = 0; i < sizeof sys_dirs / sizeof sys_dirs[0]; i++)
        if (strcmp(p, sys_dirs[i]) == 0) return 1;
    return 0;
}

/* Add the real path of p to list (unless it is inside, or already is, an entry). */
static void add_path(char list[][1024], size_t *n, const char *p)
{
    char real[PATH_MAX];
    if (!p || !*p || !realpath(p, real) || !is_dir(real) || *n >= SANDBOX_MAX_PATHS) return;
    for (size_t i = 0; i < *n; i++)
        if (under(real, list[i])) return;
    if (copy_str(list[*n], 1024, real) == 0) (*n)++;
}

/* Home directories to hide, and the interpreter's directories inside them to bind back. */
static void plan_paths(sandbox_env *e, char lines[3][1024])
{
    const char *home = getenv("HOME");
    const char *cand[] = {"/root", "/home", home && !is_system_dir(home) ? home : NULL};
    for (size_t i = 0; i < 3; i++)
        if (cand[i] && !is_system_dir(cand[i])) add_path(e->hide, &e->n_hide, cand[i]);
    char exe_dir[1024];
    copy_str(exe_dir, sizeof exe_dir, lines[0]); /* lines[] are 1024 bytes too */
    char *slash = strrchr(exe_dir, '/');
    if (slash && slash != exe_dir) *slash = '\0';
    const char *mine[] = {lines[1], lines[2], exe_dir};
    for (size_t i = 0; i < 3; i++) {
        char real[PATH_MAX];
        if (!realpath(mine[i], real)) continue;
        for (size_t h = 0; h < e->n_hide; h++)
            if (under(real, e->hide[h]) && strcmp(real, e->hide[h]) != 0)
                add_path(e->expose, &e->n_expose, real);
    }
}

/* Working directories of evallua processes that no longer exist (killed mid-run). */
static void sweep_stale(const char *base)
{
    DIR *d = opendir(base);
    if (!d) return;
    struct dirent *ent;
    while ((ent = readdir(d)) != NULL) {
        long pid;
        if (sscanf(ent->d_name, "evallua-sandbox-%ld-", &pid) != 1 || pid == (long)getpid())
            continue;
        if (kill((pid_t)pid, 0) == 0 || errno != ESRCH) continue;
        char path[1400];
        snprintf(path, sizeof path, "%s/%s", base, ent->d_name);
        sandbox_rmtree(path);
    }
    closedir(d);
}

static void iso_words(unsigned iso, buf *b)
{
    static const struct { unsigned bit; const char *word; } w[] = {
        {ISO_NET, "network"}, {ISO_PID, "pid"}, {ISO_MNT, "mount"}, {ISO_RO, "read-only"},
        {ISO_UID, "own-uid"}, {ISO_USERNS, "user-ns"},
    };
    size_t start = b->len;
    for (size_t i = 0; i < sizeof w / sizeof w[0]; i++)
        if (iso & w[i].bit) buf_printf(b, "%s%s", b->len > start ? "+" : "", w[i].word);
    if (b->len == start) buf_puts(b, "no namespaces");
}

static void describe_summary(const sandbox_env *e, sandbox_isolation *s)
{
    buf b = {0};
    unsigned iso = e->iso;
    if (iso & ISO_NET) buf_puts(&b, "network namespace (no network); ");
    if (iso & ISO_PID) buf_puts(&b, "PID namespace (own /proc; its processes die with it); ");
    if (iso & ISO_MNT) {
        buf_puts(&b, "mount namespace (private /tmp holding the working directory; hidden:");
        for (size_t i = 0; i < e->n_hide; i++) buf_printf(&b, " %s", e->hide[i]);
        buf_puts(&b, iso & ISO_RO ? "; everything else read-only); " : "); ");
    }
    if (iso & ISO_UID)
        buf_printf(&b, "own unprivileged uid per program (%lu + slot); ", e->uid_base);
    if (iso & ISO_USERNS) buf_puts(&b, "user namespace; ");
    buf_puts(&b, "rlimits (CPU, address space, file size, open files");
    buf_puts(&b, iso & (ISO_UID | ISO_USERNS) ? ", processes" : "");
    buf_puts(&b, ", no core dumps); clean environment; stdin /dev/null; process group killed");
    snprintf(s->summary, sizeof s->summary, "%s", buf_str(&b));
    buf_free(&b);
}

static void describe_note(const sandbox_env *e, sandbox_isolation *s, const char *why)
{
    buf b = {0};
    unsigned iso = e->iso;
    int root = geteuid() == 0;
    if (!(iso & ISO_NET)) buf_puts(&b, "programs can reach the network; ");
    if (!(iso & ISO_PID)) buf_puts(&b, "programs see the host's processes; ");
    if (!(iso & ISO_MNT))
        buf_printf(&b, "programs see the host's /tmp and home directories "
                       "(working directories in %s); ", e->tmpbase);
    else if (!(iso & ISO_RO)) buf_puts(&b, "the file system outside /tmp is not read-only; ");
    if (root && !(iso & ISO_UID))
        buf_puts(&b, "programs run as root (the process limit does not bind; "
                     "they can write wherever root can); ");
    if (!root && !(iso & ISO_USERNS))
        buf_puts(&b, "programs run as you with no process limit "
                     "(they can read your files and signal your processes); ");
    if (b.len && why && *why) buf_printf(&b, "(the stronger setup failed: %s)", why);
    snprintf(s->note, sizeof s->note, "%s", buf_str(&b));
    buf_free(&b);
}

/* Run a small program under iso; 1 when it passed, else the reason in why. */
static int try_config(sandbox_env *e, unsigned iso, buf *why)
{
    static const char *const prog = "open('probe.txt', 'w').write('ok')\nimport tempfile\n"
                                    "tempfile.TemporaryFile().close()\n";
    sandbox_options o;
    sandbox_options_default(&o);
    o.workers = 1;
    o.guard = 0; /* the probe program removes a temporary file */
    e->iso = iso;
    sandbox_result r;
    sandbox_run_env(e, &prog, 1, &o, &r);
    int ok = r.status == SANDBOX_PASSED;
    if (!ok && why->len == 0) {
        iso_words(iso, why);
        buf_printf(why, ": %s", r.reason[0] ? r.reason : sandbox_status_name(r.status));
    }
    sandbox_result_free(&r);
    return ok;
}

/* Features turned off with EVALLUA_SANDBOX_DISABLE=net,pid,mount,readonly,uid,userns (for
 * containers where one misbehaves, and for testing the fallbacks). */
static unsigned disabled_features(void)
{
    static const struct { const char *name; unsigned bits; } f[] = {
        {"net", ISO_NET}, {"pid", ISO_PID}, {"mount", ISO_MNT | ISO_PID | ISO_RO},
        {"readonly", ISO_RO}, {"uid", ISO_UID}, {"userns", ISO_USERNS},
    };
    const char *v = getenv("EVALLUA_SANDBOX_DISABLE");
    unsigned off = 0;
    for (size_t i = 0; v && i < sizeof f / sizeof f[0]; i++) {
        size_t n = strlen(f[i].name);
        for (const char *p = strstr(v, f[i].name); p; p = strstr(p + 1, f[i].name))
            if ((p == v || p[-1] == ',') && (p[n] == ',' || p[n] == '\0')) off |= f[i].bits;
    }
    return off;
}

/* Candidate configurations, strongest first: the full set minus each of these. */
static const unsigned drops[] = {
    0, ISO_RO, ISO_PID, ISO_PID | ISO_RO, ISO_NET, ISO_NET | ISO_PID | ISO_RO,
    ISO_MNT | ISO_PID | ISO_RO, ISO_NET | ISO_MNT | ISO_PID | ISO_RO, ISO_UID, ISO_UID | ISO_RO,
    ISO_UID | ISO_MNT | ISO_PID | ISO_RO, ~0u,
};

/* full minus drop, made consistent: a PID namespace and a read-only root need the mount
 * namespace (for /proc and the private /tmp); as a user every namespace needs the user one. */
static unsigned config_after(unsigned full, unsigned drop)
{
    unsigned cfg = full & ~drop;
    if (!(cfg & ISO_MNT)) cfg &= ~(unsigned)(ISO_PID | ISO_RO);
    if (geteuid() != 0 && (!(cfg & ISO_USERNS) || cfg == ISO_USERNS)) cfg = 0;
    return cfg;
}

static void probe(void)
{
    sandbox_env *e = &probe_env;
    char lines[3][1024];
    if (find_python(e, lines, probe_err, sizeof probe_err) != 0) return;
    plan_paths(e, lines);
    const char *tmp = getenv("TMPDIR");
    if (!tmp || !is_dir(tmp) || strlen(tmp) > 512 ||
        copy_str(e->tmpbase, sizeof e->tmpbase, tmp) != 0)
        copy_str(e->tmpbase, sizeof e->tmpbase, "/tmp");
    sweep_stale(e->tmpbase);
    const char *base = getenv("EVALLUA_SANDBOX_UID_BASE");
    e->uid_base = base && *base ? strtoul(base, NULL, 0) : DEFAULT_UID_BASE;
    unsigned full = ISO_NET | ISO_PID | ISO_MNT | ISO_RO | (geteuid() == 0 ? ISO_UID : ISO_USERNS);
    unsigned off = disabled_features();
    buf why = {0};
    for (size_t i = 0; i < sizeof drops / sizeof drops[0] && !probe_ok; i++) {
        unsigned cfg = config_after(full & ~off, drops[i]), seen = 0;
        for (size_t k = 0; k < i; k++) seen |= config_after(full & ~off, drops[k]) == cfg;
        if (!seen) probe_ok = try_config(e, cfg, &why);
    }
    if (off && why.len == 0)
        buf_printf(&why, "EVALLUA_SANDBOX_DISABLE=%s", getenv("EVALLUA_SANDBOX_DISABLE"));
    if (!probe_ok) {
        errf(probe_err, sizeof probe_err, "cannot run Python programs with %s: %s", e->python,
             buf_str(&why));
    } else {
        sandbox_isolation *s = &probe_iso;
        s->network = !!(e->iso & ISO_NET);
        s->pid = !!(e->iso & ISO_PID);
        s->mount = !!(e->iso & ISO_MNT);
        s->readonly_root = !!(e->iso & ISO_RO);
        s->own_uid = !!(e->iso & ISO_UID);
        s->user_ns = !!(e->iso & ISO_USERNS);
        s->nproc_binds = !!(e->iso & (ISO_UID | ISO_USERNS));
        copy_str(s->python, sizeof s->python, e->python);
        describe_summary(e, s);
        describe_note(e, s, buf_str(&why));
    }
    buf_free(&why);
}

const sandbox_env *sandbox_env_get(char *err, size_t errlen)
{
    pthread_once(&probe_once, probe);
    if (!probe_ok) {
        errf(err, errlen, "%s", probe_err);
        return NULL;
    }
    return &probe_env;
}

const sandbox_isolation *sandbox_isolation_get(char *err, size_t errlen)
{
    return sandbox_env_get(err, errlen) ? &probe_iso : NULL;
}
