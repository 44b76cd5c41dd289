-- GSM8K on a chat endpoint (an instruction-tuned model behind /v1/chat/completions),
-- few-shot examples as user/assistant turns, as with lm-eval's
--   --apply_chat_template --fewshot_as_multiturn
--   evallua run examples/chat.lua
return {
  model = "openai-chat",
  model_args = { base_url = "http://127.0.0.1:8000/v1", model = "Qwen/Qwen3-8B" },
  tasks = { "gsm8k" },
  num_fewshot = 5,
  apply_chat_template = true,
  fewshot_as_multiturn = true,
  system_instruction = "Solve the problem. End with '#### <number>'.",
  gen_kwargs = { max_gen_toks = 1024 },
  output = "logs/gsm8k-chat.json",
  log_samples = true,
}
