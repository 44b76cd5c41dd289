-- A custom task in one file: run it with
--   evallua run --tasks examples/my_task.lua --model-args base_url=...,model=...
-- It reads <data-dir>/openai/gsm8k/main/test.jsonl and asks for the bare number.
local regex = require "evallua.regex"

local final_number = regex.compile("#### (.*)$")

return {
  name = "gsm8k_bare",
  dataset = { path = "openai/gsm8k", name = "main", test_split = "test", fewshot_split = "train" },
  output_type = "generate_until",
  num_fewshot = 3,
  description = "Answer with a number only.\n\n",
  doc_to_text = "Q: {{question}}\nA:",
  -- a Lua function where a template is not enough: the number after "####"
  doc_to_target = function(doc)
    return final_number:findall(doc.answer)[1]
  end,
  generation_kwargs = { ["until"] = { "\n" }, max_gen_toks = 16 },
  filters = { { name = "strip", { "strip" }, { "take_first" } } },
  metrics = { { "exact_match", regexes_to_ignore = { "," } } },
}
