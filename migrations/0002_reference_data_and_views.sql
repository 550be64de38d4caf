-- Reference data (what tickets point to by UUID) and the analysts' views.
-- Reference rows are per account, refreshed at every run; an entry that
-- disappears upstream gets removed_at, never a delete, so old tickets still
-- resolve to its last known name.

CREATE TABLE retino.states (
    account    text NOT NULL,
    id         uuid NOT NULL,
    name       jsonb,
    name_text  text,
    raw        jsonb NOT NULL,
    synced_at  timestamptz NOT NULL DEFAULT now(),
    removed_at timestamptz,
    PRIMARY KEY (account, id)
);
COMMENT ON TABLE retino.states IS 'Ticket states of each account (Retino /states).';
COMMENT ON COLUMN retino.states.account IS 'Configured account name.';
COMMENT ON COLUMN retino.states.id IS 'State id, as in tickets.state_id.';
COMMENT ON COLUMN retino.states.name IS 'Localized name: language code -> text.';
COMMENT ON COLUMN retino.states.name_text IS 'Name in the account''s language (api.language), else English, else any.';
COMMENT ON COLUMN retino.states.raw IS 'The record exactly as received.';
COMMENT ON COLUMN retino.states.synced_at IS 'When this row was last written.';
COMMENT ON COLUMN retino.states.removed_at IS 'When the entry disappeared from Retino; NULL while it exists.';

CREATE TABLE retino.ticket_types (LIKE retino.states INCLUDING ALL);
COMMENT ON TABLE retino.ticket_types IS 'Ticket types of each account: return, complaint, ... (Retino /types).';
COMMENT ON COLUMN retino.ticket_types.account IS 'Configured account name.';
COMMENT ON COLUMN retino.ticket_types.id IS 'Type id, as in tickets.type_id.';
COMMENT ON COLUMN retino.ticket_types.name IS 'Localized name: language code -> text.';
COMMENT ON COLUMN retino.ticket_types.name_text IS 'Name in the account''s language (api.language), else English, else any.';
COMMENT ON COLUMN retino.ticket_types.raw IS 'The record exactly as received.';
COMMENT ON COLUMN retino.ticket_types.synced_at IS 'When this row was last written.';
COMMENT ON COLUMN retino.ticket_types.removed_at IS 'When the entry disappeared from Retino; NULL while it exists.';

CREATE TABLE retino.tags (
    account    text NOT NULL,
    id         uuid NOT NULL,
    name       jsonb,
    name_text  text,
    fgcolor    text,
    bgcolor    text,
    raw        jsonb NOT NULL,
    synced_at  timestamptz NOT NULL DEFAULT now(),
    removed_at timestamptz,
    PRIMARY KEY (account, id)
);
COMMENT ON TABLE retino.tags IS 'Tags of each account (Retino /tags).';
COMMENT ON COLUMN retino.tags.account IS 'Configured account name.';
COMMENT ON COLUMN retino.tags.id IS 'Tag id, as in ticket_tags.tag_id.';
COMMENT ON COLUMN retino.tags.name IS 'Localized name: language code -> text.';
COMMENT ON COLUMN retino.tags.name_text IS 'Name in the account''s language (api.language), else English, else any.';
COMMENT ON COLUMN retino.tags.fgcolor IS 'Text colour in Retino''s UI.';
COMMENT ON COLUMN retino.tags.bgcolor IS 'Background colour in Retino''s UI.';
COMMENT ON COLUMN retino.tags.raw IS 'The record exactly as received.';
COMMENT ON COLUMN retino.tags.synced_at IS 'When this row was last written.';
COMMENT ON COLUMN retino.tags.removed_at IS 'When the entry disappeared from Retino; NULL while it exists.';

