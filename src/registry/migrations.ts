/**
 * Schema migrations, applied in order; PRAGMA user_version records how many have run.
 * Never edit a shipped migration: append a new one.
 */
export const MIGRATIONS: readonly string[] = [
  /* 1: the initial schema */ `
  CREATE TABLE machines (
    id              TEXT PRIMARY KEY,
    name            TEXT NOT NULL UNIQUE,
    state           TEXT NOT NULL,
    arch            TEXT,
    firmware        TEXT,
    tags            TEXT NOT NULL DEFAULT '[]' CHECK (json_valid(tags) AND json_type(tags) = 'array'),
    facts           TEXT NOT NULL DEFAULT '{}' CHECK (json_valid(facts)),
    cpu_count       INTEGER,
    memory_mib      INTEGER,
    disk_gib        INTEGER,
    power_type      TEXT,
    power_address   TEXT,
    power_options   TEXT NOT NULL DEFAULT '{}' CHECK (json_valid(power_options)),
    power_secret    TEXT,
    power_state     TEXT NOT NULL DEFAULT 'unknown',
    power_checked_at INTEGER,
    owner           TEXT,
    allocation_key  TEXT,
    allocated_at    INTEGER,
    boot_profile    TEXT CHECK (boot_profile IS NULL OR json_valid(boot_profile)),
    ssh_host_key    TEXT,
    created_at      INTEGER NOT NULL,
    updated_at      INTEGER NOT NULL,
    state_changed_at INTEGER NOT NULL
  );
  CREATE INDEX machines_state_name ON machines(state, name);
  CREATE INDEX machines_owner ON machines(owner, allocation_key);

  CREATE TABLE interfaces (
    mac         TEXT PRIMARY KEY CHECK (mac GLOB '[0-9a-f][0-9a-f]:[0-9a-f][0-9a-f]:[0-9a-f][0-9a-f]:[0-9a-f][0-9a-f]:[0-9a-f][0-9a-f]:[0-9a-f][0-9a-f]'),
    machine_id  TEXT NOT NULL REFERENCES machines(id) ON DELETE CASCADE,
    name        TEXT,
    boot        INTEGER NOT NULL DEFAULT 0,
    created_at  INTEGER NOT NULL
  );
  CREATE INDEX interfaces_machine ON interfaces(machine_id);

  CREATE TABLE leases (
    ip          TEXT PRIMARY KEY,
    mac         TEXT,
    client_id   TEXT,
    hostname    TEXT,
    subnet      TEXT NOT NULL,
    state       TEXT NOT NULL CHECK (state IN ('offered', 'bound', 'released', 'declined', 'expired')),
    expires_at  INTEGER NOT NULL,
    updated_at  INTEGER NOT NULL
  );
  CREATE INDEX leases_mac ON leases(mac);
  CREATE INDEX leases_subnet_state ON leases(subnet, state, expires_at);

  CREATE TABLE reservations (
    mac         TEXT PRIMARY KEY REFERENCES interfaces(mac) ON DELETE CASCADE,
    ip          TEXT NOT NULL UNIQUE,
    hostname    TEXT
  );

  -- Append-only: the audit trail and every machine's boot timeline.
  CREATE TABLE events (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    at          INTEGER NOT NULL,
    machine_id  TEXT,
    mac         TEXT,
    kind        TEXT NOT NULL,
    type        TEXT NOT NULL,
    actor       TEXT NOT NULL,
    from_state  TEXT,
    to_state    TEXT,
    reason      TEXT,
    data        TEXT NOT NULL DEFAULT '{}' CHECK (json_valid(data))
  );
  CREATE INDEX events_machine ON events(machine_id, id);
  CREATE INDEX events_mac ON events(mac, id);
  CREATE TRIGGER events_no_update BEFORE UPDATE ON events
    BEGIN SELECT RAISE(ABORT, 'events are append-only'); END;

  CREATE TABLE api_tokens (
    id          TEXT PRIMARY KEY,
    name        TEXT NOT NULL,
    role        TEXT NOT NULL CHECK (role IN ('admin', 'driver', 'agent')),
    hash        TEXT NOT NULL UNIQUE,
    owner       TEXT,
    machine_id  TEXT REFERENCES machines(id) ON DELETE CASCADE,
    single_use  INTEGER NOT NULL DEFAULT 0,
    created_at  INTEGER NOT NULL,
    expires_at  INTEGER,
    used_at     INTEGER,
    revoked_at  INTEGER
  );
  `,
  /*
   * 2: leases keyed by address alone (WITHOUT ROWID: one B-tree, not a rowid table plus its
   * primary-key index) and no index on mac. The DHCP server writes a lease per ACK and keeps its
   * own lookups in memory; an index on a random key (the MAC) costs a random page per written lease,
   * which doubled the cost of every group commit. MAC lookups (API views) scan the table, which at
   * rack scale is a few thousand rows.
   */ `
  CREATE TABLE leases_v2 (
    ip          TEXT PRIMARY KEY,
    mac         TEXT,
    client_id   TEXT,
    hostname    TEXT,
    subnet      TEXT NOT NULL,
    state       TEXT NOT NULL CHECK (state IN ('offered', 'bound', 'released', 'declined', 'expired')),
    expires_at  INTEGER NOT NULL,
    updated_at  INTEGER NOT NULL
  ) WITHOUT ROWID;
  INSERT INTO leases_v2 SELECT ip, mac, client_id, hostname, subnet, state, expires_at, updated_at FROM leases;
  DROP TABLE leases;
  ALTER TABLE leases_v2 RENAME TO leases;
  CREATE INDEX leases_subnet_state ON leases(subnet, state, expires_at);
  `,
  /*
   * 3: no index on (subnet, state, expires_at). The DHCP server keeps every lease in memory and
   * finds lapsed ones there (netboot/dhcp-leases.ts sweep); the index only cost every group commit
   * a second B-tree update per lease (about a fifth of a commit's time, measured).
   */ `
  DROP INDEX IF EXISTS leases_subnet_state;
  `,
];
