/* test_text_metrics.c — SQuAD v2, DROP, BLEU, chrF, ROUGE, F1, MCC and "evallua.metrics".
 *
 * Every expected number below was printed by CPython 3.11.7 ('%.17g' % x) from the
 * reference implementation named next to it:
 *   SQuAD   the official evaluate-v2.0.py functions (normalize_answer, compute_exact,
 *           compute_f1, get_raw_scores, apply_no_ans_threshold, make_eval_dict,
 *           find_all_best_thresh), e.g. python3 -c "import evaluate_v2 as S;
 *           print('%.17g' % S.compute_f1('Denver Broncos', 'Denver'))"
 *   DROP    lm-evaluation-harness lm_eval/tasks/drop/utils.py @ 104c8250 (numpy 2.4.6,
 *           scipy 1.17.1), e.g. python3 -c "import utils as D;
 *           print(D.process_results({'answers': [('Smith', 'Jones')]}, ['Smith']))"
 *   BLEU    sacrebleu 2.6.0: python3 -c "import sacrebleu;
 *   chrF    print('%.17g' % sacrebleu.corpus_bleu(HYPS, [REFS1]).score)" (corpus_chrf,
 *           sentence_bleu, sentence_chrf alike; BLEU().tokenizer(s.rstrip()) for 13a)
 *   ROUGE   rouge-score 0.1.2: python3 -c "from rouge_score import rouge_scorer as r;
 *           s = r.RougeScorer(['rouge1','rouge2','rougeL','rougeLsum']).score(T, P);
 *           print(['%.17g' % s[k].fmeasure for k in s])"
 *   F1/MCC  scikit-learn 1.9.1: python3 -c "from sklearn.metrics import f1_score as f;
 *           print('%.17g' % f([1,0,1,1,0,1,0,0,1,1], [1,0,0,1,1,1,0,1,1,0]))" (and
 *           average='macro', matthews_corrcoef)
 * Besides these fixtures, the implementation was fuzzed against the same references
 * (random strings over tricky alphabets, tens of thousands of cases, no mismatch). */
#include <lauxlib.h>
#include <lua.h>
#include <lualib.h>
#include <omp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "check.h"
#include "score/ngram_metrics.h"
#include "score/text_metrics.h"

int luaopen_evallua_metrics(lua_State *L);

#define N_OF(a) (sizeof(a) / sizeof((a)[0]))

static void check_norm(char *got, const char *want)
{
    CHECK_STR(got, want);
    free(got);
}

/* --- Python str helpers (CPython 3.11 str.split / str.lower / str.replace) ------------ */

static void test_str_helpers(void)
{
    text_spans t = {0};
    text_split(" a\tbb\u00a0c\u2003 d\x1f", &t); /* NBSP, EM SPACE and \x1f are whitespace */
    CHECK(t.n == 4 && t.v[1].n == 2 && !strncmp(t.v[2].p, "c", t.v[2].n));
    free(t.v);
    check_norm(text_join_ws("  x \n y\u3000z  "), "x y z");
    check_norm(text_lower_fast("MiXeD 123"), "mixed 123");
    check_norm(text_lower_fast("\u00c9COLE"), "\u00e9cole"); /* non-ASCII: text_lower */
    check_norm(text_replace("aXbXXc", "X", "--"), "a--b----c");
    size_t k;
    CHECK(text_space_at("\u2028", &k) && k == 3 && !text_space_at("\u200b", &k));
}

/* --- SQuAD v2 (official evaluate-v2.0.py) --------------------------------------------- */

static void test_squad_normalize(void)
{
    check_norm(squad_normalize("The  Cat's, an   apple!"), "cats apple");
    /* \b is Unicode-aware: "théa" keeps its "th", "the" before a tab goes */
    check_norm(squad_normalize("Th\u00e9a met the\tboy-scouts"), "th\u00e9a met boyscouts");
    check_norm(squad_normalize("A"), "");
    check_norm(squad_normalize("\u00c0N \u00c9LAN"), "\u00e0n \u00e9lan");
}

