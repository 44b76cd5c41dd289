/* lua_json.c — the "evallua.json" module: decode, encode, null, array marker, and reading
 * and (atomically) writing JSON files. The conversion rules live in json_lua.c. */
#include "json_lua.h"
#include "modules.h"
#include "util/buf.h"

#include <errno.h>
#include <fcntl.h>
#include <lauxlib.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define JSON_MAX_INDENT 32

/* Whole file into b; -1 with err set on failure. */
static int read_whole(const char *path, buf *b, char *err, size_t errlen)
{
    FILE *f = fopen(path, "rb");
    if (!f) return errf(err, errlen, "cannot read %s: %s", path, strerror(errno));
    char chunk[65536];
    size_t n;
    errno = 0;
    while ((n = fread(chunk, 1, sizeof chunk, f)) > 0) buf_append(b, chunk, n);
    int failed = ferror(f) ? (errno ? errno : EIO) : 0;
    fclose(f);
    if (failed) return errf(err, errlen, "cannot read %s: %s", path, strerror(failed));
    return 0;
}

static int write_all(int fd, const char *s, size_t n)
{
    while (n > 0) {
        ssize_t w = write(fd, s, n);
        if (w < 0 && errno == EINTR) continue;
        if (w < 0) return -1;
        s += w;
        n -= (size_t)w;
    }
    return 0;
}

/* Write n bytes to path through a temporary file in the same folder and rename(), so
 * readers see the old file or the new one, never half of it. */
static int write_atomic(const char *path, const char *s, size_t n, char *err, size_t errlen)
{
    static atomic_uint counter;
    buf tmp = {0};
    buf_printf(&tmp, "%s.tmp.%ld.%u", path, (long)getpid(), atomic_fetch_add(&counter, 1));
    int rc = -1;
    int fd = open(tmp.data, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
    if (fd < 0) {
        errf(err, errlen, "cannot write %s: %s", path, strerror(errno));
        goto cleanup;
    }
    if (write_all(fd, s, n) != 0 || fsync(fd) != 0) {
        errf(err, errlen, "cannot write %s: %s", path, strerror(errno));
        close(fd);
        unlink(tmp.data);
        goto cleanup;
    }
    if (close(fd) != 0 || rename(tmp.data, path) != 0) {
        errf(err, errlen, "cannot write %s: %s", path, strerror(errno));
        unlink(tmp.data);
        goto cleanup;
    }
    rc = 0;
cleanup:
    buf_free(&tmp);
    return rc;
}

static int check_indent(lua_State *L, int arg)
{
    lua_Integer indent = luaL_optinteger(L, arg, 0);
    luaL_argcheck(L, indent >= 0 && indent <= JSON_MAX_INDENT, arg, "indent must be 0..32");
    return (int)indent;
}

/* json.decode(str) -> value */
static int l_decode(lua_State *L)
{
    size_t n, pos = 0;
    const char *s = luaL_checklstring(L, 1, &n);
    cJSON *v = json_lua_parse(s, n, &pos);
    if (!v) return luaL_error(L, "invalid JSON at byte %I", (lua_Integer)pos + 1);
    json_lua_push_owned(L, v);
    return 1;
}

/* json.encode(value [, indent]) -> string */
static int l_encode(lua_State *L)
{
    luaL_checkany(L, 1);
    int indent = check_indent(L, 2);
    buf out = {0};
    char err[512];
    if (json_lua_encode(L, 1, &out, indent, err, sizeof err) != 0) {
        buf_free(&out);
        return luaL_error(L, "%s", err);
    }
    lua_pushlstring(L, buf_str(&out), out.len);
    buf_free(&out);
    return 1;
}

/* json.array([t]) -> t marked as an array (a new table when t is absent) */
static int l_array(lua_State *L)
{
    if (lua_isnoneornil(L, 1)) {
        lua_settop(L, 0);
        lua_newtable(L);
    } else {
        luaL_checktype(L, 1, LUA_TTABLE);
        lua_settop(L, 1);
        if (!json_lua_is_array(L, 1) && lua_getmetatable(L, 1))
            return luaL_argerror(L, 1, "table already has a metatable");
    }
    json_lua_mark_array(L, 1);
    return 1;
}

/* json.is_array(v) -> boolean */
static int l_is_array(lua_State *L)
{
    luaL_checkany(L, 1);
    lua_pushboolean(L, json_lua_is_array(L, 1));
    return 1;
}

/* json.read_file(path) -> value */
static int l_read_file(lua_State *L)
{
    const char *path = luaL_checkstring(L, 1);
    buf text = {0};
    char err[512];
    if (read_whole(path, &text, err, sizeof err) != 0) {
        buf_free(&text);
        return luaL_error(L, "%s", err);
    }
    size_t pos = 0;
    cJSON *v = json_lua_parse(buf_str(&text), text.len, &pos);
    buf_free(&text);
    if (!v) return luaL_error(L, "%s: invalid JSON at byte %I", path, (lua_Integer)pos + 1);
    json_lua_push_owned(L, v);
    return 1;
}

/* json.write_file(path, value [, indent]) -> true; the file ends with a newline */
static int l_write_file(lua_State *L)
{
    const char *path = luaL_checkstring(L, 1);
    luaL_checkany(L, 2);
    int indent = check_indent(L, 3);
    buf out = {0};
    char err[512], msg[640];
    if (json_lua_encode(L, 2, &out, indent, err, sizeof err) != 0) {
        snprintf(msg, sizeof msg, "cannot write %s: %s", path, err);
        buf_free(&out);
        return luaL_error(L, "%s", msg);
    }
    buf_putc(&out, '\n');
    int rc = write_atomic(path, out.data, out.len, err, sizeof err);
    buf_free(&out);
    if (rc != 0) return luaL_error(L, "%s", err);
    lua_pushboolean(L, 1);
    return 1;
}

static const luaL_Reg json_funcs[] = {
    {"decode", l_decode},
    {"encode", l_encode},
    {"array", l_array},
    {"is_array", l_is_array},
    {"read_file", l_read_file},
    {"write_file", l_write_file},
    {NULL, NULL},
};

int luaopen_evallua_json(lua_State *L)
{
    luaL_newlib(L, json_funcs);
    json_lua_push_null(L);
    lua_setfield(L, -2, "null");
    return 1;
}
