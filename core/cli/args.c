/* args.c — the flag table and its parser. */
#include "args.h"

#include "util/buf.h"

#include <lauxlib.h>
#include <stdlib.h>
#include <string.h>

typedef enum flag_kind {
    FLAG_VALUE,    /* takes one value */
    FLAG_BOOL,     /* bare = true; an explicit true/false word may follow */
    FLAG_REPEAT    /* takes one value, may repeat; collected in an array */
} flag_kind;

typedef struct flag_spec {
    const char *key;          /* canonical name in the options table */
    const char *names[6];     /* every accepted spelling, NULL-terminated */
    flag_kind kind;
    const char *commands;     /* space-separated commands that accept it */
    const char *metavar;
    const char *help;
} flag_spec;

static const flag_spec flag_table[] = {
    {"model", {"--model", "-m", NULL}, FLAG_VALUE, "run", "NAME",
     "backend: openai-completions (alias local-completions), openai-chat (aliases\n"
     "openai-chat-completions, local-chat-completions, and Evalchemy's openai, curator)"},
    {"model_args", {"--model-args", "--model_args", "-M", NULL}, FLAG_VALUE, "run", "K=V,...",
     "backend arguments: base_url, model, api_key, concurrency (32), max_retries (5),\n"
     "retry_base (0.5 s), timeout (300 s); Evalchemy's api_base is accepted for base_url"},
    {"model_name", {"--model-name", "--model_name", NULL}, FLAG_VALUE, "run", "NAME",
     "model name sent to the server (Evalchemy); a provider prefix like openai/ is stripped"},
    {"tasks", {"--tasks", "-t", NULL}, FLAG_VALUE, "run show", "LIST",
     "comma-separated task names (case-insensitive, aliases like ARC-c), globs (arc_*)\n"
     "or paths to task files (./my_task.lua)"},
    {"num_fewshot", {"--num-fewshot", "--num_fewshot", "-f", NULL}, FLAG_VALUE, "run show", "N",
     "few-shot examples per prompt (default: each task's own)"},
    {"limit", {"--limit", "-L", NULL}, FLAG_VALUE, "run", "N",
     "evaluate only the first N documents per task; a number < 1 is a fraction"},
    {"output", {"--output", "--output-path", "--output_path", "-o", NULL}, FLAG_VALUE, "run", "PATH",
     "results file (PATH.json) or directory (results_<date>.json is written inside)"},
    {"log_samples", {"--log-samples", "--log_samples", "-s", NULL}, FLAG_BOOL, "run", NULL,
     "also write samples_<task>_<date>.jsonl next to the results"},
    {"batch_size", {"--batch-size", "--batch_size", "-b", NULL}, FLAG_VALUE, "run", "N",
     "accepted for lm-eval compatibility and recorded; concurrency is a model arg"},
    {"apply_chat_template", {"--apply-chat-template", "--apply_chat_template", NULL}, FLAG_BOOL,
     "run show", NULL, "send prompts as chat messages (chat backends)"},
    {"fewshot_as_multiturn", {"--fewshot-as-multiturn", "--fewshot_as_multiturn", NULL}, FLAG_BOOL,
     "run show", NULL, "with a chat template: each few-shot example is a user/assistant turn"},
    {"system_instruction", {"--system-instruction", "--system_instruction", NULL}, FLAG_VALUE,
     "run show", "TEXT", "system message (chat) or text prepended to every prompt"},
    {"gen_kwargs", {"--gen-kwargs", "--gen_kwargs", NULL}, FLAG_VALUE, "run", "K=V,...",
     "override generation arguments of generate_until tasks, e.g. temperature=0,max_gen_toks=512"},
    {"seed", {"--seed", NULL}, FLAG_VALUE, "run show", "N[,N,N,N]",
     "seeds as in lm-eval: random,numpy,torch,fewshot (one number sets all; default 0,1234,1234,1234)"},
    {"include_path", {"--include-path", "--include_path", NULL}, FLAG_REPEAT, "run list show data", "DIR",
     "also load task files from DIR (repeatable; $EVALLUA_PATH is a colon list too)"},
    {"data_dir", {"--data-dir", "--data_dir", NULL}, FLAG_VALUE, "run show data", "DIR",
     "datasets in Hugging Face layout DIR/<id>/<config>/<split>.jsonl (default $EVALLUA_DATA,\n"
     "else $XDG_DATA_HOME/evallua/datasets, else ~/.local/share/evallua/datasets)"},
    {"limit_rows", {"--limit-rows", "--limit_rows", NULL}, FLAG_VALUE, "data", "N",
     "fetch only the first N rows of each split (for a quick try; a later pull without it\n"
     "completes the file)"},
    {"force", {"--force", NULL}, FLAG_BOOL, "data", NULL,
     "fetch again even when the split's file is already there"},
    {"dry_run", {"--dry-run", "--dry_run", "-n", NULL}, FLAG_BOOL, "data", NULL,
     "only list the splits, their files and whether they are present; fetch nothing"},
    {"splits", {"--splits", NULL}, FLAG_VALUE, "data", "LIST",
     "fetch only these splits (comma-separated names, e.g. test); default: each task's\n"
     "evaluation split and the split its few-shot examples come from"},
    {"concurrency", {"--concurrency", "-j", NULL}, FLAG_VALUE, "data", "N",
     "requests in flight at most (default 16)"},
    {"max_retries", {"--max-retries", "--max_retries", NULL}, FLAG_VALUE, "data", "N",
     "retries per page after 5xx, 429 or connection errors (default 6; back-off 0.5 s doubling)"},
    {"doc", {"--doc", NULL}, FLAG_VALUE, "show", "N", "document index to show (default 0)"},
    {"verbosity", {"--verbosity", "-v", NULL}, FLAG_VALUE, "run", "LEVEL",
     "accepted for lm-eval compatibility"},
    {"trust_remote_code", {"--trust-remote-code", "--trust_remote_code", NULL}, FLAG_BOOL, "run", NULL,
     "accepted for lm-eval compatibility (no effect: evallua runs no dataset code)"},
    {"no_progress", {"--no-progress", NULL}, FLAG_BOOL, "run", NULL, "do not show progress"},
    {"cache", {"--cache", "--use-cache", "--use_cache", NULL}, FLAG_VALUE, "run cache", "PATH",
     "response cache file (default $XDG_CACHE_HOME/evallua/responses.sqlite, else\n"
     "~/.cache/evallua/responses.sqlite); lm-eval's --use_cache is accepted"},
    {"no_cache", {"--no-cache", "--no_cache", NULL}, FLAG_BOOL, "run", NULL,
     "neither read nor write the response cache: send every request"},
    {"repeats", {"--repeats", NULL}, FLAG_VALUE, "run show", "N",
     "generate N answers per document (per-repeat seeds; the task decides how they are scored)"},
    {"mc_mode", {"--mc-mode", "--mc_mode", NULL}, FLAG_VALUE, "run", "MODE",
     "multiple-choice tasks: loglikelihood, or generative (lettered choices, letter extracted);\n"
     "default: loglikelihood where the backend can score it, else generative"},
    {"bootstrap_iters", {"--bootstrap-iters", "--bootstrap_iters", NULL}, FLAG_VALUE, "run", "N",
     "bootstrap iterations for standard errors that need them (default 100000; 0 skips)"},
    {"allow_failures", {"--allow-failures", NULL}, FLAG_BOOL, "run", NULL,
     "exit 0 even when some requests failed (their documents are left out of the scores)"},
    {"confirm_run_unsafe_code", {"--confirm-run-unsafe-code", "--confirm_run_unsafe_code", NULL}, FLAG_BOOL,
     "run", NULL, "allow tasks that execute model-written code (HumanEval, MBPP) in the sandbox\n"
     "(docs/security.md says what isolation is in effect); HF_ALLOW_CODE_EVAL=1 also works"},
    {"help", {"--help", "-h", NULL}, FLAG_BOOL, "run list show exec cache data", NULL, "show this help"},
};