static void squad_one(const char *pred, const char *const *golds, size_t n, double ex, double f1)
{
    double e, f;
    squad_score(pred, golds, n, &e, &f);
    CHECK(e == ex);
    CHECK(f == f1);
}

static void test_squad_scores(void)
{
    const char *g1[] = {"Denver Broncos", "The Denver Broncos"};
    squad_one("the Denver Broncos", g1, 2, 1, 1);
    squad_one("Denver", g1, 1, 0, 0.66666666666666663);
    squad_one("", NULL, 0, 1, 1);          /* unanswerable: only "" is right */
    squad_one("something", NULL, 0, 0, 0);
    const char *articles[] = {"the", "a"}; /* golds that normalise to "" count as none */
    squad_one("", articles, 2, 1, 1);
    const char *bag[] = {"b b b d"};       /* token multisets: 2 common of 3 and 4 */
    squad_one("a b b c", bag, 1, 0, 0.57142857142857151);
    const char *g2[] = {"Denver Broncos", "Panthers"};
    squad_one("Carolina Panthers", g2, 2, 0, 0.66666666666666663);
}

static void check_v2(const squad_v2_summary *s, double best_exact_thresh, double best_f1,
                     double best_f1_thresh)
{
    CHECK(s->exact == 33.333333333333336 && s->f1 == 44.444444444444436 && s->total == 6);
    CHECK(s->has_ans_exact == 25 && s->has_ans_f1 == 41.666666666666664 && s->has_ans_total == 4);
    CHECK(s->no_ans_exact == 50 && s->no_ans_f1 == 50 && s->no_ans_total == 2);
    CHECK(s->best_exact == 50 && s->best_exact_thresh == best_exact_thresh);
    CHECK(s->best_f1 == best_f1 && s->best_f1_thresh == best_f1_thresh);
}

static void test_squad_v2_summary(void)
{
    const char *preds[6] = {"Denver Broncos", "", "Panthers", "1990s", "", "Beyonce"};
    const char *golds[5] = {"Denver Broncos", "Carolina Panthers", "late 1990s", "Beyonc\u00e9"};
    const size_t off[7] = {0, 1, 1, 2, 2, 3, 4};
    const int has[6] = {1, 0, 1, 0, 1, 1};
    const double na[6] = {0.1, 0.9, 0.3, 0.2, 0.7, 0.3};
    double ex[6], f1[6];
    squad_score_bulk(preds, golds, off, 6, ex, f1);
    squad_v2_summary s;
    squad_v2_summarize(preds, ex, f1, has, NULL, 6, 1.0, &s); /* HF evaluate's defaults */
    check_v2(&s, 0, 61.111111111111107, 0);
    squad_v2_summarize(preds, ex, f1, has, na, 6, 1.0, &s);
    check_v2(&s, 0.10000000000000001, 50, 0.10000000000000001);
    squad_v2_summarize(preds, ex, f1, has, na, 6, 0.5, &s);
    check_v2(&s, 0.10000000000000001, 50, 0.10000000000000001);
}

/* --- DROP (lm-eval drop/utils.py) -------------------------------------------------------- */

static void test_drop_normalize(void)
{
    check_norm(drop_normalize("The 1,000 dollars"), "1000.0 dollars");
    check_norm(drop_normalize("$5.50"), "550.0"); /* punctuation goes before float() */
    check_norm(drop_normalize("twenty-five"), "twenty five");
    check_norm(drop_normalize("1e3 yards"), "1000.0 yards");
    check_norm(drop_normalize("NaN"), "nan");
    check_norm(drop_normalize("a"), "");
    check_norm(drop_normalize("  the  Big-Dog."), "big dog");
    check_norm(drop_normalize("1_000"), "1000.0");
    check_norm(drop_normalize("-5"), "5.0"); /* '-' splits tokens */
}

static void drop_one(const char *pred, const drop_answer *golds, size_t n, double em, double f1)
{
    double e, f;
    drop_score(pred, golds, n, &e, &f);
    CHECK(e == em);
    CHECK(f == f1);
}

