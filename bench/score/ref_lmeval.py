#!/usr/bin/env python3
"""The Python side of bench/score: the benchmark's computations written the way
lm-evaluation-harness (0.4.x) computes them, in plain Python (+ numpy, which lm-eval's
exact_match needs). evallua itself never runs this; it is the reference the C side is
timed against.

    python3 ref_lmeval.py gen DIR [--humaneval FILE.jsonl(.gz)]   write the inputs
    python3 ref_lmeval.py run DIR [--boot-chunks N] [--only NAME,...]  time them, print JSON

The computations and the lm-eval code paths they follow:
  em         gsm8k's "strict-match" pipeline over 1M responses: RegexFilter.apply
             (re.findall, group_select 0, fallback "[invalid]", strip) + take_first, then per
             document ConfigurableTask.process_results -> exact_match_hf_evaluate(
             references=[gold], predictions=[pred], ignore_case, regexes_to_ignore) (numpy
             per call, as lm-eval calls it), then mean and mean_stderr.
  squad      SQuAD v2 over 100k: lm-eval's squadv2 task aggregates with HF evaluate's
             "squad_v2" metric, i.e. the official evaluate-v2.0.py logic (normalize_answer,
             get_raw_scores, apply_no_ans_threshold, make_eval_dict, HasAns/NoAns splits,
             find_all_best_thresh), run once over all predictions.
  bootstrap  lm_eval.api.metrics.bootstrap_stderr(perplexity, xs, 100000) over 10,000 lls:
             a multiprocessing.Pool(cpu_count()) over chunks of 1000 iterations, chunk i
             seeded random.Random(i), each iteration rnd.choices(xs, k=len(xs)) then the
             aggregation, then sample_stddev of all replicates. --boot-chunks N runs only
             the first N of the 100 chunks and scales the time to 100 (chunks cost the same;
             the report says so).
  pass1      HumanEval pass@1 with HF evaluate's code_eval as lm-eval's humaneval task uses
             it: one compute() per document (process_results), each with a
             ThreadPoolExecutor(4) that runs check_correctness: a multiprocessing.Manager,
             a multiprocessing.Process executing the program with reliability_guard in a
             temporary directory, joined with timeout + 1 (timeout 3.0 s).
  pass1_pool the same check_correctness for all 164 programs through one ThreadPoolExecutor
             (one compute() over every document: code_eval's best case).
"""
import collections
import concurrent.futures
import contextlib
import gzip
import json
import math
import multiprocessing
import os
import random
import re
import string
import sys
import tempfile
import time

N_EM, N_SQUAD, N_BOOT, BOOT_ITERS, BOOT_CHUNK = 1_000_000, 100_000, 10_000, 100_000, 1000
EM_PATTERN = r"#### (\-?[0-9\.\,]+)"
EM_IGNORE = [",", "\\$", "(?s).*#### ", "\\.$"]

# --- inputs ------------------------------------------------------------------------------

WORDS = ("the a an apple banana river city history science number total answer value "
         "market price dollars eggs ducks muffins friends farmer week day hour minute "
         "Paris London Tokyo Einstein Newton theory of relativity gravity ocean mountain "
         "north south quickly slowly red blue green large small first second third").split()


def sentence(rnd, lo, hi):
    return " ".join(rnd.choice(WORDS) for _ in range(rnd.randint(lo, hi)))


def gen_em(rnd, path):
    """GSM8K-shaped generations: reasoning, then '#### N' (some wrong, some missing)."""
    with open(path, "w") as f:
        for _ in range(N_EM):
            gold = rnd.randint(-50, 5000)
            gold_text = f"{gold:,}" if rnd.random() < 0.3 else str(gold)
            target = f"{sentence(rnd, 8, 20)}.\n#### {gold}"
            r = rnd.random()
            if r < 0.55:
                ans = gold_text
            elif r < 0.85:
                ans = str(gold + rnd.randint(1, 9))
            else:
                ans = None
            body = f"{sentence(rnd, 6, 18)}. So the total is ${gold_text}."
            resp = body + (f"\n#### {ans}" if ans is not None else " The answer is " + gold_text)
            f.write(json.dumps({"resp": resp, "target": target}) + "\n")


