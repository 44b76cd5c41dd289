/* rules.c — the --rules JSONL file: which text the fake model "generates" for a prompt. */
#include "fake_openai.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "util/buf.h"

/* Copy obj[key] when it is a string; 1 = copied, 0 = absent, -1 = present but not a string. */
static int take_string(const cJSON *obj, const char *key, char **out)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
    if (!v) return 0;
    if (!cJSON_IsString(v)) return -1;
    *out = xstrdup(v->valuestring);
    return 1;
}

/* Name the first key of obj that is not a rule field, or NULL. */
static const char *unknown_key(const cJSON *obj)
{
    const cJSON *it;
    cJSON_ArrayForEach(it, obj) {
        if (strcmp(it->string, "suffix") && strcmp(it->string, "text") &&
            strcmp(it->string, "reasoning"))
            return it->string;
    }
    return NULL;
}

/* Parse one non-blank line into *rule; -1 with a message (without position) in err. */
static int parse_rule(const char *line, fo_rule *rule, char *err, size_t errlen)
{
    int rc = -1;
    memset(rule, 0, sizeof *rule);
    cJSON *obj = cJSON_Parse(line);
    if (!cJSON_IsObject(obj)) {
        errf(err, errlen, "not a JSON object");
        goto cleanup;
    }
    const char *bad = unknown_key(obj);
    if (bad) {
        errf(err, errlen, "unknown field \"%s\" (expected suffix, text, reasoning)", bad);
        goto cleanup;
    }
    rule->text_null = cJSON_IsNull(cJSON_GetObjectItemCaseSensitive(obj, "text"));
    if (rule->text_null) rule->text = xstrdup("");
    if (take_string(obj, "suffix", &rule->suffix) != 1 ||
        (!rule->text_null && take_string(obj, "text", &rule->text) != 1) ||
        take_string(obj, "reasoning", &rule->reasoning) < 0) {
        errf(err, errlen, "\"suffix\" must be a string, \"text\" a string or null, \"reasoning\" a string if given");
        goto cleanup;
    }
    rc = 0;
cleanup:
    if (rc) {
        free(rule->suffix);
        free(rule->text);
        free(rule->reasoning);
    }
    cJSON_Delete(obj);
    return rc;
}

static int blank(const char *s)
{
    for (; *s; s++)
        if (*s != ' ' && *s != '\t' && *s != '\n' && *s != '\r') return 0;
    return 1;
}

int fo_rules_load(fo_rules *rules, const char *path, char *err, size_t errlen)
{
    FILE *f = fopen(path, "r");
    if (!f) return errf(err, errlen, "--rules %s: %s", path, strerror(errno));
    char *line = NULL, msg[256];
    size_t cap = 0, lineno = 0;
    int rc = 0;
    while (getline(&line, &cap, f) >= 0) {
        lineno++;
        if (blank(line)) continue;
        fo_rule rule;
        if (parse_rule(line, &rule, msg, sizeof msg)) {
            rc = errf(err, errlen, "--rules %s:%zu: %s", path, lineno, msg);
            break;
        }
        rules->items = xrealloc(rules->items, (rules->count + 1) * sizeof *rules->items);
        rules->items[rules->count++] = rule;
    }
    if (!rc && ferror(f)) rc = errf(err, errlen, "--rules %s: read error", path);
    free(line);
    fclose(f);
    return rc;
}

void fo_rules_free(fo_rules *rules)
{
    for (size_t i = 0; i < rules->count; i++) {
        free(rules->items[i].suffix);
        free(rules->items[i].text);
        free(rules->items[i].reasoning);
    }
    free(rules->items);
    rules->items = NULL;
    rules->count = 0;
}

const fo_rule *fo_rules_match(const fo_rules *rules, const char *prompt)
{
    size_t plen = strlen(prompt);
    for (size_t i = 0; i < rules->count; i++) {
        size_t slen = strlen(rules->items[i].suffix);
        if (slen <= plen && memcmp(prompt + plen - slen, rules->items[i].suffix, slen) == 0)
            return &rules->items[i];
    }
    return NULL;
}
