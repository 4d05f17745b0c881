-- Durable jobs runner: leases on jobs and a heartbeat row per worker.
-- A job in state 'running' belongs to `worker_id` until `lease_until` (Unix ms); once the lease
-- has passed, any worker may claim it again. The reason a job went 'dead' is in `last_error`.
ALTER TABLE jobs
    ADD COLUMN worker_id VARCHAR(64) NULL,
    ADD COLUMN lease_until BIGINT NULL,
    ADD INDEX jobs_lease (state, lease_until);

CREATE TABLE workers (
    id          VARCHAR(64) PRIMARY KEY,
    started_at  BIGINT NOT NULL,
    last_seen   BIGINT NOT NULL
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;
