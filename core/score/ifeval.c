/* ifeval.c — IFEval: building instructions from their kwargs, the strict and loose
 * response variants, and the public API (see ifeval.h). The checks themselves are in
 * ifeval_checks.c; their text primitives in ifeval_text.c, ifeval_punkt.c, ifeval_lang.c.
 *
 * lm-eval's utils.py: kwargs = {k: v for k, v in kwargs.items() if v}; the instruction is
 * built with them; followed = response.strip() and check_following(response), for the
 * response (strict) or any of its 8 variants (loose). */
#include "score/ifeval.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "score/ifeval_impl.h"
#include "score/metrics.h"
#include "score/text_metrics.h"
#include "util/buf.h"

/* --- one-time set-up ------------------------------------------------------------------------ */

static void init_once(void)
{
    ifv_text_init();
    ifv_punkt_init();
    ifv_lang_init();
    ifv_checks_init();
}

void ifv_init(void)
{
    static pthread_once_t once = PTHREAD_ONCE_INIT;
    pthread_once(&once, init_once);
}

/* --- kwargs --------------------------------------------------------------------------------- */

/* Python bool(v) for a JSON value. */
static int truthy(const cJSON *v)
{
    if (!v || cJSON_IsNull(v) || cJSON_IsFalse(v)) return 0;
    if (cJSON_IsNumber(v)) return v->valuedouble != 0;
    if (cJSON_IsString(v)) return v->valuestring && v->valuestring[0];
    if (cJSON_IsArray(v) || cJSON_IsObject(v)) return v->child != NULL;
    return 1;
}

const cJSON *ifv_kw(const cJSON *kw, const char *name)
{
    const cJSON *v = kw ? cJSON_GetObjectItemCaseSensitive(kw, name) : NULL;
    return truthy(v) ? v : NULL;
}

static int missing(const ifv_instr *in, const char *name, const char *what, char *err,
                   size_t errlen)
{
    return errf(err, errlen, "ifeval: %s needs kwarg '%s' (%s); lm-eval would draw a random "
                "one", in->spec->id, name, what);
}

int ifv_kw_num(const ifv_instr *in, const cJSON *kw, const char *name, double *out, char *err,
               size_t errlen)
{
    const cJSON *v = ifv_kw(kw, name);
    if (!v) return missing(in, name, "a positive number", err, errlen);
    if (!cJSON_IsNumber(v) || v->valuedouble < 0)
        return errf(err, errlen, "ifeval: %s: kwarg '%s' must be a number >= 0",
                    in->spec->id, name);
    *out = v->valuedouble;
    return 0;
}

int ifv_kw_str(const ifv_instr *in, const cJSON *kw, const char *name, int strip, char **out,
               char *err, size_t errlen)
{
    const cJSON *v = ifv_kw(kw, name);
    if (!v) return missing(in, name, "a string", err, errlen);
    if (!cJSON_IsString(v))
        return errf(err, errlen, "ifeval: %s: kwarg '%s' must be a string", in->spec->id, name);
    *out = strip ? text_strip(v->valuestring) : xstrdup(v->valuestring);
    return 0;
}

int ifv_kw_relation(const ifv_instr *in, const cJSON *kw, const char *name, char *err,
                    size_t errlen)
{
    const cJSON *v = ifv_kw(kw, name);
    if (!v) return missing(in, name, "\"less than\" or \"at least\"", err, errlen);
    if (cJSON_IsString(v) && strcmp(v->valuestring, "less than") == 0) return 1;
    if (cJSON_IsString(v) && strcmp(v->valuestring, "at least") == 0) return 0;
    return errf(err, errlen, "ifeval: %s: kwarg '%s' must be \"less than\" or \"at least\"",
                in->spec->id, name);
}

