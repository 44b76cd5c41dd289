/* lua_pool.c — a pooled lua_Alloc (see lua_pool.h).
 *
 * Blocks of up to POOL_MAX_BYTES are rounded up to a multiple of POOL_GRAIN; each size class
 * has a free list, refilled from POOL_CHUNK_BYTES chunks. Larger blocks go to malloc. Lua
 * passes a block's size back on every realloc and free, so a block needs no header. The pool
 * counts the blocks it has handed out; when the count returns to zero the state has been
 * closed (the state's own block is the first allocated and the last freed), and the pool
 * frees its chunks and itself. Each pool belongs to one lua_State, used by one thread. */
#include "lua_pool.h"

#include <lauxlib.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#if defined(__SANITIZE_ADDRESS__)
#define LUA_POOL_OFF 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define LUA_POOL_OFF 1
#endif
#endif

#ifndef LUA_POOL_OFF /* sanitizer builds: luaL_newstate's allocator, see lua_pool_newstate */

#define POOL_GRAIN 16
#define POOL_MAX_BYTES 256
#define POOL_CLASSES (POOL_MAX_BYTES / POOL_GRAIN)
#define POOL_CHUNK_BYTES (256 * 1024)

typedef struct pool_block {
    struct pool_block *next;
} pool_block;

typedef struct pool_chunk {
    struct pool_chunk *next;
} pool_chunk;

typedef struct lua_pool {
    pool_block *free_list[POOL_CLASSES]; /* class k holds blocks of (k + 1) * POOL_GRAIN bytes */
    char *bump, *bump_end;               /* the unused rest of the newest chunk */
    pool_chunk *chunks;                  /* every chunk, newest first */
    size_t live;                         /* blocks handed out, pooled or malloc'd */
    int open;                            /* lua_newstate returned: the last free closes */
    int warn_on, warn_cont;              /* lua_warn: "@on" seen; a message continues */
} lua_pool;

/* Size class of n bytes (n > 0), or -1 for a block malloc serves. */
static int pool_class(size_t n)
{
    return n <= POOL_MAX_BYTES ? (int)((n - 1) / POOL_GRAIN) : -1;
}

static void *pool_take(lua_pool *p, int k)
{
    pool_block *b = p->free_list[k];
    if (b) {
        p->free_list[k] = b->next;
        return b;
    }
    size_t size = (size_t)(k + 1) * POOL_GRAIN;
    if ((size_t)(p->bump_end - p->bump) < size) {
        pool_chunk *c = malloc(POOL_CHUNK_BYTES);
        if (!c) return NULL;
        c->next = p->chunks;
        p->chunks = c;
        p->bump = (char *)c + POOL_GRAIN; /* the chunk header, padded to keep 16-byte alignment */
        p->bump_end = (char *)c + POOL_CHUNK_BYTES;
    }
    void *out = p->bump;
    p->bump += size;
    return out;
}

static void pool_give(lua_pool *p, void *ptr, int k)
{
    pool_block *b = ptr;
    b->next = p->free_list[k];
    p->free_list[k] = b;
}

static void pool_destroy(lua_pool *p)
{
    pool_chunk *c = p->chunks;
    while (c) {
        pool_chunk *next = c->next;
        free(c);
        c = next;
    }
    free(p);
}

/* A new block of n bytes (n > 0). */
static void *pool_alloc(lua_pool *p, size_t n)
{
    int k = pool_class(n);
    void *out = k >= 0 ? pool_take(p, k) : malloc(n);
    if (out) p->live++;
    return out;
}

/* Free ptr, a block of n bytes; the pool goes with the state's last block. */
static void pool_free(lua_pool *p, void *ptr, size_t n)
{
    int k = pool_class(n);
    if (k >= 0) pool_give(p, ptr, k);
    else free(ptr);
    if (--p->live == 0 && p->open) pool_destroy(p);
}

static void *pool_realloc(lua_pool *p, void *ptr, size_t osize, size_t nsize)
{
    int ko = pool_class(osize), kn = pool_class(nsize);
    if (ko == kn && ko >= 0) return ptr;
    if (ko < 0 && kn < 0) return realloc(ptr, nsize);
    void *out = kn >= 0 ? pool_take(p, kn) : malloc(nsize);
    if (!out) return nsize <= osize ? ptr : NULL; /* Lua expects a shrink to succeed */
    memcpy(out, ptr, osize < nsize ? osize : nsize);
    if (ko >= 0) pool_give(p, ptr, ko);
    else free(ptr);
    return out;
}

/* The lua_Alloc: ptr NULL allocates (osize is then a type tag, not a size). */
static void *pool_lua_alloc(void *ud, void *ptr, size_t osize, size_t nsize)
{
    lua_pool *p = ud;
    if (nsize == 0) {
        if (ptr) pool_free(p, ptr, osize);
        return NULL;
    }
    if (!ptr) return pool_alloc(p, nsize);
    return pool_realloc(p, ptr, osize, nsize);
}

static int pool_panic(lua_State *L)
{
    const char *msg = lua_tostring(L, -1);
    lua_writestringerror("PANIC: unprotected error in call to Lua API (%s)\n",
                         msg ? msg : "error object is not a string");
    return 0; /* Lua aborts, as with luaL_newstate's handler */
}

/* Warnings as luaL_newstate's handler treats them: off until "@on", "@off" turns them off;
   the pieces of a message go to stderr after "Lua warning: ". */
static void pool_warn(void *ud, const char *msg, int tocont)
{
    lua_pool *p = ud;
    if (!p->warn_cont && *msg == '@') { /* a control message */
        if (strcmp(msg, "@on") == 0) p->warn_on = 1;
        else if (strcmp(msg, "@off") == 0) p->warn_on = 0;
        return;
    }
    if (p->warn_on) {
        if (!p->warn_cont) lua_writestringerror("%s", "Lua warning: ");
        lua_writestringerror("%s", msg);
        if (!tocont) lua_writestringerror("%s", "\n");
    }
    p->warn_cont = tocont;
}


#endif /* LUA_POOL_OFF */

lua_State *lua_pool_newstate(void)
{
#ifdef LUA_POOL_OFF
    return luaL_newstate();
#else
    lua_pool *p = calloc(1, sizeof *p);
    if (!p) return NULL;
    lua_State *L = lua_newstate(pool_lua_alloc, p);
    if (!L) {
        pool_destroy(p); /* whatever lua_newstate took it gave back */
        return NULL;
    }
    p->open = 1;
    lua_atpanic(L, pool_panic);
    lua_setwarnf(L, pool_warn, p);
    return L;
#endif
}
