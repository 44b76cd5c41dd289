#!/usr/bin/env python3
"""reference-logprobs.py — reference numbers for SmolLM2-135M-Instruct Q4_1 from llama.cpp.

Runs the model through llama.cpp (the PyPI package llama-cpp-python) and writes
tests/fixtures/smollm2_reference.json, which tests/unit/test_native_backend.c compares
evallua's native backend against (per-token logprobs within 0.02, identical greedy tokens)
without needing Python:

  texts:  for each fixed text, llama.cpp's tokens (no BOS: the vocabulary's add_bos is off,
          special tokens parsed) and the log-probability of every token given the prefix
          token (BOS, id 1) and the tokens before it — the first window of lm-eval's
          loglikelihood_rolling.
  greedy: for each prompt (plain text, or a ChatML chat rendered as SmolLM2's template
          renders it), its tokens and the first 64 argmax tokens (not stopping at <|im_end|>).

llama.cpp's CPU backend sums in a different order when a batch has one token (ggml's
vec_dot_f16 for the attention products) than when it has several (llamafile's tinyBLAS), so
its numbers depend on how tokens are batched; evallua's do not, and follow the batched
order. Hence:
  "logprobs", "tokens": llama.cpp's batched path (n_batch=512); for "tokens" every greedy
      step evaluates the prompt and the tokens so far as one batch, from an empty cache.
  "tokens_decode": llama.cpp's usual generation (prompt batched, then one token per step).
  "logprobs_batch1", "tokens_batch1": one token at a time (n_batch=1) throughout.
The batch-size paths differ by up to ~0.3 nats on single tokens: SmolLM2 carries massive
activations (a residual value near 25000 at the first position) and activations are
quantized to 8 bits, so a last-place rounding difference can flip a quantization step and
grow from layer to layer. The test reports them as llama.cpp's own spread.

  pip install llama-cpp-python numpy
  scripts/fetch-model
  python3 scripts/reference-logprobs.py [MODEL.gguf] [OUT.json]
"""
import hashlib
import json
import os
import sys

import numpy as np
from llama_cpp import Llama

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MODEL = os.path.join(ROOT, "models", "SmolLM2-135M-Instruct-Q4_1.gguf")
OUT = os.path.join(ROOT, "tests", "fixtures", "smollm2_reference.json")
GREEDY_TOKENS = 64
PREFIX = 1  # tokenizer.ggml.bos_token_id of SmolLM2

TEXTS = [
    "The capital of France is Paris.",
    "Once upon a time, there was a little girl who lived in a village near the forest.",
    "Water boils at 100 degrees Celsius at sea level.",
    "The quick brown fox jumps over the lazy dog.",
    "2 + 2 = 4, and 12345 * 6789 is a larger number.",
    "def add(a, b):\n    return a + b\n",
    "Photosynthesis converts light energy into chemical energy in plants.",
    "She sells seashells by the seashore.",
    "In 1969, Neil Armstrong became the first person to walk on the Moon.",
    "The mitochondria is the powerhouse of the cell.",
    "To be, or not to be, that is the question.",
    "Question: What is the largest planet in our solar system?\nAnswer: Jupiter",
    "I think, therefore I am.",
    "The café served crème brûlée and naïve jalapeño dishes.",
    "for (int i = 0; i < n; i++) { sum += x[i]; }",
    "Machine learning models learn patterns from data.",
    "The Pacific Ocean is the largest and deepest ocean on Earth.",
    "HELLO WORLD!!! This is   spaced   out text.",
    "An apple a day keeps the doctor away.",
    "The train leaves at 7:45 pm from platform 9.",
    "Rain, rain, go away; come again another day.",
    "<|im_start|>user\nHi there!<|im_end|>\n",
]

SYSTEM = "You are a helpful AI assistant named SmolLM, trained by Hugging Face"


def chatml(user):
    return (f"<|im_start|>system\n{SYSTEM}<|im_end|>\n<|im_start|>user\n{user}<|im_end|>\n"
            "<|im_start|>assistant\n")


PROMPTS = [
    {"prompt": "Once upon a time"},
    {"prompt": "The three primary colors are"},
    {"prompt": "def fibonacci(n):"},
    {"messages": [{"role": "user", "content": "What is the capital of France?"}]},
    {"messages": [{"role": "user", "content": "Write a haiku about the sea."}]},
]


def log_softmax(v):
    v = np.asarray(v, dtype=np.float64)
    m = v.max()
    return v - m - np.log(np.exp(v - m).sum())


def token_logprobs(llm, toks):
    seq = [PREFIX] + toks
    llm.reset()
    llm.eval(seq)
    scores = np.asarray(llm.scores[: len(seq)], dtype=np.float64)
    return [float(log_softmax(scores[i])[seq[i + 1]]) for i in range(len(toks))]


def greedy_batched(llm, toks):
    out = []
    for _ in range(GREEDY_TOKENS):
        llm.reset()
        llm.eval(toks + out)
        out.append(int(np.argmax(llm.scores[llm.n_tokens - 1])))
    return out


def greedy(llm, toks):
    llm.reset()
    llm.eval(toks)
    out = []
    for _ in range(GREEDY_TOKENS):
        tok = int(np.argmax(llm.scores[llm.n_tokens - 1]))
        out.append(tok)
        llm.eval([tok])
    return out


def main():
    model = sys.argv[1] if len(sys.argv) > 1 else MODEL
    out = sys.argv[2] if len(sys.argv) > 2 else OUT
    with open(model, "rb") as f:
        sha = hashlib.sha256(f.read()).hexdigest()
    llm = Llama(model_path=model, n_ctx=512, n_batch=512, logits_all=True, n_threads=2,
                verbose=False)
    one = Llama(model_path=model, n_ctx=512, n_batch=1, n_ubatch=1, logits_all=True,
                n_threads=2, verbose=False)
    texts = []
    for text in TEXTS:
        toks = llm.tokenize(text.encode("utf-8"), add_bos=False, special=True)
        texts.append({"text": text, "tokens": toks, "logprobs": token_logprobs(llm, toks),
                      "logprobs_batch1": token_logprobs(one, toks)})
    runs = []
    for p in PROMPTS:
        entry = dict(p)
        prompt = p.get("prompt") or chatml(p["messages"][0]["content"])
        toks = llm.tokenize(prompt.encode("utf-8"), add_bos=False, special=True)
        entry.update({"rendered": prompt, "prompt_tokens": toks,
                      "tokens": greedy_batched(llm, toks), "tokens_decode": greedy(llm, toks),
                      "tokens_batch1": greedy(one, toks)})
        entry["text"] = llm.detokenize(entry["tokens"]).decode("utf-8", "replace")
        runs.append(entry)
    doc = {"model": os.path.basename(model), "sha256": sha, "producer":
           "llama-cpp-python (llama.cpp), scripts/reference-logprobs.py",
           "prefix_token": PREFIX, "texts": texts, "greedy": runs}
    with open(out, "w", encoding="utf-8") as f:
        json.dump(doc, f, ensure_ascii=False, indent=1)
        f.write("\n")
    print(f"wrote {out}: {len(texts)} texts, {len(runs)} greedy runs")


if __name__ == "__main__":
    main()
