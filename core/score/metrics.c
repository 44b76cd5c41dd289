/* metrics.c — lm-eval metrics, text transforms, aggregation and bootstrap (see metrics.h). */
#include "score/metrics.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "util/buf.h"

/* --- UTF-8 -------------------------------------------------------------------------- */

#define UTF8_BAD 0x80000000u /* marks an invalid byte kept as is: UTF8_BAD | byte */

static int is_cont(unsigned char c) { return (c & 0xC0) == 0x80; }

/* Decode the code point at s (NUL-terminated); *n = bytes used (1 for an invalid byte). */
static uint32_t utf8_decode(const unsigned char *s, size_t *n)
{
    unsigned char c = s[0];
    *n = 1;
    if (c < 0x80) return c;
    size_t len = c >= 0xC2 && c <= 0xDF ? 2 : c >= 0xE0 && c <= 0xEF ? 3
               : c >= 0xF0 && c <= 0xF4 ? 4 : 0;
    if (!len) return UTF8_BAD | c;
    unsigned char lo = 0x80, hi = 0xBF; /* allowed range of the second byte */
    if (c == 0xE0) lo = 0xA0;
    if (c == 0xED) hi = 0x9F; /* no surrogates */
    if (c == 0xF0) lo = 0x90;
    if (c == 0xF4) hi = 0x8F;
    if (s[1] < lo || s[1] > hi) return UTF8_BAD | c;
    uint32_t cp = c & (0x7F >> len);
    for (size_t i = 1; i < len; i++) {
        if (!is_cont(s[i])) return UTF8_BAD | c;
        cp = cp << 6 | (s[i] & 0x3F);
    }
    *n = len;
    return cp;
}

static void utf8_put(buf *b, uint32_t cp)
{
    char t[4];
    if (cp & UTF8_BAD) buf_putc(b, (char)(cp & 0xFF));
    else if (cp < 0x80) buf_putc(b, (char)cp);
    else if (cp < 0x800) {
        t[0] = (char)(0xC0 | cp >> 6), t[1] = (char)(0x80 | (cp & 0x3F));
        buf_append(b, t, 2);
    } else if (cp < 0x10000) {
        t[0] = (char)(0xE0 | cp >> 12), t[1] = (char)(0x80 | (cp >> 6 & 0x3F));
        t[2] = (char)(0x80 | (cp & 0x3F));
        buf_append(b, t, 3);
    } else {
        t[0] = (char)(0xF0 | cp >> 18), t[1] = (char)(0x80 | (cp >> 12 & 0x3F));
        t[2] = (char)(0x80 | (cp >> 6 & 0x3F)), t[3] = (char)(0x80 | (cp & 0x3F));
        buf_append(b, t, 4);
    }
}

size_t utf8_len(const char *s)
{
    size_t n = 0;
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) n += !is_cont(*p);
    return n;
}

/* --- lower-case ------------------------------------------------------------------------- */

static int in(uint32_t c, uint32_t lo, uint32_t hi) { return c >= lo && c <= hi; }

/* Pairs laid out upper/lower alternately from an even (or odd) code point. */
static uint32_t pair_even(uint32_t c) { return c % 2 == 0 ? c + 1 : c; }
static uint32_t pair_odd(uint32_t c) { return c % 2 == 1 ? c + 1 : c; }

static uint32_t lower_latin(uint32_t c)
{
    if (in(c, 0xC0, 0xDE) && c != 0xD7) return c + 0x20;
    if (in(c, 0x100, 0x12F) || in(c, 0x132, 0x137) || in(c, 0x14A, 0x177)) return pair_even(c);
    if (in(c, 0x139, 0x148) || in(c, 0x179, 0x17E)) return pair_odd(c);
    if (c == 0x178) return 0xFF;
    if (in(c, 0x1E00, 0x1E95) || in(c, 0x1EA0, 0x1EFF)) return pair_even(c);
    if (c == 0x1E9E) return 0xDF;
    return c;
}

/* Latin Extended-B: the regular runs and the letters Romanian, Pinyin and DZ need. */
static uint32_t lower_latin_b(uint32_t c)
{
    if (in(c, 0x1DE, 0x1EF) || in(c, 0x1F8, 0x21F) || in(c, 0x222, 0x233)
        || in(c, 0x246, 0x24F)) return pair_even(c);
    if (in(c, 0x1CD, 0x1DC)) return pair_odd(c);
    if (c == 0x1C4 || c == 0x1C7 || c == 0x1CA || c == 0x1F1) return c + 2; /* DŽ LJ NJ DZ */
    if (c == 0x1C5 || c == 0x1C8 || c == 0x1CB || c == 0x1F2 || c == 0x1F4) return c + 1;
    if (c == 0x1F6) return 0x195;
    if (c == 0x1F7) return 0x1BF;
    if (c == 0x220) return 0x19E;
    return c;
}

