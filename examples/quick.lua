-- A first suite: three standard tasks against a local vLLM server, 100 documents each.
--   evallua run examples/quick.lua
-- Flags given on the command line override these fields (e.g. --limit 10).
return {
  -- openai-completions serves every task kind (log-likelihoods need /v1/completions);
  -- openai-chat serves generation tasks only.
  model = "openai-completions",
  model_args = {
    base_url = "http://127.0.0.1:8000/v1",
    model = "Qwen/Qwen3-8B",
    concurrency = 64,            -- requests in flight
  },
  tasks = { "gsm8k", "hellaswag", "arc_easy" },
  limit = 100,                   -- drop this line for full scores
  data_dir = os.getenv("EVALLUA_DATA") or "data/hub",
  output = "logs/quick.json",
  log_samples = true,
}