static const size_t flag_count = sizeof flag_table / sizeof flag_table[0];

static int command_accepts(const flag_spec *f, const char *command)
{
    size_t n = strlen(command);
    for (const char *p = f->commands; (p = strstr(p, command)) != NULL; p += n) {
        int start_ok = p == f->commands || p[-1] == ' ';
        int end_ok = p[n] == '\0' || p[n] == ' ';
        if (start_ok && end_ok) return 1;
    }
    return 0;
}

static const flag_spec *find_flag(const char *name, size_t len)
{
    for (size_t i = 0; i < flag_count; i++)
        for (const char *const *s = flag_table[i].names; *s; s++)
            if (strlen(*s) == len && strncmp(*s, name, len) == 0) return &flag_table[i];
    return NULL;
}

static size_t edit_distance(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);
    size_t *row = xcalloc(lb + 1, sizeof *row);
    for (size_t j = 0; j <= lb; j++) row[j] = j;
    for (size_t i = 1; i <= la; i++) {
        size_t prev = row[0];
        row[0] = i;
        for (size_t j = 1; j <= lb; j++) {
            size_t cur = row[j];
            size_t cost = a[i - 1] == b[j - 1] ? 0 : 1;
            size_t best = prev + cost;
            if (row[j] + 1 < best) best = row[j] + 1;
            if (row[j - 1] + 1 < best) best = row[j - 1] + 1;
            row[j] = best;
            prev = cur;
        }
    }
    size_t d = row[lb];
    free(row);
    return d;
}

