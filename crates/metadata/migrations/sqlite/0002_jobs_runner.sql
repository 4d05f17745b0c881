-- Durable jobs runner: leases on jobs and a heartbeat row per worker.
-- A job in state 'running' belongs to `worker_id` until `lease_until` (Unix ms); once the lease
-- has passed, any worker may claim it again. The reason a job went 'dead' is in `last_error`.
ALTER TABLE jobs ADD COLUMN worker_id VARCHAR(64);
ALTER TABLE jobs ADD COLUMN lease_until INTEGER;
CREATE INDEX jobs_lease ON jobs(state, lease_until);

CREATE TABLE workers (
    id          VARCHAR(64) PRIMARY KEY,
    started_at  INTEGER NOT NULL,
    last_seen   INTEGER NOT NULL
);
