-- Gifts on a double-entry ledger. Keep in step with migrations/mysql/0009_gifts.sql.
--
-- Money moves only by a transfer whose entries (one row per leg, signed minor units) sum to
-- zero, written in the same transaction as the `balance` of every account it touches.
-- Accounts: a user's wallet has the user's id; -1 is the platform's share, -2 is issuance
-- (grants come from it, so it is the one account whose balance goes below zero and the whole
-- ledger still sums to zero). Transfers and entries are never updated nor deleted (triggers).
CREATE TABLE ledger_accounts (
    id          INTEGER PRIMARY KEY,
    kind        VARCHAR(16) NOT NULL,
    balance     INTEGER NOT NULL DEFAULT 0,
    created_at  INTEGER NOT NULL,
    CHECK (kind = 'issuance' OR balance >= 0)
);
INSERT INTO ledger_accounts (id, kind, balance, created_at) VALUES (-1, 'platform', 0, 0);
INSERT INTO ledger_accounts (id, kind, balance, created_at) VALUES (-2, 'issuance', 0, 0);

-- `scope_account` + `idempotency_key` is the client's key, scoped per sender (grants are
-- scoped by the issuance account); `fingerprint` is the SHA-256 of the request it answered.
-- `balance_after` is the balance the initiator was told (the sender's after a gift, the
-- wallet's after a grant), so a replay answers the same.
CREATE TABLE ledger_transfers (
    id               CHAR(24) PRIMARY KEY,
    scope_account    INTEGER NOT NULL,
    idempotency_key  VARCHAR(255) NOT NULL,
    fingerprint      CHAR(64) NOT NULL,
    kind             VARCHAR(16) NOT NULL,
    from_account     INTEGER NOT NULL REFERENCES ledger_accounts(id),
    to_account       INTEGER NOT NULL REFERENCES ledger_accounts(id),
    amount           INTEGER NOT NULL CHECK (amount > 0),
    gift_id          VARCHAR(32),
    gift_count       INTEGER,
    video_id         CHAR(11),
    room_id          CHAR(11),
    balance_after    INTEGER NOT NULL,
    created_at       INTEGER NOT NULL,
    UNIQUE (scope_account, idempotency_key)
);
CREATE INDEX ledger_transfers_video ON ledger_transfers(video_id);
CREATE INDEX ledger_transfers_room ON ledger_transfers(room_id);

CREATE TABLE ledger_entries (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    transfer_id  CHAR(24) NOT NULL REFERENCES ledger_transfers(id),
    account_id   INTEGER NOT NULL REFERENCES ledger_accounts(id),
    amount       INTEGER NOT NULL CHECK (amount <> 0)
);
CREATE INDEX ledger_entries_account ON ledger_entries(account_id, id);
CREATE INDEX ledger_entries_transfer ON ledger_entries(transfer_id);

CREATE TRIGGER ledger_transfers_immutable BEFORE UPDATE ON ledger_transfers
BEGIN SELECT RAISE(ABORT, 'ledger transfers are immutable'); END;
CREATE TRIGGER ledger_transfers_undeletable BEFORE DELETE ON ledger_transfers
BEGIN SELECT RAISE(ABORT, 'ledger transfers are immutable'); END;
CREATE TRIGGER ledger_entries_immutable BEFORE UPDATE ON ledger_entries
BEGIN SELECT RAISE(ABORT, 'ledger entries are immutable'); END;
CREATE TRIGGER ledger_entries_undeletable BEFORE DELETE ON ledger_entries
BEGIN SELECT RAISE(ABORT, 'ledger entries are immutable'); END;

-- The gifts one can send; `price` in minor units (coins), `animation` names the player's.
CREATE TABLE gift_catalog (
    id         VARCHAR(32) PRIMARY KEY,
    name       VARCHAR(64) NOT NULL,
    price      INTEGER NOT NULL CHECK (price > 0),
    animation  VARCHAR(32) NOT NULL
);
INSERT INTO gift_catalog (id, name, price, animation) VALUES
    ('heart', 'Heart', 1, 'float'),
    ('rose', 'Rose', 10, 'float'),
    ('star', 'Star', 50, 'spin'),
    ('rocket', 'Rocket', 500, 'launch'),
    ('castle', 'Castle', 5000, 'burst');
