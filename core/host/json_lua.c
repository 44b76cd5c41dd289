/* json_lua.c — JSON <-> Lua conversion: cJSON trees to Lua values, Lua values to JSON text
 * or cJSON trees. The rules are described in json_lua.h. */
#include "json_lua.h"

#include <float.h>
#include <limits.h>
#include <locale.h>
#include <lauxlib.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Its address is the null sentinel: one light userdata, the same in every lua_State. */
static const char json_null_tag = 0;

#define JSON_BOX_MT "evallua.json.box" /* userdata holding a cJSON tree being pushed */
#define TWO_POW_53 9007199254740992.0

/* ---- null sentinel and array marker ------------------------------------------------ */

void json_lua_push_null(lua_State *L)
{
    lua_pushlightuserdata(L, (void *)&json_null_tag);
}

int json_lua_is_null(lua_State *L, int idx)
{
    return lua_islightuserdata(L, idx) && lua_touserdata(L, idx) == (void *)&json_null_tag;
}

void json_lua_mark_array(lua_State *L, int idx)
{
    idx = lua_absindex(L, idx);
    luaL_newmetatable(L, JSON_LUA_ARRAY_MT); /* creates it on first use, else fetches it */
    lua_setmetatable(L, idx);
}

int json_lua_is_array(lua_State *L, int idx)
{
    if (!lua_istable(L, idx) || !lua_getmetatable(L, idx)) return 0;
    luaL_getmetatable(L, JSON_LUA_ARRAY_MT);
    int same = lua_rawequal(L, -1, -2);
    lua_pop(L, 2);
    return same;
}

/* ---- JSON → Lua ---------------------------------------------------------------------- */

static void push_value(lua_State *L, const cJSON *v, int depth);

static void push_number(lua_State *L, double d)
{
    if (isfinite(d) && d == floor(d) && fabs(d) < TWO_POW_53) lua_pushinteger(L, (lua_Integer)d);
    else lua_pushnumber(L, d);
}

static void push_array(lua_State *L, const cJSON *v, int depth)
{
    lua_createtable(L, cJSON_GetArraySize(v), 0);
    lua_Integer i = 0;
    for (const cJSON *c = v->child; c; c = c->next) {
        push_value(L, c, depth + 1);
        lua_rawseti(L, -2, ++i);
    }
    json_lua_mark_array(L, -1);
}

static void push_object(lua_State *L, const cJSON *v, int depth)
{
    lua_createtable(L, 0, cJSON_GetArraySize(v));
    for (const cJSON *c = v->child; c; c = c->next) {
        lua_pushstring(L, c->string ? c->string : "");
        push_value(L, c, depth + 1);
        lua_rawset(L, -3); /* a repeated key: the last one wins, as in Python */
    }
}

static void push_value(lua_State *L, const cJSON *v, int depth)
{
    if (depth > JSON_LUA_MAX_DEPTH)
        luaL_error(L, "JSON nested too deeply (more than %d levels)", JSON_LUA_MAX_DEPTH);
    luaL_checkstack(L, 4, "JSON nested too deeply");
    if (cJSON_IsObject(v)) push_object(L, v, depth);
    else if (cJSON_IsArray(v)) push_array(L, v, depth);
    else if (cJSON_IsString(v)) lua_pushstring(L, v->valuestring ? v->valuestring : "");
    else if (cJSON_IsNumber(v)) push_number(L, v->valuedouble);
    else if (cJSON_IsTrue(v)) lua_pushboolean(L, 1);
    else if (cJSON_IsFalse(v)) lua_pushboolean(L, 0);
    else if (cJSON_IsRaw(v) && v->valuestring) lua_pushstring(L, v->valuestring);
    else json_lua_push_null(L);
}

void json_lua_push(lua_State *L, const cJSON *v)
{
    push_value(L, v, 1);
}

static int box_gc(lua_State *L)
{
    cJSON **box = luaL_checkudata(L, 1, JSON_BOX_MT);
    cJSON_Delete(*box);
    *box = NULL;
    return 0;
}

void json_lua_push_owned(lua_State *L, cJSON *v)
{
    /* The tree sits in a userdata with __gc while it is pushed, so a Lua error raised
     * half-way (too deep, out of memory) still frees it. */
    cJSON **box = lua_newuserdatauv(L, sizeof *box, 0);
    *box = v;
    if (luaL_newmetatable(L, JSON_BOX_MT)) {
        lua_pushcfunction(L, box_gc);
        lua_setfield(L, -2, "__gc");
    }
    lua_setmetatable(L, -2);
    push_value(L, v, 1);
    cJSON_Delete(v);
    *box = NULL;
    lua_remove(L, -2);
}