static void test_drop_scores(void)
{
    const char *s1000[] = {"1000"}, *one_k[] = {"one thousand"}, *smith[] = {"Smith", "Jones"};
    const char *yards[] = {"5 yards"}, *blank[] = {" "}, *jets[] = {"New York Jets"};
    const char *date[] = {"12 June 1999"}, *f435[] = {"43.5"}, *f43[] = {"43"};
    drop_one("1,000", (drop_answer[]){{s1000, 1}, {one_k, 1}}, 2, 1, 1);
    drop_one("Smith", (drop_answer[]){{smith, 2}}, 1, 0, 0.5);
    drop_one("6 yards", (drop_answer[]){{yards, 1}}, 1, 0, 0); /* numbers must match */
    /* a gold whose first span is blank is skipped */
    drop_one("the Jets", (drop_answer[]){{blank, 1}, {jets, 1}}, 2, 0, 0.5);
    drop_one("12 June 1999", (drop_answer[]){{date, 1}}, 1, 1, 1);
    drop_one("43.5", (drop_answer[]){{f435, 1}, {f43, 1}}, 2, 1, 1);
    drop_one("x", NULL, 0, 0, 0);

    /* several predicted spans: the optimal 1-1 alignment (scipy linear_sum_assignment) */
    double e, f;
    const char *p1[] = {"a b", "c", "d e f"}, *g1[] = {"c d", "a", "e f"};
    drop_get_metrics(p1, 3, g1, 3, &e, &f);
    CHECK(e == 0 && f == 0.48999999999999999);
    const char *p2[] = {"1", "2", "3"}, *g2[] = {"3", "1"};
    drop_get_metrics(p2, 3, g2, 2, &e, &f);
    CHECK(e == 0 && f == 0.67000000000000004);
    const char *p3[] = {"x y"}, *g3[] = {"x", "y", "z"};
    drop_get_metrics(p3, 1, g3, 3, &e, &f);
    CHECK(e == 0 && f == 0.22);
    const char *p4[] = {"b", "a"}, *g4[] = {"A", "the b"}; /* same set of spans: EM 1 */
    drop_get_metrics(p4, 2, g4, 2, &e, &f);
    CHECK(e == 1 && f == 1);
}

/* --- BLEU and chrF (sacrebleu 2.6.0) ------------------------------------------------------- */

static const char *hyps[4] = {
    "The cat sat on the mat.",
    "It is a guide to action which ensures that the military always obeys the commands of the "
    "party.",
    "He read the book because he was interested in world history",
    "short",
};
static const char *refs1[4] = {
    "The cat is on the mat.",
    "It is a guide to action that ensures that the military will forever heed Party commands.",
    "He was interested in world history because he read the book",
    "a much longer reference sentence",
};
static const char *refs2[2] = {
    "There is a cat on the mat.",
    "It is the guiding principle which guarantees the military forces always being under the "
    "command of the Party.",
};

static void test_tokenize_13a(void)
{
    check_norm(bleu_tokenize_13a("Hello, world! It's 3.5-4 &amp; <skipped>more-\ntext."),
               "Hello , world ! It's 3.5 - 4 & moretext .");
    check_norm(bleu_tokenize_13a("a.b,c 1,000.5 x-1 (ok)? "), "a . b , c 1,000.5 x-1 ( ok ) ?");
}

