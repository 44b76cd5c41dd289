/* test_json.c — JSON <-> Lua conversion (json_lua.c) and the evallua.json module. */
#include "check.h"

#include <dirent.h>
#include <lauxlib.h>
#include <lualib.h>
#include <stdlib.h>
#include <unistd.h>

#include "host/json_lua.h"
#include "host/modules.h"

/* Run a chunk returning one value: its tostring, or "ERROR: msg" (static buffer). */
static const char *eval(lua_State *L, const char *code)
{
    static char out[8192];
    int top = lua_gettop(L);
    if (luaL_loadstring(L, code) != LUA_OK || lua_pcall(L, 0, 1, 0) != LUA_OK)
        snprintf(out, sizeof out, "ERROR: %s", lua_tostring(L, -1));
    else
        snprintf(out, sizeof out, "%s", luaL_tolstring(L, -1, NULL));
    lua_settop(L, top);
    return out;
}

/* s must contain want; prints both otherwise. */
static void check_has(const char *s, const char *want)
{
    int ok = strstr(s, want) != NULL;
    CHECK(ok);
    if (!ok) fprintf(stderr, "  got:      \"%s\"\n  expected: \"...%s...\"\n", s, want);
}

static lua_State *new_state(void)
{
    lua_State *L = luaL_newstate();
    luaL_openlibs(L);
    luaL_requiref(L, "evallua.json", luaopen_evallua_json, 0);
    lua_setglobal(L, "json");
    return L;
}

static void test_round_trip(lua_State *L)
{
    const char *text = "{\"a\":[1,2.5,{\"b\":null}],\"c\":\"x\\ny\",\"d\":true,\"e\":false,"
                       "\"f\":{},\"g\":[]}";
    lua_pushstring(L, text);
    lua_setglobal(L, "TEXT");
    CHECK_STR(eval(L, "return json.encode(json.decode(TEXT))"), text);
    CHECK_STR(eval(L, "local v = json.decode(TEXT) return tostring(v.a[3].b == json.null) .. "
                      "tostring(v.d) .. v.c .. #v.a"), "truetruex\ny3");
    CHECK_STR(eval(L, "return json.decode('\"\\\\u00e9\\\\ud83d\\\\ude00\"')"),
              "\xC3\xA9\xF0\x9F\x98\x80");
    check_has(eval(L, "return json.decode('{\"a\": tru}')"), "invalid JSON at byte 7");
    check_has(eval(L, "return json.decode('[1, 2] x')"), "invalid JSON at byte 8");
    check_has(eval(L, "return json.decode('')"), "invalid JSON at byte 1");
}

static void test_numbers(lua_State *L)
{
    CHECK_STR(eval(L, "return json.encode(1)"), "1");
    CHECK_STR(eval(L, "return json.encode(1.5)"), "1.5");
    CHECK_STR(eval(L, "return json.encode(2.0)"), "2.0");
    CHECK_STR(eval(L, "return json.encode(1e300)"), "1e+300");
    CHECK_STR(eval(L, "return json.encode((1 << 53) + 1)"), "9007199254740993");
    CHECK_STR(eval(L, "return json.encode(2^53 + 1)"), "9007199254740992.0");
    CHECK_STR(eval(L, "return json.encode(0.1)"), "0.1");
    CHECK_STR(eval(L, "return json.encode(1/3)"), "0.3333333333333333");
    CHECK_STR(eval(L, "return json.encode(1e-5)"), "1e-05");
    CHECK_STR(eval(L, "return json.encode(0.0001)"), "0.0001");
    CHECK_STR(eval(L, "return json.encode(1e15)"), "1000000000000000.0");
    CHECK_STR(eval(L, "return json.encode(1e16)"), "1e+16");
    CHECK_STR(eval(L, "return json.encode(-0.0)"), "-0.0");
    CHECK_STR(eval(L, "return json.encode(5e-324)"), "5e-324");
    CHECK_STR(eval(L, "return json.encode({0/0, 1/0, -1/0})"), "[null,null,null]");
    CHECK_STR(eval(L, "return json.encode(math.mininteger)"), "-9223372036854775808");
    /* decoding: integral values below 2^53 become integers */
    CHECK_STR(eval(L, "local v = json.decode('[1, 1.5, 2.0, 1e300, 9007199254740993, -3]')\n"
                      "local t = {} for i, x in ipairs(v) do t[i] = math.type(x) end\n"
                      "return table.concat(t, ' ')"),
              "integer float integer float float integer");
    CHECK_STR(eval(L, "return json.decode('1e300') == 1e300 and json.decode('1.5') == 1.5"),
              "true");
}

