/* lua_sys.c — "evallua.sys": the few operating-system services the Lua library needs
 * (directory listing, atomic file writes, clocks) with errors that name the path. */
#include "host.h"
#include "util/clock.h"
#include "modules.h"
#include "util/buf.h"

#include <dirent.h>
#include <errno.h>
#include <lauxlib.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* sys.list_dir(path) -> sorted array of entry names (without . and ..), or nil, message */
static int sys_list_dir(lua_State *L)
{
    const char *path = luaL_checkstring(L, 1);
    DIR *d = opendir(path);
    if (!d) {
        luaL_pushfail(L);
        lua_pushfstring(L, "cannot list %s: %s", path, strerror(errno));
        return 2;
    }
    lua_newtable(L);
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0) continue;
        lua_pushstring(L, e->d_name);
        lua_rawseti(L, -2, ++n);
    }
    closedir(d);
    /* sort with table.sort for a deterministic order */
    lua_getglobal(L, "table");
    lua_getfield(L, -1, "sort");
    lua_remove(L, -2);
    lua_pushvalue(L, -2);
    lua_call(L, 1, 0);
    return 1;
}

static int sys_stat_kind(lua_State *L, int want_dir)
{
    const char *path = luaL_checkstring(L, 1);
    struct stat st;
    int ok = stat(path, &st) == 0 && (want_dir ? S_ISDIR(st.st_mode) : S_ISREG(st.st_mode));
    lua_pushboolean(L, ok);
    return 1;
}

/* sys.is_dir(path) -> boolean */
static int sys_is_dir(lua_State *L) { return sys_stat_kind(L, 1); }
/* sys.is_file(path) -> boolean */
static int sys_is_file(lua_State *L) { return sys_stat_kind(L, 0); }

/* sys.mkdir_p(path) -> true, or raises naming the path */
static int sys_mkdir_p(lua_State *L)
{
    const char *path = luaL_checkstring(L, 1);
    char *p = xstrdup(path);
    for (char *s = p + 1; ; s++) {
        if (*s == '/' || *s == '\0') {
            char c = *s;
            *s = '\0';
            if (mkdir(p, 0755) != 0 && errno != EEXIST) {
                lua_pushfstring(L, "cannot create directory %s: %s", p, strerror(errno));
                free(p);
                return lua_error(L);
            }
            *s = c;
            if (c == '\0') break;
        }
    }
    free(p);
    lua_pushboolean(L, 1);
    return 1;
}

/* sys.read_file(path) -> contents, or nil, message */
static int sys_read_file(lua_State *L)
{
    const char *path = luaL_checkstring(L, 1);
    FILE *f = fopen(path, "rb");
    if (!f) {
        luaL_pushfail(L);
        lua_pushfstring(L, "cannot read %s: %s", path, strerror(errno));
        return 2;
    }
    luaL_Buffer b;
    luaL_buffinit(L, &b);
    char chunk[65536];
    size_t n;
    while ((n = fread(chunk, 1, sizeof chunk, f)) > 0) luaL_addlstring(&b, chunk, n);
    int failed = ferror(f);
    fclose(f);
    if (failed) {
        luaL_pushfail(L);
        lua_pushfstring(L, "cannot read %s: I/O error", path);
        return 2;
    }
    luaL_pushresult(&b);
    return 1;
}

/* Write data to path atomically (temp file in the same directory, then rename). */
static int write_atomic(const char *path, const char *data, size_t len, int append, buf *msg)
{
    if (append) {
        FILE *f = fopen(path, "ab");
        if (!f || fwrite(data, 1, len, f) != len || fclose(f) != 0) {
            buf_printf(msg, "cannot write %s: %s", path, strerror(errno));
            return -1;
        }
        return 0;
    }
    buf tmp = {0};
    buf_printf(&tmp, "%s.tmp.%ld", path, (long)getpid());
    FILE *f = fopen(tmp.data, "wb");
    int ok = f && fwrite(data, 1, len, f) == len;
    if (f && fclose(f) != 0) ok = 0;
    if (ok && rename(tmp.data, path) != 0) ok = 0;
    if (!ok) {
        buf_printf(msg, "cannot write %s: %s", path, strerror(errno));
        unlink(tmp.data);
    }
    buf_free(&tmp);
    return ok ? 0 : -1;
}

/* sys.write_file(path, text [, "append"]) -> true, or raises naming the path */
static int sys_write_file(lua_State *L)
{
    const char *path = luaL_checkstring(L, 1);
    size_t len;
    const char *data = luaL_checklstring(L, 2, &len);
    const char *mode = luaL_optstring(L, 3, "replace");
    buf msg = {0};
    if (write_atomic(path, data, len, strcmp(mode, "append") == 0, &msg) != 0) {
        lua_pushstring(L, buf_str(&msg));
        buf_free(&msg);
        return lua_error(L);
    }
    lua_pushboolean(L, 1);
    return 1;
}

/* sys.time() -> seconds since the epoch, with sub-second precision */
static int sys_time(lua_State *L)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    lua_pushnumber(L, (double)ts.tv_sec + ts.tv_nsec / 1e9);
    return 1;
}

/* sys.monotonic() -> seconds on a monotonic clock (for durations) */
static int sys_monotonic(lua_State *L)
{
    lua_pushnumber(L, mono_seconds());
    return 1;
}

/* sys.isatty(fd) -> boolean (0 stdin, 1 stdout, 2 stderr) */
static int sys_isatty(lua_State *L)
{
    lua_pushboolean(L, isatty((int)luaL_checkinteger(L, 1)));
    return 1;
}

/* sys.home() -> the directory holding lua/ and tasks/ */
static int sys_home(lua_State *L)
{
    lua_pushstring(L, host_home());
    return 1;
}

/* sys.realpath(path) -> absolute path, or nil */
static int sys_realpath(lua_State *L)
{
    char *r = realpath(luaL_checkstring(L, 1), NULL);
    if (!r) {
        luaL_pushfail(L);
        return 1;
    }
    lua_pushstring(L, r);
    free(r);
    return 1;
}

/* sys.version() -> evallua's version string */
static int sys_version(lua_State *L)
{
    lua_pushstring(L, EVALLUA_VERSION);
    return 1;
}

/* sys.stderr(text): write to stderr unbuffered (progress notes, warnings) */
static int sys_stderr(lua_State *L)
{
    size_t len;
    const char *s = luaL_checklstring(L, 1, &len);
    fwrite(s, 1, len, stderr);
    fflush(stderr);
    return 0;
}

static const luaL_Reg sys_funcs[] = {
    {"list_dir", sys_list_dir},
    {"is_dir", sys_is_dir},
    {"is_file", sys_is_file},
    {"mkdir_p", sys_mkdir_p},
    {"read_file", sys_read_file},
    {"write_file", sys_write_file},
    {"time", sys_time},
    {"monotonic", sys_monotonic},
    {"isatty", sys_isatty},
    {"home", sys_home},
    {"realpath", sys_realpath},
    {"version", sys_version},
    {"stderr", sys_stderr},
    {NULL, NULL},
};

int luaopen_evallua_sys(lua_State *L)
{
    luaL_newlib(L, sys_funcs);
#ifdef EVALLUA_HAVE_CUDA
    lua_pushboolean(L, 1);
#else
    lua_pushboolean(L, 0);
#endif
    lua_setfield(L, -2, "cuda_built");
    return 1;
}