def gen_squad(rnd, path):
    """SQuAD v2-shaped predictions: a third unanswerable, answers with articles/punctuation."""
    with open(path, "w") as f:
        for i in range(N_SQUAD):
            answers = [] if rnd.random() < 0.33 else [
                sentence(rnd, 1, 5) + rnd.choice(["", ".", ",", "!"]) for _ in range(rnd.randint(1, 3))]
            r = rnd.random()
            if not answers:
                pred = "" if r < 0.5 else sentence(rnd, 1, 4)
            elif r < 0.4:
                pred = "The " + answers[0].upper()
            elif r < 0.7:
                pred = answers[-1].split(" ")[0] + " " + sentence(rnd, 0, 3)
            else:
                pred = sentence(rnd, 1, 6)
            f.write(json.dumps({"id": f"q{i}", "pred": pred, "answers": answers,
                                "na_prob": round(rnd.random(), 3)}) + "\n")


def gen_boot(rnd, path):
    with open(path, "w") as f:
        json.dump([round(-abs(rnd.gauss(1.5, 1.0)), 6) for _ in range(N_BOOT)], f)


def humaneval_programs(src):
    """The 164 HumanEval problems' canonical solutions as code_eval programs (prompt +
    completion + test + check(entry_point)); every fourth solution is broken so that
    some fail."""
    opener = gzip.open if src.endswith(".gz") else open
    with opener(src, "rt") as f:
        docs = [json.loads(line) for line in f if line.strip()]
    out = []
    for i, d in enumerate(docs):
        completion = d["canonical_solution"] if i % 4 else "    return None\n"
        out.append(d["prompt"] + completion + "\n" + d["test"] + "\n" + f"check({d['entry_point']})")
    return out


def synthetic_programs():
    """HumanEval-shaped programs when the dataset is not at hand: a function, a check()
    with assertions, check(entry_point); every fourth one wrong."""
    out = []
    for i in range(164):
        ret = "sum(x * x for x in xs)" if i % 4 else "0"
        out.append(f"def f{i}(xs):\n    \"\"\"Sum of squares.\"\"\"\n    return {ret}\n\n\n"
                   f"def check(candidate):\n    assert candidate([1, 2, 3]) == 14\n"
                   f"    assert candidate([]) == 0\n    assert candidate([{i}]) == {i * i}\n\n"
                   f"check(f{i})")
    return out


def gen(d, humaneval):
    os.makedirs(d, exist_ok=True)
    rnd = random.Random(20241206)
    gen_em(rnd, os.path.join(d, "em.jsonl"))
    gen_squad(rnd, os.path.join(d, "squad.jsonl"))
    gen_boot(rnd, os.path.join(d, "boot.json"))
    progs = humaneval_programs(humaneval) if humaneval and os.path.exists(humaneval) else synthetic_programs()
    with open(os.path.join(d, "programs.jsonl"), "w") as f:
        for p in progs:
            f.write(json.dumps({"program": p}) + "\n")


# --- em: RegexFilter + exact_match_hf_evaluate ------------------------------------------

def regex_filter(resps, regex, group_select=0, fallback="[invalid]"):
    def filter_set(inst):
        filtered = []
        for resp in inst:
            match = regex.findall(resp)
            if match:
                match = match[group_select]
                if isinstance(match, tuple):
                    match = [m for m in match if m]
                    match = match[0] if match else fallback
                match = match.strip()
            else:
                match = fallback
            filtered.append(match)
        return filtered
    return list(map(filter_set, resps))


def exact_match_hf_evaluate(predictions, references, regexes_to_ignore=None, ignore_case=False,
                            ignore_punctuation=False, ignore_numbers=False):
    import numpy as np
    if regexes_to_ignore is not None:
        for s in regexes_to_ignore:
            predictions = np.array([re.sub(s, "", x) for x in predictions])
            references = np.array([re.sub(s, "", x) for x in references])
    else:
        predictions = np.asarray(predictions)
        references = np.asarray(references)
    if ignore_case:
        predictions = np.char.lower(predictions)
        references = np.char.lower(references)
    if ignore_punctuation:
        repl_table = string.punctuation.maketrans("", "", string.punctuation)
        predictions = np.char.translate(predictions, table=repl_table)
        references = np.char.translate(references, table=repl_table)
    if ignore_numbers:
        repl_table = string.digits.maketrans("", "", string.digits)
        predictions = np.char.translate(predictions, table=repl_table)
        references = np.char.translate(references, table=repl_table)
    score_list = predictions == references
    return {"exact_match": np.mean(score_list)}


