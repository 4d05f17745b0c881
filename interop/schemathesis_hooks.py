"""Schemathesis extension hooks for crates/spool/tests/schemathesis.rs (loaded through the
SCHEMATHESIS_HOOKS environment variable).

tus PATCH bodies are `application/offset+octet-stream`: plain bytes, serialized the way
schemathesis serializes `application/octet-stream`.
"""

import schemathesis

schemathesis.serializer.alias("application/offset+octet-stream", "application/octet-stream")
