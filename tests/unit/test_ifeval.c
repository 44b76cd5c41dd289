/* test_ifeval.c — IFEval's instruction checks (score/ifeval.h), the text primitives under
 * them, and the "evallua.ifeval" Lua module.
 *
 * Expected values were printed by the reference: lm-evaluation-harness 0.4.13's
 * lm_eval/tasks/ifeval (utils.test_instruction_following_strict / _loose over
 * instructions.py) with nltk 3.10.4 (punkt_tab English model), langdetect 1.0.9
 * (DetectorFactory.seed = 0) and CPython 3.11.7:
 *   python3 -m venv /tmp/ifeval-py && /tmp/ifeval-py/bin/pip install nltk langdetect \
 *     immutabledict packaging && pip download --no-deps lm_eval   # ifeval/ from the wheel
 *   inp = utils.InputExample(key=0, instruction_id_list=[ID], prompt="", kwargs=[KWARGS])
 *   utils.test_instruction_following_strict(inp, RESPONSE).follow_instruction_list  (and _loose)
 * Each of the 25 instruction ids has at least one followed and one not-followed case. The
 * same reference was also run on 6,492 generated responses to the 541 IFEval prompts
 * (12 each), and count_sentences / count_words / word_tokenize on 24,328 texts: the C
 * code agreed everywhere except the documented langdetect and '#'/'!' letter deviations. */
#include <lauxlib.h>
#include <lua.h>
#include <lualib.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "score/ifeval.h"
#include "score/ifeval_impl.h"

int luaopen_evallua_ifeval(lua_State *L);

typedef struct ifeval_case {
    const char *id, *kwargs, *response;
    int strict, loose;
} ifeval_case;