CREATE TABLE retino.users (
    account          text NOT NULL,
    id               uuid NOT NULL,
    role             text,
    email            text,
    full_name        text,
    phone_number     text,
    last_activity_at timestamptz,
    date_joined      timestamptz,
    raw              jsonb NOT NULL,
    synced_at        timestamptz NOT NULL DEFAULT now(),
    removed_at       timestamptz,
    PRIMARY KEY (account, id)
);
COMMENT ON TABLE retino.users IS 'Agents of each account, who own tickets (Retino /users).';
COMMENT ON COLUMN retino.users.account IS 'Configured account name.';
COMMENT ON COLUMN retino.users.id IS 'User id, as in tickets.owner_id.';
COMMENT ON COLUMN retino.users.role IS 'Role in Retino, e.g. admin.';
COMMENT ON COLUMN retino.users.email IS 'E-mail.';
COMMENT ON COLUMN retino.users.full_name IS 'Full name.';
COMMENT ON COLUMN retino.users.phone_number IS 'Phone number.';
COMMENT ON COLUMN retino.users.last_activity_at IS 'Last activity in Retino.';
COMMENT ON COLUMN retino.users.date_joined IS 'When the user joined the account.';
COMMENT ON COLUMN retino.users.raw IS 'The record exactly as received.';
COMMENT ON COLUMN retino.users.synced_at IS 'When this row was last written.';
COMMENT ON COLUMN retino.users.removed_at IS 'When the user disappeared from Retino; NULL while it exists.';

CREATE TABLE retino.custom_fields (
    account       text NOT NULL,
    id            uuid NOT NULL,
    type          text,
    position      int,
    name          jsonb,
    name_text     text,
    options       jsonb,
    option_labels jsonb,
    raw           jsonb NOT NULL,
    synced_at     timestamptz NOT NULL DEFAULT now(),
    removed_at    timestamptz,
    PRIMARY KEY (account, id)
);
COMMENT ON TABLE retino.custom_fields IS 'Ticket custom field definitions of each account (Retino /custom-fields).';
COMMENT ON COLUMN retino.custom_fields.account IS 'Configured account name.';
COMMENT ON COLUMN retino.custom_fields.id IS 'Field id, as a key of tickets.custom_fields.';
COMMENT ON COLUMN retino.custom_fields.type IS 'Field type, e.g. select, text, date.';
COMMENT ON COLUMN retino.custom_fields.position IS 'Order in Retino''s form.';
COMMENT ON COLUMN retino.custom_fields.name IS 'Localized name: language code -> text.';
COMMENT ON COLUMN retino.custom_fields.name_text IS 'Name in the account''s language (api.language), else English, else any.';
COMMENT ON COLUMN retino.custom_fields.options IS 'Options of a select field as received: [{id, label}].';
COMMENT ON COLUMN retino.custom_fields.option_labels IS 'Option id -> label in the account''s language, for resolving values.';
COMMENT ON COLUMN retino.custom_fields.raw IS 'The record exactly as received.';
COMMENT ON COLUMN retino.custom_fields.synced_at IS 'When this row was last written.';
COMMENT ON COLUMN retino.custom_fields.removed_at IS 'When the field disappeared from Retino; NULL while it exists.';

CREATE TABLE retino.product_custom_fields (LIKE retino.custom_fields INCLUDING ALL);
COMMENT ON TABLE retino.product_custom_fields IS 'Product custom field definitions of each account (Retino /product-custom-fields).';
COMMENT ON COLUMN retino.product_custom_fields.account IS 'Configured account name.';
COMMENT ON COLUMN retino.product_custom_fields.id IS 'Field id, as a key of products.custom_fields.';
COMMENT ON COLUMN retino.product_custom_fields.type IS 'Field type, e.g. select, text, date.';
COMMENT ON COLUMN retino.product_custom_fields.position IS 'Order in Retino''s form.';
COMMENT ON COLUMN retino.product_custom_fields.name IS 'Localized name: language code -> text.';
COMMENT ON COLUMN retino.product_custom_fields.name_text IS 'Name in the account''s language (api.language), else English, else any.';
COMMENT ON COLUMN retino.product_custom_fields.options IS 'Options of a select field as received: [{id, label}].';
COMMENT ON COLUMN retino.product_custom_fields.option_labels IS 'Option id -> label in the account''s language, for resolving values.';
COMMENT ON COLUMN retino.product_custom_fields.raw IS 'The record exactly as received.';
COMMENT ON COLUMN retino.product_custom_fields.synced_at IS 'When this row was last written.';
COMMENT ON COLUMN retino.product_custom_fields.removed_at IS 'When the field disappeared from Retino; NULL while it exists.';