def mean(arr):
    return sum(arr) / len(arr)


def sample_stddev(arr):
    mu = mean(arr)
    return math.sqrt(sum([(x - mu) ** 2 for x in arr]) / (len(arr) - 1))


def mean_stderr(arr):
    return sample_stddev(arr) / math.sqrt(len(arr))


def run_em(d):
    with open(os.path.join(d, "em.jsonl")) as f:
        rows = [json.loads(line) for line in f]
    resps = [[r["resp"]] for r in rows]
    golds = [r["target"] for r in rows]
    t0 = time.perf_counter()
    filtered = regex_filter(resps, re.compile(EM_PATTERN))
    filtered = [f[0] for f in filtered]  # take_first
    items = []
    for pred, gold in zip(filtered, golds):
        items.append(exact_match_hf_evaluate(references=[gold], predictions=[pred], ignore_case=True,
                                             ignore_punctuation=False, regexes_to_ignore=EM_IGNORE)["exact_match"])
    value, se = mean(items), mean_stderr(items)
    return {"seconds": time.perf_counter() - t0, "value": float(value), "stderr": float(se), "n": len(rows)}


# --- squad: the official SQuAD v2 evaluation (HF evaluate squad_v2) ------------------------

def normalize_answer(s):
    def remove_articles(text):
        return re.sub(re.compile(r"\b(a|an|the)\b", re.UNICODE), " ", text)

    def white_space_fix(text):
        return " ".join(text.split())

    def remove_punc(text):
        exclude = set(string.punctuation)
        return "".join(ch for ch in text if ch not in exclude)

    return white_space_fix(remove_articles(remove_punc(s.lower())))


def get_tokens(s):
    return normalize_answer(s).split() if s else []


def compute_exact(a_gold, a_pred):
    return int(normalize_answer(a_gold) == normalize_answer(a_pred))


def compute_f1(a_gold, a_pred):
    gold_toks, pred_toks = get_tokens(a_gold), get_tokens(a_pred)
    common = collections.Counter(gold_toks) & collections.Counter(pred_toks)
    num_same = sum(common.values())
    if len(gold_toks) == 0 or len(pred_toks) == 0:
        return int(gold_toks == pred_toks)
    if num_same == 0:
        return 0
    precision = 1.0 * num_same / len(pred_toks)
    recall = 1.0 * num_same / len(gold_toks)
    return (2 * precision * recall) / (precision + recall)


def squad_v2_compute(predictions, references, no_answer_threshold=1.0):
    preds = {p["id"]: p["prediction_text"] for p in predictions}
    na_probs = {p["id"]: p["no_answer_probability"] for p in predictions}
    qid_to_has_ans = {r["id"]: bool(r["answers"]["text"]) for r in references}
    has_ans = [k for k, v in qid_to_has_ans.items() if v]
    no_ans = [k for k, v in qid_to_has_ans.items() if not v]
    exact_raw, f1_raw = {}, {}
    for r in references:
        qid = r["id"]
        gold_answers = [t for t in r["answers"]["text"] if normalize_answer(t)] or [""]
        a_pred = preds[qid]
        exact_raw[qid] = max(compute_exact(a, a_pred) for a in gold_answers)
        f1_raw[qid] = max(compute_f1(a, a_pred) for a in gold_answers)

    def threshold(scores):
        return {q: (float(not qid_to_has_ans[q]) if na_probs[q] > no_answer_threshold else s)
                for q, s in scores.items()}

    def eval_dict(ex, f1, qids=None):
        qids = qids if qids is not None else list(ex)
        n = len(qids)
        return {"exact": 100.0 * sum(ex[k] for k in qids) / n, "f1": 100.0 * sum(f1[k] for k in qids) / n, "total": n}

    ex_t, f1_t = threshold(exact_raw), threshold(f1_raw)
    out = eval_dict(ex_t, f1_t)
    for name, qids in (("HasAns", has_ans), ("NoAns", no_ans)):
        if qids:
            for k, v in eval_dict(ex_t, f1_t, qids).items():
                out[f"{name}_{k}"] = v

    def best_thresh(scores):
        cur = best = sum(1 for k in qid_to_has_ans if not qid_to_has_ans[k])
        best_t = 0.0
        for qid in sorted(na_probs, key=lambda k: na_probs[k]):
            if qid not in scores:
                continue
            diff = scores[qid] if qid_to_has_ans[qid] else (-1 if preds[qid] else 0)
            cur += diff
            if cur > best:
                best, best_t = cur, na_probs[qid]
        return 100.0 * best / len(scores), best_t

    out["best_exact"], out["best_exact_thresh"] = best_thresh(exact_raw)
    out["best_f1"], out["best_f1_thresh"] = best_thresh(f1_raw)
    return out