static const ifeval_case cases[] = {
    {"keywords:existence",
     "{\"keywords\": [\"cheese\", \"Argentinian\"]}",
     "I love argentinian CHEESE.", 1, 1}, /* case-insensitive search */
    {"keywords:existence",
     "{\"keywords\": [\"cheese\", \"wine\"]}",
     "Only cheese here.", 0, 0}, /* one keyword missing */
    {"keywords:frequency",
     "{\"keyword\": \"dog\", \"frequency\": 3, \"relation\": \"at least\"}",
     "Dog, dogs and a hotdog.", 1, 1}, /* substring matches count: 3 */
    {"keywords:frequency",
     "{\"keyword\": \"dog\", \"frequency\": 3, \"relation\": \"at least\"}",
     "A dog and a DOG.", 0, 0}, /* 2 < 3 */
    {"keywords:frequency",
     "{\"keyword\": \"dog\", \"frequency\": 2, \"relation\": \"less than\"}",
     "One dog.", 1, 1}, /* 1 < 2 */
    {"keywords:frequency",
     "{\"keyword\": \"dog\", \"frequency\": 2, \"relation\": \"less than\"}",
     "dog dog", 0, 0}, /* 2 is not < 2 */
    {"keywords:forbidden_words",
     "{\"forbidden_words\": [\"bad\", \"BC\"]}",
     "A badge from the BCE era.", 1, 1}, /* word boundaries: badge, BCE are fine */
    {"keywords:forbidden_words",
     "{\"forbidden_words\": [\"bad\", \"BC\"]}",
     "It was built in 300 bc.", 0, 0}, /* bc matches case-insensitively */
    {"keywords:letter_frequency",
     "{\"letter\": \"q\", \"let_frequency\": 2, \"let_relation\": \"at least\"}",
     "Quick quiet.", 1, 1}, /* Q counted after lower() */
    {"keywords:letter_frequency",
     "{\"letter\": \"q\", \"let_frequency\": 2, \"let_relation\": \"less than\"}",
     "Quick quiet.", 0, 0}, /* 2 is not < 2 */
    {"language:response_language",
     "{\"language\": \"hi\"}",
     "आज मौसम बहुत अच्छा है और बच्चे पार्क में खेल रहे हैं।", 1, 1}, /* Hindi */
    {"language:response_language",
     "{\"language\": \"hi\"}",
     "The weather is very nice today and the children are playing.", 0, 0}, /* English is not Hindi */
    {"language:response_language",
     "{\"language\": \"ru\"}",
     "Сегодня очень хорошая погода, и дети играют в парке.", 1, 1}, /* Russian */
    {"language:response_language",
     "{\"language\": \"bg\"}",
     "Днес времето е много хубаво и децата играят в парка.", 1, 1}, /* Bulgarian */
    {"language:response_language",
     "{\"language\": \"bg\"}",
     "Сегодня очень хорошая погода, и дети играют в парке.", 0, 0}, /* Russian is not Bulgarian */
    {"language:response_language",
     "{\"language\": \"fa\"}",
     "امروز هوا بسیار خوب است و بچه ها در پارک بازی می کنند.", 1, 1}, /* Persian */
    {"language:response_language",
     "{\"language\": \"ar\"}",
     "امروز هوا بسیار خوب است و بچه ها در پارک بازی می کنند.", 0, 0}, /* Persian is not Arabic */
    {"language:response_language",
     "{\"language\": \"de\"}",
     "Das Wetter ist heute sehr schön und die Kinder spielen im Park.", 1, 1}, /* German */
    {"language:response_language",
     "{\"language\": \"ko\"}",
     "12345 !!!", 1, 1}, /* no letters: LangDetectException counts as followed */
    {"length_constraints:number_sentences",
     "{\"num_sentences\": 3, \"relation\": \"less than\"}",
     "Mr. Smith went to Washington. He met Dr. Jones.", 1, 1}, /* abbreviations: 2 sentences */
    {"length_constraints:number_sentences",
     "{\"num_sentences\": 3, \"relation\": \"at least\"}",
     "Mr. Smith went to Washington. He met Dr. Jones.", 0, 0}, /* 2 < 3 */
    {"length_constraints:number_sentences",
     "{\"num_sentences\": 3, \"relation\": \"at least\"}",
     "Is it? Yes! It is... Really.", 1, 1}, /* ? ! and ellipsis */
    {"length_constraints:number_sentences",
     "{\"num_sentences\": 2, \"relation\": \"less than\"}",
     "1. apples\n2. pears", 1, 1}, /* numbered list with lower case items: 1 sentence */
    {"length_constraints:number_paragraphs",
     "{\"num_paragraphs\": 3}",
     "One.\n***\nTwo.\n***\nThree.", 1, 1}, /* 3 paragraphs */
    {"length_constraints:number_paragraphs",
     "{\"num_paragraphs\": 2}",
     "***\nOne.\n***\nTwo.\n***", 1, 1}, /* blank first/last parts are not counted */
    {"length_constraints:number_paragraphs",
     "{\"num_paragraphs\": 2}",
     "One.\n***\n***\nTwo.", 0, 0}, /* an empty inner paragraph fails */
    {"length_constraints:number_words",
     "{\"num_words\": 5, \"relation\": \"at least\"}",
     "It's a well-known fact, really.", 1, 1}, /* \w+ tokens: It s a well known fact really = 7 */
    {"length_constraints:number_words",
     "{\"num_words\": 5, \"relation\": \"less than\"}",
     "It's a well-known fact, really.", 0, 0}, /* 7 is not < 5 */
    {"length_constraints:number_words",
     "{\"num_words\": 3, \"relation\": \"less than\"}",
     "समझौता एक्सप्रेस", 1, 1}, /* nltk 3.10 (regex module): marks are word characters, 2 words */
    {"length_constraints:nth_paragraph_first_word",
     "{\"num_paragraphs\": 2, \"nth_paragraph\": 2, \"first_word\": \"weekend\"}",
     "First part.\n\n\"Weekend, at last.", 1, 1}, /* quote stripped, punctuation stops the word */
    {"length_constraints:nth_paragraph_first_word",
     "{\"num_paragraphs\": 2, \"nth_paragraph\": 2, \"first_word\": \"weekend\"}",
     "First part.\n\nThe weekend.", 0, 0}, /* wrong first word */
    {"length_constraints:nth_paragraph_first_word",
     "{\"num_paragraphs\": 2, \"nth_paragraph\": 2, \"first_word\": \"it\"}",
     "\n\nIt is.\n\nIt was.", 1, 1}, /* blank paragraphs are indexed but not counted */
    {"detectable_content:number_placeholders",
     "{\"num_placeholders\": 2}",
     "Dear [name], at [address].", 1, 1}, /* 2 placeholders */
    {"detectable_content:number_placeholders",
     "{\"num_placeholders\": 2}",
     "Dear [name\n], at [address].", 0, 0}, /* a placeholder cannot span a newline */
    {"detectable_content:postscript",
     "{\"postscript_marker\": \"P.P.S\"}",
     "Body.\n\np. p. s. see you", 1, 1}, /* P.P.S with optional spaces, case-insensitive */
    {"detectable_content:postscript",
     "{\"postscript_marker\": \"P.S.\"}",
     "Body.\n\nPS see you", 0, 0}, /* P.S. needs both dots */
    {"detectable_content:postscript",
     "{\"postscript_marker\": \"Note:\"}",
     "Body.\nNOTE: thanks", 1, 1}, /* other markers match literally (lower-cased) */
    {"detectable_format:number_bullet_lists",
     "{\"num_bullets\": 3}",
     "Intro\n* one\n* two\n- three", 1, 1}, /* * and - bullets */
    {"detectable_format:number_bullet_lists",
     "{\"num_bullets\": 2}",
     "* one\n**bold**\n* two\n  - three", 0, 1}, /* **bold** is not a bullet, indented - is: 3 (loose drops the first line: 2) */
    {"detectable_format:number_bullet_lists",
     "{\"num_bullets\": 1}",
     "Here:\n* only one\nDone.", 1, 1}, /* exact count: loose removes the first/last lines but the bullet stays */
    {"detectable_format:constrained_response",
     "{}",
     "  My answer is maybe.  ", 1, 1}, /* an option anywhere in the text */
    {"detectable_format:constrained_response",
     "{}",
     "My answer is Yes.", 0, 0}, /* case matters */
    {"detectable_format:number_highlighted_sections",
     "{\"num_highlights\": 2}",
     "*one* and **two**", 1, 1}, /* *x* and **x**: *one*, **two** (the single-star scan sees '**' empty pieces) */
    {"detectable_format:number_highlighted_sections",
     "{\"num_highlights\": 2}",
     "* * and *x\ny*", 0, 0}, /* blank and multi-line highlights do not count */
    {"detectable_format:multiple_sections",
     "{\"section_spliter\": \"Section\", \"num_sections\": 2}",
     "Section 1\nfoo\nSection 2\nbar", 1, 1}, /* 2 sections */
    {"detectable_format:multiple_sections",
     "{\"section_spliter\": \"SECTION\", \"num_sections\": 2}",
     "Section 1\nfoo\nSection 2\nbar", 0, 0}, /* case-sensitive splitter */
    {"detectable_format:json_format",
     "{}",
     "```json\n{\"a\": [1, 2.5e3, null, true, NaN]}\n```", 1, 1}, /* fenced JSON, Python accepts NaN */
    {"detectable_format:json_format",
     "{}",
     "{\"a\": 1,}", 0, 0}, /* trailing comma */
    {"detectable_format:json_format",
     "{}",
     "[01]", 0, 0}, /* leading zero */
    {"detectable_format:json_format",
     "{}",
     "Here it is:\n{\"a\": 1}", 0, 1}, /* text before the JSON (loose drops the first line) */
    {"detectable_format:title",
     "{}",
     "<<My Title>>\nText", 1, 1}, /* a title */
    {"detectable_format:title",
     "{}",
     "<<>> and << >>", 1, 1}, /* greedy: the match is '<<>> and << >>', not blank inside */
    {"detectable_format:title",
     "{}",
     "<< >>\n<<\n>>", 0, 0}, /* a blank title; a title cannot span lines */
    {"combination:two_responses",
     "{}",
     "First answer.\n******\nSecond answer.", 1, 1}, /* two different responses */
    {"combination:two_responses",
     "{}",
     "Same.\n******\nSame.", 0, 0}, /* identical responses */
    {"combination:two_responses",
     "{}",
     "A\n******\n******\nB", 0, 0}, /* an empty middle part */
    {"combination:repeat_prompt",
     "{\"prompt_to_repeat\": \"Write a poem about cats.\"}",
     "  write a POEM about cats. Here it is...", 1, 1}, /* case-insensitive prefix after strip */
    {"combination:repeat_prompt",
     "{\"prompt_to_repeat\": \"Write a poem about cats.\"}",
     "Sure! Write a poem about cats.", 0, 0}, /* something before the prompt on the same line */
    {"startend:end_checker",
     "{\"end_phrase\": \"Any other questions?\"}",
     "Done. any other questions?\"  ", 1, 1}, /* trailing quote and spaces dropped, case-insensitive */
    {"startend:end_checker",
     "{\"end_phrase\": \"Any other questions?\"}",
     "Any other questions?\nThanks", 0, 1}, /* text after the phrase (loose drops the last line) */
    {"change_case:capital_word_frequency",
     "{\"capital_frequency\": 4, \"capital_relation\": \"at least\"}",
     "I DON'T like NASA's AT&T plan.", 1, 1}, /* I, DO, N'T, NASA, AT, T: 6 */
    {"change_case:capital_word_frequency",
     "{\"capital_frequency\": 3, \"capital_relation\": \"less than\"}",
     "I DON'T like NASA's plan.", 0, 0}, /* 4 is not < 3 */
    {"change_case:english_capital",
     "{}",
     "HELLO THERE, THIS IS AN ENGLISH SENTENCE WRITTEN IN CAPITAL LETTERS FOR THE TEST.", 1, 1}, /* upper case English */
    {"change_case:english_capital",
     "{}",
     "Hello there, this is English.", 0, 0}, /* not upper case */
    {"change_case:english_lowercase",
     "{}",
     "hello there, this is an english sentence written in lower case letters.", 1, 1}, /* lower case English */
    {"change_case:english_lowercase",
     "{}",
     "hello there, this is English.", 0, 0}, /* a capital letter */
    {"change_case:english_lowercase",
     "{}",
     "das wetter ist heute sehr schön und die kinder spielen im park.", 0, 0}, /* lower case but German */
    {"punctuation:no_comma",
     "{}",
     "No commas here.", 1, 1}, /* no comma */
    {"punctuation:no_comma",
     "{}",
     "One, two.", 0, 0}, /* a comma */
    {"startend:quotation",
     "{}",
     "  \"Quoted text.\"\n", 1, 1}, /* wrapped in double quotes */
    {"startend:quotation",
     "{}",
     "\"", 0, 0}, /* a single quote character is too short */
    {"startend:quotation",
     "{}",
     "Sure:\n\"Quoted text.\"", 0, 1}, /* loose drops the first line */
};

