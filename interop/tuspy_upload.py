#!/usr/bin/env python3
"""Upload one file with tuspy, optionally interrupting and resuming it.

    python3 tuspy_upload.py --endpoint URL --token T --file PATH
                            [--chunk-size N] [--interrupt-after BYTES]

Prints one JSON line on stdout:
    {"upload_url": ..., "video_id": <Spool-Video-Id or null>, "resumed_from": N}
resumed_from is 0 for an uninterrupted upload, else the offset that a second
Uploader (built with url=) read from the server (HEAD) and resumed from.
tuspy does not expose the creation response, so video_id comes from a HEAD on
the upload URL (Spool answers HEAD with Spool-Video-Id too).
--token is optional (a peer tus server ignores it); with it every request
carries `Authorization: Bearer T`. Exits non-zero on any error.
"""
import argparse
import json
import os
import sys

import requests
from tusclient import client as tus_client

DEFAULT_INTERRUPT_CHUNK = 256 * 1024


def positive_int(s):
    v = int(s)
    if v <= 0:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {s}")
    return v


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--endpoint", required=True, help="tus creation URL")
    p.add_argument("--token", help="bearer token (optional for a peer server)")
    p.add_argument("--file", required=True)
    p.add_argument("--chunk-size", type=positive_int)
    p.add_argument("--interrupt-after", type=positive_int)
    a = p.parse_args()

    size = os.path.getsize(a.file)
    headers = {"Authorization": f"Bearer {a.token}"} if a.token else {}
    client = tus_client.TusClient(a.endpoint, headers=headers)
    name = os.path.basename(a.file)
    metadata = {"filename": name, "title": os.path.splitext(name)[0]}

    chunk_size = a.chunk_size
    if a.interrupt_after is not None:
        if a.interrupt_after >= size:
            sys.exit(f"tuspy_upload: --interrupt-after ({a.interrupt_after}) must be below the file size ({size})")
        chunk_size = chunk_size or DEFAULT_INTERRUPT_CHUNK

    kwargs = {"file_path": a.file, "metadata": metadata}
    if chunk_size:
        kwargs["chunk_size"] = chunk_size

    resumed_from = 0
    if a.interrupt_after is None:
        up = client.uploader(**kwargs)
        up.upload()
    else:
        first = client.uploader(**kwargs)
        first.upload(stop_at=a.interrupt_after)
        if first.offset < a.interrupt_after or first.offset >= size:
            sys.exit(f"tuspy_upload: first run stopped at {first.offset}, expected [{a.interrupt_after}, {size})")
        url = first.url
        # A fresh Uploader for the same URL: its constructor HEADs the upload for the offset.
        up = client.uploader(url=url, **kwargs)
        resumed_from = up.offset
        if not resumed_from > 0:
            sys.exit(f"tuspy_upload: resumed upload started at offset {resumed_from}, expected > 0")
        if resumed_from < first.offset:
            sys.exit(f"tuspy_upload: server offset {resumed_from} < acknowledged {first.offset}")
        up.upload()
        if up.url != url:
            sys.exit(f"tuspy_upload: resumed a different upload: {up.url} != {url}")

    if up.offset != size:
        sys.exit(f"tuspy_upload: finished at offset {up.offset}, expected {size}")

    head = requests.head(up.url, headers={"Tus-Resumable": "1.0.0", **headers}, timeout=30)
    if head.status_code != 200:
        sys.exit(f"tuspy_upload: HEAD {up.url} -> {head.status_code}")
    if int(head.headers.get("Upload-Offset", -1)) != size:
        sys.exit(f"tuspy_upload: HEAD says offset {head.headers.get('Upload-Offset')}, expected {size}")
    video_id = head.headers.get("Spool-Video-Id")

    print(json.dumps({"upload_url": up.url, "video_id": video_id, "resumed_from": resumed_from}))


if __name__ == "__main__":
    try:
        main()
    except SystemExit:
        raise
    except Exception as e:  # noqa: BLE001 - report any client/server failure as exit 1
        print(f"tuspy_upload: {type(e).__name__}: {e}", file=sys.stderr)
        sys.exit(1)