static const char *nearest_flag(const char *name, const char *command)
{
    const char *best = NULL;
    size_t best_d = (size_t)-1;
    for (size_t i = 0; i < flag_count; i++) {
        if (!command_accepts(&flag_table[i], command)) continue;
        for (const char *const *s = flag_table[i].names; *s; s++) {
            size_t d = edit_distance(name, *s);
            if (d < best_d) {
                best_d = d;
                best = *s;
            }
        }
    }
    return best_d <= 4 ? best : NULL;
}

static int bool_word(const char *s, int *value)
{
    static const char *const yes[] = {"true", "True", "TRUE", "1", "yes", NULL};
    static const char *const no[] = {"false", "False", "FALSE", "0", "no", NULL};
    for (const char *const *w = yes; *w; w++)
        if (strcmp(s, *w) == 0) return *value = 1, 1;
    for (const char *const *w = no; *w; w++)
        if (strcmp(s, *w) == 0) return *value = 0, 1;
    return 0;
}

static void append_to_array(lua_State *L, int opts, const char *key, const char *value)
{
    lua_getfield(L, opts, key);
    if (!lua_istable(L, -1)) {
        lua_pop(L, 1);
        lua_newtable(L);
        lua_pushvalue(L, -1);
        lua_setfield(L, opts, key);
    }
    lua_pushstring(L, value);
    lua_rawseti(L, -2, (lua_Integer)lua_rawlen(L, -2) + 1);
    lua_pop(L, 1);
}

