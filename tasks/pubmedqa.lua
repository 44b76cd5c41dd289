-- PubMedQA (Jin et al., 2019), the expert-labelled PQA-L set: answer a research question
-- yes / no / maybe from an abstract. Reproduces lm-eval's `pubmedqa`
-- (lm_eval/tasks/pubmedqa/pubmedqa.yaml and preprocess_pubmedqa.py): BigBio's fold-0 test
-- split, "Abstract: <contexts joined by \n>\nQuestion: <question>\nAnswer:".
return {
  name = "pubmedqa",
  aliases = { "PubMedQA", "pubmed_qa" },
  version = 1,
  dataset = { path = "bigbio/pubmed_qa", name = "pubmed_qa_labeled_fold0_source",
              training_split = "train", validation_split = "validation", test_split = "test" },
  output_type = "multiple_choice",
  doc_to_text = function(doc)
    return "Abstract: " .. table.concat(doc.CONTEXTS, "\n") .. "\nQuestion: " .. doc.QUESTION .. "\nAnswer:"
  end,
  doc_to_choice = { "yes", "no", "maybe" },
  -- final_decision is "yes", "no" or "maybe": gold is its index among the choices
  doc_to_target = "{{final_decision}}",
  metrics = { "acc" },
}