static void test_cases(void)
{
    size_t seen = 0;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const ifeval_case *c = &cases[i];
        cJSON *kw = cJSON_Parse(c->kwargs);
        char err[256] = "";
        int s = ifeval_check(c->id, kw, "", c->response, 0, err, sizeof err);
        int l = ifeval_check(c->id, kw, "", c->response, 1, err, sizeof err);
        if (s != c->strict || l != c->loose)
            fprintf(stderr, "case %zu (%s, %s): strict %d loose %d, expected %d %d %s\n", i,
                    c->id, c->response, s, l, c->strict, c->loose, err);
        CHECK(s == c->strict);
        CHECK(l == c->loose);
        cJSON_Delete(kw);
    }
    /* every registered instruction has a followed and a not-followed case */
    for (size_t k = 0; k < ifeval_n_instructions(); k++) {
        int yes = 0, no = 0;
        for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
            if (strcmp(cases[i].id, ifeval_instruction_id(k)) != 0) continue;
            yes |= cases[i].strict || cases[i].loose;
            no |= !cases[i].strict || !cases[i].loose;
        }
        if (!(yes && no)) fprintf(stderr, "no pass/fail pair for %s\n", ifeval_instruction_id(k));
        CHECK(yes && no);
        seen += yes && no;
    }
    CHECK(seen == 25);
    CHECK(ifeval_n_instructions() == 25);
    CHECK(ifeval_instruction_id(25) == NULL);
}

