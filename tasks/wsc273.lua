-- WSC273 (Levesque et al., 2012): the 273 Winograd schemas. Reproduces lm-eval's `wsc273`
-- (lm_eval/tasks/wsc273/default.yaml and utils.py): test split only, options normalised
-- for partial evaluation, and a multiple-input task whose two contexts are the text up to
-- the pronoun with each option in its place, both scored on the text after the pronoun.
local score = require "evallua.score"

local UPPER_PRONOUNS = {
  A = true, An = true, The = true, She = true, He = true, It = true, They = true,
  My = true, His = true, Her = true, Their = true,
}
local POSSESSIVE = { my = true, his = true, her = true, our = true, their = true }

-- Python s[i:j] / s[i] with code-point indices (0-based, negative from the end).
local function ulen(s) return utf8.len(s) or #s end
local function byte_at(s, cp) -- byte offset of 0-based code point cp (cp may equal the length)
  if not utf8.len(s) then return cp + 1 end
  return utf8.offset(s, cp + 1) or (#s + 1)
end
local function norm(s, i)
  local n = ulen(s)
  if i < 0 then i = i + n end
  return math.max(0, math.min(i, n))
end
local function slice(s, i, j)
  i = norm(s, i or 0)
  j = norm(s, j or ulen(s))
  if j <= i then return "" end
  return string.sub(s, byte_at(s, i), byte_at(s, j) - 1)
end
local function char_at(s, i) -- Python s[i]
  local n = ulen(s)
  if i < 0 then i = i + n end
  if i < 0 or i >= n then error(string.format("string index %d out of range", i), 0) end
  return slice(s, i, i + 1)
end

-- utils.__normalize_option
local function normalize_option(doc, option)
  if POSSESSIVE[score.lower(doc.pronoun)] then option = option .. "'s" end
  local first = string.match(option, "^%s*(%S+)")
  if not first then error("empty option", 0) end
  local start_of_sentence = char_at(doc.text, doc.pronoun_loc - 2) == "."
  if not start_of_sentence and UPPER_PRONOUNS[first] then
    -- option.replace(w, w.lower()): every occurrence (these words are plain letters)
    option = string.gsub(option, first, string.lower(first))
  end
  return option
end

return {
  name = "wsc273",
  aliases = { "WSC273", "wsc-273", "winograd_wsc" },
  version = 1,
  dataset = { path = "lighteval/winograd_wsc", name = "wsc273", test_split = "test" },
  output_type = "multiple_choice",
  process_docs = function(docs)
    local out = {}
    for i, doc in ipairs(docs) do
      local d = {}
      for k, v in pairs(doc) do d[k] = v end
      -- text.replace("  ", " "); pronoun_loc is not adjusted (as in lm-eval)
      d.text = string.gsub(doc.text, "  ", " ")
      d.options = { normalize_option(d, doc.options[1]), normalize_option(d, doc.options[2]) }
      out[i] = d
    end
    return out
  end,
  -- doc_to_text: label (the gold context index: multiple-input)
  doc_to_text = function(doc) return math.tointeger(doc.label) end,
  -- {% set template = text[:pronoun_loc] %}{{[template+options[0], template+options[1]]}}
  doc_to_choice = function(doc)
    local template = slice(doc.text, 0, doc.pronoun_loc)
    return { template .. doc.options[1], template .. doc.options[2] }
  end,
  -- {% set index = pronoun_loc + pronoun | length %}{{text[index:]}}
  doc_to_target = function(doc)
    return slice(doc.text, doc.pronoun_loc + ulen(doc.pronoun))
  end,
  metrics = { "acc" },
}
