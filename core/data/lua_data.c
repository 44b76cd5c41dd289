/* lua_data.c — the "evallua.data" module: find a split's file in the hub layout and read
 * it into a Lua array of documents (tables keyed by the dataset's own column names). */
#include "data/dataset.h"
#include "host/json_lua.h"
#include "host/modules.h"

#include <lauxlib.h>

#define DATA_PATH_MAX 4096
#define DATA_ERR_MAX 2048

/* Raise msg as it is (it names the file; the Lua position would only add noise). */
static int raise_message(lua_State *L, const char *msg)
{
    lua_pushstring(L, msg);
    return lua_error(L);
}

/* Push the documents of a JSON Lines file read straight into Lua (json_lua_push_lines);
   0 when the file needs the cJSON reader. */
static int push_lines(lua_State *L, const char *path)
{
    char err[DATA_ERR_MAX];
    buf text = {0};
    int pushed = dataset_read_text(path, &text, err, sizeof err) == 0 &&
                 json_lua_push_lines(L, text.data, text.len);
    buf_free(&text);
    return pushed;
}

/* Push the documents of path, or raise the reader's error. */
static void push_docs(lua_State *L, const char *path)
{
    if (dataset_is_jsonl(path) && push_lines(L, path)) return;
    char err[DATA_ERR_MAX];
    cJSON *docs = dataset_read(path, err, sizeof err);
    if (!docs) raise_message(L, err);
    json_lua_push_owned(L, docs);
}

/* data.find(dir, id, config, split) -> path | nil, message */
static int l_find(lua_State *L)
{
    const char *dir = luaL_checkstring(L, 1), *id = luaL_checkstring(L, 2);
    const char *config = luaL_optstring(L, 3, NULL), *split = luaL_checkstring(L, 4);
    char path[DATA_PATH_MAX], err[DATA_ERR_MAX];
    if (dataset_find(dir, id, config, split, path, sizeof path, err, sizeof err) != 0) {
        lua_pushnil(L);
        lua_pushstring(L, err);
        return 2;
    }
    lua_pushstring(L, path);
    return 1;
}

/* data.read(path) -> docs */
static int l_read(lua_State *L)
{
    push_docs(L, luaL_checkstring(L, 1));
    return 1;
}

/* data.load(dir, id, config, split) -> docs, path */
static int l_load(lua_State *L)
{
    const char *dir = luaL_checkstring(L, 1), *id = luaL_checkstring(L, 2);
    const char *config = luaL_optstring(L, 3, NULL), *split = luaL_checkstring(L, 4);
    char path[DATA_PATH_MAX], err[DATA_ERR_MAX];
    if (dataset_find(dir, id, config, split, path, sizeof path, err, sizeof err) != 0)
        return raise_message(L, err);
    push_docs(L, path);
    lua_pushstring(L, path);
    return 2;
}

static const luaL_Reg data_funcs[] = {
    {"find", l_find},
    {"read", l_read},
    {"load", l_load},
    {NULL, NULL},
};

int luaopen_evallua_data(lua_State *L)
{
    luaL_newlib(L, data_funcs);
    return 1;
}
