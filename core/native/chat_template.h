/* chat_template.h — a model's chat format, recognised from its GGUF tokenizer.chat_template,
 * and the rendering of a chat (a JSON array of {role, content}) into the prompt text.
 *
 * No Jinja interpreter: the template text is matched against the distinctive markers of the
 * formats below, and each format is rendered by C code that reproduces the official
 * template's output for system/user/assistant turns, with the generation prompt appended:
 *
 *   CHAT_CHATML   (Qwen, SmolLM, ...; marker "<|im_start|>")
 *       <|im_start|>{role}\n{content}<|im_end|>\n ... <|im_start|>assistant\n
 *       A default system message written as a literal in the template (SmolLM2's, Qwen2.5's
 *       "<|im_start|>system\n...<|im_end|>") is inserted when the chat has none.
 *   CHAT_LLAMA3   (marker "<|start_header_id|>")
 *       {bos}<|start_header_id|>{role}<|end_header_id|>\n\n{trimmed content}<|eot_id|> ...
 *       <|start_header_id|>assistant<|end_header_id|>\n\n
 *   CHAT_MISTRAL  (marker "[INST]"; Mistral's "v1" layout, e.g. Mistral-7B-Instruct-v0.1/2)
 *       {bos}[INST] {user} [/INST]{assistant}{eos}[INST] {user} [/INST]
 *   CHAT_MISTRAL_V3 (marker "[INST]" where the template writes "[/INST]" with no space
 *       before it, as Mistral-7B-Instruct-v0.3 does)
 *       {bos}[INST] {user}[/INST] {trimmed assistant}{eos}[INST] {user}[/INST]
 *   A system message goes before a user message's text, followed by a blank line:
 *   [INST] {system}\n\n{user} [/INST] — the first user message in v1 (v0.2's template),
 *   the last one in v3 (v0.3's template).
 *   A template with Llama-2's "<<SYS>>" is not Mistral's and is not recognised.
 *
 * Roles other than system/user/assistant are rendered verbatim in ChatML and Llama-3 and
 * are an error in the Mistral layouts. The special-token texts (bos, eos) come from the
 * model's vocabulary; the caller tokenizes the result with special tokens parsed. */
#ifndef EVALLUA_NATIVE_CHAT_TEMPLATE_H
#define EVALLUA_NATIVE_CHAT_TEMPLATE_H

#include <stddef.h>

typedef enum chat_format {
    CHAT_UNKNOWN = 0,
    CHAT_CHATML,
    CHAT_LLAMA3,
    CHAT_MISTRAL,
    CHAT_MISTRAL_V3
} chat_format;

/* A recognised template: the format plus what the renderer needs from the model. */
typedef struct chat_template {
    chat_format format;
    char *default_system;   /* ChatML: the template's built-in system message, else NULL */
    char *bos;              /* text of the BOS token ("" when none) */
    char *eos;              /* text of the EOS token ("" when none) */
} chat_template;

/* The format whose markers the Jinja text tmpl carries; CHAT_UNKNOWN for NULL or none. */
chat_format chat_detect(const char *tmpl);
/* Short name of a format ("chatml", "llama3", "mistral", "mistral-v3", "unknown"). Static. */
const char *chat_format_name(chat_format f);
/* Comma-separated list of the recognised formats (static string). */
const char *chat_supported_formats(void);

/* Recognise tmpl (the GGUF's tokenizer.chat_template; NULL when the file has none) of the
   model at model_path, keeping copies of bos/eos (NULL means ""). Returns a template the
   caller frees with chat_template_free, or NULL with err naming model_path and the
   supported formats. */
chat_template *chat_template_new(const char *tmpl, const char *bos, const char *eos,
                                 const char *model_path, char *err, size_t errlen);
/* Release a template (NULL is fine). */
void chat_template_free(chat_template *t);

/* Render messages_json (a JSON array of {"role": ..., "content": ...}) with the generation
   prompt appended. Returns a malloc'd string the caller frees, or NULL with err saying what
   is wrong with the JSON or which message cannot be rendered. */
char *chat_render(const chat_template *t, const char *messages_json, char *err, size_t errlen);

#endif