/* Handle one "--flag[=value]" at argv[*i]; advances *i past consumed values. */
static int parse_flag(lua_State *L, int opts, const char *command, int argc, char **argv, int *i,
                      char *err, size_t errlen)
{
    const char *arg = argv[*i];
    const char *eq = strchr(arg, '=');
    size_t len = eq ? (size_t)(eq - arg) : strlen(arg);
    const flag_spec *f = find_flag(arg, len);
    if (!f || !command_accepts(f, command)) {
        char name[128];
        snprintf(name, sizeof name, "%.*s", (int)(len < 100 ? len : 100), arg);
        const char *near = f ? NULL : nearest_flag(name, command);
        if (f) return errf(err, errlen, "'%s' is not a flag of 'evallua %s' (see evallua %s --help)", name, command, command);
        if (near) return errf(err, errlen, "unknown flag '%s' (did you mean %s?)", name, near);
        return errf(err, errlen, "unknown flag '%s' (see evallua %s --help)", name, command);
    }
    if (f->kind == FLAG_BOOL) {
        int v = 1;
        if (eq) {
            if (!bool_word(eq + 1, &v)) {
                lua_pushstring(L, eq + 1); /* e.g. a chat template name: kept as a string */
                lua_setfield(L, opts, f->key);
                return 0;
            }
        } else if (*i + 1 < argc && bool_word(argv[*i + 1], &v)) {
            (*i)++;
        }
        lua_pushboolean(L, v);
        lua_setfield(L, opts, f->key);
        return 0;
    }
    const char *value = eq ? eq + 1 : NULL;
    if (!value) {
        if (*i + 1 >= argc) return errf(err, errlen, "flag %s needs a value (%s)", arg, f->metavar);
        value = argv[++(*i)];
    }
    if (f->kind == FLAG_REPEAT) append_to_array(L, opts, f->key, value);
    else {
        lua_pushstring(L, value);
        lua_setfield(L, opts, f->key);
    }
    return 0;
}

/* Number of positional arguments collected so far. */
static size_t positional_count(lua_State *L, int opts)
{
    lua_getfield(L, opts, "positional");
    size_t n = (size_t)lua_rawlen(L, -1);
    lua_pop(L, 1);
    return n;
}

int args_parse(lua_State *L, const char *command, int argc, char **argv, int first,
               char *err, size_t errlen)
{
    lua_newtable(L);
    int opts = lua_gettop(L);
    lua_newtable(L);
    lua_setfield(L, opts, "positional");
    for (int i = first; i < argc; i++) {
        const char *arg = argv[i];
        int script_args = strcmp(command, "exec") == 0 && positional_count(L, opts) > 0;
        if (script_args) {
            append_to_array(L, opts, "positional", arg); /* everything after the script is its own */
        } else if (arg[0] == '-' && arg[1] != '\0' && strcmp(arg, "-") != 0) {
            if (parse_flag(L, opts, command, argc, argv, &i, err, errlen) != 0) {
                lua_pop(L, 1);
                return -1;
            }
        } else {
            append_to_array(L, opts, "positional", arg);
        }
    }
    return 0;
}

static const char *const help_overview =
    "evallua — evaluate language models on standard benchmarks\n"
    "\n"
    "Usage:\n"
    "  evallua run [SUITE.lua] [flags]   evaluate a model on tasks (suite file and/or flags)\n"
    "  evallua list [--include-path DIR] list the tasks evallua knows\n"
    "  evallua show TASK [--doc N] [--num-fewshot K]\n"
    "                                    print the exact request(s) for one document\n"
    "  evallua exec SCRIPT.lua [ARGS]    run a Lua script with evallua's modules\n"
    "  evallua cache stats|clear [--cache PATH]\n"
    "                                    show or empty the response cache\n"
    "  evallua data pull TASK... [--data-dir DIR]\n"
    "                                    download the tasks' dataset splits from Hugging Face\n"
    "  evallua --version | --help | COMMAND --help\n"
    "\n"
    "Example (a vLLM server on port 8000):\n"
    "  evallua run --model openai-completions \\\n"
    "    --model-args base_url=http://127.0.0.1:8000/v1,model=Qwen/Qwen3-8B \\\n"
    "    --tasks gsm8k,hellaswag,arc_easy --num-fewshot 5 --limit 100 \\\n"
    "    --output logs/run.json --log-samples --data-dir ~/data/hub\n"
    "\n"
    "Environment: EVALLUA_DATA (data dir), EVALLUA_PATH (extra task dirs), OPENAI_API_KEY,\n"
    "HF_TOKEN and EVALLUA_HF_DATASETS_SERVER (evallua data pull),\n"
    "OPENAI_API_BASE / OPENAI_BASE_URL (server when no base_url is given), EVALLUA_HOME.\n"
    "Docs: docs/cli.md (commands and flags), docs/tasks.md (writing tasks in Lua).\n";

