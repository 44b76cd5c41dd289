/* sandbox_child.c — the child side of the sandbox: clone into new namespaces, build the
 * private file-system view, drop privileges, set limits and exec the interpreter.
 *
 * Everything between clone and execve runs in a copy of a multi-threaded process, so it
 * makes only async-signal-safe calls: raw system calls, no malloc, no stdio, no locks.
 * Credentials change through syscall() directly, because glibc's setuid() would try to
 * signal the parent's other threads. A failing step is reported to the parent on the
 * status pipe as 'E', the step number and errno; the child then exits with 127.
 *
 * Processes: the cloned child sets up the namespaces and file system, then becomes the
 * sandbox's init (run_init), whose child execs the interpreter. The init outlives and reaps
 * everything the program starts, so nothing is left to the system's init, which in some
 * containers never reaps. */
#define _GNU_SOURCE
#include "score/sandbox_impl.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#ifndef AT_RECURSIVE
#define AT_RECURSIVE 0x8000
#endif
#define RO_ATTR_RDONLY 0x1 /* MOUNT_ATTR_RDONLY */

static int child_status_fd = -1;

/* Report the failed step and errno to the parent, then exit 127. */
static void __attribute__((noreturn)) child_fail(int step)
{
    int e = errno;
    char msg[2 + sizeof e];
    msg[0] = 'E';
    msg[1] = (char)step;
    memcpy(msg + 2, &e, sizeof e);
    ssize_t w = write(child_status_fd, msg, sizeof msg);
    (void)w;
    _exit(127);
}

static int write_all(int fd, const char *s, size_t n)
{
    while (n > 0) {
        ssize_t w = write(fd, s, n);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) return -1;
        s += w;
        n -= (size_t)w;
    }
    return 0;
}

static int write_file(const char *path, const char *text)
{
    int fd = open(path, O_WRONLY | O_CLOEXEC);
    if (fd < 0) return -1;
    int rc = write_all(fd, text, strlen(text));
    int e = errno;
    close(fd);
    errno = e;
    return rc;
}

/* mkdir -p, mode 0755 (paths are shorter than 4096: the parent checked). */
static int mkdir_p(const char *path)
{
    char b[4096];
    size_t n = strlen(path);
    if (n >= sizeof b) return errno = ENAMETOOLONG, -1;
    memcpy(b, path, n + 1);
    for (size_t i = 1; i <= n; i++) {
        if (b[i] != '/' && b[i] != '\0') continue;
        char c = b[i];
        b[i] = '\0';
        if (mkdir(b, 0755) != 0 && errno != EEXIST) return -1;
        b[i] = c;
    }
    return 0;
}

/* prefix followed by the decimal digits of v, NUL-terminated (no snprintf here). */
static void with_number(char *out, const char *prefix, unsigned long v)
{
    char digits[24];
    int n = 0;
    do digits[n++] = (char)('0' + v % 10); while ((v /= 10) > 0);
    size_t len = strlen(prefix);
    memcpy(out, prefix, len);
    for (int i = 0; i < n; i++) out[len + (size_t)i] = digits[n - 1 - i];
    out[len + (size_t)n] = '\0';
}

