-- SQuAD 2.0 (Rajpurkar et al., 2018): extractive reading comprehension where some questions
-- have no answer in the passage. Reproduces lm-eval's `squadv2` — the Python task class
-- SQuAD2 (lm_eval/tasks/squadv2/task.py, VERSION 3; squadv2.yaml is `class: task.SQuAD2`),
-- not the hazyresearch `squad_completion` task: lighteval/squad_v2, validation split,
-- few-shot pool train, "Title: ...\n\nBackground: ...\n\nQuestion: ...\n\nAnswer:",
-- greedy generation stopped at "\n", scored with HF evaluate's squad_v2 (metrics.squad:
-- the official normalisation, max over the gold answers; an unanswerable question's only
-- gold is ""). exact and f1 are percentages, as squad_v2 reports them. (task-formats.md §23)
--
-- Deviations (engine limits, also in docs/tasks.md): lm-eval sends a second request per
-- document, loglikelihood(ctx, " unanswerable"), only to feed no_answer_probability into
-- best_exact / best_f1; a task here makes one kind of request, so those two are not
-- reported (exact and f1 do not depend on it: squad_v2's threshold 1.0 never applies).
-- HasAns_* / NoAns_* are reported (a ratio aggregation over the documents of each kind).
local metrics = require "evallua.metrics"
local util = require "evallua.util"

-- doc_to_target: " " + the first answer, or " unanswerable" (used by few-shot examples)
local function doc_to_target(doc)
  local texts = util.field(util.field(doc, "answers"), "text")
  if #texts > 0 then return " " .. texts[1] end
  return " unanswerable"
end

return {
  name = "squadv2",
  aliases = { "SQuADv2", "SQuAD2", "squad2", "squad_v2", "SQuAD-v2", "SQuAD2.0", "squad-v2" },
  version = 3,
  dataset = { path = "lighteval/squad_v2", training_split = "train", validation_split = "validation" },
  output_type = "generate_until",
  doc_to_text = "Title: {{title}}\n\nBackground: {{context}}\n\nQuestion: {{question}}\n\nAnswer:",
  doc_to_target = doc_to_target,
  generation_kwargs = { ["until"] = { "\n" } },
  metrics = {
    -- squad_v2's exact and f1 over the corpus are the means of the per-question scores x 100
    { "squad_v2", reports = { "exact", "f1" }, score = function(doc, response)
        local r = metrics.squad({ response }, { doc.answers.text })
        return { exact = 100 * r.exact[1], f1 = 100 * r.f1[1] }
      end },
    -- HasAns_* / NoAns_*: the same scores over the answerable / unanswerable questions only.
    -- A ratio (Σnum / Σden) is a mean over the documents with den = 1; like lm-eval, no
    -- stderr, and no value when --limit leaves none of that kind.
    { "squad_v2_split", aggregation = "ratio", higher_is_better = true,
      reports = { "HasAns_exact", "HasAns_f1", "NoAns_exact", "NoAns_f1" },
      score = function(doc, response)
        local r = metrics.squad({ response }, { doc.answers.text })
        local exact, f1 = { num = 100 * r.exact[1], den = 1 }, { num = 100 * r.f1[1], den = 1 }
        local none = { num = 0, den = 0 }
        if #doc.answers.text > 0 then
          return { HasAns_exact = exact, HasAns_f1 = f1, NoAns_exact = none, NoAns_f1 = none }
        end
        return { HasAns_exact = none, HasAns_f1 = none, NoAns_exact = exact, NoAns_f1 = f1 }
      end },
  },
}
