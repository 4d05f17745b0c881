"""Schemathesis extension hooks for crates/spool/tests/schemathesis.rs (loaded through the
SCHEMATHESIS_HOOKS environment variable).

tus PATCH bodies are `application/offset+octet-stream`: plain bytes, serialized the way
schemathesis serializes `application/octet-stream`.
"""

import schemathesis

schemathesis.serializer.alias("application/offset+octet-stream", "application/octet-stream")

# CPython 3.11's AST conversion keeps its recursion depth in interpreter-wide state, so two
# threads parsing at once can fail with "AST constructor recursion depth mismatch" (CPython
# gh-106905, fixed in later 3.12/3.13 releases). Hypothesis parses lambda sources to describe
# strategies, and `--workers 2` runs two threads: one lock around that parse keeps a CPython
# bug from showing up as a failed operation.
import threading

from hypothesis.internal import lambda_sources

_describe = lambda_sources._lambda_description
_describe_lock = threading.RLock()


def _described_one_at_a_time(*args, **kwargs):
    with _describe_lock:
        return _describe(*args, **kwargs)


lambda_sources._lambda_description = _described_one_at_a_time