/* Georgian, letter-like symbols, Roman numerals, circled letters, Glagolitic. */
static uint32_t lower_misc(uint32_t c)
{
    if (in(c, 0x10A0, 0x10C5) || c == 0x10C7 || c == 0x10CD) return c + 0x1C60;
    if (c == 0x2126) return 0x3C9; /* OHM SIGN -> omega */
    if (c == 0x212A) return 'k';   /* KELVIN SIGN */
    if (c == 0x212B) return 0xE5;  /* ANGSTROM SIGN -> å */
    if (in(c, 0x2160, 0x216F)) return c + 0x10;
    if (in(c, 0x24B6, 0x24CF)) return c + 0x1A;
    if (in(c, 0x2C00, 0x2C2F)) return c + 0x30;
    if (in(c, 0xFF21, 0xFF3A)) return c + 0x20; /* fullwidth A-Z */
    return c;
}

static uint32_t lower_greek(uint32_t c)
{
    if (c == 0x370 || c == 0x372 || c == 0x376) return c + 1;
    if (c == 0x37F) return 0x3F3;
    if (c == 0x386) return 0x3AC;
    if (in(c, 0x388, 0x38A)) return c + 0x25;
    if (c == 0x38C) return 0x3CC;
    if (c == 0x38E || c == 0x38F) return c + 0x3F;
    if (in(c, 0x391, 0x3AB) && c != 0x3A2) return c + 0x20;
    if (c == 0x3CF) return 0x3D7;
    if (in(c, 0x3D8, 0x3EF)) return pair_even(c);
    if (c == 0x3F4) return 0x3B8;
    if (c == 0x3F7 || c == 0x3FA) return c + 1;
    if (c == 0x3F9) return 0x3F2;
    if (in(c, 0x3FD, 0x3FF)) return c - 0x82;
    return c;
}

static uint32_t lower_cyrillic(uint32_t c)
{
    if (in(c, 0x400, 0x40F)) return c + 0x50;
    if (in(c, 0x410, 0x42F)) return c + 0x20;
    if (in(c, 0x460, 0x481) || in(c, 0x48A, 0x4BF) || in(c, 0x4D0, 0x52F)) return pair_even(c);
    if (c == 0x4C0) return 0x4CF;
    if (in(c, 0x4C1, 0x4CE)) return pair_odd(c);
    return c;
}

/* Simple (one code point) lower-case mapping for the covered blocks. */
static uint32_t lower_cp(uint32_t c)
{
    if (c < 0x80) return in(c, 'A', 'Z') ? c + 0x20 : c;
    if (in(c, 0x180, 0x24F)) return lower_latin_b(c);
    if (c < 0x370 || in(c, 0x1E00, 0x1EFF)) return lower_latin(c);
    if (c < 0x400) return lower_greek(c);
    if (c < 0x530) return lower_cyrillic(c);
    if (in(c, 0x531, 0x556)) return c + 0x30; /* Armenian */
    return lower_misc(c);
}

/* Unicode "cased" (has case), approximated for the covered blocks. */
static int is_cased(uint32_t c)
{
    if (c < 0x80) return in(c, 'A', 'Z') || in(c, 'a', 'z');
    if (c < 0x100)
        return c == 0xAA || c == 0xB5 || c == 0xBA || (c >= 0xC0 && c != 0xD7 && c != 0xF7);
    return in(c, 0x100, 0x293) || in(c, 0x295, 0x2AF) || in(c, 0x370, 0x373) || c == 0x376
        || c == 0x377 || in(c, 0x37B, 0x37D) || c == 0x37F || c == 0x386
        || (in(c, 0x388, 0x3FF) && c != 0x3F6) || in(c, 0x400, 0x481) || in(c, 0x48A, 0x52F)
        || in(c, 0x531, 0x556) || in(c, 0x560, 0x588) || in(c, 0x1E00, 0x1EFF)
        || in(c, 0xFF21, 0xFF3A) || in(c, 0xFF41, 0xFF5A);
}

/* Unicode "case-ignorable", approximated: common apostrophes, dots and combining marks. */
static int is_case_ignorable(uint32_t c)
{
    return c == '\'' || c == '.' || c == ':' || c == '^' || c == '`' || c == 0xA8 || c == 0xAD
        || c == 0xAF || c == 0xB4 || c == 0xB7 || c == 0xB8 || in(c, 0x2B0, 0x36F)
        || c == 0x2018 || c == 0x2019 || c == 0x2024 || c == 0x2027;
}