CREATE TABLE retino.refund_accounts (
    account      text NOT NULL,
    id           uuid NOT NULL,
    name         text,
    bank_account text,
    currency     text,
    due_date     int,
    raw          jsonb NOT NULL,
    synced_at    timestamptz NOT NULL DEFAULT now(),
    removed_at   timestamptz,
    PRIMARY KEY (account, id)
);
COMMENT ON TABLE retino.refund_accounts IS 'Bank accounts refunds are paid from (Retino /refund-accounts).';
COMMENT ON COLUMN retino.refund_accounts.account IS 'Configured account name.';
COMMENT ON COLUMN retino.refund_accounts.id IS 'Refund account id.';
COMMENT ON COLUMN retino.refund_accounts.name IS 'Name.';
COMMENT ON COLUMN retino.refund_accounts.bank_account IS 'Bank account number.';
COMMENT ON COLUMN retino.refund_accounts.currency IS 'ISO 4217 currency.';
COMMENT ON COLUMN retino.refund_accounts.due_date IS 'Payment term in days.';
COMMENT ON COLUMN retino.refund_accounts.raw IS 'The record exactly as received.';
COMMENT ON COLUMN retino.refund_accounts.synced_at IS 'When this row was last written.';
COMMENT ON COLUMN retino.refund_accounts.removed_at IS 'When the entry disappeared from Retino; NULL while it exists.';

COMMENT ON COLUMN retino.sync_runs.id IS 'Run id, as in sync_rejects.run_id.';
COMMENT ON COLUMN retino.sync_rejects.id IS 'Reject id.';

-- Readiness asks for each account's last success on every probe.
CREATE INDEX sync_runs_account_last_success ON retino.sync_runs (account, finished_at DESC) WHERE status = 'succeeded';

-- Joins of the views and the documented example queries (measured by
-- benches/queries.rs on 100,000 tickets).
-- A ticket by its number, as people quote it: a scan of every ticket without.
CREATE INDEX tickets_code ON retino.tickets (code);
-- Periods across accounts (created_at >= ..., max(created_at)): the
-- (account, created_at) index serves them only for one account.
CREATE INDEX tickets_created_at ON retino.tickets (created_at);
-- customer_summary's value per customer from the indexes alone (index-only
-- scans); same keys as the indexes they replace, so every other use stays.
DROP INDEX retino.tickets_customer_id;
CREATE INDEX tickets_customer_id ON retino.tickets (customer_id) INCLUDE (id, currency, deleted_at);
DROP INDEX retino.products_ticket_id;
CREATE INDEX products_ticket_id ON retino.products (ticket_id) INCLUDE (price_with_vat, amount);

CREATE INDEX tickets_account_state ON retino.tickets (account, state_id);
CREATE INDEX tickets_account_owner ON retino.tickets (account, owner_id);
CREATE INDEX tickets_open ON retino.tickets (account, created_at) WHERE closed_at IS NULL AND deleted_at IS NULL;

