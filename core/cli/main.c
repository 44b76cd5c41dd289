/* main.c — evallua's entry point: parse the command line, hand the options to the Lua
 * library (lua/evallua/cli.lua), and turn its outcome into an exit status.
 *
 * Exit status: 0 success; 1 the run finished but some requests failed; 2 bad input or a
 * fatal error (message on stderr); 130 the run was interrupted (SIGINT or SIGTERM). */
#include "cache/cache_cmd.h"
#include "cli/args.h"
#include "host/host.h"
#include "request/request.h"

#include <lauxlib.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char *const known_commands[] = {"run", "list", "show", "exec", "cache", "data", NULL};

static int is_command(const char *s)
{
    for (const char *const *c = known_commands; *c; c++)
        if (strcmp(s, *c) == 0) return 1;
    return 0;
}

static void print_version(void)
{
    printf("evallua %s (%s, CUDA %s)\n", EVALLUA_VERSION, LUA_RELEASE,
#ifdef EVALLUA_HAVE_CUDA
           "built"
#else
           "not built"
#endif
    );
}

/* SIGINT/SIGTERM during `run`: the first asks the backend to stop (request.h), the second
   exits at once. Only async-signal-safe calls here. */
static void on_interrupt(int sig)
{
    (void)sig;
    if (backend_interrupted) _exit(130);
    backend_interrupted = 1;
    static const char msg[] = "\nevallua: interrupted; stopping (Ctrl-C again to quit at once)\n";
    ssize_t w = write(STDERR_FILENO, msg, sizeof msg - 1);
    (void)w;
}

/* A signal our parent set to be ignored (nohup, a background job of a script) stays so. */
static void install_interrupt_handler(void)
{
    static const int sigs[] = {SIGINT, SIGTERM};
    struct sigaction sa, old;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_interrupt;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = SA_RESTART; /* poll() is never restarted, so the HTTP loop still wakes */
    for (size_t i = 0; i < sizeof sigs / sizeof sigs[0]; i++)
        if (sigaction(sigs[i], NULL, &old) == 0 && old.sa_handler != SIG_IGN)
            sigaction(sigs[i], &sa, NULL);
}

/* `evallua cache stats|clear [--cache PATH]` (options parsed into the table at the top). */
static int cache_command(lua_State *L)
{
    lua_getfield(L, -1, "positional");
    lua_rawgeti(L, -1, 1);
    lua_rawgeti(L, -2, 2);
    const char *extra = lua_tostring(L, -1);
    const char *sub = lua_tostring(L, -2);
    lua_getfield(L, -4, "cache");
    const char *path = lua_tostring(L, -1);
    int status;
    if (extra) {
        fprintf(stderr, "evallua cache: unexpected argument '%s' (usage: evallua cache "
                        "stats|clear [--cache PATH])\n", extra);
        status = 2;
    } else {
        status = cache_cmd_run(sub, path, stdout, stderr);
    }
    lua_pop(L, 5);
    return status;
}

/* Run the Lua side of one command; returns the process exit status. */
static int run_command(lua_State *L, const char *command, int argc, char **argv, int first)
{
    char err[512];
    if (args_parse(L, command, argc, argv, first, err, sizeof err) != 0) {
        fprintf(stderr, "evallua %s: %s\n", command, err);
        return 2;
    }
    lua_getfield(L, -1, "help");
    int help = lua_toboolean(L, -1);
    lua_pop(L, 1);
    if (help) {
        lua_pop(L, 1);
        args_print_help(stdout, command);
        return 0;
    }
    if (strcmp(command, "cache") == 0) return cache_command(L);
    if (strcmp(command, "run") == 0 || strcmp(command, "data") == 0) install_interrupt_handler();
    lua_pushstring(L, command);
    lua_insert(L, -2);
    if (host_call_module(L, "evallua.cli", "main", 2) != LUA_OK) {
        const char *msg = lua_tostring(L, -1);
        fprintf(stderr, "evallua %s: %s\n", command, msg ? msg : "(error)");
        return 2;
    }
    int status = lua_isinteger(L, -1) ? (int)lua_tointeger(L, -1) : 0;
    lua_pop(L, 1);
    return status;
}

int main(int argc, char **argv)
{
    if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 ||
        strcmp(argv[1], "help") == 0) {
        args_print_help(argc < 2 ? stderr : stdout, NULL);
        return argc < 2 ? 2 : 0;
    }
    if (strcmp(argv[1], "--version") == 0 || strcmp(argv[1], "version") == 0) {
        print_version();
        return 0;
    }
    signal(SIGPIPE, SIG_IGN); /* a closed connection is an error to report, not a reason to die */
    const char *command = argv[1];
    int first = 2;
    if (!is_command(command)) {
        fprintf(stderr, "evallua: unknown command '%s' (commands: run, list, show, exec, cache, data; "
                        "see evallua --help)\n", command);
        return 2;
    }
    char err[512];
    lua_State *L = host_new(err, sizeof err);
    if (!L) {
        fprintf(stderr, "evallua: %s\n", err);
        return 2;
    }
    int status = run_command(L, command, argc, argv, first);
    lua_close(L);
    return status;
}
