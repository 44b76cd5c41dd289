/* ifeval_lang.c — a stand-in for langdetect.detect, for IFEval's language checks.
 *
 * langdetect (a port of Google's language-detection: character n-gram profiles of 55
 * languages and a randomised naive Bayes) is not reproduced. This detector decides in two
 * steps, after langdetect's own clean-up (URLs and e-mail addresses removed; Latin letters
 * dropped when they are fewer than half the non-Latin letters):
 *
 *  1. the writing system with the most letters. Where one langdetect language owns the
 *     script, that is the answer: Bengali bn, Gurmukhi pa, Gujarati gu, Tamil ta, Telugu
 *     te, Kannada kn, Malayalam ml, Thai th, Hangul ko, Hebrew he, Greek el, kana ja (Han
 *     alone: zh-cn);
 *  2. within a shared script, the language whose frequent function words and distinctive
 *     letters occur most: Latin (en de fr es it pt nl sv da no fi pl cs sk ro hu tr vi sw
 *     id tl ca af hr), Cyrillic (ru uk bg mk), Arabic (ar fa ur), Devanagari (hi mr ne).
 *
 * A text with no letters at all is langdetect's "No features in text" (NULL here), which
 * IFEval counts as followed. The detector is exact on text written in one language, which
 * is what the 31 language:response_language prompts (ar bg bn de fa fi gu hi it kn ko mr ne
 * pa pt ru sw ta te th ur vi) and the english_capital / english_lowercase checks ask
 * about; on short or mixed-language text langdetect itself is unstable (its result
 * depends on a random seed IFEval does not fix), and the two can differ. */
#include "score/ifeval_impl.h"

#include <stdlib.h>
#include <string.h>

#include "score/text_metrics.h"
#include "util/buf.h"

/* --- writing systems ------------------------------------------------------------------- */

enum script {
    S_LATIN, S_CYRILLIC, S_ARABIC, S_DEVANAGARI, S_BENGALI, S_GURMUKHI, S_GUJARATI,
    S_TAMIL, S_TELUGU, S_KANNADA, S_MALAYALAM, S_THAI, S_HANGUL, S_KANA, S_HAN, S_HEBREW,
    S_GREEK, S_OTHER, S_NONE, N_SCRIPTS
};

typedef struct script_range {
    uint32_t lo, hi;
    enum script s;
} script_range;

static const script_range script_ranges[] = {
    {0x00C0, 0x024F, S_LATIN}, {0x0370, 0x03FF, S_GREEK}, {0x0400, 0x052F, S_CYRILLIC},
    {0x0590, 0x05FF, S_HEBREW}, {0x0600, 0x06FF, S_ARABIC}, {0x0750, 0x077F, S_ARABIC},
    {0x0900, 0x097F, S_DEVANAGARI}, {0x0980, 0x09FF, S_BENGALI},
    {0x0A00, 0x0A7F, S_GURMUKHI}, {0x0A80, 0x0AFF, S_GUJARATI}, {0x0B80, 0x0BFF, S_TAMIL},
    {0x0C00, 0x0C7F, S_TELUGU}, {0x0C80, 0x0CFF, S_KANNADA}, {0x0D00, 0x0D7F, S_MALAYALAM},
    {0x0E00, 0x0E7F, S_THAI}, {0x1100, 0x11FF, S_HANGUL}, {0x1E00, 0x1EFF, S_LATIN},
    {0x1F00, 0x1FFF, S_GREEK}, {0x3040, 0x30FF, S_KANA}, {0x3130, 0x318F, S_HANGUL},
    {0x3400, 0x4DBF, S_HAN}, {0x4E00, 0x9FFF, S_HAN}, {0xAC00, 0xD7AF, S_HANGUL},
    {0xFB1D, 0xFB4F, S_HEBREW}, {0xFB50, 0xFDFF, S_ARABIC}, {0xFE70, 0xFEFF, S_ARABIC},
    {0xFF66, 0xFF9F, S_KANA},
};

/* The script of a letter-like code point; S_NONE for digits, punctuation, spaces and
 * symbols (langdetect's normalisation turns those into spaces). */
