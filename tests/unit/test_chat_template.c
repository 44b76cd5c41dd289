/* test_chat_template.c — chat formats: detection from real template texts (SmolLM2's
 * ChatML, Meta-Llama-3-Instruct's, Mistral-7B-Instruct v0.1's and v0.3's), and each format
 * rendered exactly as its official Jinja template renders the same chat. */
#include <stdlib.h>

#include "check.h"
#include "native/chat_template.h"

/* HuggingFaceTB/SmolLM2-135M-Instruct (as stored in its GGUF: real newlines). */
static const char smollm2_tmpl[] =
    "{% for message in messages %}{% if loop.first and messages[0]['role'] != 'system' %}"
    "{{ '<|im_start|>system\nYou are a helpful AI assistant named SmolLM, trained by Hugging "
    "Face<|im_end|>\n' }}{% endif %}{{'<|im_start|>' + message['role'] + '\n' + "
    "message['content'] + '<|im_end|>' + '\n'}}{% endfor %}{% if add_generation_prompt %}"
    "{{ '<|im_start|>assistant\n' }}{% endif %}";

/* The generic ChatML template (no default system message), escapes written as "\n". */
static const char chatml_tmpl[] =
    "{% for message in messages %}{{'<|im_start|>' + message['role'] + '\\n' + "
    "message['content'] + '<|im_end|>' + '\\n'}}{% endfor %}{% if add_generation_prompt %}"
    "{{ '<|im_start|>assistant\\n' }}{% endif %}";

/* meta-llama/Meta-Llama-3-8B-Instruct. */
static const char llama3_tmpl[] =
    "{% set loop_messages = messages %}{% for message in loop_messages %}{% set content = "
    "'<|start_header_id|>' + message['role'] + '<|end_header_id|>\n\n'+ message['content'] | "
    "trim + '<|eot_id|>' %}{% if loop.index0 == 0 %}{% set content = bos_token + content %}"
    "{% endif %}{{ content }}{% endfor %}{% if add_generation_prompt %}{{ "
    "'<|start_header_id|>assistant<|end_header_id|>\n\n' }}{% endif %}";

/* mistralai/Mistral-7B-Instruct-v0.1. */
static const char mistral_v1_tmpl[] =
    "{{ bos_token }}{% for message in messages %}{% if (message['role'] == 'user') != "
    "(loop.index0 % 2 == 0) %}{{ raise_exception('Conversation roles must alternate "
    "user/assistant/user/assistant/...') }}{% endif %}{% if message['role'] == 'user' %}"
    "{{ '[INST] ' + message['content'] + ' [/INST]' }}{% elif message['role'] == "
    "'assistant' %}{{ message['content'] + eos_token}}{% else %}{{ raise_exception('Only "
    "user and assistant roles are supported!') }}{% endif %}{% endfor %}";

/* mistralai/Mistral-7B-Instruct-v0.3 (its tool-calling branches left out). */
static const char mistral_v3_tmpl[] =
    "{%- if messages[0][\"role\"] == \"system\" %}\n    {%- set system_message = "
    "messages[0][\"content\"] %}\n    {%- set loop_messages = messages[1:] %}\n{%- else %}\n"
    "    {%- set loop_messages = messages %}\n{%- endif %}\n{{- bos_token }}\n"
    "{%- for message in loop_messages %}\n    {%- if message[\"role\"] == \"user\" %}\n"
    "        {%- if loop.last and system_message is defined %}\n"
    "            {{- \"[INST] \" + system_message + \"\\n\\n\" + message[\"content\"] + "
    "\"[/INST]\" }}\n        {%- else %}\n"
    "            {{- \"[INST] \" + message[\"content\"] + \"[/INST]\" }}\n"
    "        {%- endif %}\n    {%- elif message[\"role\"] == \"assistant\" %}\n"
    "        {{- \" \" + message[\"content\"]|trim + eos_token}}\n    {%- endif %}\n"
    "{%- endfor %}\n";

/* meta-llama/Llama-2-7b-chat-hf (not a supported format). */
static const char llama2_tmpl[] =
    "{% if messages[0]['role'] == 'system' %}{% set loop_messages = messages[1:] %}{% set "
    "system_message = messages[0]['content'] %}{% else %}{% set loop_messages = messages %}"
    "{% set system_message = false %}{% endif %}{% for message in loop_messages %}{% if "
    "loop.index0 == 0 and system_message != false %}{% set content = '<<SYS>>\\n' + "
    "system_message + '\\n<</SYS>>\\n\\n' + message['content'] %}{% else %}{% set content = "
    "message['content'] %}{% endif %}{% if message['role'] == 'user' %}{{ bos_token + "
    "'[INST] ' + content.strip() + ' [/INST]' }}{% elif message['role'] == 'assistant' %}"
    "{{ ' '  + content.strip() + ' ' + eos_token }}{% endif %}{% endfor %}";

static const char chat3[] =
    "[{\"role\":\"system\",\"content\":\"Be brief.\"},{\"role\":\"user\",\"content\":\"Hi\"},"
    "{\"role\":\"assistant\",\"content\":\" Hello! \"},{\"role\":\"user\",\"content\":\"Why?\"}]";
static const char chat_user[] = "[{\"role\":\"user\",\"content\":\"Hello\"}]";