static const char *skip_space(const char *p, const char *end)
{
    while (p < end && (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r')) p++;
    return p;
}

cJSON *json_lua_parse(const char *s, size_t n, size_t *errpos)
{
    const char *end = NULL;
    cJSON *v = cJSON_ParseWithLengthOpts(s, n, &end, 0);
    if (v && end) {
        const char *rest = skip_space(end, s + n);
        if (rest < s + n) { /* something after the value */
            cJSON_Delete(v);
            v = NULL;
            end = rest;
        }
    }
    if (!v && errpos) *errpos = end && end >= s ? (size_t)(end - s) : 0;
    return v;
}

/* ---- JSON Lines → Lua in one pass ------------------------------------------------------
 * The documents of a JSON Lines file go straight into Lua values, with no cJSON tree in
 * between. Only a plain subset is read here — strings without \u escapes or NUL bytes,
 * numbers in strict JSON form, nesting up to LINES_MAX_DEPTH, no byte order mark — and it
 * gives exactly what json_lua_push gives for cJSON's tree: tables made with the same sizes
 * and filled in the same order (so pairs() visits keys in the same order), numbers through
 * the same strtod, whitespace skipped as cJSON skips it. Anything else, errors included,
 * makes the reader give up, and the caller reads the file through cJSON, which also
 * produces the messages. */

#define LINES_MAX_DEPTH 64
#define LINES_NUMBER_MAX 63 /* cJSON reads at most this many characters of a number */

typedef struct lines_reader {
    lua_State *L;
    const char *p, *end; /* the rest of the current line */
    int depth;
    char decimal_point;  /* the locale's, which cJSON puts in place of '.' before strtod */
} lines_reader;

static int lines_value(lines_reader *r);

/* cJSON's whitespace: every byte up to ' '. */
static void lines_skip(lines_reader *r)
{
    while (r->p < r->end && (unsigned char)*r->p <= 32) r->p++;
}

static int lines_string(lines_reader *r)
{
    const char *p = ++r->p, *end = r->end; /* past the opening quote */
    const char *q = p;
    while (q < end && *q != '"' && *q != '\\' && *q != '\0') q++;
    if (q < end && *q == '"') { /* no escapes: push the bytes as they are */
        lua_pushlstring(r->L, p, (size_t)(q - p));
        r->p = q + 1;
        return 0;
    }
    luaL_Buffer b;
    luaL_buffinit(r->L, &b);
    for (;;) {
        while (q < end && *q != '"' && *q != '\\' && *q != '\0') q++;
        if (q >= end || *q == '\0') return -1;
        luaL_addlstring(&b, p, (size_t)(q - p));
        if (*q == '"') break;
        if (q + 1 >= end) return -1;
        char c;
        switch (q[1]) {
        case '"': c = '"'; break;
        case '\\': c = '\\'; break;
        case '/': c = '/'; break;
        case 'b': c = '\b'; break;
        case 'f': c = '\f'; break;
        case 'n': c = '\n'; break;
        case 'r': c = '\r'; break;
        case 't': c = '\t'; break;
        default: return -1; /* \u and bad escapes: left to cJSON */
        }
        luaL_addchar(&b, c);
        p = q = q + 2;
    }
    luaL_pushresult(&b);
    r->p = q + 1;
    return 0;
}

static int is_digit(char c) { return c >= '0' && c <= '9'; }

/* A number in strict JSON form, followed by nothing cJSON would take as part of it. */
static int lines_number(lines_reader *r)
{
    const char *p = r->p, *end = r->end;
    if (p < end && *p == '-') p++;
    if (p >= end || !is_digit(*p)) return -1;
    if (*p == '0') p++;
    else while (p < end && is_digit(*p)) p++;
    if (p < end && *p == '.') {
        if (++p >= end || !is_digit(*p)) return -1;
        while (p < end && is_digit(*p)) p++;
    }
    if (p < end && (*p == 'e' || *p == 'E')) {
        p++;
        if (p < end && (*p == '+' || *p == '-')) p++;
        if (p >= end || !is_digit(*p)) return -1;
        while (p < end && is_digit(*p)) p++;
    }
    if (p < end && (is_digit(*p) || *p == '.' || *p == 'e' || *p == 'E' || *p == '+' || *p == '-'))
        return -1;
    size_t n = (size_t)(p - r->p);
    if (n >= LINES_NUMBER_MAX) return -1;
    char text[LINES_NUMBER_MAX + 1];
    for (size_t i = 0; i < n; i++) text[i] = r->p[i] == '.' ? r->decimal_point : r->p[i];
    text[n] = '\0';
    char *after = NULL;
    double d = strtod(text, &after);
    if (after != text + n) return -1;
    push_number(r->L, d);
    r->p = p;
    return 0;
}

static int lines_literal(lines_reader *r, const char *word, size_t n)
{
    if ((size_t)(r->end - r->p) < n || memcmp(r->p, word, n) != 0) return -1;
    r->p += n;
    return 0;
}

/* The members of an object or the elements of an array onto the stack, then the table. */
static int lines_container(lines_reader *r, int object)
{
    lua_State *L = r->L;
    char close = object ? '}' : ']';
    int base = lua_gettop(L), count = 0;
    if (++r->depth > LINES_MAX_DEPTH) return -1;
    r->p++;
    lines_skip(r);
    if (r->p < r->end && *r->p == close) r->p++;
    else {
        for (;;) {
            if (!lua_checkstack(L, 4)) return -1;
            if (object) {
                if (r->p >= r->end || *r->p != '"' || lines_string(r) != 0) return -1;
                lines_skip(r);
                if (r->p >= r->end || *r->p != ':') return -1;
                r->p++;
                lines_skip(r);
            }
            if (lines_value(r) != 0) return -1;
            count++;
            lines_skip(r);
            if (r->p < r->end && *r->p == ',') {
                r->p++;
                lines_skip(r);
                continue;
            }
            if (r->p < r->end && *r->p == close) {
                r->p++;
                break;
            }
            return -1;
        }
    }
    if (object) {
        lua_createtable(L, 0, count);
        for (int i = 0; i < count; i++) {
            lua_pushvalue(L, base + 2 * i + 1);
            lua_pushvalue(L, base + 2 * i + 2);
            lua_rawset(L, -3); /* a repeated key: the last one wins, as in push_object */
        }
    } else {
        lua_createtable(L, count, 0);
        for (int i = 0; i < count; i++) {
            lua_pushvalue(L, base + i + 1);
            lua_rawseti(L, -2, i + 1);
        }
        json_lua_mark_array(L, -1);
    }
    if (count > 0) { /* the table in place of the first member or element */
        lua_replace(L, base + 1);
        lua_settop(L, base + 1);
    }
    r->depth--;
    return 0;
}

static int lines_value(lines_reader *r)
{
    if (r->p >= r->end) return -1;
    switch (*r->p) {
    case '{': return lines_container(r, 1);
    case '[': return lines_container(r, 0);
    case '"': return lines_string(r);
    case 't':
        if (lines_literal(r, "true", 4) != 0) return -1;
        lua_pushboolean(r->L, 1);
        return 0;
    case 'f':
        if (lines_literal(r, "false", 5) != 0) return -1;
        lua_pushboolean(r->L, 0);
        return 0;
    case 'n':
        if (lines_literal(r, "null", 4) != 0) return -1;
        json_lua_push_null(r->L);
        return 0;
    default: return lines_number(r);
    }
}

static int is_line_space(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }

/* One non-blank line [s, e), already trimmed: an object with nothing after it. */
static int lines_document(lines_reader *r, const char *s, const char *e)
{
    r->p = s;
    r->end = e;
    r->depth = 0;
    if (*s != '{' || lines_container(r, 1) != 0) return -1;
    return r->p == r->end ? 0 : -1; /* the line is trimmed: nothing may follow the object */
}

int json_lua_push_lines(lua_State *L, const char *text, size_t len)
{
    int top = lua_gettop(L);
    const char *p = text, *end = text + len;
    lua_Integer count = 0;
    while (p < end) { /* the non-blank lines: the documents, when every one is read */
        const char *nl = memchr(p, '\n', (size_t)(end - p)), *eol = nl ? nl : end;
        for (const char *q = p; q < eol; q++)
            if (!is_line_space(*q)) {
                count++;
                break;
            }
        p = nl ? nl + 1 : end;
    }
    if (!lua_checkstack(L, 8)) return 0;
    lines_reader r = {L, NULL, NULL, 0, localeconv()->decimal_point[0]};
    lua_createtable(L, count > INT_MAX ? INT_MAX : (int)count, 0);
    lua_Integer i = 0;
    for (p = text; p < end;) {
        const char *nl = memchr(p, '\n', (size_t)(end - p)), *e = nl ? nl : end, *s = p;
        p = nl ? nl + 1 : end;
        while (e > s && is_line_space(e[-1])) e--;
        while (s < e && is_line_space(*s)) s++;
        if (s == e) continue;
        if (lines_document(&r, s, e) != 0) {
            lua_settop(L, top);
            return 0;
        }
        lua_rawseti(L, -2, ++i);
    }
    json_lua_mark_array(L, -1);
    return 1;
}

/* ---- Lua → JSON: the walker shared by text output and cJSON output ------------------ */

typedef struct path_item {
    const char *key;   /* object key, or NULL for an array index */
    size_t len;
    lua_Integer index; /* 1-based array index when key is NULL */
} path_item;

typedef struct walker {
    lua_State *L;
    buf *out;                              /* JSON text goes here; NULL when building cJSON */
    int indent;                            /* spaces per level; 0 = compact */
    int depth;                             /* open containers */
    path_item path[JSON_LUA_MAX_DEPTH + 1]; /* path[i]: key of the value inside container i */
    char *err;
    size_t errlen;
} walker;

typedef struct obj_key {
    const char *s;     /* string key (points into the Lua string), unless is_int */
    size_t len;
    int is_int;
    lua_Integer i;
    char num[24];      /* decimal text of an integer key */
} obj_key;

static int walk_value(walker *w, int idx, cJSON **node);

static cJSON *need(cJSON *p)
{
    if (!p) {
        fputs("evallua: out of memory\n", stderr);
        abort();
    }
    return p;
}

static void path_format(const walker *w, int count, buf *b)
{
    for (int i = 0; i < count; i++) {
        const path_item *p = &w->path[i];
        if (p->key) {
            if (i > 0) buf_putc(b, '.');
            buf_append(b, p->key, p->len);
        } else {
            buf_printf(b, "[%lld]", (long long)p->index);
        }
    }
}

/* Error about the thing at the first `count` path items; returns -1. */
static int walk_fail(walker *w, int count, const char *what)
{
    buf p = {0};
    path_format(w, count, &p);
    errf(w->err, w->errlen, "cannot encode %s at %s", what, p.len ? p.data : "the top level");
    buf_free(&p);
    return -1;
}

/* Length of the valid UTF-8 sequence at s (2..4 bytes), or 0 with *bad set to the length
 * of the invalid part to replace (the maximal prefix of a valid sequence, at least 1). */
static size_t utf8_seq(const unsigned char *s, size_t n, size_t *bad)
{
    unsigned char c = s[0], lo = 0x80, hi = 0xBF;
    size_t len;
    if (c >= 0xC2 && c <= 0xDF) len = 2;
    else if (c >= 0xE0 && c <= 0xEF) {
        len = 3;
        if (c == 0xE0) lo = 0xA0;      /* overlong */
        if (c == 0xED) hi = 0x9F;      /* surrogates */
    } else if (c >= 0xF0 && c <= 0xF4) {
        len = 4;
        if (c == 0xF0) lo = 0x90;      /* overlong */
        if (c == 0xF4) hi = 0x8F;      /* beyond U+10FFFF */
    } else {
        *bad = 1;
        return 0;
    }
    for (size_t i = 1; i < len; i++) {
        unsigned char min = i == 1 ? lo : 0x80, max = i == 1 ? hi : 0xBF;
        if (i >= n || s[i] < min || s[i] > max) {
            *bad = i;
            return 0;
        }
    }
    return len;
}

/* JSON escape for an ASCII byte, or NULL when it goes through as-is. */
static const char *escape_of(unsigned char c, char u[7])
{
    static const char hex[] = "0123456789abcdef";
    switch (c) {
    case '"': return "\\\"";
    case '\\': return "\\\\";
    case '\n': return "\\n";
    case '\r': return "\\r";
    case '\t': return "\\t";
    case '\b': return "\\b";
    case '\f': return "\\f";
    default:
        if (c >= 0x20) return NULL;
        memcpy(u, "\\u00", 4);
        u[4] = hex[c >> 4];
        u[5] = hex[c & 15];
        u[6] = '\0';
        return u;
    }
}

/* Append s with invalid UTF-8 replaced by U+FFFD; with `escape`, JSON-escaped. */
static void put_utf8(buf *b, const char *s, size_t n, int escape)
{
    const unsigned char *u = (const unsigned char *)s;
    size_t run = 0, i = 0; /* run: start of bytes not yet copied */
    while (i < n) {
        char ubuf[7];
        const char *esc = NULL;
        size_t take = 1, bad = 0;
        if (u[i] >= 0x80) take = utf8_seq(u + i, n - i, &bad);
        else if (escape) esc = escape_of(u[i], ubuf);
        if (take && !esc) {
            i += take;
            continue;
        }
        buf_append(b, s + run, i - run);
        buf_puts(b, esc ? esc : "\xEF\xBF\xBD");
        i += esc ? 1 : bad;
        run = i;
    }
    buf_append(b, s + run, n - run);
}

static void put_string(buf *b, const char *s, size_t n)
{
    buf_putc(b, '"');
    put_utf8(b, s, n, 1);
    buf_putc(b, '"');
}

/* Shortest decimal form of d that reads back as d, written like Python's repr(float):
 * fixed notation for exponents -4..15 (with ".0" when integral), else d.ddde+XX. */
static void format_double(double d, char *out, size_t outlen)
{
    char tmp[40];
    /* 15 significant digits always read back for a normal double when fewer would (the
     * trailing zeros are stripped below); subnormals have fewer digits of precision. */
    int first = fabs(d) < DBL_MIN ? 1 : 15;
    for (int prec = first; prec <= 17; prec++) {
        snprintf(tmp, sizeof tmp, "%.*e", prec - 1, d);
        if (prec == 17 || strtod(tmp, NULL) == d) break;
    }
    const char *p = tmp, *e = strchr(tmp, 'e');
    int neg = *p == '-', exp = atoi(e + 1);
    if (neg) p++;
    char digits[24];
    size_t nd = 0;
    for (; p < e; p++)
        if (*p != '.') digits[nd++] = *p;
    while (nd > 1 && digits[nd - 1] == '0') nd--;
    digits[nd] = '\0';
    buf b = {0};
    if (neg) buf_putc(&b, '-');
    if (exp < -4 || exp >= 16) {
        buf_putc(&b, digits[0]);
        if (nd > 1) buf_printf(&b, ".%s", digits + 1);
        buf_printf(&b, "e%c%02d", exp < 0 ? '-' : '+', abs(exp));
    } else if (exp < 0) {
        buf_printf(&b, "0.%.*s%s", -exp - 1, "0000", digits);
    } else {
        size_t ip = (size_t)exp + 1; /* digits before the point */
        buf_append(&b, digits, nd < ip ? nd : ip);
        for (size_t i = nd; i < ip; i++) buf_putc(&b, '0');
        buf_printf(&b, ".%s", nd > ip ? digits + ip : "0");
    }
    snprintf(out, outlen, "%s", buf_str(&b));
    buf_free(&b);
}

static void put_newline(walker *w, int level)
{
    if (w->indent <= 0) return;
    buf_putc(w->out, '\n');
    for (int i = 0; i < level * w->indent; i++) buf_putc(w->out, ' ');
}

static int emit_number(walker *w, int idx, cJSON **node)
{
    lua_State *L = w->L;
    if (lua_isinteger(L, idx)) {
        lua_Integer i = lua_tointeger(L, idx);
        if (w->out) buf_printf(w->out, "%lld", (long long)i);
        else *node = need(cJSON_CreateNumber((double)i));
        return 0;
    }
    double d = lua_tonumber(L, idx);
    if (!isfinite(d)) {
        if (w->out) buf_puts(w->out, "null");
        else *node = need(cJSON_CreateNull());
        return 0;
    }
    if (w->out) {
        char s[40];
        format_double(d, s, sizeof s);
        buf_puts(w->out, s);
    } else {
        *node = need(cJSON_CreateNumber(d));
    }
    return 0;
}

static int emit_string(walker *w, const char *s, size_t n, cJSON **node)
{
    if (w->out) {
        put_string(w->out, s, n);
        return 0;
    }
    buf clean = {0};
    put_utf8(&clean, s, n, 0);
    *node = need(cJSON_CreateString(buf_str(&clean)));
    buf_free(&clean);
    return 0;
}

static int emit_literal(walker *w, const char *text, cJSON *(*make)(void), cJSON **node)
{
    if (w->out) buf_puts(w->out, text);
    else *node = need(make());
    return 0;
}

static cJSON *make_true(void) { return cJSON_CreateTrue(); }
static cJSON *make_false(void) { return cJSON_CreateFalse(); }
static cJSON *make_null(void) { return cJSON_CreateNull(); }

/* ---- tables ---------------------------------------------------------------------------- */

enum { KIND_FAIL = -1, KIND_OBJECT = 0, KIND_ARRAY = 1 };

/* Array (with *n elements) or object, by the marker or by keys exactly 1..n. */
static int table_kind(walker *w, int idx, lua_Integer *n)
{
    lua_State *L = w->L;
    lua_Integer count = 0, max = 0;
    int ints_only = 1;
    lua_pushnil(L);
    while (lua_next(L, idx)) {
        lua_pop(L, 1);
        if (lua_isinteger(L, -1) && lua_tointeger(L, -1) >= 1) {
            lua_Integer k = lua_tointeger(L, -1);
            if (k > max) max = k;
            count++;
        } else {
            ints_only = 0;
        }
    }
    *n = max;
    if (json_lua_is_array(L, idx)) {
        if (!ints_only) return walk_fail(w, w->depth, "an array with a non-integer key");
        if (max - count > count + 1024) return walk_fail(w, w->depth, "an array this sparse");
        return KIND_ARRAY;
    }
    return ints_only && count > 0 && max == count ? KIND_ARRAY : KIND_OBJECT;
}

static int walk_array(walker *w, int idx, lua_Integer n, cJSON **node)
{
    lua_State *L = w->L;
    if (w->out) buf_putc(w->out, '[');
    else *node = need(cJSON_CreateArray());
    for (lua_Integer i = 1; i <= n; i++) {
        if (w->out && i > 1) buf_putc(w->out, ',');
        if (w->out) put_newline(w, w->depth);
        w->path[w->depth - 1] = (path_item){NULL, 0, i};
        lua_rawgeti(L, idx, i);
        cJSON *child = NULL;
        int rc = walk_value(w, lua_gettop(L), &child);
        lua_pop(L, 1);
        if (child) cJSON_AddItemToArray(*node, child);
        if (rc != 0) return -1;
    }
    if (w->out && n > 0) put_newline(w, w->depth - 1);
    if (w->out) buf_putc(w->out, ']');
    return 0;
}

static const char *key_text(const obj_key *k)
{
    return k->is_int ? k->num : k->s;
}

static int key_cmp(const void *a, const void *b)
{
    const obj_key *x = a, *y = b;
    size_t n = x->len < y->len ? x->len : y->len;
    int c = memcmp(key_text(x), key_text(y), n);
    if (c) return c;
    return x->len < y->len ? -1 : x->len > y->len;
}

/* The table's keys, sorted; NULL (error set) for a key that is not a string or integer,
 * or two keys with the same text. free() the result. */
static obj_key *collect_keys(walker *w, int idx, size_t *nkeys)
{
    lua_State *L = w->L;
    size_t n = 0, cap = 8;
    obj_key *keys = xmalloc(cap * sizeof *keys);
    lua_pushnil(L);
    while (lua_next(L, idx)) {
        lua_pop(L, 1);
        if (n == cap) keys = xrealloc(keys, (cap *= 2) * sizeof *keys);
        obj_key *k = &keys[n++];
        memset(k, 0, sizeof *k);
        if (lua_isinteger(L, -1)) {
            k->is_int = 1;
            k->i = lua_tointeger(L, -1);
            k->len = (size_t)snprintf(k->num, sizeof k->num, "%lld", (long long)k->i);
        } else if (lua_type(L, -1) == LUA_TSTRING) {
            k->s = lua_tolstring(L, -1, &k->len); /* stays valid: the key is in the table */
        } else {
            char what[64];
            snprintf(what, sizeof what, "a key of type %s", luaL_typename(L, -1));
            lua_pop(L, 1);
            free(keys);
            walk_fail(w, w->depth - 1, what);
            return NULL;
        }
    }
    qsort(keys, n, sizeof *keys, key_cmp);
    for (size_t i = 1; i < n; i++) {
        if (key_cmp(&keys[i - 1], &keys[i]) == 0) {
            char what[128];
            snprintf(what, sizeof what, "a duplicate key \"%.80s\"", key_text(&keys[i]));
            free(keys);
            walk_fail(w, w->depth - 1, what);
            return NULL;
        }
    }
    *nkeys = n;
    return keys;
}

static int walk_member(walker *w, int idx, const obj_key *k, cJSON *obj)
{
    lua_State *L = w->L;
    const char *text = key_text(k);
    if (w->out) {
        put_string(w->out, text, k->len);
        buf_puts(w->out, w->indent > 0 ? ": " : ":");
    }
    if (k->is_int) lua_pushinteger(L, k->i);
    else lua_pushlstring(L, k->s, k->len);
    lua_rawget(L, idx);
    w->path[w->depth - 1] = (path_item){text, k->len, 0};
    cJSON *child = NULL;
    int rc = walk_value(w, lua_gettop(L), &child);
    lua_pop(L, 1);
    if (child) {
        buf clean = {0};
        put_utf8(&clean, text, k->len, 0);
        cJSON_AddItemToObject(obj, buf_str(&clean), child);
        buf_free(&clean);
    }
    return rc;
}

static int walk_object(walker *w, int idx, cJSON **node)
{
    size_t n = 0;
    obj_key *keys = collect_keys(w, idx, &n);
    if (!keys) return -1;
    int rc = 0;
    if (w->out) buf_putc(w->out, '{');
    else *node = need(cJSON_CreateObject());
    for (size_t i = 0; i < n && rc == 0; i++) {
        if (w->out && i > 0) buf_putc(w->out, ',');
        if (w->out) put_newline(w, w->depth);
        rc = walk_member(w, idx, &keys[i], node ? *node : NULL);
    }
    if (rc == 0 && w->out) {
        if (n > 0) put_newline(w, w->depth - 1);
        buf_putc(w->out, '}');
    }
    free(keys);
    return rc;
}

static int walk_table(walker *w, int idx, cJSON **node)
{
    if (w->depth >= JSON_LUA_MAX_DEPTH || !lua_checkstack(w->L, 8))
        return errf(w->err, w->errlen, "nested too deeply (cycle?)");
    lua_Integer n = 0;
    int kind = table_kind(w, idx, &n);
    if (kind == KIND_FAIL) return -1;
    w->depth++;
    int rc = kind == KIND_ARRAY ? walk_array(w, idx, n, node) : walk_object(w, idx, node);
    w->depth--;
    return rc;
}

static int walk_value(walker *w, int idx, cJSON **node)
{
    lua_State *L = w->L;
    size_t n;
    const char *s;
    switch (lua_type(L, idx)) {
    case LUA_TNIL: return emit_literal(w, "null", make_null, node);
    case LUA_TBOOLEAN:
        if (lua_toboolean(L, idx)) return emit_literal(w, "true", make_true, node);
        return emit_literal(w, "false", make_false, node);
    case LUA_TNUMBER: return emit_number(w, idx, node);
    case LUA_TSTRING:
        s = lua_tolstring(L, idx, &n);
        return emit_string(w, s, n, node);
    case LUA_TTABLE: return walk_table(w, idx, node);
    case LUA_TLIGHTUSERDATA:
        if (json_lua_is_null(L, idx)) return emit_literal(w, "null", make_null, node);
        return walk_fail(w, w->depth, "a light userdata");
    case LUA_TFUNCTION: return walk_fail(w, w->depth, "a function");
    default: {
        char what[64];
        snprintf(what, sizeof what, "a %s", luaL_typename(L, idx));
        return walk_fail(w, w->depth, what);
    }
    }
}

int json_lua_encode(lua_State *L, int idx, buf *out, int indent, char *err, size_t errlen)
{
    walker w = {.L = L, .out = out, .indent = indent, .err = err, .errlen = errlen};
    int top = lua_gettop(L);
    size_t start = out->len;
    int rc = walk_value(&w, lua_absindex(L, idx), NULL);
    lua_settop(L, top);
    if (rc != 0 && out->data) {
        out->len = start;
        out->data[start] = '\0';
    }
    return rc;
}

cJSON *json_lua_to_cjson(lua_State *L, int idx, char *err, size_t errlen)
{
    walker w = {.L = L, .out = NULL, .err = err, .errlen = errlen};
    int top = lua_gettop(L);
    cJSON *root = NULL;
    int rc = walk_value(&w, lua_absindex(L, idx), &root);
    lua_settop(L, top);
    if (rc != 0) {
        cJSON_Delete(root);
        return NULL;
    }
    return root;
}
