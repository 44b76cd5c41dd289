/* sandbox_impl.h — internals shared by sandbox.c (the parent side: slots, scheduling,
 * capture), sandbox_probe.c (the interpreter and the isolation chosen once per process) and
 * sandbox_child.c (the child side: namespaces, mounts, init, limits, exec).
 * Not a public API; include sandbox.h instead. */
#ifndef EVALLUA_SCORE_SANDBOX_IMPL_H
#define EVALLUA_SCORE_SANDBOX_IMPL_H

#include <stddef.h>
#include <sys/resource.h>
#include <sys/types.h>

#include "score/sandbox.h"

/* Isolation features a child is started with (bit set). */
enum {
    ISO_NET = 1,     /* CLONE_NEWNET */
    ISO_PID = 2,     /* CLONE_NEWPID, and a fresh /proc when ISO_MNT */
    ISO_MNT = 4,     /* CLONE_NEWNS|NEWIPC|NEWUTS: private /tmp, hidden home directories */
    ISO_RO = 8,      /* with ISO_MNT: everything else read-only (mount_setattr) */
    ISO_UID = 16,    /* root: setresuid/setresgid to the slot's own uid */
    ISO_USERNS = 32  /* not root: CLONE_NEWUSER mapping our uid and gid to themselves */
};

/* Steps of the child's setup, reported with errno when one fails. */
enum {
    STEP_USERNS = 1, STEP_MOUNT_PRIVATE, STEP_READONLY, STEP_HIDE, STEP_EXPOSE, STEP_TMPFS,
    STEP_PROC, STEP_WORKDIR, STEP_PROGRAM, STEP_CHDIR, STEP_STDIO, STEP_RLIMIT,
    STEP_CREDENTIALS, STEP_PRCTL, STEP_CLONE, STEP_EXEC
};

#define SANDBOX_MAX_PATHS 8
#define SANDBOX_WORKDIR "/tmp/evallua-sandbox" /* the working directory under ISO_MNT */

/* Everything the child needs, prepared by the parent before clone: the child may only
 * make async-signal-safe calls (the parent is multi-threaded). */
typedef struct child_plan {
    unsigned iso;
    const char *python;                  /* interpreter to execve */
    char *const *argv, *const *envp;
    const char *program;                 /* ISO_MNT: written to prog.py by the child */
    size_t program_len;
    const char *workdir;                 /* without ISO_MNT: the host directory to enter */
    const char *hide[SANDBOX_MAX_PATHS]; /* ISO_MNT: directories covered by an empty tmpfs */
    size_t n_hide;
    const char *expose[SANDBOX_MAX_PATHS]; /* interpreter directories bound back, read-only */
    size_t n_expose;
    char tmp_opts[64];                   /* mount options of the private /tmp */
    uid_t uid;                           /* ISO_UID: the slot's uid and gid */
    gid_t gid;
    char uid_map[48], gid_map[48];       /* ISO_USERNS: "<id> <id> 1" */
    struct rlimit cpu, as, fsize, nproc, nofile;
    int out_fd, err_fd, st_fd;           /* pipe write ends: stdout, stderr, status (fd 3) */
} child_plan;

/* How programs run in this process: chosen once by the probe (sandbox_probe.c). */
typedef struct sandbox_env {
    unsigned iso;                         /* ISO_* bits */
    char python[1024];                    /* the interpreter (sys.executable) */
    char hide[SANDBOX_MAX_PATHS][1024];   /* see child_plan */
    size_t n_hide;
    char expose[SANDBOX_MAX_PATHS][1024];
    size_t n_expose;
    unsigned long uid_base;               /* ISO_UID: slot s runs as uid_base + s */
    char tmpbase[1024];                   /* without ISO_MNT: parent of the working dirs */
} sandbox_env;

/* Run programs with env's isolation: sandbox_run's work, also used by the probe to try
 * each candidate configuration. Fills results[0..n) (never fails as a whole). */
void sandbox_run_env(const sandbox_env *env, const char *const *programs, size_t n,
                     const sandbox_options *o, sandbox_result *results);
/* The environment chosen by the probe (probing on first use), or NULL with err set. */
const sandbox_env *sandbox_env_get(char *err, size_t errlen);

/* Clone a child with the plan's namespaces; the child sets itself up and execs the
 * interpreter, or writes 'E', the step and errno to st_fd and exits 127. Returns the pid,
 * or -1 with errno set (EPERM, EINVAL, ENOSPC... when a namespace is refused). */
pid_t sandbox_child_spawn(const child_plan *p);
/* A short name for a setup step ("mount /proc", ...). */
const char *sandbox_step_name(int step);
/* Remove a directory tree without following symbolic links (best effort); 0 when gone. */
int sandbox_rmtree(const char *path);

#endif