void args_print_help(FILE *out, const char *command)
{
    if (!command) {
        fputs(help_overview, out);
        return;
    }
    if (strcmp(command, "run") == 0)
        fputs("Usage: evallua run [SUITE.lua] [flags]\n\n"
              "Evaluates a model on tasks. A suite file returns a table with the same fields\n"
              "as the flags (model, model_args, tasks, num_fewshot, limit, output, ...);\n"
              "flags given on the command line override it. Spellings from lm-eval\n"
              "(--model_args, --num_fewshot, --output_path, ...) work too.\n\n"
              "Exit status: 0 when every request was answered, 1 when some failed (results\n"
              "are still written), 2 for bad input, 130 after Ctrl-C (answers so far are\n"
              "cached and partial results written; rerun the same command to resume).\n\nFlags:\n", out);
    else if (strcmp(command, "list") == 0)
        fputs("Usage: evallua list [flags]\n\nLists every task: name, output type, metrics, "
              "default few-shot count, aliases.\n\nFlags:\n", out);
    else if (strcmp(command, "show") == 0)
        fputs("Usage: evallua show TASK [flags]\n\nPrints the exact request(s) evallua would "
              "send for one document — the context\nand continuations, or the prompt and "
              "generation arguments — and its target.\n\nFlags:\n", out);
    else if (strcmp(command, "cache") == 0)
        fputs("Usage: evallua cache stats|clear [--cache PATH]\n\nevallua run stores every answered "
              "request in a response cache, so a rerun\nsends only what was never answered. "
              "stats shows the file, its responses per\nmodel and its size; clear empties it."
              "\n\nFlags:\n", out);
    else if (strcmp(command, "data") == 0)
        fputs("Usage: evallua data pull TASK|GROUP|GLOB... [flags]\n\n"
              "Downloads the dataset splits the tasks read (their evaluation split and the\n"
              "split their few-shot examples come from) from the Hugging Face datasets-server\n"
              "rows API into DIR/<dataset id>/<config>/<split>.jsonl, 100 rows a request,\n"
              "many requests at once. A pull that was stopped (Ctrl-C, a crash) continues\n"
              "where it stopped when run again; files already complete are not fetched again.\n\n"
              "Examples:\n"
              "  evallua data pull arc_easy hellaswag --data-dir ~/data/hub\n"
              "  evallua data pull 'mmlu_*' --dry-run\n"
              "  HF_TOKEN=hf_... evallua data pull mmlu --splits test,dev\n\n"
              "Environment: HF_TOKEN (sent as a Bearer token for gated datasets; never printed),\n"
              "EVALLUA_HF_DATASETS_SERVER (API root, default https://datasets-server.huggingface.co),\n"
              "EVALLUA_DATA (data dir). Exit status: 0 every split present or fetched, 1 some\n"
              "failed, 2 bad input, 130 interrupted. Docs: docs/data.md.\n\nFlags:\n", out);
    else if (strcmp(command, "exec") == 0)
        fputs("Usage: evallua exec SCRIPT.lua [ARGS...]\n\nRuns a Lua script with evallua's "
              "modules available through require (evallua.json,\nevallua.data, evallua.task, "
              "...); ARGS are in the global table `arg`.\n", out);
    for (size_t i = 0; i < flag_count; i++) {
        const flag_spec *f = &flag_table[i];
        if (!command_accepts(f, command)) continue;
        buf names = {0};
        for (const char *const *s = f->names; *s; s++) {
            if (s != f->names) buf_puts(&names, ", ");
            buf_puts(&names, *s);
        }
        if (f->metavar) buf_printf(&names, " %s", f->metavar);
        fprintf(out, "  %s\n", buf_str(&names));
        buf_free(&names);
        for (const char *p = f->help; *p;) {
            const char *nl = strchr(p, '\n');
            size_t n = nl ? (size_t)(nl - p) : strlen(p);
            fprintf(out, "      %.*s\n", (int)n, p);
            p += n + (nl ? 1 : 0);
        }
    }
}