/* count_sentences (Punkt), count_words (\w+), word_tokenize + isupper, json.loads. */
static void test_primitives(void)
{
    static const struct { const char *text; size_t sentences, words, capital; } t[] = {
        {"Hello world. This is Mr. Smith. He said hi! 1. Apples\n2. bananas", 5, 13, 0},
        {"Dr. J. Smith arrived at 3 p.m. on Jan. 5. Then he left... Quickly.", 2, 15, 1},
        {"\"Stop!\" he said. (See Fig. 2.) The end.", 5, 8, 0},
        {"I DON'T KNOW. IT'S A MAMMAL'S. CANNOT SAY; AT&T WON'T.", 3, 15, 16},
        {"It's a well-known fact, really. \u0938\u092e\u091d\u094c\u0924\u093e "
         "\u090f\u0915\u094d\u0938\u092a\u094d\u0930\u0947\u0938", 2, 9, 0},
        {"", 0, 0, 0},
        {"Is it? Yes!! It is... really.", 3, 6, 0},
    };
    ifv_init();
    for (size_t i = 0; i < sizeof t / sizeof t[0]; i++) {
        CHECK(ifv_count_sentences(t[i].text) == t[i].sentences);
        CHECK(ifv_count_words(t[i].text) == t[i].words);
        CHECK(ifv_count_capital_words(t[i].text) == t[i].capital);
    }
    static const struct { const char *json; int ok; } j[] = {
        {"{\"a\": [1, -0.5e-3, \"x\\u00e9\\n\", null, true, false]}", 1}, {"NaN", 1},
        {"-Infinity", 1}, {" [ ] ", 1}, {"\"tab\tinside\"", 0}, {"01", 0}, {"1.", 0},
        {".5", 0}, {"+1", 0}, {"[1,]", 0}, {"{\"a\" 1}", 0}, {"{'a': 1}", 0}, {"", 0},
        {"\xef\xbb\xbf{}", 0}, {"{} {}", 0}, {"\"\\x\"", 0}, {"\"\\u12G4\"", 0},
    };
    for (size_t i = 0; i < sizeof j / sizeof j[0]; i++) {
        if (ifv_json_loads_ok(j[i].json) != j[i].ok) fprintf(stderr, "json: %s\n", j[i].json);
        CHECK(ifv_json_loads_ok(j[i].json) == j[i].ok);
    }
}