/* Python's Final_Sigma rule for a capital sigma at cps[i]. */
static uint32_t lower_sigma(const uint32_t *cps, size_t n, size_t i)
{
    size_t j = i;
    while (j > 0 && is_case_ignorable(cps[j - 1])) j--;
    if (j == 0 || !is_cased(cps[j - 1])) return 0x3C3;
    j = i + 1;
    while (j < n && is_case_ignorable(cps[j])) j++;
    return j < n && is_cased(cps[j]) ? 0x3C3 : 0x3C2;
}

char *text_lower(const char *s)
{
    size_t len = strlen(s), n = 0, used;
    uint32_t *cps = xmalloc((len + 1) * sizeof *cps); /* (len) code points at most */
    for (const unsigned char *p = (const unsigned char *)s; *p; p += used)
        cps[n++] = utf8_decode(p, &used);
    buf out = {0};
    for (size_t i = 0; i < n; i++) {
        if (cps[i] == 0x130) { /* İ -> i + COMBINING DOT ABOVE, as Python does */
            utf8_put(&out, 'i');
            utf8_put(&out, 0x307);
        } else {
            utf8_put(&out, cps[i] == 0x3A3 ? lower_sigma(cps, n, i) : lower_cp(cps[i]));
        }
    }
    free(cps);
    return buf_steal(&out);
}

/* --- strip ------------------------------------------------------------------------------ */

int text_is_space(uint32_t c)
{
    return in(c, 0x09, 0x0D) || in(c, 0x1C, 0x20) || c == 0x85 || c == 0xA0 || c == 0x1680
        || in(c, 0x2000, 0x200A) || c == 0x2028 || c == 0x2029 || c == 0x202F || c == 0x205F
        || c == 0x3000;
}

char *text_strip(const char *s)
{
    const unsigned char *p = (const unsigned char *)s;
    size_t start = 0, end = strlen(s), used;
    while (start < end && text_is_space(utf8_decode(p + start, &used))) start += used;
    while (end > start) {
        size_t j = end - 1;
        while (j > start && is_cont(p[j]) && end - j < 4) j--;
        uint32_t cp = utf8_decode(p + j, &used);
        if (j + used != end || !text_is_space(cp)) break;
        end = j;
    }
    return xstrndup(s + start, end - start);
}

/* --- exact match -------------------------------------------------------------------------- */

/* Delete in place every byte of s found in set. */
static void delete_chars(char *s, const char *set)
{
    char *w = s;
    for (const char *r = s; *r; r++)
        if (!strchr(set, *r)) *w++ = *r;
    *w = '\0';
}

/* Python str.lower() in place when s is ASCII (the common case); else a new string. */
static char *lower_owned(char *s)
{
    for (char *p = s; *p; p++)
        if ((unsigned char)*p >= 0x80) {
            char *next = text_lower(s);
            free(s);
            return next;
        }
    for (char *p = s; *p; p++)
        if (*p >= 'A' && *p <= 'Z') *p = (char)(*p + 32);
    return s;
}

char *metric_em_normalize_sc(const char *s, const em_options *o, regex_scratch *sc)
{
    if (!o) return xstrdup(s);
    size_t len = strlen(s);
    char *cur = NULL; /* NULL while no regex has changed s */
    for (size_t i = 0; i < o->n_ignore; i++) {
        int status;
        char *next = regex_sub_len(o->ignore[i], cur ? cur : s, &len, "", sc, &status);
        if (status < 0) {
            free(cur);
            return NULL;
        }
        if (status) free(cur), cur = next;
    }
    if (!cur) cur = xstrndup(s, len);
    if (o->ignore_case) cur = lower_owned(cur);
    if (o->ignore_punctuation) delete_chars(cur, "!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~");
    if (o->ignore_numbers) delete_chars(cur, "0123456789");
    return cur;
}

char *metric_em_normalize(const char *s, const em_options *o)
{
    regex_scratch *sc = o && o->n_ignore ? regex_scratch_new() : NULL;
    if (o && o->n_ignore && !sc) return NULL;
    char *out = metric_em_normalize_sc(s, o, sc);
    regex_scratch_free(sc);
    return out;
}

int metric_exact_match(const char *pred, const char *ref, const em_options *o)
{
    char *p = metric_em_normalize(pred, o);
    char *r = p ? metric_em_normalize(ref, o) : NULL;
    int res = p && r ? strcmp(p, r) == 0 : -1;
    free(p);
    free(r);
    return res;
}

