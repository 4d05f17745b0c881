-- Gifts on a double-entry ledger. Keep in step with migrations/sqlite/0009_gifts.sql (the
-- model is explained there).
CREATE TABLE ledger_accounts (
    id          BIGINT PRIMARY KEY,
    kind        VARCHAR(16) NOT NULL,
    balance     BIGINT NOT NULL DEFAULT 0,
    created_at  BIGINT NOT NULL,
    CONSTRAINT ledger_accounts_not_negative CHECK (kind = 'issuance' OR balance >= 0)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;
INSERT INTO ledger_accounts (id, kind, balance, created_at) VALUES (-1, 'platform', 0, 0);
INSERT INTO ledger_accounts (id, kind, balance, created_at) VALUES (-2, 'issuance', 0, 0);

CREATE TABLE ledger_transfers (
    id               CHAR(24) PRIMARY KEY,
    scope_account    BIGINT NOT NULL,
    idempotency_key  VARCHAR(255) NOT NULL,
    fingerprint      CHAR(64) NOT NULL,
    kind             VARCHAR(16) NOT NULL,
    from_account     BIGINT NOT NULL,
    to_account       BIGINT NOT NULL,
    amount           BIGINT NOT NULL,
    gift_id          VARCHAR(32),
    gift_count       BIGINT,
    video_id         CHAR(11),
    room_id          CHAR(11),
    balance_after    BIGINT NOT NULL,
    created_at       BIGINT NOT NULL,
    UNIQUE INDEX ledger_transfers_key (scope_account, idempotency_key),
    INDEX ledger_transfers_video (video_id),
    INDEX ledger_transfers_room (room_id),
    CONSTRAINT ledger_transfers_positive CHECK (amount > 0),
    FOREIGN KEY (from_account) REFERENCES ledger_accounts(id),
    FOREIGN KEY (to_account) REFERENCES ledger_accounts(id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

CREATE TABLE ledger_entries (
    id           BIGINT PRIMARY KEY AUTO_INCREMENT,
    transfer_id  CHAR(24) NOT NULL,
    account_id   BIGINT NOT NULL,
    amount       BIGINT NOT NULL,
    INDEX ledger_entries_account (account_id, id),
    INDEX ledger_entries_transfer (transfer_id),
    CONSTRAINT ledger_entries_not_zero CHECK (amount <> 0),
    FOREIGN KEY (transfer_id) REFERENCES ledger_transfers(id),
    FOREIGN KEY (account_id) REFERENCES ledger_accounts(id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

CREATE TRIGGER ledger_transfers_immutable BEFORE UPDATE ON ledger_transfers FOR EACH ROW
    SIGNAL SQLSTATE '45000' SET MESSAGE_TEXT = 'ledger transfers are immutable';
CREATE TRIGGER ledger_transfers_undeletable BEFORE DELETE ON ledger_transfers FOR EACH ROW
    SIGNAL SQLSTATE '45000' SET MESSAGE_TEXT = 'ledger transfers are immutable';
CREATE TRIGGER ledger_entries_immutable BEFORE UPDATE ON ledger_entries FOR EACH ROW
    SIGNAL SQLSTATE '45000' SET MESSAGE_TEXT = 'ledger entries are immutable';
CREATE TRIGGER ledger_entries_undeletable BEFORE DELETE ON ledger_entries FOR EACH ROW
    SIGNAL SQLSTATE '45000' SET MESSAGE_TEXT = 'ledger entries are immutable';

CREATE TABLE gift_catalog (
    id         VARCHAR(32) PRIMARY KEY,
    name       VARCHAR(64) NOT NULL,
    price      BIGINT NOT NULL,
    animation  VARCHAR(32) NOT NULL,
    CONSTRAINT gift_catalog_positive CHECK (price > 0)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;
INSERT INTO gift_catalog (id, name, price, animation) VALUES
    ('heart', 'Heart', 1, 'float'),
    ('rose', 'Rose', 10, 'float'),
    ('star', 'Star', 50, 'spin'),
    ('rocket', 'Rocket', 500, 'launch'),
    ('castle', 'Castle', 5000, 'burst');
