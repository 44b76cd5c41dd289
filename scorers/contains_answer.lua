-- contains_answer: 1 when the response contains the document's answer (case-insensitive),
-- else 0. For open-ended generation where any phrasing that mentions the answer counts.
-- The answer is doc.answer, or the first of doc.answers; adapt the field to your dataset.
return {
  score = function(doc, response)
    local answer = doc.answer or (doc.answers and doc.answers[1])
    if type(answer) ~= "string" or answer == "" then return 0 end
    local found = string.find(string.lower(response), string.lower(answer), 1, true)
    return found and 1 or 0
  end,
  aggregation = "mean",
  higher_is_better = true,
}