def run_squad(d):
    with open(os.path.join(d, "squad.jsonl")) as f:
        rows = [json.loads(line) for line in f]
    predictions = [{"id": r["id"], "prediction_text": r["pred"], "no_answer_probability": r["na_prob"]} for r in rows]
    references = [{"id": r["id"], "answers": {"text": r["answers"], "answer_start": [0] * len(r["answers"])}} for r in rows]
    t0 = time.perf_counter()
    out = squad_v2_compute(predictions, references)
    return {"seconds": time.perf_counter() - t0, "value": out["f1"], "exact": out["exact"],
            "HasAns_f1": out.get("HasAns_f1"), "best_f1": out["best_f1"], "n": len(rows)}


# --- bootstrap: lm_eval.api.metrics.bootstrap_stderr --------------------------------------

def perplexity(items):
    return math.exp(-mean(items))


class _bootstrap_internal:
    def __init__(self, f, n):
        self.f, self.n = f, n

    def __call__(self, v):
        i, xs = v
        rnd = random.Random()
        rnd.seed(i)
        return [self.f(rnd.choices(xs, k=len(xs))) for _ in range(self.n)]


def bootstrap_stderr(f, xs, iters, chunks=None):
    pool = multiprocessing.Pool(multiprocessing.cpu_count())
    chunk_size = min(BOOT_CHUNK, iters)
    n_chunks = iters // chunk_size if chunks is None else chunks
    res = []
    for bootstrap in pool.imap(_bootstrap_internal(f, chunk_size), [(i, xs) for i in range(n_chunks)]):
        res.extend(bootstrap)
    pool.close()
    return sample_stddev(res)


def run_bootstrap(d, chunks):
    with open(os.path.join(d, "boot.json")) as f:
        xs = json.load(f)
    full = BOOT_ITERS // BOOT_CHUNK
    chunks = min(chunks or full, full)
    t0 = time.perf_counter()
    se = bootstrap_stderr(perplexity, xs, BOOT_ITERS, chunks)
    took = time.perf_counter() - t0
    return {"seconds": took * full / chunks, "seconds_measured": took, "chunks": chunks, "of_chunks": full,
            "value": se, "n": len(xs), "iters": chunks * BOOT_CHUNK, "workers": multiprocessing.cpu_count()}


# --- pass@1: HF evaluate code_eval --------------------------------------------------------

class TimeoutException(Exception):
    pass


@contextlib.contextmanager
def time_limit(seconds):
    import signal

    def handler(signum, frame):
        raise TimeoutException("Timed out!")
    signal.setitimer(signal.ITIMER_REAL, seconds)
    signal.signal(signal.SIGALRM, handler)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)


def reliability_guard(maximum_memory_bytes=None):
    """code_eval's guard, abridged: resource limits, faulthandler off, destructive
    os/shutil/subprocess functions set to None (os.remove/unlink are kept so that the
    temporary directory can be removed)."""
    import builtins
    import faulthandler
    import shutil
    import subprocess
    if maximum_memory_bytes is not None:
        import resource
        resource.setrlimit(resource.RLIMIT_AS, (maximum_memory_bytes, maximum_memory_bytes))
        resource.setrlimit(resource.RLIMIT_DATA, (maximum_memory_bytes, maximum_memory_bytes))
    faulthandler.disable()
    builtins.exit = None
    builtins.quit = None
    os.environ["OMP_NUM_THREADS"] = "1"
    for name in ("kill", "system", "putenv", "removedirs", "rmdir", "fchdir", "setuid",
                 "fork", "forkpty", "killpg", "rename", "renames", "truncate", "replace",
                 "fchmod", "fchown", "chmod", "chown", "chroot", "lchown", "getcwd", "chdir"):
        setattr(os, name, None)
    shutil.rmtree = shutil.move = shutil.chown = None
    subprocess.Popen = None


