#!/usr/bin/env bash
# Runs the whole test suite: formatting, clippy, every crate's tests on SQLite, MariaDB and
# PostgreSQL (the event log also on NATS JetStream),
# the CLI end-to-end and crash tests, real tus clients (tus-js-client, tuspy), the media
# pipeline with the real ffmpeg, playlists through a strict HLS parser, the OpenAPI document
# against the server under schemathesis, and playback with
# ffmpeg and hls.js in headless Chromium, the web app driven in Chromium end to end, and a
# cluster (two API nodes, two workers, PostgreSQL, NATS) behind an nginx edge.
# Installs what the tests need and starts local services that are down.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh
apt_need gcc:cc pkg-config:pkg-config nodejs:node npm:npm python3:python3 \
    mariadb-server:mariadbd postgresql:pg_ctlcluster postgresql-client:psql curl:curl \
    ffmpeg:ffmpeg ffmpeg:ffprobe chromium:chromium nats-server:nats-server nginx-light:nginx
need_cargo

# MariaDB for the metadata tests (127.0.0.1:3306, root without password).
if ! mysqladmin -h127.0.0.1 -uroot status >/dev/null 2>&1; then
    echo "starting MariaDB" >&2
    as_root start-stop-daemon --start --oknodo --background --exec /usr/sbin/mariadbd
    for _ in $(seq 60); do mysqladmin -h127.0.0.1 -uroot status >/dev/null 2>&1 && break; sleep 1; done
fi
mysqladmin -h127.0.0.1 -uroot status >/dev/null

# PostgreSQL for the metadata tests (127.0.0.1:5432). The tests connect as postgres without a
# password (SPOOL_TEST_POSTGRES); where the server asks for one (Debian's default for TCP), they
# use a role of their own, created once through the local socket.
if ! pg_isready -q -h 127.0.0.1 -p 5432; then
    echo "starting PostgreSQL" >&2
    for version in $(ls /etc/postgresql); do
        as_root pg_ctlcluster --skip-systemctl-redirect "$version" main start || true
    done
    for _ in $(seq 60); do pg_isready -q -h 127.0.0.1 -p 5432 && break; sleep 1; done
fi
pg_isready -q -h 127.0.0.1 -p 5432
if [ -z "${SPOOL_TEST_POSTGRES:-}" ] && ! psql -qAt -w -h 127.0.0.1 -U postgres -d postgres -c 'SELECT 1' >/dev/null 2>&1; then
    as_root runuser -u postgres -- psql -qAt -d postgres -c "DO \$\$ BEGIN
        IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'spool_test') THEN
            CREATE ROLE spool_test LOGIN CREATEDB PASSWORD 'spool_test';
        END IF; END \$\$" >/dev/null
    export SPOOL_TEST_POSTGRES=postgres://spool_test:spool_test@127.0.0.1:5432
fi

# NATS JetStream for the event log tests (127.0.0.1:4222).
nats_up() { (exec 3<>/dev/tcp/127.0.0.1/4222) 2>/dev/null; }
if ! nats_up; then
    echo "starting NATS JetStream" >&2
    as_root mkdir -p /var/lib/nats-server
    as_root start-stop-daemon --start --oknodo --background --exec "$(command -v nats-server)" -- \
        -a 127.0.0.1 -p 4222 -js -sd /var/lib/nats-server -l /var/log/nats-server.log
    for _ in $(seq 30); do nats_up && break; sleep 1; done
fi
nats_up || { echo "NATS JetStream is not answering on 127.0.0.1:4222" >&2; exit 1; }

# Real third-party clients: tus uploaders, a strict HLS parser, hls.js + playwright-core.
npm ci --prefix interop --no-audit --no-fund --loglevel=error
# The web app: built once here; its end-to-end test (crates/spool/tests/web.rs) serves web/dist.
npm ci --prefix web --no-audit --no-fund --loglevel=error
npm --prefix web run build --silent
# Its lint (eslint), type check (tsc --checkJs over the JSDoc) and unit tests (node --test).
npm --prefix web run check --silent
# tuspy goes into a venv (Debian's system Python refuses pip installs, PEP 668); the interop
# tests run `python3` from PATH, so the venv comes first.
if [ ! -x interop/.venv/bin/python3 ]; then
    python3 -m venv interop/.venv >/dev/null 2>&1 || {
        rm -rf interop/.venv
        as_root apt-get update -qq
        as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-venv
        python3 -m venv interop/.venv
    }
fi
interop/.venv/bin/python3 -m pip install -q -r interop/requirements.txt
export PATH="$PWD/interop/.venv/bin:$PATH"

cargo fmt --all -- --check
cargo clippy --workspace --all-targets -- -D warnings
cargo test --workspace