static int cmp_words(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

int ifv_kw_words(ifv_instr *in, const cJSON *kw, const char *name, int dedup, char *err,
                 size_t errlen)
{
    const cJSON *v = ifv_kw(kw, name), *item;
    if (!v) return missing(in, name, "a list of strings", err, errlen);
    if (!cJSON_IsArray(v))
        return errf(err, errlen, "ifeval: %s: kwarg '%s' must be a list of strings",
                    in->spec->id, name);
    in->words = xcalloc((size_t)cJSON_GetArraySize(v) + 1, sizeof *in->words);
    cJSON_ArrayForEach(item, v) {
        if (!cJSON_IsString(item))
            return errf(err, errlen, "ifeval: %s: kwarg '%s' must be a list of strings",
                        in->spec->id, name);
        in->words[in->n_words++] = xstrdup(item->valuestring);
    }
    qsort(in->words, in->n_words, sizeof *in->words, cmp_words);
    if (dedup && in->n_words) { /* list(set(words)), then sorted */
        size_t w = 1;
        for (size_t r = 1; r < in->n_words; r++) {
            if (strcmp(in->words[r], in->words[w - 1]) == 0) free(in->words[r]);
            else in->words[w++] = in->words[r];
        }
        in->n_words = w;
    }
    return 0;
}

int ifv_add_regex(ifv_instr *in, const char *pattern, char *err, size_t errlen)
{
    char msg[256];
    regex *re = regex_compile(pattern, msg, sizeof msg);
    if (!re) return errf(err, errlen, "ifeval: %s: %s", in->spec->id, msg);
    in->res = xrealloc(in->res, (in->n_res + 1) * sizeof *in->res);
    in->res[in->n_res++] = re;
    return 0;
}

/* --- building instructions ------------------------------------------------------------------ */

static const ifv_spec *find_spec(const char *id)
{
    for (size_t i = 0; i < ifv_n_specs; i++)
        if (strcmp(ifv_specs[i].id, id) == 0) return &ifv_specs[i];
    return NULL;
}

static void instr_free(ifv_instr *in)
{
    free(in->str);
    for (size_t i = 0; i < in->n_words; i++) free(in->words[i]);
    free(in->words);
    for (size_t i = 0; i < in->n_res; i++) regex_free(in->res[i]);
    free(in->res);
    memset(in, 0, sizeof *in);
}

/* 1 when name is one of the space-separated keys. */
static int takes_key(const char *keys, const char *name)
{
    size_t n = strlen(name);
    for (const char *p = keys; *p;) {
        size_t k = strcspn(p, " ");
        if (k == n && strncmp(p, name, n) == 0) return 1;
        p += k + (p[k] == ' ');
    }
    return 0;
}

/* Build instruction id from kwargs: build_description(**{k: v for k, v if v}). */
static int instr_build(ifv_instr *in, const char *id, const cJSON *kw, char *err,
                       size_t errlen)
{
    memset(in, 0, sizeof *in);
    if (!(in->spec = find_spec(id)))
        return errf(err, errlen, "ifeval: unknown instruction id '%s'", id);
    if (kw && !cJSON_IsObject(kw))
        return errf(err, errlen, "ifeval: %s: kwargs must be an object", id);
    const cJSON *item;
    cJSON_ArrayForEach(item, kw) {
        if (truthy(item) && !takes_key(in->spec->keys, item->string))
            return errf(err, errlen, "ifeval: %s does not take kwarg '%s'%s%s%s", id,
                        item->string, *in->spec->keys ? " (it takes: " : "", in->spec->keys,
                        *in->spec->keys ? ")" : "");
    }
    if (in->spec->prep && in->spec->prep(in, kw, err, errlen) != 0) {
        instr_free(in);
        return -1;
    }
    return 0;
}

/* --- response variants --------------------------------------------------------------------- */

#define N_VARIANTS 8

/* "\n".join(lines[from:to]).strip() of the response split on "\n" (to may be negative). */
static char *join_lines(const char *s, long from, long to_end)
{
    long n_lines = 1;
    for (const char *p = s; (p = strchr(p, '\n')); p++) n_lines++;
    long stop = n_lines + to_end; /* to_end is 0 or -1 */
    const char *a = s;
    for (long i = 0; i < from && a; i++) a = strchr(a, '\n') ? strchr(a, '\n') + 1 : NULL;
    if (!a || from >= stop) return xstrdup("");
    const char *b = a;
    for (long i = from; i < stop - 1; i++) b = strchr(b, '\n') + 1;
    b += strcspn(b, "\n");
    char *part = xstrndup(a, (size_t)(b - a)), *out = text_strip(part);
    free(part);
    return out;
}

/* utils.test_instruction_following_loose's all_responses, in its order. */
static void make_variants(const char *response, char *v[N_VARIANTS])
{
    v[0] = xstrdup(response);
    v[1] = text_replace(response, "*", "");
    v[2] = join_lines(response, 1, 0);
    v[3] = join_lines(response, 0, -1);
    v[4] = join_lines(response, 1, -1);
    v[5] = text_replace(v[2], "*", "");
    v[6] = text_replace(v[3], "*", "");
    v[7] = text_replace(v[4], "*", "");
}

/* r.strip() and instruction.check_following(r) */
static int followed(const ifv_instr *in, const char *r)
{
    size_t k;
    for (const char *p = r; *p; p += k)
        if (!text_space_at(p, &k)) return in->spec->check(in, r) ? 1 : 0;
    return 0;
}

/* --- public API ---------------------------------------------------------------------------- */

size_t ifeval_n_instructions(void)
{
    return ifv_n_specs;
}

const char *ifeval_instruction_id(size_t i)
{
    return i < ifv_n_specs ? ifv_specs[i].id : NULL;
}

int ifeval_check_all(const char *const *ids, const cJSON *const *kwargs, size_t n,
                     const char *prompt, const char *response, int *strict, int *loose,
                     char *err, size_t errlen)
{
    (void)prompt; /* no registered instruction has a "prompt" arg (utils.py's rebuild) */
    ifv_init();
    char *v[N_VARIANTS] = {0};
    int rc = 0;
    for (size_t i = 0; i < n && rc == 0; i++) {
        ifv_instr in;
        if (instr_build(&in, ids[i], kwargs ? kwargs[i] : NULL, err, errlen) != 0) {
            rc = -1;
            break;
        }
        if (strict) strict[i] = followed(&in, response);
        if (loose) {
            if (!v[0]) make_variants(response, v);
            loose[i] = 0;
            for (int j = 0; j < N_VARIANTS && !loose[i]; j++) loose[i] = followed(&in, v[j]);
        }
        instr_free(&in);
    }
    for (int j = 0; j < N_VARIANTS; j++) free(v[j]);
    return rc;
}

int ifeval_check(const char *instruction_id, const cJSON *kwargs, const char *prompt,
                 const char *response, int loose, char *err, size_t errlen)
{
    int result = 0;
    if (ifeval_check_all(&instruction_id, &kwargs, 1, prompt, response,
                         loose ? NULL : &result, loose ? &result : NULL, err, errlen) != 0)
        return -1;
    return result;
}