static void test_bleu_chrf(void)
{
    const size_t off1[5] = {0, 1, 2, 3, 4};
    CHECK(bleu_corpus(hyps, refs1, off1, 4) == 42.761660109358459);
    CHECK(chrf_corpus(hyps, refs1, off1, 4) == 63.013736186508659);
    /* two reference streams, the second None for the last two sentences */
    const char *both[6] = {refs1[0], refs2[0], refs1[1], refs2[1], refs1[2], refs1[3]};
    const size_t off2[5] = {0, 2, 4, 5, 6};
    CHECK(bleu_corpus(hyps, both, off2, 4) == 42.759860664165174);
    CHECK(chrf_corpus(hyps, both, off2, 4) == 63.013736186508659);
    const double sb[4] = {48.892302243490086, 39.670882908365783, 52.809722164707395, 0};
    const double sc[4] = {67.172734923302329, 62.39771662829483, 89.309583267145698,
                          4.2735042735042725};
    for (size_t i = 0; i < 4; i++) {
        CHECK(bleu_sentence(hyps[i], &refs1[i], 1) == sb[i]);
        CHECK(chrf_sentence(hyps[i], &refs1[i], 1) == sc[i]);
    }
    const char *abc[1] = {"abc"}, *same[1] = {"a b c"}, *pair[2] = {"xyz", "abc def"};
    const char *xyz[1] = {"xyz"}, *abc3[1] = {"a b c"};
    const size_t one[2] = {0, 1};
    CHECK(bleu_corpus(xyz, abc, one, 1) == 0);     /* no match at all */
    CHECK(bleu_corpus(abc3, same, one, 1) == 0);   /* identical, but no 4-gram: log floor */
    CHECK(chrf_sentence("abc def", pair, 2) == 100); /* the best reference wins */
}

/* --- ROUGE (rouge-score 0.1.2) --------------------------------------------------------------- */

static void rouge_one(const char *t, const char *p, double r1, double r2, double rl, double rls)
{
    rouge_scores s;
    rouge_score(t, p, &s);
    CHECK(s.rouge1 == r1 && s.rouge2 == r2 && s.rougeL == rl && s.rougeLsum == rls);
}

static void test_rouge(void)
{
    rouge_one("The quick brown fox jumps over the lazy dog",
              "The quick brown dog jumps on the log.", 0.70588235294117652,
              0.26666666666666666, 0.58823529411764708, 0.58823529411764708);
    rouge_one("police killed the gunman.\nthe gunman was shot",
              "the gunman police killed.\ngunman shot", 0.8571428571428571,
              0.33333333333333331, 0.57142857142857151, 0.8571428571428571);
    rouge_one("", "anything", 0, 0, 0, 0);
    rouge_one("Caf\u00e9 au lait, 2 cups", "cafe 2 CUPS", 0.5, 0.33333333333333331, 0.5, 0.5);

    /* several targets: per type the best (score_multi) */
    const char *preds[2] = {"the cat sat", "nothing here"};
    const char *targets[3] = {"a dog sat", "the cat sat down", "zzz"};
    const size_t off[3] = {0, 2, 3};
    rouge_scores out[2], best;
    rouge_score_bulk(preds, targets, off, 2, out);
    rouge_score("the cat sat down", "the cat sat", &best);
    CHECK(out[0].rouge1 == best.rouge1 && out[0].rougeL == best.rougeL);
    CHECK(out[1].rouge1 == 0 && out[1].rougeLsum == 0);
}

/* --- F1 and MCC (scikit-learn 1.9.1) -------------------------------------------------------- */

static void test_classification(void)
{
    const int64_t g[10] = {1, 0, 1, 1, 0, 1, 0, 0, 1, 1}, p[10] = {1, 0, 0, 1, 1, 1, 0, 1, 1, 0};
    double f;
    char err[256];
    CHECK(metric_f1(g, p, 10, 0, &f, err, sizeof err) == 0 && f == 0.66666666666666663);
    CHECK(metric_f1(g, p, 10, 1, &f, err, sizeof err) == 0 && f == 0.58333333333333326);
    CHECK(metric_mcc(g, p, 10) == 0.16666666666666666);
    const int64_t gm[8] = {0, 1, 2, 2, 1, 0, 2, 1}, pm[8] = {0, 2, 2, 1, 1, 0, 2, 0};
    CHECK(metric_f1(gm, pm, 8, 1, &f, err, sizeof err) == 0 && f == 0.62222222222222223);
    CHECK(metric_mcc(gm, pm, 8) == 0.45238095238095238);
    /* sklearn raises for 3 labels with average='binary' */
    CHECK(metric_f1(gm, pm, 8, 0, &f, err, sizeof err) == -1 && strstr(err, "binary"));
    const int64_t z[2] = {0, 0}, o[3] = {1, 1, 1};
    CHECK(metric_f1(z, z, 2, 0, &f, err, sizeof err) == 0 && f == 0); /* zero_division -> 0 */
    CHECK(metric_mcc(o, o, 3) == 0);
}