static void test_tables(lua_State *L)
{
    CHECK_STR(eval(L, "return json.encode({b = 1, a = 2, c = {3, 2, 1}, [10] = 'ten'})"),
              "{\"10\":\"ten\",\"a\":2,\"b\":1,\"c\":[3,2,1]}");
    CHECK_STR(eval(L, "return json.encode({[2] = 'x', [3] = 'y'})"), "{\"2\":\"x\",\"3\":\"y\"}");
    CHECK_STR(eval(L, "return json.encode({})"), "{}");
    CHECK_STR(eval(L, "return json.encode(json.array())"), "[]");
    CHECK_STR(eval(L, "return json.encode(json.decode('[]'))"), "[]");
    CHECK_STR(eval(L, "return json.encode(json.decode('{}'))"), "{}");
    CHECK_STR(eval(L, "return json.encode(json.decode('{\"a\":[],\"b\":{}}'))"),
              "{\"a\":[],\"b\":{}}");
    CHECK_STR(eval(L, "return json.encode(json.array({1, nil, 3}))"), "[1,null,3]");
    CHECK_STR(eval(L, "local t = {1, 2} return tostring(json.array(t) == t)"), "true");
    CHECK_STR(eval(L, "return tostring(json.is_array(json.decode('[1]'))) .. "
                      "tostring(json.is_array({1})) .. tostring(json.is_array(5))"),
              "truefalsefalse");
    check_has(eval(L, "return json.array(setmetatable({}, {}))"), "already has a metatable");
    check_has(eval(L, "return json.encode({[1] = 1, ['1'] = 2})"), "duplicate key \"1\"");
    check_has(eval(L, "return json.encode({a = {[true] = 1}})"),
              "cannot encode a key of type boolean at a");
}

static void test_null(lua_State *L)
{
    CHECK_STR(eval(L, "return tostring(json.decode('{\"a\":null}').a == json.null)"), "true");
    CHECK_STR(eval(L, "return tostring(json.decode('null') == json.null)"), "true");
    CHECK_STR(eval(L, "return json.encode({json.null, 1})"), "[null,1]");
    CHECK_STR(eval(L, "return json.encode(json.decode('[null,{\"x\":null}]'))"),
              "[null,{\"x\":null}]");
    CHECK_STR(eval(L, "return json.encode(nil)"), "null");
    json_lua_push_null(L);
    CHECK(json_lua_is_null(L, -1));
    lua_pop(L, 1);
    lua_pushlightuserdata(L, L);
    CHECK(!json_lua_is_null(L, -1));
    lua_pop(L, 1);
}

static void test_errors(lua_State *L)
{
    /* 200 levels encode and decode; 201 do not */
    CHECK_STR(eval(L, "local t = {} local c = t for i = 1, 199 do c[1] = {} c = c[1] end\n"
                      "return #json.encode(t)"), "400");
    check_has(eval(L, "local t = {} local c = t for i = 1, 200 do c[1] = {} c = c[1] end\n"
                      "return json.encode(t)"), "nested too deeply (cycle?)");
    CHECK_STR(eval(L, "return #json.decode(string.rep('[', 200) .. string.rep(']', 200))"), "1");
    check_has(eval(L, "return json.decode(string.rep('[', 201) .. string.rep(']', 201))"),
              "nested too deeply");
    check_has(eval(L, "local t = {} t.self = t return json.encode(t)"),
              "nested too deeply (cycle?)");
    check_has(eval(L, "return json.encode({results = {gsm8k = {x = print}}})"),
              "cannot encode a function at results.gsm8k.x");
    check_has(eval(L, "return json.encode({docs = {{q = 1}, {q = coroutine.create(print)}}})"),
              "cannot encode a thread at docs[2].q");
    check_has(eval(L, "return json.encode(print)"), "cannot encode a function at the top level");
    check_has(eval(L, "return json.encode({io.stdout})"), "cannot encode a userdata at [1]");
    check_has(eval(L, "return json.encode(1, -1)"), "indent must be 0..32");
}

static void test_strings(lua_State *L)
{
    /* invalid bytes, a truncated sequence and a surrogate become U+FFFD; valid UTF-8 and
     * '/' pass through; control characters are escaped */
    CHECK_STR(eval(L, "return json.encode('a\\xffb\\xe2\\x82c\\xed\\xa0\\x80d\\xc3\\xa9/')"),
              "\"a\xEF\xBF\xBD" "b\xEF\xBF\xBD" "c\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD"
              "d\xC3\xA9/\"");
    CHECK_STR(eval(L, "return json.encode('q\"b\\\\\\n\\t\\1\\0')"),
              "\"q\\\"b\\\\\\n\\t\\u0001\\u0000\"");
    CHECK_STR(eval(L, "return json.encode({['k\\xff'] = 1})"), "{\"k\xEF\xBF\xBD\":1}");
}