/* --- multiple choice ---------------------------------------------------------------------- */

/* How a choice's log-likelihood is scored before the argmax (lm-eval's process_results). */
typedef enum mc_mode { MC_RAW, MC_CHARS, MC_BYTES } mc_mode;

/* x[i], or x[i] divided by the choice's length in code points (MC_CHARS) or UTF-8 bytes
 * (MC_BYTES); a length of 0 counts as 1. */
static double mc_value(const double *x, const char *const *choices, mc_mode mode, size_t i)
{
    if (mode == MC_RAW) return x[i];
    size_t len = mode == MC_CHARS ? utf8_len(choices[i]) : strlen(choices[i]);
    return x[i] / (double)(len ? len : 1);
}

static size_t mc_argmax(const double *x, const char *const *choices, mc_mode mode, size_t n)
{
    size_t best = 0;
    double best_v = -INFINITY;
    for (size_t i = 0; i < n; i++) {
        double v = mc_value(x, choices, mode, i);
        if (isnan(v)) return i; /* numpy: the first NaN is the maximum */
        if (v > best_v || i == 0) best = i, best_v = v;
    }
    return best;
}

size_t metric_argmax(const double *x, size_t n) { return mc_argmax(x, NULL, MC_RAW, n); }

void metric_multiple_choice(const double *lls, const char *const *choices, size_t n, int gold,
                            int *acc, int *acc_norm)
{
    metric_multiple_choice_multi(lls, choices, n, &gold, 1, acc, acc_norm);
}

static int in_golds(size_t idx, const int *golds, size_t n_gold)
{
    for (size_t g = 0; g < n_gold; g++)
        if (golds[g] >= 0 && (size_t)golds[g] == idx) return 1;
    return 0;
}

void metric_multiple_choice_multi(const double *lls, const char *const *choices, size_t n,
                                  const int *golds, size_t n_gold, int *acc, int *acc_norm)
{
    mc_scores s;
    metric_mc_scores(lls, NULL, choices, n, golds, n_gold, &s);
    *acc = s.acc, *acc_norm = s.acc_norm;
}

/* argmax(ll_cond - ll_uncond), numpy semantics (the first NaN wins). */
static size_t mc_argmax_mutual_info(const double *lls, const double *uncond, size_t n)
{
    size_t best = 0;
    double best_v = -INFINITY;
    for (size_t i = 0; i < n; i++) {
        double v = lls[i] - uncond[i];
        if (isnan(v)) return i;
        if (v > best_v || i == 0) best = i, best_v = v;
    }
    return best;
}

void metric_mc_scores(const double *lls, const double *lls_uncond, const char *const *choices,
                      size_t n, const int *golds, size_t n_gold, mc_scores *out)
{
    memset(out, 0, sizeof *out);
    if (n == 0) return;
    out->acc = in_golds(mc_argmax(lls, NULL, MC_RAW, n), golds, n_gold);
    out->acc_norm = in_golds(mc_argmax(lls, choices, MC_CHARS, n), golds, n_gold);
    out->acc_bytes = in_golds(mc_argmax(lls, choices, MC_BYTES, n), golds, n_gold);
    if (lls_uncond)
        out->acc_mutual_info = in_golds(mc_argmax_mutual_info(lls, lls_uncond, n), golds, n_gold);
}

/* lm-eval's truthfulqa process_results_mc2, in its order of float operations:
 * p = exp(ll); denom = sum(p_true) + sum(p_false) (Python's sum: left to right from 0);
 * score = sum(p_true / denom). True choices are golds in their order, false ones the
 * other indices in ascending order (lm-eval: lls[:split] and lls[split:]). */
double metric_mc2(const double *lls, size_t n, const int *golds, size_t n_gold)
{
    double sum_true = 0.0, sum_false = 0.0;
    for (size_t g = 0; g < n_gold; g++)
        if (golds[g] >= 0 && (size_t)golds[g] < n) sum_true += exp(lls[golds[g]]);
    for (size_t i = 0; i < n; i++)
        if (!in_golds(i, golds, n_gold)) sum_false += exp(lls[i]);
    double denom = sum_true + sum_false, score = 0.0;
    for (size_t g = 0; g < n_gold; g++)
        if (golds[g] >= 0 && (size_t)golds[g] < n) score += exp(lls[golds[g]]) / denom;
    return score;
}

/* --- aggregation ------------------------------------------------------------------------ */

double agg_mean(const double *x, size_t n)
{
    if (n == 0) return NAN;
    double sum = 0.0;
    for (size_t i = 0; i < n; i++) sum += x[i];
    return sum / (double)n;
}

