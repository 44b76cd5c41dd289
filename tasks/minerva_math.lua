-- MATH with the Minerva prompt (Lewkowycz et al., 2022): 4-shot, the model ends its solution
-- with "Final Answer: The final answer is X. I hope it is correct.", and X is compared with
-- the \boxed{} answer of the reference solution after Minerva's normalisation. Reproduces
-- lm-eval's `minerva_math_<subject>` tasks, `minerva_math500` and the `minerva_math` group
-- (lm_eval/tasks/minerva_math/, version 3): metrics exact_match (Minerva extraction,
-- normalize_final_answer, equivalence) and math_verify. (task-formats.md §19)
--
-- Deviations (the engine has no sympy and no Math-Verify):
--   exact_match  lm-eval asks sympy whether parse_latex(a) - parse_latex(b) simplifies to 0;
--                here the normalised strings must be equal or equal as exact numbers
--                (integers, decimals, fractions: metrics.math.minerva_equiv). Algebraically
--                equal but differently written answers ("x+1" / "1+x") count as wrong here;
--                equal strings sympy cannot parse (intervals such as "[2,5)") count as right
--                here and wrong in lm-eval.
--   math_verify  HF Math-Verify's verify(parse(solution), parse(output)) is approximated: the
--                output's answer is its last \boxed{}, else the Minerva "Final Answer", else
--                the last $...$, else the last number; it matches the solution's boxed
--                answer when MATH's is_equiv or the Minerva equivalence above holds.
local metrics = require "evallua.metrics"
local regex = require "evallua.regex"
local util = require "evallua.util"
local mm = metrics.math


-- lm-eval's list_fewshot_samples(), character for character (including the stray "}" at
-- the end of the first problem and the single backslash before the align line breaks).
local FEWSHOT = {
  {
    problem = "Find the domain of the expression  $\\frac{\\sqrt{x-2}}{\\sqrt{5-x}}$.}",
    solution = "The expressions inside each square root must be non-negative. Therefore, $x-2 \\ge 0$, so $x\\ge2$, and $5 - x \\ge 0$, so $x \\le 5$. Also, the denominator cannot be equal to zero, so $5-x>0$, which gives $x<5$. Therefore, the domain of the expression is $\\boxed{[2,5)}$.\nFinal Answer: The final answer is $[2,5)$. I hope it is correct.",
    few_shot = "1",
  },
  {
    problem = "If $\\det \\mathbf{A} = 2$ and $\\det \\mathbf{B} = 12,$ then find $\\det (\\mathbf{A} \\mathbf{B}).$",
    solution = "We have that $\\det (\\mathbf{A} \\mathbf{B}) = (\\det \\mathbf{A})(\\det \\mathbf{B}) = (2)(12) = \\boxed{24}.$\nFinal Answer: The final answer is $24$. I hope it is correct.",
    few_shot = "1",
  },
  {
    problem = "Terrell usually lifts two 20-pound weights 12 times. If he uses two 15-pound weights instead, how many times must Terrell lift them in order to lift the same total weight?",
    solution = "If Terrell lifts two 20-pound weights 12 times, he lifts a total of $2\\cdot 12\\cdot20=480$ pounds of weight.  If he lifts two 15-pound weights instead for $n$ times, he will lift a total of $2\\cdot15\\cdot n=30n$ pounds of weight.  Equating this to 480 pounds, we can solve for $n$:\n\\begin{align*}\n30n&=480\\\n\\Rightarrow\\qquad n&=480/30=\\boxed{16}\n\\end{align*}\nFinal Answer: The final answer is $16$. I hope it is correct.",
    few_shot = "1",
  },
  {
    problem = "If the system of equations\n\n\\begin{align*}\n6x-4y&=a,\\\n6y-9x &=b.\n\\end{align*}has a solution $(x, y)$ where $x$ and $y$ are both nonzero,\nfind $\\frac{a}{b},$ assuming $b$ is nonzero.",
    solution = "If we multiply the first equation by $-\\frac{3}{2}$, we obtain\n\n$$6y-9x=-\\frac{3}{2}a.$$Since we also know that $6y-9x=b$, we have\n\n$$-\\frac{3}{2}a=b\\Rightarrow\\frac{a}{b}=\\boxed{-\\frac{2}{3}}.$$\nFinal Answer: The final answer is $-\\frac{2}{3}$. I hope it is correct.",
    few_shot = "1",
  },
}