static void test_pretty(lua_State *L)
{
    CHECK_STR(eval(L, "return json.encode({a = {1, 2}, b = {}, c = {x = json.null}, "
                      "d = json.array()}, 2)"),
              "{\n  \"a\": [\n    1,\n    2\n  ],\n  \"b\": {},\n  \"c\": {\n    \"x\": null\n"
              "  },\n  \"d\": []\n}");
    CHECK_STR(eval(L, "return json.encode({1, 'x'}, 4)"), "[\n    1,\n    \"x\"\n]");
    CHECK_STR(eval(L, "return json.encode('s', 2)"), "\"s\"");
}

static int count_entries(const char *dir)
{
    DIR *d = opendir(dir);
    int n = 0;
    struct dirent *e;
    while (d && (e = readdir(d)) != NULL)
        if (e->d_name[0] != '.') n++;
    if (d) closedir(d);
    return n;
}

static void test_files(lua_State *L)
{
    char dir[] = "/tmp/evallua_test_json_XXXXXX";
    if (!mkdtemp(dir)) {
        perror("mkdtemp");
        CHECK(0);
        return;
    }
    char path[128], code[512];
    snprintf(path, sizeof path, "%s/out.json", dir);
    lua_pushstring(L, path);
    lua_setglobal(L, "PATH");
    CHECK_STR(eval(L, "return json.write_file(PATH, {a = 1, b = json.array()}, 2)"), "true");
    CHECK_STR(eval(L, "local f = io.open(PATH) local s = f:read('a') f:close() return s"),
              "{\n  \"a\": 1,\n  \"b\": []\n}\n");
    CHECK_STR(eval(L, "json.write_file(PATH, {v = 2}) return json.encode(json.read_file(PATH))"),
              "{\"v\":2}");
    /* a failed encode leaves the old file alone and no temp files behind */
    check_has(eval(L, "return json.write_file(PATH, {f = print})"),
              "cannot encode a function at f");
    CHECK_STR(eval(L, "return json.read_file(PATH).v"), "2");
    CHECK(count_entries(dir) == 1);
    snprintf(code, sizeof code, "return json.write_file('%s/missing/x.json', {})", dir);
    check_has(eval(L, code), "missing/x.json: No such file or directory");
    check_has(eval(L, "return json.read_file(PATH .. '.absent')"),
              "out.json.absent: No such file or directory");
    CHECK_STR(eval(L, "local f = io.open(PATH, 'w') f:write('[1,') f:close() "
                      "return select(2, pcall(json.read_file, PATH)):match('invalid JSON.*')"),
              "invalid JSON at byte 3");
    unlink(path);
    rmdir(dir);
}

static void test_c_api(lua_State *L)
{
    int top = lua_gettop(L);
    char err[256] = "";
    eval(L, "T = {name = 'x', list = json.array({1, 2.5, true}), empty = json.array(), "
            "nested = {k = json.null}}");
    lua_getglobal(L, "T");
    buf out = {0};
    buf_puts(&out, "prefix:");
    CHECK(json_lua_encode(L, -1, &out, 0, err, sizeof err) == 0);
    CHECK_STR(out.data, "prefix:{\"empty\":[],\"list\":[1,2.5,true],\"name\":\"x\","
                        "\"nested\":{\"k\":null}}");
    cJSON *c = json_lua_to_cjson(L, -1, err, sizeof err);
    CHECK(cJSON_IsObject(c));
    CHECK(cJSON_GetArraySize(cJSON_GetObjectItem(c, "list")) == 3);
    CHECK(cJSON_IsArray(cJSON_GetObjectItem(c, "empty")));
    CHECK(cJSON_IsNull(cJSON_GetObjectItem(cJSON_GetObjectItem(c, "nested"), "k")));
    CHECK_STR(cJSON_GetStringValue(cJSON_GetObjectItem(c, "name")), "x");
    json_lua_push(L, c); /* and back */
    CHECK(json_lua_is_array(L, -1) == 0 && lua_istable(L, -1));
    lua_getfield(L, -1, "list");
    CHECK(json_lua_is_array(L, -1));
    lua_pop(L, 2);
    cJSON_Delete(c);
    lua_pop(L, 1);

    eval(L, "T = {a = {b = {print}}}");
    lua_getglobal(L, "T");
    buf_clear(&out);
    buf_puts(&out, "keep");
    CHECK(json_lua_encode(L, -1, &out, 2, err, sizeof err) == -1);
    CHECK_STR(out.data, "keep"); /* unchanged on failure */
    CHECK_STR(err, "cannot encode a function at a.b[1]");
    CHECK(json_lua_to_cjson(L, -1, err, sizeof err) == NULL);
    CHECK_STR(err, "cannot encode a function at a.b[1]");
    lua_pop(L, 1);
    buf_free(&out);
    CHECK(lua_gettop(L) == top);
}

int main(void)
{
    lua_State *L = new_state();
    test_round_trip(L);
    test_numbers(L);
    test_tables(L);
    test_null(L);
    test_errors(L);
    test_strings(L);
    test_pretty(L);
    test_files(L);
    test_c_api(L);
    lua_close(L);
    return check_summary();
}
