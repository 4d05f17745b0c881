-- Durable jobs runner: leases on jobs and a heartbeat row per worker.
-- A job in state 'running' belongs to `worker_id` until `lease_until` (Unix ms); once the lease
-- has passed, any worker may claim it again. The reason a job went 'dead' is in `last_error`.
-- Keep in step with migrations/mysql/0002_jobs_runner.sql.
ALTER TABLE jobs
    ADD COLUMN worker_id VARCHAR(64) COLLATE "C" NULL,
    ADD COLUMN lease_until BIGINT NULL;
CREATE INDEX jobs_lease ON jobs (state, lease_until);

CREATE TABLE workers (
    id          VARCHAR(64) COLLATE "C" PRIMARY KEY,
    started_at  BIGINT NOT NULL,
    last_seen   BIGINT NOT NULL
);
