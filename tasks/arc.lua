-- AI2 Reasoning Challenge (Clark et al., 2018), Easy and Challenge sets: grade-school
-- science questions scored by the log-likelihood of each answer text. Reproduces lm-eval's
-- arc_easy.yaml and arc_challenge.yaml (test split, few-shot from train, acc and acc_norm).
local function arc(name, config, aliases)
  return {
    name = name,
    aliases = aliases,
    version = 1,
    dataset = { path = "allenai/ai2_arc", name = config, test_split = "test",
                training_split = "train", validation_split = "validation" },
    output_type = "multiple_choice",
    doc_to_text = "Question: {{question}}\nAnswer:",
    doc_to_choice = "{{choices.text}}",
    -- {{choices.label.index(answerKey)}}: labels are A-E or 1-5
    doc_to_target = function(doc)
      for i, label in ipairs(doc.choices.label) do
        if label == doc.answerKey then return i - 1 end
      end
      error("answerKey '" .. tostring(doc.answerKey) .. "' is not among the choice labels")
    end,
    metrics = { "acc", "acc_norm" },
  }
end

return {
  arc("arc_easy", "ARC-Easy", { "ARC-Easy", "ARC-e", "arc-easy", "arc_e" }),
  arc("arc_challenge", "ARC-Challenge", { "ARC-Challenge", "ARC-c", "arc-challenge", "arc_c" }),
}
