"""Batch synthesis: a file of speech requests in, one audio file per request and a results file out.

The reference article's "cloud batch" mode. The runner is a client of the speech API like the load tester (it
imports nothing of the runtime): inputs.py reads and checks the requests, store.py keeps what is done (atomic
files, an append-only journal, OpenAI's batch output shape), pacing.py decides how hard to push (bounded or
AIMD concurrency, Retry-After), runner.py sends them and summary.py says what it took.
"""