static void test_detect(void)
{
    CHECK(chat_detect(smollm2_tmpl) == CHAT_CHATML);
    CHECK(chat_detect(chatml_tmpl) == CHAT_CHATML);
    CHECK(chat_detect(llama3_tmpl) == CHAT_LLAMA3);
    CHECK(chat_detect(mistral_v1_tmpl) == CHAT_MISTRAL);
    CHECK(chat_detect(mistral_v3_tmpl) == CHAT_MISTRAL_V3);
    CHECK(chat_detect(llama2_tmpl) == CHAT_UNKNOWN);
    CHECK(chat_detect("{{ messages }}") == CHAT_UNKNOWN);
    CHECK(chat_detect(NULL) == CHAT_UNKNOWN);
    CHECK_STR(chat_format_name(CHAT_LLAMA3), "llama3");
    CHECK_STR(chat_format_name(CHAT_MISTRAL_V3), "mistral-v3");
}

static char *render(const char *tmpl, const char *bos, const char *eos, const char *json)
{
    char err[256] = "";
    chat_template *t = chat_template_new(tmpl, bos, eos, "m.gguf", err, sizeof err);
    if (!t) {
        fprintf(stderr, "  %s\n", err);
        return NULL;
    }
    char *out = chat_render(t, json, err, sizeof err);
    if (!out) fprintf(stderr, "  render: %s\n", err);
    chat_template_free(t);
    return out;
}

static void test_chatml(void)
{
    char *s = render(smollm2_tmpl, "<|im_start|>", "<|im_end|>", chat_user);
    CHECK_STR(s, "<|im_start|>system\nYou are a helpful AI assistant named SmolLM, trained by "
                 "Hugging Face<|im_end|>\n<|im_start|>user\nHello<|im_end|>\n"
                 "<|im_start|>assistant\n");
    free(s);
    s = render(smollm2_tmpl, "", "", chat3);           /* a system message replaces it */
    CHECK_STR(s, "<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n"
                 "<|im_start|>assistant\n Hello! <|im_end|>\n<|im_start|>user\nWhy?<|im_end|>\n"
                 "<|im_start|>assistant\n");
    free(s);
    s = render(chatml_tmpl, "", "", chat_user);
    CHECK_STR(s, "<|im_start|>user\nHello<|im_end|>\n<|im_start|>assistant\n");
    free(s);
}

static void test_llama3(void)
{
    char *s = render(llama3_tmpl, "<|begin_of_text|>", "<|end_of_text|>", chat3);
    CHECK_STR(s, "<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\nBe brief."
                 "<|eot_id|><|start_header_id|>user<|end_header_id|>\n\nHi<|eot_id|>"
                 "<|start_header_id|>assistant<|end_header_id|>\n\nHello!<|eot_id|>"
                 "<|start_header_id|>user<|end_header_id|>\n\nWhy?<|eot_id|>"
                 "<|start_header_id|>assistant<|end_header_id|>\n\n");
    free(s);
}

static void test_mistral(void)
{
    const char *alt = "[{\"role\":\"user\",\"content\":\"Hi\"},{\"role\":\"assistant\","
                      "\"content\":\"Hello!\"},{\"role\":\"user\",\"content\":\"How are you?\"}]";
    char *s = render(mistral_v1_tmpl, "<s>", "</s>", alt);
    CHECK_STR(s, "<s>[INST] Hi [/INST]Hello!</s>[INST] How are you? [/INST]");
    free(s);
    s = render(mistral_v1_tmpl, "<s>", "</s>", chat3);  /* system: first user message */
    CHECK_STR(s, "<s>[INST] Be brief.\n\nHi [/INST] Hello! </s>[INST] Why? [/INST]");
    free(s);
    s = render(mistral_v3_tmpl, "<s>", "</s>", chat3);  /* system: last user message */
    CHECK_STR(s, "<s>[INST] Hi[/INST] Hello!</s>[INST] Be brief.\n\nWhy?[/INST]");
    free(s);
}

static void test_errors(void)
{
    char err[256] = "";
    CHECK(!chat_template_new(llama2_tmpl, "<s>", "</s>", "/m/llama2.gguf", err, sizeof err));
    CHECK(strstr(err, "/m/llama2.gguf") && strstr(err, "not recognised") && strstr(err, "chatml"));
    CHECK(!chat_template_new(NULL, "", "", "/m/x.gguf", err, sizeof err));
    CHECK(strstr(err, "/m/x.gguf: no chat template"));
    chat_template *t = chat_template_new(mistral_v1_tmpl, "<s>", "</s>", "m", err, sizeof err);
    CHECK(!chat_render(t, "{\"role\":\"user\"}", err, sizeof err) && strstr(err, "JSON array"));
    CHECK(!chat_render(t, "[{\"role\":\"user\",\"content\":[1]}]", err, sizeof err) &&
          strstr(err, "message 0"));
    CHECK(!chat_render(t, "[{\"role\":\"tool\",\"content\":\"x\"}]", err, sizeof err) &&
          strstr(err, "role 'tool'"));
    CHECK(!chat_render(t, "[{\"role\":\"system\",\"content\":\"x\"}]", err, sizeof err) &&
          strstr(err, "needs a user message"));
    chat_template_free(t);
}

int main(void)
{
    test_detect();
    test_chatml();
    test_llama3();
    test_mistral();
    test_errors();
    return check_summary();
}