/* --- OpenMP: bulk results identical to a serial run ------------------------------------------- */

static void test_parallel_identical(void)
{
    enum { N = 3000 };
    static const char *words[] = {"the", "cat", "sat", "on", "a", "mat", "7", "1,000", "Dog.", "-"};
    static char pbuf[N][64], gbuf[N][64];
    static const char *preds[N], *golds[N];
    static size_t off[N + 1];
    uint64_t x = 88172645463325252ull;
    for (size_t i = 0; i < N; i++) {
        for (int k = 0; k < 2; k++) {
            char *b = k ? gbuf[i] : pbuf[i];
            b[0] = '\0';
            for (int w = 0; w < 5; w++) {
                x ^= x << 13, x ^= x >> 7, x ^= x << 17;
                strcat(b, words[x % N_OF(words)]);
                strcat(b, " ");
            }
        }
        preds[i] = pbuf[i], golds[i] = gbuf[i], off[i] = i;
    }
    off[N] = N;
    static double e1[N], f1[N], e2[N], f2[N];
    static rouge_scores r1[N], r2[N];
    double bleu[2], chrf[2];
    for (int run = 0; run < 2; run++) {
        omp_set_num_threads(run ? 4 : 1);
        squad_score_bulk(preds, golds, off, N, run ? e2 : e1, run ? f2 : f1);
        rouge_score_bulk(preds, golds, off, N, run ? r2 : r1);
        bleu[run] = bleu_corpus(preds, golds, off, N);
        chrf[run] = chrf_corpus(preds, golds, off, N);
    }
    CHECK(memcmp(e1, e2, sizeof e1) == 0 && memcmp(f1, f2, sizeof f1) == 0);
    CHECK(memcmp(r1, r2, sizeof r1) == 0);
    CHECK(bleu[0] == bleu[1] && chrf[0] == chrf[1]);
    drop_answer *ans = malloc(N * sizeof *ans);
    for (size_t i = 0; i < N; i++) ans[i] = (drop_answer){&golds[i], 1};
    for (int run = 0; run < 2; run++) {
        omp_set_num_threads(run ? 4 : 1);
        drop_score_bulk(preds, ans, off, N, run ? e2 : e1, run ? f2 : f1);
    }
    CHECK(memcmp(e1, e2, sizeof e1) == 0 && memcmp(f1, f2, sizeof f1) == 0);
    free(ans);
}

/* --- "evallua.metrics" ----------------------------------------------------------------------- */