static enum script script_of(uint32_t c)
{
    if (c < 0x80) return ((c | 0x20) >= 'a' && (c | 0x20) <= 'z') ? S_LATIN : S_NONE;
    if (c < 0xC0 || c == 0xD7 || c == 0xF7) return S_NONE;
    if ((c >= 0x2000 && c <= 0x2BFF) || (c >= 0x3000 && c <= 0x303F) || c >= 0x1F000
        || (c >= 0xFF00 && c <= 0xFF65) || c == 0x0964 || c == 0x0965 || c == 0x060C
        || c == 0x061B || c == 0x061F || c == 0x06D4 || (c >= 0x0660 && c <= 0x0669)
        || (c >= 0x06F0 && c <= 0x06F9))
        return S_NONE;
    for (size_t i = 0; i < sizeof script_ranges / sizeof script_ranges[0]; i++)
        if (c >= script_ranges[i].lo && c <= script_ranges[i].hi) return script_ranges[i].s;
    return S_OTHER;
}

/* --- frequent words and distinctive letters per language ------------------------------ */

typedef struct lang_profile {
    const char *code;
    enum script script;
    const char *words;   /* space-separated, lower case */
    const char *letters; /* UTF-8 letters that point to this language */
} lang_profile;

static const lang_profile profiles[] = {
    {"en", S_LATIN, "the of and to a in is that it for was on are with as be this have from "
     "by not but what all were when we there can an your which their if will would has my "
     "you they he she i me our been more about these some them than its who should could "
     "at do does did so no yes or how why where just also very into out up one two like "
     "get make know think say said here because any each other most many much then only "
     "over such after before through while both those being had his her him us we're "
     "i'm it's don't can't won't isn't aren't didn't doesn't you're they're that's "
     "there's let's i've i'll i'd you'll we'll well new first way even good need use want",
     ""},
    {"de", S_LATIN, "der die und das ist nicht ich sie es ein eine zu den mit von sich des "
     "auf für dem im auch wir wie aber noch nach wird bei einer um oder sind werden kann "
     "wenn hat sein dass nur mehr", "äöüß"},
    {"fr", S_LATIN, "le la les de des et est un une du en que qui dans pour pas sur au "
     "avec ce il elle sont nous vous ne plus par mais ou son ses cette aux leur été être",
     "éèêàçùâîôûëœ"},
    {"es", S_LATIN, "el la los las de del y en que es un una por con para no se su al lo "
     "como más pero sus le ya o fue este ha sí porque esta son entre cuando muy sin sobre",
     "ñáéíóú¿¡"},
    {"it", S_LATIN, "il la di che e è un una per non in del della gli le con si sono da "
     "dei delle al alla come anche più ma ci questo nel nella lo ha essere",
     "àèéìòù"},
    {"pt", S_LATIN, "o a os as de do da dos das e é um uma que em no na para com não por "
     "se mais como mas foi ao ele ela seu sua ou são também isso está muito",
     "ãõçáéíóúâêô"},
    {"nl", S_LATIN, "de het een en van is dat in op te zijn voor met niet die ik je er "
     "aan ook als maar bij om dan of wat naar wordt worden door", ""},
    {"sv", S_LATIN, "och att det som en på är av för med till den inte har de om ett var "
     "jag men så vi kan från också eller sig", "åäö"},
    {"da", S_LATIN, "og at det er en til på som de med af for ikke den har der jeg var et "
     "men om så sig kan være også eller fra", "æøå"},
    {"no", S_LATIN, "og i det som er en på til av for med at de ikke den har jeg var et "
     "men om så seg kan være også eller fra", "æøå"},
    {"fi", S_LATIN, "ja on ei se että hän oli ovat tai kun mutta myös kuin joka sen ole "
     "niin tämä mitä jos vain ovat hänen minä sinä me he", "äö"},
    {"pl", S_LATIN, "i w nie na się z do to że jest o jak po co ale tak za od jego są "
     "przez dla już może być który która", "ąćęłńśźż"},
    {"cs", S_LATIN, "a se na je že v to s z do o jako ale by pro jsou jeho není jak byl "
     "který která také nebo už", "ěščřžýůťďň"},
    {"sk", S_LATIN, "a sa na je že v to s z do o ako ale by pre sú jeho nie ako bol "
     "ktorý ktorá tiež alebo už", "ľščťžýäôň"},
    {"ro", S_LATIN, "și de la în a cu o un pe care nu este din că se mai pentru sunt "
     "fost ce sau dar ca", "ăâîșțşţ"},
    {"hu", S_LATIN, "a az és hogy nem is egy van meg ez de csak már mint el volt ki "
     "még vagy kell ha azt", "őűáéíóöúü"},
    {"tr", S_LATIN, "ve bir bu da de için ile çok ne gibi daha olarak ama kadar sonra en "
     "var o ben sen mi", "şğıçöü"},
    {"vi", S_LATIN, "và của là có không những các được cho một người trong này với đã "
     "để khi từ thì ra", "ăâđêôơư"},
    {"sw", S_LATIN, "na ya wa kwa ni za katika la kuwa hii cha au lakini pia yake huo "
     "hiyo sana kama wao ili hivyo zaidi kwamba", ""},
    {"id", S_LATIN, "yang dan di itu dengan untuk tidak ini dari dalam akan pada juga "
     "ke karena ada adalah saya mereka atau", ""},
    {"tl", S_LATIN, "ang ng sa na at mga ay si ko ako hindi niya ito kanyang para siya "
     "lang kung may", ""},
    {"ca", S_LATIN, "el la els les de del i en que és un una per amb no es al com més "
     "però són va seu seva", "çàèéíòóúï"},
    {"af", S_LATIN, "die en van is in het nie dat op te vir met hy sy was ek ons om", ""},
    {"hr", S_LATIN, "i je u na se da za od su ne to kao iz ali koji koja sam bio smo "
     "što", "čćđšž"},
    {"ru", S_CYRILLIC, "и в не на что с по это как он я его к но из у так же все она был "
     "для мы вы они было бы который", "ыэё"},
    {"uk", S_CYRILLIC, "і в не на що з та як це до у він вона його але було бути також "
     "або для ми ви вони який", "іїєґ"},
    {"bg", S_CYRILLIC, "и в не на да се за от с че е са това като по му но ще който "
     "която тя той са бъде", "ъ"},
    {"mk", S_CYRILLIC, "и во не на да се за од со што е се тоа како по но ќе кој која "
     "таа тој", "ѓќѕљњџј"},
    {"ar", S_ARABIC, "في من على أن إلى التي الذي عن مع هذا هذه كان ما لا ذلك كل بين أو "
     "قد هو هي", "يكةىأإ"},
    {"fa", S_ARABIC, "و در به از که این را با است آن برای یک می تا هم شد بود ها نیز "
     "شود", "یکگپچژ"},
    {"ur", S_ARABIC, "کے میں کی ہے اور سے کو کا یہ ہیں نے پر کہ بھی تھا ایک گیا ہو "
     "لیے", "ٹڈڑںےہھ"},
    {"hi", S_DEVANAGARI, "है हैं और के की का में से को यह था थे नहीं पर भी एक कि लिए हो "
     "तो इस वह जो कर", ""},
    {"mr", S_DEVANAGARI, "आहे आणि या ही हे आहेत च्या ला ने मध्ये केले तर पण त्या होते "
     "नाही व करा असे आपण", "ळ"},
    {"ne", S_DEVANAGARI, "छ छन् र को मा हो यो पनि गर्न भएको लागि गरेको थियो हुन्छ तथा "
     "हरू छैन त्यो गर्ने", ""},
};
#define N_PROFILES (sizeof profiles / sizeof profiles[0])

