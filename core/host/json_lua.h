/* json_lua.h — JSON <-> Lua conversion, the one place that maps between the two.
 *
 * JSON → Lua: objects become tables, arrays become tables 1..n carrying the array
 * metatable (so they re-encode as arrays, even when empty), integral numbers with
 * |v| < 2^53 become Lua integers (others floats), null becomes the null sentinel (a light
 * userdata).
 *
 * Lua → JSON: a table is an array when it carries the array metatable or when its keys are
 * exactly 1..n (n >= 1), else an object with its keys sorted (integer keys written as
 * decimal strings); floats are written in the shortest form that round-trips (Python's
 * repr style: 2.0, 0.1, 1e+300); NaN and ±Inf become null; invalid UTF-8 bytes become
 * U+FFFD. Functions, threads and userdata other than null are errors naming the key path.
 * Nesting deeper than JSON_LUA_MAX_DEPTH is an error both ways (which also catches cycles). */
#ifndef EVALLUA_HOST_JSON_LUA_H
#define EVALLUA_HOST_JSON_LUA_H

#include <stddef.h>

#include <cjson/cJSON.h>
#include <lua.h>

#include "util/buf.h"

#define JSON_LUA_MAX_DEPTH 200
#define JSON_LUA_ARRAY_MT "evallua.json.array" /* registry name of the array metatable */

/* Push v (borrowed; the caller still owns it) as a Lua value. Raises a Lua error when v
 * nests deeper than JSON_LUA_MAX_DEPTH. */
void json_lua_push(lua_State *L, const cJSON *v);
/* Like json_lua_push, but takes ownership of v: it is freed here, also when an error is
 * raised. */
void json_lua_push_owned(lua_State *L, cJSON *v);
/* Push the null sentinel (nothing to free). */
void json_lua_push_null(lua_State *L);
/* 1 when the value at idx is the null sentinel. */
int json_lua_is_null(lua_State *L, int idx);
/* Give the table at idx the array metatable (replacing any metatable it had). */
void json_lua_mark_array(lua_State *L, int idx);
/* 1 when the value at idx is a table carrying the array metatable. */
int json_lua_is_array(lua_State *L, int idx);

/* Push the documents of JSON Lines text (len bytes; a NUL after them) as json_lua_push
 * would push cJSON's array of them: a table of the non-blank lines' objects, with the array
 * metatable. Returns 1, or 0 with the stack as it was when the text holds anything beyond
 * the plain subset this reader takes (\u escapes, loose numbers, errors, ...): read it
 * through cJSON then, which also names the error. */
int json_lua_push_lines(lua_State *L, const char *text, size_t len);

/* Parse n bytes of JSON text (surrounding whitespace allowed, nothing else after the
 * value). Returns a tree the caller cJSON_Delete's, or NULL with *errpos (may be NULL) set
 * to the 0-based byte offset where parsing failed. */
cJSON *json_lua_parse(const char *s, size_t n, size_t *errpos);

/* Append the Lua value at idx to out as JSON: indent 0 = compact (no spaces), N = pretty
 * with N spaces per level. Returns 0, or -1 with err set and out left as it was. The Lua
 * stack is left as it was. */
int json_lua_encode(lua_State *L, int idx, buf *out, int indent, char *err, size_t errlen);
/* Convert the Lua value at idx with the rules of json_lua_encode. Returns a tree the
 * caller cJSON_Delete's, or NULL with err set. Integers beyond 2^53 lose precision (cJSON
 * stores doubles). */
cJSON *json_lua_to_cjson(lua_State *L, int idx, char *err, size_t errlen);

#endif