/* Languages IFEval asks for, one sentence each (written for this test). */
static void test_languages(void)
{
    static const char *const t[][2] = {
        {"en", "The weather today is pleasant and the children are playing in the park."},
        {"de", "Das Wetter ist heute sehr sch\u00f6n und die Kinder spielen im Park."},
        {"it", "Il tempo oggi \u00e8 molto piacevole e i bambini giocano nel parco."},
        {"pt", "O tempo hoje est\u00e1 muito agrad\u00e1vel e as crian\u00e7as est\u00e3o brincando no parque."},
        {"fi", "S\u00e4\u00e4 on t\u00e4n\u00e4\u00e4n mukava ja lapset leikkiv\u00e4t puistossa, koska se on auki."},
        {"sw", "Hali ya hewa leo ni nzuri sana na watoto wanacheza katika bustani."},
        {"vi", "Th\u1eddi ti\u1ebft h\u00f4m nay r\u1ea5t \u0111\u1eb9p v\u00e0 c\u00e1c em nh\u1ecf \u0111ang ch\u01a1i trong c\u00f4ng vi\u00ean."},
        {"ru", "\u0421\u0435\u0433\u043e\u0434\u043d\u044f \u043e\u0447\u0435\u043d\u044c \u0445\u043e\u0440\u043e\u0448\u0430\u044f \u043f\u043e\u0433\u043e\u0434\u0430, \u0438 \u0434\u0435\u0442\u0438 \u0438\u0433\u0440\u0430\u044e\u0442 \u0432 \u043f\u0430\u0440\u043a\u0435."},
        {"bg", "\u0414\u043d\u0435\u0441 \u0432\u0440\u0435\u043c\u0435\u0442\u043e \u0435 \u043c\u043d\u043e\u0433\u043e \u0445\u0443\u0431\u0430\u0432\u043e \u0438 \u0434\u0435\u0446\u0430\u0442\u0430 \u0438\u0433\u0440\u0430\u044f\u0442 \u0432 \u043f\u0430\u0440\u043a\u0430."},
        {"ar", "\u0627\u0644\u0637\u0642\u0633 \u0627\u0644\u064a\u0648\u0645 \u062c\u0645\u064a\u0644 \u062c\u062f\u0627 \u0648\u0627\u0644\u0623\u0637\u0641\u0627\u0644 \u064a\u0644\u0639\u0628\u0648\u0646 \u0641\u064a \u0627\u0644\u062d\u062f\u064a\u0642\u0629."},
        {"ur", "\u0622\u062c \u0645\u0648\u0633\u0645 \u0628\u06c1\u062a \u0627\u0686\u06be\u0627 \u06c1\u06d2 \u0627\u0648\u0631 \u0628\u0686\u06d2 \u067e\u0627\u0631\u06a9 \u0645\u06cc\u06ba \u06a9\u06be\u06cc\u0644 \u0631\u06c1\u06d2 \u06c1\u06cc\u06ba\u06d4"},
        {"mr", "\u0906\u091c \u0939\u0935\u093e\u092e\u093e\u0928 \u0916\u0942\u092a \u091b\u093e\u0928 \u0906\u0939\u0947 \u0906\u0923\u093f \u092e\u0941\u0932\u0947 \u0909\u0926\u094d\u092f\u093e\u0928\u093e\u0924 \u0916\u0947\u0933\u0924 \u0906\u0939\u0947\u0924."},
        {"ne", "\u0906\u091c \u092e\u094c\u0938\u092e \u0927\u0947\u0930\u0948 \u0930\u093e\u092e\u094d\u0930\u094b \u091b \u0930 \u0915\u0947\u091f\u093e\u0915\u0947\u091f\u0940\u0939\u0930\u0942 \u092a\u093e\u0930\u094d\u0915\u092e\u093e \u0916\u0947\u0932\u093f\u0930\u0939\u0947\u0915\u093e \u091b\u0928\u094d\u0964"},
        {"ta", "\u0b87\u0ba9\u0bcd\u0bb1\u0bc1 \u0bb5\u0bbe\u0ba9\u0bbf\u0bb2\u0bc8 \u0ba8\u0ba9\u0bcd\u0bb1\u0bbe\u0b95 \u0b89\u0bb3\u0bcd\u0bb3\u0ba4\u0bc1."},
        {"ko", "\uc624\ub298\uc740 \ub0a0\uc528\uac00 \uc544\uc8fc \uc88b\uc2b5\ub2c8\ub2e4."},
        {"th", "\u0e27\u0e31\u0e19\u0e19\u0e35\u0e49\u0e2d\u0e32\u0e01\u0e32\u0e28\u0e14\u0e35\u0e21\u0e32\u0e01"},
    };
    for (size_t i = 0; i < sizeof t / sizeof t[0]; i++) {
        const char *got = ifv_detect_language(t[i][1]);
        if (!got || strcmp(got, t[i][0]) != 0) fprintf(stderr, "language %s: got %s\n", t[i][0], got ? got : "(none)");
        CHECK(got && strcmp(got, t[i][0]) == 0);
    }
    CHECK(ifv_detect_language("123 -- !!! 4.5") == NULL); /* "No features in text" */
}