/* Languages that own their script. */
static const char *script_language(enum script s)
{
    static const char *const codes[N_SCRIPTS] = {
        [S_BENGALI] = "bn", [S_GURMUKHI] = "pa", [S_GUJARATI] = "gu", [S_TAMIL] = "ta",
        [S_TELUGU] = "te", [S_KANNADA] = "kn", [S_MALAYALAM] = "ml", [S_THAI] = "th",
        [S_HANGUL] = "ko", [S_KANA] = "ja", [S_HAN] = "zh-cn", [S_HEBREW] = "he",
        [S_GREEK] = "el",
    };
    return codes[s];
}

/* 1 when the word w (n bytes) is in the space-separated list. */
static int in_words(const char *list, const char *w, size_t n)
{
    for (const char *p = list; *p;) {
        size_t k = strcspn(p, " ");
        if (k == n && memcmp(p, w, n) == 0) return 1;
        p += k;
        while (*p == ' ') p++;
    }
    return 0;
}

/* Occurrences in text of the letters of set (both UTF-8). */
static double letter_hits(const char *text, const char *set)
{
    double hits = 0;
    for (const char *p = set; *p;) {
        size_t k;
        text_utf8_decode(p, &k);
        char one[5] = {0};
        memcpy(one, p, k);
        for (const char *q = strstr(text, one); q; q = strstr(q + k, one)) hits++;
        p += k;
    }
    return hits;
}

