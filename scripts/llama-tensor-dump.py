#!/usr/bin/env python3
"""llama-tensor-dump.py — llama.cpp's intermediate tensors for one text, for comparing the
native forward pass with llama.cpp layer by layer (docs/performance.md, "Agreement with
llama.cpp on SmolLM2").

Runs the model through llama-cpp-python with an eval callback (llama_context_params.cb_eval)
that copies every tensor the graph computes: embd, attn_norm-L, Qcur-L (the last one of that
name is after RoPE), Kcur-L, Vcur-L, kq-L, kq_soft_max-L, kqv_out-L, ffn_inp-L, ffn_out-L,
l_out-L, result_norm, result_output, ... Writes OUT.npz with one array per tensor, named
"EVAL/NAME#K" (EVAL: the decode call, 0 for a single batch; K: the K-th tensor of that name
within the call), values as float32 in ggml's memory order (ne[0] fastest), plus "tokens".
OUT.npz.json gives each tensor's ne, nb and ggml type. The evallua side: cpu_state_set_trace
(core/native/cpu/forward.h) hands the same points of the forward pass, llama.cpp's names.

  python3 scripts/llama-tensor-dump.py MODEL.gguf "some text" OUT.npz [N_BATCH] [THREADS]

N_BATCH 512 (default) evaluates the text as one batch; 1 evaluates it a token at a time (the
BOS token, id 1, is put first either way).
"""
import ctypes
import json
import os
import sys

import numpy as np
import llama_cpp
from llama_cpp import Llama, _internals

GGML_F32, GGML_F16 = 0, 1


def ggml_lib():
    lib = ctypes.CDLL(os.path.join(os.path.dirname(llama_cpp.__file__), "lib", "libggml-base.so"))
    lib.ggml_get_name.restype = ctypes.c_char_p
    lib.ggml_get_name.argtypes = [ctypes.c_void_p]
    lib.ggml_nbytes.restype = ctypes.c_size_t
    lib.ggml_nbytes.argtypes = [ctypes.c_void_p]
    lib.ggml_backend_tensor_get.argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_size_t,
                                            ctypes.c_size_t]
    return lib


def main():
    model, text, out = sys.argv[1], sys.argv[2], sys.argv[3]
    n_batch = int(sys.argv[4]) if len(sys.argv) > 4 else 512
    threads = int(sys.argv[5]) if len(sys.argv) > 5 else 1
    lib = ggml_lib()
    evals = []

    def on_tensor(t, ask, _user):
        if ask:
            return True     # we want every tensor's data
        name = lib.ggml_get_name(t).decode()
        # struct ggml_tensor: type (int32, padded to 8), buffer pointer, int64 ne[4], size_t nb[4]
        typ = ctypes.c_int32.from_address(t).value
        ne = [ctypes.c_int64.from_address(t + 16 + 8 * i).value for i in range(4)]
        nb = [ctypes.c_size_t.from_address(t + 48 + 8 * i).value for i in range(4)]
        size = lib.ggml_nbytes(t)
        raw = (ctypes.c_char * size)()
        lib.ggml_backend_tensor_get(t, raw, 0, size)
        if typ == GGML_F32:
            arr = np.frombuffer(bytes(raw), dtype=np.float32).copy()
        elif typ == GGML_F16:
            arr = np.frombuffer(bytes(raw), dtype=np.float16).astype(np.float32)
        else:
            arr = np.frombuffer(bytes(raw), dtype=np.uint8).copy()
        if name == "embd" or not evals:
            evals.append({})
        seen = evals[-1]
        key, k = name, 0
        while key in seen:
            k += 1
            key = f"{name}#{k}"
        seen[key] = (arr, ne, nb, typ)
        return True

    callback = llama_cpp.ggml_backend_sched_eval_callback(on_tensor)
    llm = Llama(model_path=model, n_ctx=512, n_batch=n_batch, n_ubatch=n_batch, logits_all=True,
                n_threads=threads, verbose=False)
    tokens = [1] + llm.tokenize(text.encode("utf-8"), add_bos=False, special=True)
    llm.context_params.cb_eval = callback          # a context that calls back
    llm._ctx = _internals.LlamaContext(model=llm._model, params=llm.context_params, verbose=False)
    llm._batch = _internals.LlamaBatch(n_tokens=n_batch, embd=0,
                                       n_seq_max=llm.context_params.n_ctx, verbose=False)
    llm.reset()
    llm.eval(tokens)
    arrays, meta = {"tokens": np.array(tokens)}, {}
    for i, seen in enumerate(evals):
        for key, (arr, ne, nb, typ) in seen.items():
            arrays[f"{i}/{key}"] = arr
            meta[f"{i}/{key}"] = {"ne": ne, "nb": nb, "type": typ}
    np.savez(out, **arrays)
    with open(out + ".json", "w") as f:
        json.dump(meta, f)
    print(f"wrote {out}: {len(tokens)} tokens, {len(evals)} decode calls, {len(meta)} tensors")


if __name__ == "__main__":
    main()