/* lm-eval's sample_stddev: sqrt(sum((x - mean)^2) / (n - 1)). */
static double sample_stddev(const double *x, size_t n)
{
    if (n < 2) return NAN;
    double mu = agg_mean(x, n), ss = 0.0;
    for (size_t i = 0; i < n; i++) ss += (x[i] - mu) * (x[i] - mu);
    return sqrt(ss / (double)(n - 1));
}

double agg_mean_stderr(const double *x, size_t n)
{
    return n < 2 ? NAN : sample_stddev(x, n) / sqrt((double)n);
}

double agg_perplexity(const double *ll, size_t n) { return exp(-agg_mean(ll, n)); }

double agg_apply(agg_kind kind, const double *x, size_t n)
{
    return kind == AGG_PERPLEXITY ? agg_perplexity(x, n) : agg_mean(x, n);
}

/* --- bootstrap ---------------------------------------------------------------------------- */

typedef struct xoshiro {
    uint64_t s[4];
} xoshiro;

static uint64_t splitmix64(uint64_t *state)
{
    uint64_t z = (*state += 0x9E3779B97F4A7C15u);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9u;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBu;
    return z ^ (z >> 31);
}

/* Stream `stream` of `seed`: outputs 4*stream .. 4*stream+3 of splitmix64(seed), so
 * streams never share a state word (and the state is never all zero). */
static void xoshiro_seed(xoshiro *r, uint64_t seed, uint64_t stream)
{
    uint64_t sm = seed + 4 * stream * 0x9E3779B97F4A7C15u;
    for (int i = 0; i < 4; i++) r->s[i] = splitmix64(&sm);
}

static uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

static uint64_t xoshiro_next(xoshiro *r)
{
    uint64_t *s = r->s;
    uint64_t out = rotl(s[1] * 5, 7) * 9, t = s[1] << 17;
    s[2] ^= s[0], s[3] ^= s[1], s[1] ^= s[2], s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 45);
    return out;
}

/* Uniform draws in [0, n) for n <= 2^32, two per xoshiro output: Lemire's
 * multiply-shift on each 32-bit half, rejecting the (n / 2^32-rare) biased low parts. */
typedef struct below32 {
    xoshiro rng;
    uint64_t n;
    uint32_t threshold; /* (2^32 - n) % n: low parts below it are rejected */
    uint32_t spare;     /* the unused high half of the last output */
    int has_spare;
} below32;

static uint32_t below32_next(below32 *b)
{
    for (;;) {
        uint32_t u;
        if (b->has_spare) u = b->spare, b->has_spare = 0;
        else {
            uint64_t r = xoshiro_next(&b->rng);
            u = (uint32_t)r, b->spare = (uint32_t)(r >> 32), b->has_spare = 1;
        }
        uint64_t m = (uint64_t)u * b->n;
        if ((uint32_t)m >= b->threshold) return (uint32_t)(m >> 32);
    }
}

/* Uniform in [0, n) for any n, by rejection on 64-bit outputs. */
static uint64_t below64(xoshiro *r, uint64_t n)
{
    uint64_t limit = UINT64_MAX - UINT64_MAX % n, v;
    while ((v = xoshiro_next(r)) >= limit) {}
    return v % n;
}

/* One bootstrap replicate: aggregate n draws with replacement from x. */
static double boot_replicate(const double *x, size_t n, agg_kind kind, uint64_t seed, int it)
{
    below32 b = {.n = n, .threshold = (uint32_t)((UINT64_C(1) << 32) % n)};
    xoshiro_seed(&b.rng, seed, (uint64_t)it);
    double acc[4] = {0, 0, 0, 0}; /* 4 chains hide the add latency; fixed order */
    if (n <= UINT32_MAX) {
        for (size_t k = 0; k < n; k++) acc[k & 3] += x[below32_next(&b)];
    } else {
        for (size_t k = 0; k < n; k++) acc[k & 3] += x[below64(&b.rng, n)];
    }
    double mean = ((acc[0] + acc[1]) + (acc[2] + acc[3])) / (double)n;
    return kind == AGG_PERPLEXITY ? exp(-mean) : mean;
}

double bootstrap_stderr(const double *x, size_t n, agg_kind kind, int iters, uint64_t seed)
{
    if (n == 0 || iters < 2) return NAN;
    double *reps = xmalloc((size_t)iters * sizeof *reps); /* (iters) one aggregate each */
#pragma omp parallel for schedule(static)
    for (int it = 0; it < iters; it++) reps[it] = boot_replicate(x, n, kind, seed, it);
    double sd = sample_stddev(reps, (size_t)iters);
    free(reps);
    return sd;
}
