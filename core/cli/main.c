/* main.c — evallua's entry point: parse the command line, hand the options to the Lua
 * library (lua/evallua/cli.lua), and turn its outcome into an exit status.
 *
 * Exit status: 0 success; 1 the run finished but some requests failed; 2 bad input or a
 * fatal error (message on stderr). */
#include "cli/args.h"
#include "host/host.h"

#include <lauxlib.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const known_commands[] = {"run", "list", "show", "exec", NULL};

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
        fprintf(stderr, "evallua: unknown command '%s' (commands: run, list, show, exec; "
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
