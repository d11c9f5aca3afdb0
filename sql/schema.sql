-- The state schema `tributary` as the migrations in sql/migrations build it (pg_dump --schema-only,
-- comments and settings removed). Generated: after changing a migration run `npm run schema:dump`.
-- What each table and column is for: see the migrations.

CREATE SCHEMA tributary;

CREATE TABLE tributary.checkpoints (
    source_id text NOT NULL,
    source_table text NOT NULL,
    target_table text NOT NULL,
    changelog_token text,
    high_water bigint DEFAULT 0 NOT NULL,
    snapshot_state text DEFAULT 'pending'::text NOT NULL,
    snapshot_after jsonb,
    snapshot_rows bigint DEFAULT 0 NOT NULL,
    snapshot_started_at timestamp with time zone,
    snapshot_done_at timestamp with time zone,
    applied_changes bigint DEFAULT 0 NOT NULL,
    last_applied_at timestamp with time zone,
    last_pass_at timestamp with time zone,
    last_error text,
    last_error_at timestamp with time zone,
    synced_columns jsonb,
    snapshot_mode text DEFAULT 'replace'::text NOT NULL,
    prune_pending boolean DEFAULT true NOT NULL,
    capture_broken_at timestamp with time zone,
    snapshot_plan text,
    synced_settings jsonb,
    schema_change_seen_at timestamp with time zone,
    CONSTRAINT checkpoints_snapshot_mode_check CHECK ((snapshot_mode = ANY (ARRAY['replace'::text, 'refresh'::text]))),
    CONSTRAINT checkpoints_snapshot_plan_check CHECK ((snapshot_plan = ANY (ARRAY['fill'::text, 'range'::text, 'sweep'::text]))),
    CONSTRAINT checkpoints_snapshot_state_check CHECK ((snapshot_state = ANY (ARRAY['pending'::text, 'running'::text, 'done'::text])))
);

CREATE TABLE tributary.gaps (
    source_id text NOT NULL,
    source_table text NOT NULL,
    change_id bigint NOT NULL,
    first_seen_source timestamp(6) without time zone NOT NULL,
    first_seen_at timestamp with time zone DEFAULT now() NOT NULL,
    holders text[],
    expired_at timestamp with time zone,
    last_id bigint NOT NULL,
    CONSTRAINT gaps_range_check CHECK ((last_id >= change_id))
);

CREATE TABLE tributary.rejects (
    source_id text NOT NULL,
    source_table text NOT NULL,
    target_table text NOT NULL,
    row_key text NOT NULL,
    key_text text NOT NULL,
    column_name text NOT NULL,
    raw_value bytea,
    reason text NOT NULL,
    action text NOT NULL,
    rejected_at timestamp with time zone DEFAULT now() NOT NULL,
    CONSTRAINT rejects_action_check CHECK ((action = ANY (ARRAY['rejected'::text, 'nulled'::text])))
);

CREATE TABLE tributary.schema_migrations (
    version integer NOT NULL,
    name text NOT NULL,
    applied_at timestamp with time zone DEFAULT now() NOT NULL
);

CREATE TABLE tributary.source_shapes (
    source_id text NOT NULL,
    digest text NOT NULL,
    tables jsonb NOT NULL,
    stored_at timestamp with time zone DEFAULT now() NOT NULL
);

ALTER TABLE ONLY tributary.checkpoints
    ADD CONSTRAINT checkpoints_pkey PRIMARY KEY (source_id, source_table);

ALTER TABLE ONLY tributary.gaps
    ADD CONSTRAINT gaps_pkey PRIMARY KEY (source_id, source_table, change_id);

ALTER TABLE ONLY tributary.rejects
    ADD CONSTRAINT rejects_pkey PRIMARY KEY (source_id, source_table, row_key, column_name);

ALTER TABLE ONLY tributary.schema_migrations
    ADD CONSTRAINT schema_migrations_pkey PRIMARY KEY (version);

ALTER TABLE ONLY tributary.source_shapes
    ADD CONSTRAINT source_shapes_pkey PRIMARY KEY (source_id);

ALTER TABLE ONLY tributary.gaps
    ADD CONSTRAINT gaps_source_id_source_table_fkey FOREIGN KEY (source_id, source_table) REFERENCES tributary.checkpoints(source_id, source_table) ON DELETE CASCADE;