-- lm-eval's process_docs: problem, solution and the normalised boxed answer.
local function process_docs(docs)
  local out = {}
  for i, doc in ipairs(docs) do
    local boxed = mm.boxed_answer(doc.solution)
    if boxed == nil then
      error(string.format("document %d: the solution has no \\boxed{} answer", i - 1), 0)
    end
    out[i] = { problem = doc.problem, solution = doc.solution, answer = mm.minerva_normalize(boxed) }
  end
  return out
end

-- The answer Math-Verify would find in a text (approximation, see the header).
local function verify_candidate(text)
  local boxed = mm.boxed_answer(text)
  if boxed then return boxed end
  local final = mm.extract_minerva(text)
  if final ~= "[invalidanswer]" then return final end
  local maths = regex.findall("\\$([^$]+)\\$", text)
  if #maths > 0 then return maths[#maths] end
  local numbers = regex.findall("-?[0-9][0-9,]*(?:\\.[0-9]+)?", text)
  return numbers[#numbers]
end

local function verify(doc, text)
  local pred, gold = verify_candidate(text), mm.boxed_answer(doc.solution)
  if pred == nil or gold == nil then return false end
  return mm.is_equiv(pred, gold) or mm.minerva_equiv(mm.minerva_normalize(pred), mm.minerva_normalize(gold))
end

-- lm-eval's process_results: both metrics from the raw output.
local METRIC = {
  "minerva_equiv",
  reports = { "exact_match", "math_verify" },
  score = function(doc, response)
    local answer = mm.minerva_normalize(mm.extract_minerva(response))
    return {
      exact_match = mm.minerva_equiv(answer, doc.answer) and 1 or 0,
      math_verify = verify(doc, response) and 1 or 0,
    }
  end,
}

-- {{answer if few_shot is undefined else solution}}: few-shot examples show the solution.
local function doc_to_target(doc)
  if doc.few_shot ~= nil then return doc.solution end
  return doc.answer
end

local function make(name, aliases, dataset)
  return {
    name = name,
    aliases = aliases,
    version = 3,
    dataset = dataset,
    process_docs = process_docs,
    output_type = "generate_until",
    num_fewshot = 4,
    fewshot_config = { sampler = "first_n", samples = FEWSHOT },
    doc_to_text = function(doc) return "Problem:\n" .. doc.problem .. "\n\nSolution:" end,
    doc_to_target = doc_to_target,
    generation_kwargs = { ["until"] = { "Problem:" }, do_sample = false, temperature = 0 },
    metrics = { METRIC },
  }
end

local out, members = {}, {}
for _, s in ipairs(util.MATH_SUBJECTS) do
  local name = "minerva_math_" .. s[1]
  out[#out + 1] = make(name, { "minerva-math-" .. string.gsub(s[1], "_", "-") },
    { path = "EleutherAI/hendrycks_math", name = s[2], test_split = "test", training_split = "train" })
  members[#members + 1] = name
end
out[#out + 1] = make("minerva_math500", { "minerva-math500", "MATH500-minerva" },
  { path = "HuggingFaceH4/MATH-500", test_split = "test" })
out[#out + 1] = {
  group = "minerva_math",
  aliases = { "minerva-math", "MATH-minerva", "MATH-4shot" },
  version = 1,
  tasks = members,
  aggregate = { { "exact_match", weight_by_size = true }, { "math_verify", weight_by_size = true } },
}
return out
