-- The core mirror of Retino tickets and the sync bookkeeping.
CREATE SCHEMA IF NOT EXISTS retino;
COMMENT ON SCHEMA retino IS 'Mirror of Retino tickets kept by retino-sync; read-only for everyone else.';

CREATE TABLE retino.customers (
    id            uuid PRIMARY KEY,
    account       text NOT NULL,
    name          text,
    email         text,
    phone         text,
    first_seen_at timestamptz,
    last_seen_at  timestamptz
);
CREATE INDEX customers_account_email ON retino.customers (account, email);
COMMENT ON TABLE retino.customers IS 'People who filed tickets. Retino gives customers no id: identity per account is the trimmed, lower-cased e-mail, else the phone without spaces; id is UUIDv5 of account and that key.';
COMMENT ON COLUMN retino.customers.id IS 'UUIDv5 of the account name and the identity key (e-mail or phone).';
COMMENT ON COLUMN retino.customers.account IS 'Configured account name the customer belongs to.';
COMMENT ON COLUMN retino.customers.name IS 'Name as given on the most recently updated ticket.';
COMMENT ON COLUMN retino.customers.email IS 'Normalized e-mail (trimmed, lower-case), or NULL when identified by phone.';
COMMENT ON COLUMN retino.customers.phone IS 'Phone as given on the most recently updated ticket (trimmed).';
COMMENT ON COLUMN retino.customers.first_seen_at IS 'Earliest created_at of this customer''s tickets seen by the sync.';
COMMENT ON COLUMN retino.customers.last_seen_at IS 'Latest created_at of this customer''s tickets seen by the sync.';