static void test_errors(void)
{
    char err[256] = "";
    CHECK(ifeval_check("keywords:nonsense", NULL, "", "x", 0, err, sizeof err) == -1);
    CHECK(strstr(err, "unknown instruction id 'keywords:nonsense'") != NULL);
    cJSON *kw = cJSON_Parse("{\"num_words\": 10}");
    CHECK(ifeval_check("length_constraints:number_words", kw, "", "x", 0, err, sizeof err) == -1);
    CHECK(strstr(err, "needs kwarg 'relation'") != NULL);
    cJSON_Delete(kw);
    kw = cJSON_Parse("{\"num_words\": 10, \"relation\": \"at most\"}");
    CHECK(ifeval_check("length_constraints:number_words", kw, "", "x", 0, err, sizeof err) == -1);
    CHECK(strstr(err, "\"less than\" or \"at least\"") != NULL);
    cJSON_Delete(kw);
    kw = cJSON_Parse("{\"num_bullets\": 2}");
    CHECK(ifeval_check("punctuation:no_comma", kw, "", "x", 0, err, sizeof err) == -1);
    CHECK(strstr(err, "does not take kwarg 'num_bullets'") != NULL);
    cJSON_Delete(kw);
    kw = cJSON_Parse("{\"keywords\": [\"(unclosed\"]}");
    CHECK(ifeval_check("keywords:existence", kw, "", "x", 0, err, sizeof err) == -1);
    CHECK(strstr(err, "keywords:existence") != NULL);
    cJSON_Delete(kw);
    /* HF's null-filled kwargs: null / 0 / "" are dropped, as lm-eval drops falsy values */
    kw = cJSON_Parse("{\"num_bullets\": null, \"keywords\": null, \"letter\": \"\", \"nth_paragraph\": 0}");
    CHECK(ifeval_check("punctuation:no_comma", kw, "", "no comma", 0, err, sizeof err) == 1);
    cJSON_Delete(kw);
    /* an empty or blank response never follows, strict or loose */
    CHECK(ifeval_check("punctuation:no_comma", NULL, "", " \n ", 0, err, sizeof err) == 0);
    CHECK(ifeval_check("punctuation:no_comma", NULL, "", "", 1, err, sizeof err) == 0);
}