/* The best profile of script s for the lower-cased text: word hits count 2 (1 for a
 * one-letter word), distinctive letters 1. */
static const char *best_profile(const char *low, enum script s)
{
    double best = 0;
    const char *code = NULL;
    text_spans words = {0};
    buf spaced = {0};
    for (const char *p = low; *p;) { /* punctuation to spaces, so words split cleanly */
        size_t k;
        uint32_t c = text_utf8_decode(p, &k);
        if (script_of(c) == S_NONE && c != '\'') buf_putc(&spaced, ' ');
        else buf_append(&spaced, p, k);
        p += k;
    }
    text_split(buf_str(&spaced), &words);
    for (size_t i = 0; i < N_PROFILES; i++) {
        if (profiles[i].script != s) continue;
        double score = letter_hits(low, profiles[i].letters);
        for (size_t w = 0; w < words.n; w++) /* one-letter words are weaker evidence */
            if (in_words(profiles[i].words, words.v[w].p, words.v[w].n))
                score += words.v[w].n > 1 ? 2 : 1;
        if (score > best) best = score, code = profiles[i].code;
    }
    free(words.v);
    buf_free(&spaced);
    return code;
}

/* --- langdetect's clean-up ------------------------------------------------------------- */

static pcre2_code *re_url, *re_mail;

void ifv_lang_init(void)
{
    re_url = ifv_re_compile("https?://[-_.?&~;+=/#0-9A-Za-z]{1,2076}", 0);
    re_mail = ifv_re_compile("[-_.0-9A-Za-z]{1,64}@[-_0-9A-Za-z]{1,255}[-_.0-9A-Za-z]{1,255}", 0);
}

/* URLs and e-mail addresses to spaces; Latin letters dropped when outnumbered 2:1. */
static char *clean_text(const char *s)
{
    char *a = ifv_re_sub(re_url, s, " ");
    char *t = ifv_re_sub(re_mail, a, " ");
    free(a);
    size_t latin = 0, other = 0, k;
    for (const char *p = t; *p; p += k) {
        uint32_t c = text_utf8_decode(p, &k);
        if (c >= 'A' && c <= 'z') latin++;
        else if (c >= 0x300 && !(c >= 0x1E00 && c <= 0x1EFF)) other++;
    }
    if (latin * 2 >= other) return t;
    buf b = {0};
    for (const char *p = t; *p; p += k) {
        uint32_t c = text_utf8_decode(p, &k);
        if (c < 'A' || c > 'z') buf_append(&b, p, k);
    }
    free(t);
    return buf_steal(&b);
}

const char *ifv_detect_language(const char *s)
{
    char *text = clean_text(s);
    size_t counts[N_SCRIPTS] = {0}, k;
    for (const char *p = text; *p; p += k) counts[script_of(text_utf8_decode(p, &k))]++;
    enum script best = S_NONE;
    for (int i = 0; i < S_NONE; i++)
        if (counts[i] > (best == S_NONE ? 0 : counts[best])) best = (enum script)i;
    if (best == S_HAN && counts[S_KANA] > 0) best = S_KANA;
    const char *code = NULL;
    if (best == S_NONE) {
        code = NULL; /* no features */
    } else if (script_language(best)) {
        code = script_language(best);
    } else if (best == S_OTHER) {
        code = "unknown";
    } else {
        char *low = text_lower_fast(text);
        code = best_profile(low, best);
        free(low);
        if (!code) {
            static const char *const fallback[N_SCRIPTS] = {
                [S_LATIN] = "en", [S_CYRILLIC] = "ru", [S_ARABIC] = "ar", [S_DEVANAGARI] = "hi",
            };
            code = fallback[best];
        }
    }
    free(text);
    return code;
}