CREATE TABLE retino.tickets (
    id                      uuid PRIMARY KEY,
    account                 text NOT NULL,
    code                    text,
    state_id                uuid,
    type_id                 uuid,
    owner_id                uuid,
    -- Deferred: a page's tickets are written first, then the customers of
    -- the tickets that actually changed.
    customer_id             uuid REFERENCES retino.customers (id) DEFERRABLE INITIALLY DEFERRED,
    bound_order             jsonb,
    currency                text,
    language                text,
    country                 text,
    order_id                text,
    order_date              timestamptz,
    customer_rating         numeric,
    customer_rating_comment text,
    verification_state      text,
    is_unread               boolean,
    custom_fields           jsonb,
    shipping                jsonb,
    created_at              timestamptz,
    updated_at              timestamptz NOT NULL,
    closed_at               timestamptz,
    deleted_at              timestamptz,
    raw                     jsonb NOT NULL,
    synced_at               timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX tickets_account_updated_at ON retino.tickets (account, updated_at);
CREATE INDEX tickets_account_created_at ON retino.tickets (account, created_at);
CREATE INDEX tickets_customer_id ON retino.tickets (customer_id);
CREATE INDEX tickets_state_id ON retino.tickets (state_id);
COMMENT ON TABLE retino.tickets IS 'One row per Retino ticket (return, complaint, warranty claim), as the API shows it now.';
COMMENT ON COLUMN retino.tickets.id IS 'Retino ticket id.';
COMMENT ON COLUMN retino.tickets.account IS 'Configured account name the ticket was synced from.';
COMMENT ON COLUMN retino.tickets.code IS 'Human ticket number shown in Retino, e.g. 20210001.';
COMMENT ON COLUMN retino.tickets.state_id IS 'Ticket state (Retino /states).';
COMMENT ON COLUMN retino.tickets.type_id IS 'Ticket type: return, complaint, ... (Retino /types).';
COMMENT ON COLUMN retino.tickets.owner_id IS 'Assigned agent (Retino /users).';
COMMENT ON COLUMN retino.tickets.customer_id IS 'Customer (retino.customers); NULL when the ticket has neither e-mail nor phone.';
COMMENT ON COLUMN retino.tickets.bound_order IS 'Linked e-shop order as sent by Retino (shape undocumented).';
COMMENT ON COLUMN retino.tickets.currency IS 'ISO 4217 currency of the ticket''s prices.';
COMMENT ON COLUMN retino.tickets.language IS 'Language of the ticket (e.g. cs).';
COMMENT ON COLUMN retino.tickets.country IS 'ISO 3166 alpha-2 country.';
COMMENT ON COLUMN retino.tickets.order_id IS 'E-shop order number.';
COMMENT ON COLUMN retino.tickets.order_date IS 'When the order was placed.';
COMMENT ON COLUMN retino.tickets.customer_rating IS 'Customer''s rating after closing, if given.';
COMMENT ON COLUMN retino.tickets.customer_rating_comment IS 'Customer''s comment with the rating.';
COMMENT ON COLUMN retino.tickets.verification_state IS 'Order verification, e.g. VERIFIED_AUTOMATICALLY.';
COMMENT ON COLUMN retino.tickets.is_unread IS 'Unread by the e-shop''s agents.';
COMMENT ON COLUMN retino.tickets.custom_fields IS 'Ticket custom fields: name or field UUID -> value or option UUID.';
COMMENT ON COLUMN retino.tickets.shipping IS 'Shipping records as sent by Retino (shape undocumented).';
COMMENT ON COLUMN retino.tickets.created_at IS 'When the ticket was created in Retino.';
COMMENT ON COLUMN retino.tickets.updated_at IS 'Last change in Retino; the sync''s cursor and the newer-wins guard.';
COMMENT ON COLUMN retino.tickets.closed_at IS 'When the ticket was closed; NULL while open.';
COMMENT ON COLUMN retino.tickets.deleted_at IS 'When the sync found the ticket gone from Retino; NULL while it exists.';
COMMENT ON COLUMN retino.tickets.raw IS 'The ticket object exactly as received, including fields not modelled as columns.';
COMMENT ON COLUMN retino.tickets.synced_at IS 'When this row was last written by the sync.';

CREATE TABLE retino.ticket_tags (
    ticket_id uuid NOT NULL REFERENCES retino.tickets (id) ON DELETE CASCADE,
    tag_id    uuid NOT NULL,
    PRIMARY KEY (ticket_id, tag_id)
);
CREATE INDEX ticket_tags_tag_id ON retino.ticket_tags (tag_id);
COMMENT ON TABLE retino.ticket_tags IS 'Tags on tickets, exactly the ticket''s current tag list.';
COMMENT ON COLUMN retino.ticket_tags.ticket_id IS 'Tagged ticket.';
COMMENT ON COLUMN retino.ticket_tags.tag_id IS 'Tag (Retino /tags).';

CREATE TABLE retino.products (
    id                uuid PRIMARY KEY,
    ticket_id         uuid NOT NULL REFERENCES retino.tickets (id) ON DELETE CASCADE,
    account           text NOT NULL,
    position          int NOT NULL,
    name              text,
    manufacturer      text,
    category          text,
    product_id        text,
    variant           text,
    ean               text,
    serial            text,
    amount            numeric,
    price_with_vat    numeric,
    price_without_vat numeric,
    price_vat         numeric,
    bound_order_item  jsonb,
    files             jsonb,
    custom_fields     jsonb
);
CREATE INDEX products_ticket_id ON retino.products (ticket_id);
COMMENT ON TABLE retino.products IS 'Product lines of tickets, exactly the ticket''s current product list.';
COMMENT ON COLUMN retino.products.id IS 'Retino id of the product line.';
COMMENT ON COLUMN retino.products.ticket_id IS 'Ticket the line belongs to.';
COMMENT ON COLUMN retino.products.account IS 'Configured account name.';
COMMENT ON COLUMN retino.products.position IS 'Index of the line in the ticket''s product list, from 0.';
COMMENT ON COLUMN retino.products.name IS 'Product name.';
COMMENT ON COLUMN retino.products.manufacturer IS 'Manufacturer.';
COMMENT ON COLUMN retino.products.category IS 'Product category.';
COMMENT ON COLUMN retino.products.product_id IS 'E-shop''s product identifier.';
COMMENT ON COLUMN retino.products.variant IS 'Product variant.';
COMMENT ON COLUMN retino.products.ean IS 'EAN barcode.';
COMMENT ON COLUMN retino.products.serial IS 'Serial number.';
COMMENT ON COLUMN retino.products.amount IS 'Quantity claimed.';
COMMENT ON COLUMN retino.products.price_with_vat IS 'Unit price with VAT, in the ticket''s currency.';
COMMENT ON COLUMN retino.products.price_without_vat IS 'Unit price without VAT.';
COMMENT ON COLUMN retino.products.price_vat IS 'VAT part of the unit price.';
COMMENT ON COLUMN retino.products.bound_order_item IS 'Linked order item as sent by Retino (shape undocumented).';
COMMENT ON COLUMN retino.products.files IS 'Attached files as sent by Retino (shape undocumented).';
COMMENT ON COLUMN retino.products.custom_fields IS 'Product custom fields: field UUID -> value or option UUID.';

CREATE TABLE retino.sync_state (
    account    text NOT NULL,
    stream     text NOT NULL,
    watermark  timestamptz NOT NULL,
    updated_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (account, stream)
);
COMMENT ON TABLE retino.sync_state IS 'Per account and stream, how far the sync has read.';
COMMENT ON COLUMN retino.sync_state.account IS 'Configured account name.';
COMMENT ON COLUMN retino.sync_state.stream IS 'What is synced, e.g. tickets.';
COMMENT ON COLUMN retino.sync_state.watermark IS 'Largest updated_at stored; the next run reads from here minus the lookback.';
COMMENT ON COLUMN retino.sync_state.updated_at IS 'When the watermark last moved.';

CREATE TABLE retino.sync_runs (
    id               bigserial PRIMARY KEY,
    account          text NOT NULL,
    full_sync        boolean NOT NULL,
    started_at       timestamptz NOT NULL DEFAULT now(),
    finished_at      timestamptz,
    status           text NOT NULL CHECK (status IN ('running', 'succeeded', 'failed', 'interrupted')),
    pages            int NOT NULL DEFAULT 0,
    requests         int NOT NULL DEFAULT 0,
    tickets_upserted int NOT NULL DEFAULT 0,
    rejects          int NOT NULL DEFAULT 0,
    watermark_before timestamptz,
    watermark_after  timestamptz,
    error            text
);
CREATE INDEX sync_runs_account_started_at ON retino.sync_runs (account, started_at DESC);
COMMENT ON TABLE retino.sync_runs IS 'One row per sync run: outcome, counts and error.';
COMMENT ON COLUMN retino.sync_runs.account IS 'Configured account name.';
COMMENT ON COLUMN retino.sync_runs.full_sync IS 'Whether the run re-read everything (--full) rather than from the watermark.';
COMMENT ON COLUMN retino.sync_runs.started_at IS 'Run start.';
COMMENT ON COLUMN retino.sync_runs.finished_at IS 'Run end; NULL while running.';
COMMENT ON COLUMN retino.sync_runs.status IS 'running, succeeded, failed, or interrupted (the process died mid-run).';
COMMENT ON COLUMN retino.sync_runs.pages IS 'Pages committed.';
COMMENT ON COLUMN retino.sync_runs.requests IS 'HTTP requests sent, retries included.';
COMMENT ON COLUMN retino.sync_runs.tickets_upserted IS 'Tickets inserted or changed (unchanged ones are not counted).';
COMMENT ON COLUMN retino.sync_runs.rejects IS 'Records sent to sync_rejects.';
COMMENT ON COLUMN retino.sync_runs.watermark_before IS 'Watermark when the run started.';
COMMENT ON COLUMN retino.sync_runs.watermark_after IS 'Watermark when the run ended.';
COMMENT ON COLUMN retino.sync_runs.error IS 'Why the run failed.';

CREATE TABLE retino.sync_rejects (
    id          bigserial PRIMARY KEY,
    account     text NOT NULL,
    run_id      bigint REFERENCES retino.sync_runs (id),
    received_at timestamptz NOT NULL DEFAULT now(),
    reason      text NOT NULL,
    payload     jsonb NOT NULL
);
-- A reject re-read by a later run (lookback) is not stored twice.
CREATE UNIQUE INDEX sync_rejects_account_payload ON retino.sync_rejects (account, md5(payload::text));
COMMENT ON TABLE retino.sync_rejects IS 'Records from Retino that did not fit the model, kept whole for inspection.';
COMMENT ON COLUMN retino.sync_rejects.account IS 'Configured account name.';
COMMENT ON COLUMN retino.sync_rejects.run_id IS 'Run that received the record.';
COMMENT ON COLUMN retino.sync_rejects.received_at IS 'When it was received.';
COMMENT ON COLUMN retino.sync_rejects.reason IS 'Which field did not fit, and why.';
COMMENT ON COLUMN retino.sync_rejects.payload IS 'The record exactly as received.';