static int is_dir(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

/* Not root: map our own uid and gid into the new user namespace. */
static void setup_userns(const child_plan *p)
{
    if (write_file("/proc/self/setgroups", "deny") != 0 && errno != ENOENT) child_fail(STEP_USERNS);
    if (write_file("/proc/self/uid_map", p->uid_map) != 0) child_fail(STEP_USERNS);
    if (write_file("/proc/self/gid_map", p->gid_map) != 0) child_fail(STEP_USERNS);
}

/* Everything read-only, recursively (new mounts made afterwards stay writable). */
static void make_readonly(void)
{
#ifdef SYS_mount_setattr
    struct { uint64_t attr_set, attr_clr, propagation, userns_fd; } a = {RO_ATTR_RDONLY, 0, 0, 0};
    if (syscall(SYS_mount_setattr, AT_FDCWD, "/", AT_RECURSIVE, &a, sizeof a) != 0)
        child_fail(STEP_READONLY);
#else
    errno = ENOSYS;
    child_fail(STEP_READONLY);
#endif
}

/* Cover the hidden directories with empty tmpfs, then bind the interpreter's directories
 * back at their own paths (opened before they were covered). */
static void hide_and_expose(const child_plan *p)
{
    int fds[SANDBOX_MAX_PATHS];
    for (size_t i = 0; i < p->n_expose; i++) {
        fds[i] = open(p->expose[i], O_PATH | O_DIRECTORY | O_CLOEXEC);
        if (fds[i] < 0) child_fail(STEP_EXPOSE);
    }
    if (p->iso & ISO_RO) make_readonly();
    for (size_t i = 0; i < p->n_hide; i++)
        if (mount("tmpfs", p->hide[i], "tmpfs", MS_NOSUID | MS_NODEV, "size=64k,mode=755") != 0)
            child_fail(STEP_HIDE);
    for (size_t i = 0; i < p->n_expose; i++) {
        char src[48];
        with_number(src, "/proc/self/fd/", (unsigned long)fds[i]);
        if (mkdir_p(p->expose[i]) != 0) child_fail(STEP_EXPOSE);
        if (mount(src, p->expose[i], NULL, MS_BIND | MS_REC, NULL) != 0) child_fail(STEP_EXPOSE);
        close(fds[i]);
    }
}

/* The private /tmp (holding the working directory), /var/tmp, /dev/shm and /proc. */
static void private_mounts(const child_plan *p)
{
    if (mount("tmpfs", "/tmp", "tmpfs", MS_NOSUID | MS_NODEV, p->tmp_opts) != 0)
        child_fail(STEP_TMPFS);
    static const char *const small[] = {"/var/tmp", "/dev/shm"};
    for (size_t i = 0; i < 2; i++)
        if (is_dir(small[i]) &&
            mount("tmpfs", small[i], "tmpfs", MS_NOSUID | MS_NODEV, "size=16m,mode=1777") != 0)
            child_fail(STEP_TMPFS);
    if ((p->iso & ISO_PID) &&
        mount("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL) != 0)
        child_fail(STEP_PROC);
}

/* Create the working directory in the private /tmp, enter it and write prog.py. */
static void enter_private_workdir(const child_plan *p)
{
    if (mkdir(SANDBOX_WORKDIR, 0700) != 0) child_fail(STEP_WORKDIR);
    if ((p->iso & ISO_UID) && chown(SANDBOX_WORKDIR, p->uid, p->gid) != 0) child_fail(STEP_WORKDIR);
    if (chdir(SANDBOX_WORKDIR) != 0) child_fail(STEP_CHDIR);
    int fd = open("prog.py", O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    if (fd < 0 || write_all(fd, p->program, p->program_len) != 0) child_fail(STEP_PROGRAM);
    if ((p->iso & ISO_UID) && fchown(fd, p->uid, p->gid) != 0) child_fail(STEP_PROGRAM);
    close(fd);
}

static void setup_mounts(const child_plan *p)
{
    if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) != 0) child_fail(STEP_MOUNT_PRIVATE);
    hide_and_expose(p);
    private_mounts(p);
    enter_private_workdir(p);
}

/* Close every descriptor from `from` up. */
static void close_from(int from)
{
#ifdef SYS_close_range
    if (syscall(SYS_close_range, (unsigned)from, ~0U, 0) == 0) return;
#endif
    struct rlimit rl;
    long max = getrlimit(RLIMIT_NOFILE, &rl) == 0 ? (long)rl.rlim_cur : 1024;
    if (max > 65536 || max < 0) max = 65536;
    for (long fd = from; fd < max; fd++) close((int)fd);
}

/* stdin /dev/null, stdout, stderr, the status pipe as fd 3; nothing else stays open. */
static void setup_stdio(const child_plan *p)
{
    int null = open("/dev/null", O_RDONLY | O_CLOEXEC);
    if (null < 0) child_fail(STEP_STDIO);
    int src[4] = {fcntl(null, F_DUPFD, 10), fcntl(p->out_fd, F_DUPFD, 10),
                  fcntl(p->err_fd, F_DUPFD, 10), fcntl(p->st_fd, F_DUPFD, 10)};
    for (int i = 0; i < 4; i++)
        if (src[i] < 0) child_fail(STEP_STDIO);
    child_status_fd = src[3];
    for (int i = 0; i < 4; i++)
        if (dup2(src[i], i) < 0) child_fail(STEP_STDIO);
    child_status_fd = 3;
    close_from(4);
}

/* Default dispositions (an ignored signal would stay ignored across exec) and no mask. */
static void reset_signals(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = SIG_DFL;
    for (int s = 1; s < NSIG; s++)
        if (s != SIGKILL && s != SIGSTOP) sigaction(s, &sa, NULL);
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
}

static void set_limits(const child_plan *p)
{
    struct rlimit core = {0, 0};
    if (setrlimit(RLIMIT_CPU, &p->cpu) != 0 || setrlimit(RLIMIT_AS, &p->as) != 0 ||
        setrlimit(RLIMIT_FSIZE, &p->fsize) != 0 || setrlimit(RLIMIT_NPROC, &p->nproc) != 0 ||
        setrlimit(RLIMIT_NOFILE, &p->nofile) != 0 || setrlimit(RLIMIT_CORE, &core) != 0)
        child_fail(STEP_RLIMIT);
}

/* Root: become the slot's own unprivileged user, with no supplementary groups. */
static void drop_privileges(const child_plan *p)
{
    if (syscall(SYS_setgroups, 0, NULL) != 0 ||
        syscall(SYS_setresgid, p->gid, p->gid, p->gid) != 0 ||
        syscall(SYS_setresuid, p->uid, p->uid, p->uid) != 0)
        child_fail(STEP_CREDENTIALS);
}

/* --- the init: parent of the program, reaper of everything it leaves ----------------- */

static volatile sig_atomic_t init_stop;

static void init_on_term(int sig)
{
    (void)sig;
    init_stop = 1;
}

/* "1234 5678 " -> kill each pid with SIGKILL; returns how many were named. */
static int kill_listed(const char *s, ssize_t n)
{
    int count = 0;
    long pid = 0;
    for (ssize_t i = 0; i <= n; i++) {
        if (i < n && s[i] >= '0' && s[i] <= '9') {
            pid = pid * 10 + (s[i] - '0');
        } else if (pid > 0) {
            kill((pid_t)pid, SIGKILL);
            count++;
            pid = 0;
        }
    }
    return count;
}

/* Kill everything below the init. In a PID namespace that is every other process; else
 * the program's group and every child of ours (orphans come to us: we are a subreaper). */
static void init_kill_all(const child_plan *p, const char *children_path, pid_t program)
{
    if (p->iso & ISO_PID) {
        kill(-1, SIGKILL);
        return;
    }
    kill(-program, SIGKILL);
    int fd = open(children_path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return;
    char b[4096];
    ssize_t n;
    while ((n = read(fd, b, sizeof b - 1)) > 0) kill_listed(b, n);
    close(fd);
}

/* "/proc/self/task/<pid>/children" for this (single-threaded) process. */
static void children_path(char out[64])
{
    with_number(out, "/proc/self/task/", (unsigned long)getpid());
    memcpy(out + strlen(out), "/children", 10);
}

/* This process becomes the init of the sandbox: PID 1 of the new namespace, or a child
 * subreaper without one. It starts the program as its child and returns in the program's
 * process. The init reaps every descendant; when the program exits, or on SIGTERM (the
 * parent's timeout, or the parent's death), it kills them all, waits until none is left,
 * sends the program's wait status ('W' + status) on the status pipe and exits. */
static void run_init(const child_plan *p, pid_t parent)
{
    reset_signals(); /* nothing of evallua's handlers or mask */
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = init_on_term; /* no SA_RESTART: waitpid returns EINTR */
    sigaction(SIGTERM, &sa, NULL);
    /* if evallua dies, SIGTERM: the init still kills and reaps everything below it */
    if (prctl(PR_SET_PDEATHSIG, SIGTERM) != 0 || prctl(PR_SET_DUMPABLE, 0) != 0 ||
        (!(p->iso & ISO_PID) && prctl(PR_SET_CHILD_SUBREAPER, 1) != 0))
        child_fail(STEP_PRCTL);
    if (!(p->iso & ISO_PID) && getppid() != parent) _exit(127); /* the parent is already gone */
    long pid = syscall(SYS_clone, (unsigned long)SIGCHLD, 0L, 0L, 0L, 0L);
    if (pid < 0) child_fail(STEP_CLONE);
    if (pid == 0) return;
    close(p->out_fd);
    close(p->err_fd);
    char kids[64];
    children_path(kids);
    int st = 0, program_st = 0, program_done = 0;
    for (;;) {
        if (init_stop || program_done) init_kill_all(p, kids, (pid_t)pid);
        pid_t w = waitpid(-1, &st, 0);
        if (w == (pid_t)pid) {
            program_st = st;
            program_done = 1;
        } else if (w < 0 && errno == ECHILD) {
            break;
        }
    }
    char msg[1 + sizeof program_st];
    msg[0] = 'W';
    memcpy(msg + 1, &program_st, sizeof program_st);
    ssize_t wr = write(child_status_fd, msg, sizeof msg);
    (void)wr;
    _exit(0);
}

/* --- the child's life: setup, init, program ------------------------------------------- */

static void __attribute__((noreturn)) child_main(const child_plan *p, pid_t parent)
{
    child_status_fd = p->st_fd;
    setpgid(0, 0);
    if (p->iso & ISO_USERNS) setup_userns(p);
    if (p->iso & ISO_MNT) setup_mounts(p);
    else if (chdir(p->workdir) != 0) child_fail(STEP_CHDIR);
    run_init(p, parent);
    setpgid(0, 0); /* the program's own group, apart from the init's */
    setup_stdio(p);
    reset_signals();
    set_limits(p);
    if (p->iso & ISO_UID) drop_privileges(p);
    /* after the credential change, which would clear it: the parent is now the init */
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0 || prctl(PR_SET_PDEATHSIG, SIGKILL) != 0)
        child_fail(STEP_PRCTL);
    execve(p->python, p->argv, p->envp);
    child_fail(STEP_EXEC);
}

pid_t sandbox_child_spawn(const child_plan *p)
{
    unsigned long flags = SIGCHLD;
    if (p->iso & ISO_USERNS) flags |= CLONE_NEWUSER;
    if (p->iso & ISO_NET) flags |= CLONE_NEWNET;
    if (p->iso & ISO_PID) flags |= CLONE_NEWPID;
    if (p->iso & ISO_MNT) flags |= CLONE_NEWNS | CLONE_NEWIPC | CLONE_NEWUTS;
    pid_t parent = getpid();
    /* fork semantics (no new stack, no CLONE_VM); the argument order of the other four
       differs between architectures, but they are all zero */
    long pid = syscall(SYS_clone, flags, 0L, 0L, 0L, 0L);
    if (pid == 0) child_main(p, parent);
    return (pid_t)pid;
}

const char *sandbox_step_name(int step)
{
    static const char *const names[] = {
        "?", "user namespace uid/gid map", "private mount propagation", "read-only root",
        "hiding home directories", "exposing the interpreter", "private /tmp", "mount /proc",
        "working directory", "writing prog.py", "entering the working directory",
        "stdin/stdout/stderr", "setrlimit", "dropping privileges", "prctl", "starting the program",
        "execve",
    };
    if (step < 1 || step > STEP_EXEC) return names[0];
    return names[step];
}

/* --- removing a working directory (parent side, ordinary code) ---------------------- */

static void rm_entries(int dfd, int depth);

static void rm_entry(int dfd, const char *name, int depth)
{
    struct stat st;
    if (fstatat(dfd, name, &st, AT_SYMLINK_NOFOLLOW) != 0) return;
    if (!S_ISDIR(st.st_mode)) {
        unlinkat(dfd, name, 0);
        return;
    }
    if (depth < 128) {
        int sub = openat(dfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (sub < 0 && errno == EACCES && fchmodat(dfd, name, 0700, 0) == 0)
            sub = openat(dfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (sub >= 0) rm_entries(sub, depth + 1); /* closes sub */
    }
    unlinkat(dfd, name, AT_REMOVEDIR);
}

/* Remove everything inside the directory dfd (taken over and closed). */
static void rm_entries(int dfd, int depth)
{
    DIR *d = fdopendir(dfd);
    if (!d) {
        close(dfd);
        return;
    }
    for (int pass = 0; pass < 3; pass++) {
        int removed = 0;
        struct dirent *e;
        rewinddir(d);
        while ((e = readdir(d)) != NULL) {
            if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0) continue;
            rm_entry(dirfd(d), e->d_name, depth);
            removed = 1;
        }
        if (!removed) break;
    }
    closedir(d);
}

int sandbox_rmtree(const char *path)
{
    int dfd = open(path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (dfd >= 0) rm_entries(dfd, 0);
    if (rmdir(path) == 0 || errno == ENOENT) return 0;
    return -1;
}
