-- word_f1: bag-of-words F1 between the response and the document's answer (lower-cased,
-- split on non-alphanumerics), and exact equality of those word lists. Returns two
-- metrics, word_f1 and word_em. (SQuAD's official F1, with article and punctuation rules,
-- is a built-in metric; this one is the plain version to copy and adapt.)
local function words(text)
  local out = {}
  for w in string.gmatch(string.lower(text), "%w+") do out[#out + 1] = w end
  return out
end

return {
  score = function(doc, response)
    local pred, gold = words(response), words(tostring(doc.answer or ""))
    local counts, common = {}, 0
    for _, w in ipairs(gold) do counts[w] = (counts[w] or 0) + 1 end
    for _, w in ipairs(pred) do
      if (counts[w] or 0) > 0 then
        counts[w] = counts[w] - 1
        common = common + 1
      end
    end
    local em = (table.concat(pred, " ") == table.concat(gold, " ")) and 1 or 0
    if common == 0 then return { word_f1 = 0, word_em = em } end
    local precision, recall = common / #pred, common / #gold
    return { word_f1 = 2 * precision * recall / (precision + recall), word_em = em }
  end,
  aggregation = "mean",
  higher_is_better = true,
}
