#!/usr/bin/env python3
"""llama_cpp_bench.py MODEL THREADS TEXTS [DECODE_TOKENS] — llama.cpp's half of
bench/native/run.sh, through llama-cpp-python (pip install llama-cpp-python numpy).

Same work as native_bench.lua, on the same GGUF file and thread count, printing the same
tab-separated lines (name, tokens, seconds of forward passes, CPU seconds of the process):
  prefill  the 8 prefill texts: each text's tokens but the last through llm.eval (what
           evallua runs for a loglikelihood request whose continuation is the last word;
           logits for the last position only)
  decode1  the 8 decode prompts one at a time, greedy, DECODE_TOKENS (128) new tokens each
           unless the model ends first; only the one-token eval calls are timed
Tokens are llama.cpp's own (evallua's tokenizer gives the same ids: unit.native_backend).
llama.cpp runs with its defaults (n_batch 512, F16 KV cache).
"""
import json
import sys
import time

import numpy as np
from llama_cpp import Llama


def main():
    model, threads, texts_path = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    n_decode = int(sys.argv[4]) if len(sys.argv) > 4 else 128
    with open(texts_path, encoding="utf-8") as f:
        texts = json.load(f)
    llm = Llama(model_path=model, n_ctx=2048, n_threads=threads, n_threads_batch=threads,
                verbose=False)
    eos = llm.token_eos()

    tokens, seconds, cpu = 0, 0.0, 0.0
    for text in texts["prefill"]:
        ids = llm.tokenize(text.encode("utf-8"), add_bos=True, special=True)[:-1]
        llm.reset()
        t0, c0 = time.perf_counter(), time.process_time()
        llm.eval(ids)
        seconds += time.perf_counter() - t0
        cpu += time.process_time() - c0
        tokens += len(ids)
    print(f"prefill\t{tokens}\t{seconds:.4f}\t{cpu:.4f}")

    tokens, seconds, cpu = 0, 0.0, 0.0
    for prompt in texts["decode_prompts"]:
        ids = llm.tokenize(prompt.encode("utf-8"), add_bos=True, special=True)
        llm.reset()
        llm.eval(ids)
        for k in range(n_decode):
            nxt = int(np.argmax(llm.scores[llm.n_tokens - 1]))
            if nxt == eos or k + 1 == n_decode:
                break
            t0, c0 = time.perf_counter(), time.process_time()
            llm.eval([nxt])
            seconds += time.perf_counter() - t0
            cpu += time.process_time() - c0
            tokens += 1
    print(f"decode1\t{tokens}\t{seconds:.4f}\t{cpu:.4f}")


if __name__ == "__main__":
    main()