def unsafe_execute(program, timeout, result):
    with tempfile.TemporaryDirectory() as dirname:
        os.chdir(dirname)
        import shutil
        rmtree, rmdir, chdir = shutil.rmtree, os.rmdir, os.chdir
        reliability_guard()
        try:
            exec_globals = {}
            with open(os.devnull, "w") as null, contextlib.redirect_stdout(null), contextlib.redirect_stderr(null):
                with time_limit(timeout):
                    exec(program, exec_globals)
            result.append("passed")
        except TimeoutException:
            result.append("timed out")
        except BaseException as e:
            result.append(f"failed: {e}")
        shutil.rmtree, os.rmdir, os.chdir = rmtree, rmdir, chdir
        chdir("/")


def check_correctness(program, timeout, task_id, completion_id):
    manager = multiprocessing.Manager()
    result = manager.list()
    p = multiprocessing.Process(target=unsafe_execute, args=(program, timeout, result))
    p.start()
    p.join(timeout=timeout + 1)
    if p.is_alive():
        p.kill()
    if not result:
        result.append("timed out")
    return dict(task_id=task_id, passed=result[0] == "passed", result=result[0], completion_id=completion_id)


def code_eval_compute(predictions, references, k=(1,), num_workers=4, timeout=3.0):
    with concurrent.futures.ThreadPoolExecutor(max_workers=num_workers) as executor:
        futures = []
        results = collections.defaultdict(list)
        for task_id, (candidates, test_case) in enumerate(zip(predictions, references)):
            for cid, candidate in enumerate(candidates):
                futures.append(executor.submit(check_correctness, candidate + "\n" + test_case, timeout, task_id, cid))
        for future in concurrent.futures.as_completed(futures):
            r = future.result()
            results[r["task_id"]].append((r["completion_id"], r))
    total, correct = [], []
    for result in results.values():
        passed = [r[1]["passed"] for r in result]
        total.append(len(passed))
        correct.append(sum(passed))

    def estimator(n, c, kk):
        if n - c < kk:
            return 1.0
        prod = 1.0
        for i in range(n - c + 1, n + 1):
            prod *= 1.0 - kk / i
        return 1.0 - prod
    return {f"pass@{kk}": mean([estimator(n, c, kk) for n, c in zip(total, correct)]) for kk in k}


def load_programs(d):
    with open(os.path.join(d, "programs.jsonl")) as f:
        return [json.loads(line)["program"] for line in f]


def run_pass1(d):
    programs = load_programs(d)
    t0 = time.perf_counter()
    per_doc = [code_eval_compute(predictions=[[p]], references=[""])["pass@1"] for p in programs]
    return {"seconds": time.perf_counter() - t0, "value": mean(per_doc), "n": len(programs)}


def run_pass1_pool(d):
    programs = load_programs(d)
    t0 = time.perf_counter()
    out = code_eval_compute(predictions=[[p] for p in programs], references=[""] * len(programs))
    return {"seconds": time.perf_counter() - t0, "value": out["pass@1"], "n": len(programs)}


def main(argv):
    if len(argv) < 3 or argv[1] not in ("gen", "run"):
        sys.stderr.write(__doc__)
        return 2
    d = argv[2]
    opts = dict(zip(argv[3::2], argv[4::2]))
    if argv[1] == "gen":
        gen(d, opts.get("--humaneval"))
        return 0
    only = opts.get("--only", "em,squad,bootstrap,pass1,pass1_pool").split(",")
    chunks = int(opts["--boot-chunks"]) if "--boot-chunks" in opts else None
    runs = {"em": lambda: run_em(d), "squad": lambda: run_squad(d),
            "bootstrap": lambda: run_bootstrap(d, chunks), "pass1": lambda: run_pass1(d),
            "pass1_pool": lambda: run_pass1_pool(d)}
    out = {}
    for name in only:
        out[name] = runs[name]()
        sys.stderr.write(f"python {name}: {out[name]['seconds']:.2f} s\n")
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
