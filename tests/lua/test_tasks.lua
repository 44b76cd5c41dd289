-- Task rendering tests: the prompts and requests evallua builds for real documents must be
-- exactly what lm-eval builds (formats from ../shared/reference/task-formats.md §2, §3, §17;
-- few-shot indices from CPython's random.Random(1234).sample, as lm-eval draws them).
local check = dofile(os.getenv("EVALLUA_SRC") .. "/tests/lua/check.lua")
local data = require "evallua.data"
local registry = require "evallua.registry"
local runner = require "evallua.runner"

local data_dir = check.data_dir()
if not data_dir then
  print("skip: benchmark data not found (set EVALLUA_TEST_DATA to ../shared/data/hub)")
  return 77
end

local reg = registry.load()
local function build(name, cfg)
  cfg.data_dir = data_dir
  cfg.fewshot_seed = cfg.fewshot_seed or 1234
  local t = registry.resolve(reg, name)[1]
  return runner.build_task(t, cfg, {})
end

-- gsm8k, zero-shot: "Question: {{question}}\nAnswer:" and lm-eval's generation kwargs.
do
  local b = build("gsm8k", { num_fewshot = 0, limit = 1 })
  local r = b.samples[1].requests[1]
  check.eq(r.kind, "generate_until")
  check.eq(r.context, "Question: Janet\u{2019}s ducks lay 16 eggs per day. She eats three for breakfast every morning and bakes muffins for her friends every day with four. She sells the remainder at the farmers' market daily for $2 per fresh duck egg. How much in dollars does she make every day at the farmers' market?\nAnswer:")
  check.eq(r["until"], { "Question:", "</s>", "<|im_end|>" })
  check.eq(r.max_tokens, 256)
  check.eq(r.temperature, 0)
  check.eq(b.n_docs, 1319)
  check.eq(b.n_shot, 0)
end

-- gsm8k, default 5-shot: examples are train docs chosen by random.Random(1234).sample over
-- the 7473 train docs, one draw per evaluated document in order. Python 3.11:
--   r = random.Random(1234); [r.sample(range(7473), 5) for _ in range(3)]
--   -> [[6374, 3610, 957, 61, 742], [7462, 6610, 4769, 286, 5501], [5677, 687, 806, 6279, 2905]]
do
  local train = data.load(data_dir, "openai/gsm8k", "main", "train")
  local test = data.load(data_dir, "openai/gsm8k", "main", "test")
  local b = build("gsm8k", { limit = 3 })
  check.eq(b.n_shot, 5)
  local draws = { { 6374, 3610, 957, 61, 742 }, { 7462, 6610, 4769, 286, 5501 }, { 5677, 687, 806, 6279, 2905 } }
  for d = 1, 3 do
    local parts = {}
    for _, i in ipairs(draws[d]) do
      local fs = train[i + 1]
      parts[#parts + 1] = "Question: " .. fs.question .. "\nAnswer:" .. " " .. fs.answer .. "\n\n"
    end
    parts[#parts + 1] = "Question: " .. test[d].question .. "\nAnswer:"
    check.eq(b.samples[d].requests[1].context, table.concat(parts), "gsm8k 5-shot context of doc " .. (d - 1))
  end
  check.eq(b.samples[1].target, test[1].answer)
end

-- hellaswag: preprocessing (capitalize, [title], bracket removal), " " + ending continuations.
do
  local b = build("HellaSwag", { limit = 3692 })
  local s = b.samples[1]
  check.eq(s.requests[1].context, "Roof shingle removal: A man is sitting on a roof. He")
  check.eq(#s.requests, 4)
  check.eq(s.requests[1].continuation, " is using wrap to wrap a pair of skis.")
  check.eq(s.requests[4].continuation, " starts pulling up roofing on a roof.")
  check.eq(s.gold, 3)
  -- doc 3691 has [title] and [step]-style artifacts, an empty ctx_b and an unmatched "["
  local w = b.samples[3692]
  check.eq(w.requests[1].context, "Computers and Electronics: How to draw in iphone notes. Upgrade your notes app. In order to add drawings to notes in your notes app, you'll need to be running ios 9 or later. You'll also need to be using the upgraded version of the notes service.")
  check.eq(w.requests[3].continuation, " You may be prompted to upgrade when you launch notes for the first time after upgrading to ios 9. If you're not, tap the \" [\" button to view the folder screen, then tap the \" upgrade \" button in the corner.")
  check.eq(w.requests[4].continuation, " Connect your iphone to your computer using usb cable and spotify.. Look for a drawing icon in your app drawer.")
  check.eq(w.gold, 2)
  check.eq(b.n_docs, 10042)
end

-- arc_easy / arc_challenge: "Question: ...\nAnswer:" and the answer texts as choices.
do
  local b = build("ARC-e", { limit = 1 })
  local s = b.samples[1]
  check.eq(s.requests[1].context, "Question: Which statement best explains why photosynthesis is the foundation of most food webs?\nAnswer:")
  check.eq(s.requests[1].continuation, " Sunlight is the source of energy for nearly all ecosystems.")
  check.eq(s.gold, 0)
  local c = build("ARC-Challenge", { limit = 1 }).samples[1]
  check.eq(c.requests[3].continuation, " Planetary days will become shorter.")
  check.eq(c.gold, 2)
end

-- aliases and case-insensitive names resolve to the same task
check.eq(registry.resolve(reg, "ARC-c")[1].name, "arc_challenge")
check.eq(registry.resolve(reg, "GSM8K")[1].name, "gsm8k")
check.eq(#registry.resolve(reg, "arc_*"), 2)
check.raises(function() registry.resolve(reg, "hellaswagg") end, { "unknown task 'hellaswagg'", "hellaswag" })

-- a chat prompt with few-shot turns (--apply_chat_template --fewshot_as_multiturn)
do
  local b = build("gsm8k", { limit = 1, num_fewshot = 2, apply_chat_template = true,
    fewshot_as_multiturn = true, system_instruction = "Be brief." })
  local m = b.samples[1].requests[1].messages
  check.eq(#m, 6)
  check.eq(m[1], { role = "system", content = "Be brief." })
  check.eq(m[2].role, "user")
  check.eq(m[3].role, "assistant")
  check.eq(string.sub(m[2].content, 1, 10), "Question: ")
  check.eq(string.sub(m[6].content, -8), "\nAnswer:")
end

return check.summary()
