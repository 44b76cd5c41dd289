-- LAMBADA (Paperno et al., 2016), OpenAI's preprocessed test set: predict the last word of
-- a passage. Reproduces lm-eval's `lambada_openai` (lm_eval/tasks/lambada/
-- lambada_openai.yaml): the text split on single spaces, the last word (with any
-- punctuation attached) as the continuation; perplexity and greedy accuracy.
local function split_last_word(text)
  local head, last = string.match(text, "^(.*) ([^ ]*)$")
  if not head then return "", text end
  return head, last
end

return {
  name = "lambada_openai",
  aliases = { "lambada", "LAMBADA" },
  version = 1,
  dataset = { path = "EleutherAI/lambada_openai", name = "default", test_split = "test" },
  output_type = "loglikelihood",
  doc_to_text = function(doc) return (split_last_word(doc.text)) end,
  doc_to_target = function(doc)
    local _, last = split_last_word(doc.text)
    return " " .. last
  end,
  metrics = { "perplexity", "acc" },
}
