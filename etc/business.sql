-- business.sql: the demo business database of the shipped example flow (etc/flows/main.toml).
-- install.sh loads it into <data_dir>/business.db (unless that exists) and the tests load it into
-- a temporary directory:  sqlite3 business.db < etc/business.sql
--
-- telvox opens this database read-only; flows read it with `lookup` and `verify_pin`. Balances are
-- in minor units (cents / fen), as `say ... as = "money"` expects. PIN hashes are PBKDF2-SHA256 in
-- PHC format, made with `echo 4321 | telvox pin hash`; never store PINs in clear.
--
-- Demo accounts:
--   123456  PIN 4321  phone 13900139000 (a caller from that number is recognised)  balance 1,205.50
--   654321  PIN 1111  no phone on file                                             balance 7.05

CREATE TABLE IF NOT EXISTS accounts (
    account   TEXT PRIMARY KEY NOT NULL,
    phone     TEXT,
    name      TEXT NOT NULL,
    balance   INTEGER NOT NULL,
    pin_hash  TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS accounts_phone ON accounts (phone);

-- The example of the IVR documentation: a customer by caller number.
CREATE TABLE IF NOT EXISTS customers (
    phone    TEXT PRIMARY KEY NOT NULL,
    name     TEXT NOT NULL,
    balance  INTEGER NOT NULL
);

INSERT OR REPLACE INTO accounts (account, phone, name, balance, pin_hash) VALUES
    ('123456', '13900139000', 'Demo Customer', 120550,
     '$pbkdf2-sha256$i=100000,l=32$+Qqb4FveqMOooblxeqkrpw$x08sFNlDlCKOYZKoQ/MBoE4vs99xabFNXITYqSbE26w'),
    ('654321', NULL, 'Second Customer', 705,
     '$pbkdf2-sha256$i=100000,l=32$oA7WgUGRF3994H9tWdPDKQ$PkUq+QvAcjnnKce823+ofkvXuBcJwznJPYC+WDAHguk');

INSERT OR REPLACE INTO customers (phone, name, balance) VALUES
    ('13900139000', 'Demo Customer', 120550);