-- Custom field values resolved to names: {"Refund method": "Bank transfer"}.
-- Keys that are not a known field id (Retino also keys by name) stay as
-- they are; values that are not a known option id stay as they are.
CREATE FUNCTION retino.resolve_custom_fields(field_values jsonb, fields jsonb)
RETURNS jsonb LANGUAGE sql STABLE AS $$
    SELECT coalesce(jsonb_object_agg(
               coalesce(fields -> kv.key ->> 'name', kv.key),
               coalesce(fields -> kv.key -> 'labels' -> (kv.value #>> '{}'), kv.value)),
           '{}'::jsonb)
    FROM jsonb_each(CASE WHEN jsonb_typeof(field_values) = 'object' THEN field_values ELSE '{}'::jsonb END) AS kv
$$;
COMMENT ON FUNCTION retino.resolve_custom_fields(jsonb, jsonb) IS
    'Maps custom field ids to names and option ids to labels, given {field_id: {name, labels}}.';

CREATE VIEW retino.ticket_overview AS
SELECT
    t.id,
    t.account,
    t.code,
    CASE WHEN t.closed_at IS NULL THEN 'open' ELSE 'closed' END AS status,
    s.name_text AS state,
    ty.name_text AS type,
    u.full_name AS owner,
    u.email AS owner_email,
    (SELECT array_agg(coalesce(tg.name_text, tt.tag_id::text) ORDER BY coalesce(tg.name_text, tt.tag_id::text))
     FROM retino.ticket_tags tt
     LEFT JOIN retino.tags tg ON tg.account = t.account AND tg.id = tt.tag_id
     WHERE tt.ticket_id = t.id) AS tags,
    t.customer_id,
    t.raw -> 'customer' ->> 'name' AS customer_name,
    t.raw -> 'customer' ->> 'email' AS customer_email,
    t.raw -> 'customer' ->> 'phone' AS customer_phone,
    t.currency,
    t.country,
    t.language,
    t.order_id,
    t.order_date,
    t.created_at,
    t.updated_at,
    t.closed_at,
    coalesce(t.closed_at, now()) - t.created_at AS age,
    t.closed_at - t.created_at AS time_to_close,
    (SELECT count(*) FROM retino.products pr WHERE pr.ticket_id = t.id) AS product_count,
    (SELECT sum(pr.price_with_vat * coalesce(pr.amount, 1)) FROM retino.products pr WHERE pr.ticket_id = t.id) AS claimed_value,
    t.customer_rating,
    t.verification_state,
    t.is_unread,
    retino.resolve_custom_fields(t.custom_fields, cf.fields) AS custom_fields,
    t.deleted_at IS NOT NULL AS is_deleted
FROM retino.tickets t
LEFT JOIN retino.states s ON s.account = t.account AND s.id = t.state_id
LEFT JOIN retino.ticket_types ty ON ty.account = t.account AND ty.id = t.type_id
LEFT JOIN retino.users u ON u.account = t.account AND u.id = t.owner_id
-- One field map per account, not one per ticket; unique per account, so
-- PostgreSQL drops the join from queries that do not read custom_fields.
LEFT JOIN (SELECT f.account,
                  jsonb_object_agg(f.id::text, jsonb_build_object('name', f.name_text, 'labels', f.option_labels)) AS fields
           FROM retino.custom_fields f GROUP BY f.account) cf ON cf.account = t.account;
COMMENT ON VIEW retino.ticket_overview IS 'One row per ticket with state, type, owner, tags and custom fields resolved to names; the starting point for ticket questions.';
COMMENT ON COLUMN retino.ticket_overview.id IS 'Retino ticket id.';
COMMENT ON COLUMN retino.ticket_overview.account IS 'Configured account name.';
COMMENT ON COLUMN retino.ticket_overview.code IS 'Human ticket number.';
COMMENT ON COLUMN retino.ticket_overview.status IS 'open or closed (closed_at set).';
COMMENT ON COLUMN retino.ticket_overview.state IS 'State name (last known name if the state was removed upstream).';
COMMENT ON COLUMN retino.ticket_overview.type IS 'Type name.';
COMMENT ON COLUMN retino.ticket_overview.owner IS 'Assigned agent''s full name.';
COMMENT ON COLUMN retino.ticket_overview.owner_email IS 'Assigned agent''s e-mail.';
COMMENT ON COLUMN retino.ticket_overview.tags IS 'Tag names, sorted.';
COMMENT ON COLUMN retino.ticket_overview.customer_id IS 'Customer (retino.customers, retino.customer_summary).';
COMMENT ON COLUMN retino.ticket_overview.customer_name IS 'Customer name as given on this ticket.';
COMMENT ON COLUMN retino.ticket_overview.customer_email IS 'Customer e-mail as given on this ticket.';
COMMENT ON COLUMN retino.ticket_overview.customer_phone IS 'Customer phone as given on this ticket.';
COMMENT ON COLUMN retino.ticket_overview.currency IS 'ISO 4217 currency of claimed_value.';
COMMENT ON COLUMN retino.ticket_overview.country IS 'ISO 3166 alpha-2 country.';
COMMENT ON COLUMN retino.ticket_overview.language IS 'Ticket language.';
COMMENT ON COLUMN retino.ticket_overview.order_id IS 'E-shop order number.';
COMMENT ON COLUMN retino.ticket_overview.order_date IS 'When the order was placed.';
COMMENT ON COLUMN retino.ticket_overview.created_at IS 'When the ticket was created.';
COMMENT ON COLUMN retino.ticket_overview.updated_at IS 'Last change in Retino.';
COMMENT ON COLUMN retino.ticket_overview.closed_at IS 'When the ticket was closed; NULL while open.';
COMMENT ON COLUMN retino.ticket_overview.age IS 'Time open: until closing, or until now while open.';
COMMENT ON COLUMN retino.ticket_overview.time_to_close IS 'closed_at - created_at; NULL while open.';
COMMENT ON COLUMN retino.ticket_overview.product_count IS 'Number of product lines.';
COMMENT ON COLUMN retino.ticket_overview.claimed_value IS 'Sum of price_with_vat x amount (amount 1 when unknown) over the product lines, in currency; NULL when no line has a price.';
COMMENT ON COLUMN retino.ticket_overview.customer_rating IS 'Customer''s rating after closing.';
COMMENT ON COLUMN retino.ticket_overview.verification_state IS 'Order verification state.';
COMMENT ON COLUMN retino.ticket_overview.is_unread IS 'Unread by agents.';
COMMENT ON COLUMN retino.ticket_overview.custom_fields IS 'Custom fields as {field name: value or option label}.';
COMMENT ON COLUMN retino.ticket_overview.is_deleted IS 'The ticket is gone from Retino (kept here, marked).';

CREATE VIEW retino.product_lines AS
SELECT
    p.id,
    p.ticket_id,
    t.account,
    t.code AS ticket_code,
    CASE WHEN t.closed_at IS NULL THEN 'open' ELSE 'closed' END AS ticket_status,
    s.name_text AS ticket_state,
    ty.name_text AS ticket_type,
    t.customer_id,
    t.currency,
    t.country,
    t.created_at,
    t.closed_at,
    p.position,
    p.name,
    p.manufacturer,
    p.category,
    p.product_id,
    p.variant,
    p.ean,
    p.serial,
    p.amount,
    p.price_with_vat,
    p.price_without_vat,
    p.price_vat,
    p.price_with_vat * coalesce(p.amount, 1) AS line_value,
    retino.resolve_custom_fields(p.custom_fields, pcf.fields) AS custom_fields,
    t.deleted_at IS NOT NULL AS is_deleted
FROM retino.products p
JOIN retino.tickets t ON t.id = p.ticket_id
LEFT JOIN retino.states s ON s.account = t.account AND s.id = t.state_id
LEFT JOIN retino.ticket_types ty ON ty.account = t.account AND ty.id = t.type_id
LEFT JOIN (SELECT f.account,
                  jsonb_object_agg(f.id::text, jsonb_build_object('name', f.name_text, 'labels', f.option_labels)) AS fields
           FROM retino.product_custom_fields f GROUP BY f.account) pcf ON pcf.account = t.account;
COMMENT ON VIEW retino.product_lines IS 'One row per product line with its ticket''s context and prices.';
COMMENT ON COLUMN retino.product_lines.id IS 'Retino id of the product line.';
COMMENT ON COLUMN retino.product_lines.ticket_id IS 'Ticket (retino.ticket_overview).';
COMMENT ON COLUMN retino.product_lines.account IS 'Configured account name.';
COMMENT ON COLUMN retino.product_lines.ticket_code IS 'Human ticket number.';
COMMENT ON COLUMN retino.product_lines.ticket_status IS 'open or closed.';
COMMENT ON COLUMN retino.product_lines.ticket_state IS 'Ticket state name.';
COMMENT ON COLUMN retino.product_lines.ticket_type IS 'Ticket type name.';
COMMENT ON COLUMN retino.product_lines.customer_id IS 'Customer (retino.customer_summary).';
COMMENT ON COLUMN retino.product_lines.currency IS 'ISO 4217 currency of the prices.';
COMMENT ON COLUMN retino.product_lines.country IS 'Ticket country.';
COMMENT ON COLUMN retino.product_lines.created_at IS 'When the ticket was created.';
COMMENT ON COLUMN retino.product_lines.closed_at IS 'When the ticket was closed.';
COMMENT ON COLUMN retino.product_lines.position IS 'Index in the ticket''s product list, from 0.';
COMMENT ON COLUMN retino.product_lines.name IS 'Product name.';
COMMENT ON COLUMN retino.product_lines.manufacturer IS 'Manufacturer.';
COMMENT ON COLUMN retino.product_lines.category IS 'Product category.';
COMMENT ON COLUMN retino.product_lines.product_id IS 'E-shop''s product identifier.';
COMMENT ON COLUMN retino.product_lines.variant IS 'Variant.';
COMMENT ON COLUMN retino.product_lines.ean IS 'EAN barcode.';
COMMENT ON COLUMN retino.product_lines.serial IS 'Serial number.';
COMMENT ON COLUMN retino.product_lines.amount IS 'Quantity claimed.';
COMMENT ON COLUMN retino.product_lines.price_with_vat IS 'Unit price with VAT.';
COMMENT ON COLUMN retino.product_lines.price_without_vat IS 'Unit price without VAT.';
COMMENT ON COLUMN retino.product_lines.price_vat IS 'VAT part of the unit price.';
COMMENT ON COLUMN retino.product_lines.line_value IS 'price_with_vat x amount (amount 1 when unknown).';
COMMENT ON COLUMN retino.product_lines.custom_fields IS 'Product custom fields as {field name: value or option label}.';
COMMENT ON COLUMN retino.product_lines.is_deleted IS 'The ticket is gone from Retino.';

CREATE VIEW retino.customer_summary AS
SELECT
    c.id,
    c.account,
    c.name,
    c.email,
    c.phone,
    count(t.id) AS tickets,
    min(t.created_at) AS first_ticket_at,
    max(t.created_at) AS last_ticket_at,
    (SELECT jsonb_object_agg(coalesce(v.currency, '(none)'), v.total)
     FROM (SELECT tk.currency, sum(pr.price_with_vat * coalesce(pr.amount, 1)) AS total
           FROM retino.tickets tk JOIN retino.products pr ON pr.ticket_id = tk.id
           WHERE tk.customer_id = c.id AND tk.deleted_at IS NULL AND pr.price_with_vat IS NOT NULL
           GROUP BY tk.currency) v) AS claimed_value_by_currency
FROM retino.customers c
LEFT JOIN retino.tickets t ON t.customer_id = c.id AND t.deleted_at IS NULL
GROUP BY c.id;
COMMENT ON VIEW retino.customer_summary IS 'One row per customer with ticket counts, first and last ticket and claimed value.';
COMMENT ON COLUMN retino.customer_summary.id IS 'Customer id (see retino.customers).';
COMMENT ON COLUMN retino.customer_summary.account IS 'Configured account name.';
COMMENT ON COLUMN retino.customer_summary.name IS 'Name from the most recently updated ticket.';
COMMENT ON COLUMN retino.customer_summary.email IS 'Normalized e-mail.';
COMMENT ON COLUMN retino.customer_summary.phone IS 'Phone.';
COMMENT ON COLUMN retino.customer_summary.tickets IS 'Tickets filed (deleted ones not counted).';
COMMENT ON COLUMN retino.customer_summary.first_ticket_at IS 'Creation of the first ticket.';
COMMENT ON COLUMN retino.customer_summary.last_ticket_at IS 'Creation of the latest ticket.';
COMMENT ON COLUMN retino.customer_summary.claimed_value_by_currency IS 'Sum of line values per currency, e.g. {"CZK": 1299.00000000}, "(none)" for tickets without a currency: amounts in different currencies are never added together.';