static const char *lua_checks =
    "local m = require 'evallua.metrics'\n"
    "local function eq(a, b) assert(string.format('%.17g', a) == string.format('%.17g', b),\n"
    "  string.format('%.17g ~= %.17g', a, b)) end\n"
    "local s = m.squad({'Denver', '', 'x'}, {{'Denver Broncos'}, {}, {'the', 'a'}})\n"
    "eq(s.exact[1], 0); eq(s.f1[1], 0.66666666666666663); eq(s.exact[2], 1); eq(s.f1[3], 0)\n"
    "local v2 = m.squad_v2({'Denver Broncos', '', 'Panthers', '1990s', '', 'Beyonce'},\n"
    "  {{'Denver Broncos'}, {}, {'Carolina Panthers'}, {}, {'late 1990s'}, {'Beyonc\\u{e9}'}},\n"
    "  {0.1, 0.9, 0.3, 0.2, 0.7, 0.3})\n"
    "eq(v2.exact, 33.333333333333336); eq(v2.HasAns_f1, 41.666666666666664)\n"
    "eq(v2.NoAns_total, 2); eq(v2.best_f1, 50); eq(v2.best_exact_thresh, 0.1)\n"
    "local d = m.drop({'Smith', '1,000'}, {{{'Smith', 'Jones'}}, {'1000', {'one thousand'}}})\n"
    "eq(d.em[1], 0); eq(d.f1[1], 0.5); eq(d.em[2], 1); eq(d.f1[2], 1)\n"
    "local H = {'The cat sat on the mat.', 'short'}\n"
    "local R = {{'The cat is on the mat.', 'There is a cat on the mat.'},\n"
    "  'a much longer reference sentence'}\n"
    "assert(m.bleu(H, R) > 0 and m.chrf(H, R) > 0)\n"
    "eq(m.sentence_bleu({'The cat sat on the mat.'}, {'The cat is on the mat.'})[1],\n"
    "  48.892302243490086)\n"
    "eq(m.sentence_chrf({'abc def'}, {{'xyz', 'abc def'}})[1], 100)\n"
    "local r = m.rouge({'The quick brown dog jumps on the log.'},\n"
    "  {'The quick brown fox jumps over the lazy dog'})\n"
    "eq(r.rouge1[1], 0.70588235294117652); eq(r.rouge2[1], 0.26666666666666666)\n"
    "eq(r.rougeL[1], 0.58823529411764708); eq(r.rougeLsum[1], 0.58823529411764708)\n"
    "local G, P = {1, 0, 1, 1, 0, 1, 0, 0, 1, 1}, {1, 0, 0, 1, 1, 1, 0, 1, 1, 0}\n"
    "eq(m.f1(P, G), 0.66666666666666663); eq(m.f1(P, G, 'macro'), 0.58333333333333326)\n"
    "eq(m.mcc(P, G), 0.16666666666666666)\n"
    "assert(m.squad_normalize('The  Cat') == 'cat' and m.drop_normalize('$5.50') == '550.0')\n"
    "assert(m.tokenize_13a('Hi, there.') == 'Hi , there .')\n"
    "local function err(f, ...) local ok, e = pcall(f, ...); assert(not ok); return e end\n"
    "assert(err(m.squad, {'a', 5}, {{}, {}}):find('preds%[2%] must be a string, not number'))\n"
    "assert(err(m.squad, {'a'}, {{'x', {}}}):find('golds%[1%]%[2%] must be a string'))\n"
    "assert(err(m.squad, {'a'}, {}):find('1 preds but 0 golds'))\n"
    "assert(err(m.drop, {'a'}, {{7}}):find(\n"
    "  'golds%[1%]%[1%] must be a string or an array of spans'))\n"
    "assert(err(m.drop, {'a'}, {{{'x', false}}}):find('golds%[1%]%[1%]%[2%] must be a string'))\n"
    "assert(err(m.bleu, 'x', {}):find('table expected'))\n"
    "assert(err(m.f1, {0, 1, 2}, {0, 1, 2}):find('binary'))\n"
    "assert(err(m.f1, {0, 1}, {0, 1}, 'micro'):find('invalid option'))\n"
    "assert(err(m.mcc, {0.5}, {1}):find('preds%[1%] must be an integer'))\n"
    "assert(err(m.squad_v2, {'a'}, {{'a'}}, {'x'}):find('na_probs%[1%] must be a number'))\n";

static void test_lua_module(void)
{
    lua_State *L = luaL_newstate();
    luaL_openlibs(L);
    luaL_requiref(L, "evallua.metrics", luaopen_evallua_metrics, 0);
    lua_pop(L, 1);
    int rc = luaL_loadbuffer(L, lua_checks, strlen(lua_checks), "=lua_checks")
             || lua_pcall(L, 0, 0, 0);
    if (rc) fprintf(stderr, "lua: %s\n", lua_tostring(L, -1));
    CHECK(rc == 0);
    lua_close(L);
}

int main(void)
{
    test_str_helpers();
    test_squad_normalize();
    test_squad_scores();
    test_squad_v2_summary();
    test_drop_normalize();
    test_drop_scores();
    test_tokenize_13a();
    test_bleu_chrf();
    test_rouge();
    test_classification();
    test_parallel_identical();
    test_lua_module();
    return check_summary();
}