/* Every prompt of the real dataset builds (no error) — skipped without the data. */
static void test_dataset(void)
{
    const char *dir = getenv("EVALLUA_TEST_DATA");
    char path[1024];
    snprintf(path, sizeof path, "%s/google/IFEval/default/train.jsonl", dir ? dir : "");
    FILE *f = dir ? fopen(path, "r") : NULL;
    if (!f) {
        printf("skip: %s not found (set EVALLUA_TEST_DATA)\n", path);
        return;
    }
    static char line[1 << 16];
    size_t docs = 0, insts = 0, failed = 0;
    while (fgets(line, sizeof line, f)) {
        cJSON *d = cJSON_Parse(line);
        cJSON *ids = cJSON_GetObjectItem(d, "instruction_id_list");
        cJSON *kws = cJSON_GetObjectItem(d, "kwargs");
        const char *id[16];
        const cJSON *kw[16];
        int s[16], l[16], n = cJSON_GetArraySize(ids);
        for (int i = 0; i < n && i < 16; i++) {
            id[i] = cJSON_GetArrayItem(ids, i)->valuestring;
            kw[i] = cJSON_GetArrayItem(kws, i);
        }
        char err[256];
        const char *prompt = cJSON_GetObjectItem(d, "prompt")->valuestring;
        if (n > 16 || ifeval_check_all(id, kw, (size_t)n, prompt, prompt, s, l, err, sizeof err)) {
            fprintf(stderr, "doc %zu: %s\n", docs, err);
            failed++;
        }
        docs++;
        insts += (size_t)n;
        cJSON_Delete(d);
    }
    fclose(f);
    CHECK(docs == 541);
    CHECK(insts == 834);
    CHECK(failed == 0);
}

/* ifeval.check through Lua: booleans per instruction, json.null kwargs ignored. */
static void test_lua(void)
{
    lua_State *L = luaL_newstate();
    luaL_openlibs(L);
    luaL_requiref(L, "ifeval", luaopen_evallua_ifeval, 1);
    lua_pop(L, 1);
    const char *script =
        "local r = ifeval.check({'punctuation:no_comma', 'detectable_format:title', "
        "'length_constraints:number_words'}, {{}, nil, {num_words = 4, relation = 'less than'}}, "
        "'prompt', 'Sure:\\n<<Title>> has, commas\\nEnd, done')\n"
        "assert(r.strict[1] == false and r.loose[1] == false)\n"
        "assert(r.strict[2] == true and r.loose[2] == true)\n"
        "assert(r.strict[3] == false and r.loose[3] == true)\n"
        "assert(#ifeval.instructions() == 25)\n"
        "local ok, err = pcall(ifeval.check, {'nope'}, {{}}, '', 'x')\n"
        "assert(not ok and err:find(\"unknown instruction id 'nope'\", 1, true))\n"
        "ok, err = pcall(ifeval.check, {'punctuation:no_comma'}, {{}}, '', 42)\n"
        "assert(ok)\n" /* numbers convert to strings, as everywhere in Lua */
        "ok, err = pcall(ifeval.check, {'punctuation:no_comma'}, {{}}, '', {})\n"
        "assert(not ok)\n"
        "ok, err = pcall(ifeval.check, {'punctuation:no_comma'}, {7}, '', 'x')\n"
        "assert(not ok and err:find('kwargs_list[1] must be a table', 1, true))\n";
    int rc = luaL_dostring(L, script);
    if (rc) fprintf(stderr, "lua: %s\n", lua_tostring(L, -1));
    CHECK(rc == LUA_OK);
    lua_close(L);
}

int main(void)
{
    test_cases();
    test_primitives();
    test_languages();
    test_errors();
    test_dataset();
    test_lua();
    return check_summary();
}
