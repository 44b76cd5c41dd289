#!/usr/bin/env python3
"""aiohttp_client.py URL N CONCURRENCY — the comparison client of bench/http/run.sh.

The approach of lm-eval's local-completions and of Curator: one asyncio task per request,
an asyncio.Semaphore capping those in flight, one aiohttp session (keep-alive, no
connection limit beyond the semaphore). It sends the N prompts evallua's bench_gen task
sends (make_data.sh writes the same questions), with the same body, parses each JSON
answer, and prints requests/s and client CPU-microseconds per request.
Only the standard library and aiohttp."""
import asyncio
import json
import resource
import sys
import time

import aiohttp


def prompts(n):
    for i in range(n):
        yield "Question: What is %d plus %d?\nAnswer:" % (i, i % 7)


async def one(session, sem, url, prompt, counts):
    body = {"model": "fake-model", "prompt": prompt, "max_tokens": 16, "temperature": 0,
            "stop": ["\n\n"]}
    async with sem:
        async with session.post(url, json=body) as resp:
            data = json.loads(await resp.read())
    text = data["choices"][0]["text"]
    counts["ok" if resp.status == 200 and text else "failed"] += 1


async def main(url, n, concurrency):
    sem = asyncio.Semaphore(concurrency)
    counts = {"ok": 0, "failed": 0}
    connector = aiohttp.TCPConnector(limit=0)
    async with aiohttp.ClientSession(connector=connector) as session:
        await asyncio.gather(*(one(session, sem, url, p, counts) for p in prompts(n)))
    return counts


if __name__ == "__main__":
    url, n, conc = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    if not url.endswith("/completions"):
        url = url.rstrip("/") + "/completions"
    r0, t0 = resource.getrusage(resource.RUSAGE_SELF), time.monotonic()
    counts = asyncio.run(main(url, n, conc))
    dt, r1 = time.monotonic() - t0, resource.getrusage(resource.RUSAGE_SELF)
    cpu = (r1.ru_utime - r0.ru_utime) + (r1.ru_stime - r0.ru_stime)
    print("aiohttp: %d ok, %d failed in %.2f s: %.0f req/s, %.1f client CPU-us/request"
          % (counts["ok"], counts["failed"], dt, n / dt, cpu * 1e6 / n))
