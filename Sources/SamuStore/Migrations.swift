import Foundation
import SamuModel

/// One versioned change to samu's tables. Migrations are applied in order, each in its own
/// transaction, and recorded in `schema_migrations`; applying them again changes nothing.
public struct Migration: Sendable {
    public var version: Int
    public var name: String
    public var statements: [String]
}

/// Every migration samu knows, oldest first. Append; never edit one that has shipped.
public enum Migrations {
    public static let all: [Migration] = [
        Migration(
            version: 1, name: "reports, cases, case timeline, outbox, processed events",
            statements: [
                """
                create table processed_events (
                    event_id uuid primary key,
                    topic text not null,
                    partition integer not null,
                    "offset" bigint not null,
                    processed_at timestamptz not null
                )
                """,
                """
                create table reports (
                    report_id uuid primary key,
                    zone text not null,
                    category text not null,
                    reported_at timestamptz not null,
                    received_at timestamptz not null,
                    payload jsonb not null,
                    source_topic text not null,
                    source_partition integer not null,
                    source_offset bigint not null
                )
                """,
                """
                create table cases (
                    case_id uuid primary key,
                    report_id uuid not null unique references reports (report_id),
                    zone text not null,
                    category text not null,
                    status text not null check (status in (
                        'received', 'triaged', 'queued', 'assigned', 'acknowledged', 'on_scene',
                        'resolved', 'closed', 'cancelled', 'escalated', 'reassigned')),
                    opened_at timestamptz not null,
                    updated_at timestamptz not null
                )
                """,
                "create index cases_open_by_zone on cases (zone, opened_at) where status not in ('closed', 'cancelled')",
                """
                create table case_timeline (
                    entry_id bigint generated always as identity primary key,
                    case_id uuid not null references cases (case_id),
                    at timestamptz not null,
                    status text not null,
                    actor text not null,
                    detail jsonb not null default '{}'
                )
                """,
                "create index case_timeline_by_case on case_timeline (case_id, at)",
                """
                create function case_timeline_append_only() returns trigger language plpgsql as $$
                begin
                    raise exception 'case_timeline is append-only (% refused)', tg_op using errcode = '42501';
                end
                $$
                """,
                """
                create trigger case_timeline_append_only before update or delete on case_timeline
                    for each row execute function case_timeline_append_only()
                """,
                """
                create table outbox (
                    outbox_id uuid primary key,
                    topic text not null,
                    key text,
                    payload text not null,
                    created_at timestamptz not null,
                    published_at timestamptz,
                    attempts integer not null default 0,
                    last_error text
                )
                """,
                "create index outbox_unpublished on outbox (created_at) where published_at is null",
            ]),
        Migration(
            version: 2, name: "triage, decisions, assignments, units, shelters, bed ledger, follow-ups",
            statements: [
                """
                alter table cases drop constraint cases_status_check, add constraint cases_status_check check (status in (
                    'received', 'triaged', 'queued', 'assigned', 'acknowledged', 'on_scene', 'transporting',
                    'awaiting_resolution', 'resolved', 'closed', 'cancelled', 'escalated', 'reassigned'))
                """,
                """
                alter table cases
                    add column priority text check (priority in ('P1', 'P2', 'P3', 'P4')),
                    add column bed_type text,
                    add column unit_id text,
                    add column resolution text,
                    add column triage jsonb,
                    add column location_lat double precision,
                    add column location_lon double precision
                """,
                """
                create table decisions (
                    decision_id uuid primary key,
                    case_id uuid not null references cases (case_id),
                    zone text not null,
                    kind text not null check (kind in ('assign', 'reassign', 'queue', 'override')),
                    priority text not null,
                    unit_id text,
                    shelter_id text,
                    bed_type text not null,
                    rules_version text not null,
                    reason text not null,
                    operator_id text,
                    operator_reason text,
                    record jsonb not null,
                    decided_at timestamptz not null
                )
                """,
                "create index decisions_by_case on decisions (case_id, decided_at)",
                """
                create table assignments (
                    case_id uuid not null references cases (case_id),
                    unit_id text not null,
                    decision_id uuid not null references decisions (decision_id),
                    active boolean not null,
                    started_at timestamptz not null,
                    ended_at timestamptz,
                    primary key (case_id, decision_id)
                )
                """,
                // A unit has at most one active assignment: the in-memory rule, enforced again here.
                "create unique index assignments_one_active_per_unit on assignments (unit_id) where active",
                "create unique index assignments_one_active_per_case on assignments (case_id) where active",
                """
                create table units (
                    unit_id text primary key,
                    zone text not null,
                    status text not null,
                    skills text[] not null default '{}',
                    lat double precision not null,
                    lon double precision not null,
                    version bigint not null,
                    case_id uuid,
                    reported_at timestamptz not null
                )
                """,
                """
                create table shelter_beds (
                    shelter_id text not null,
                    zone text not null,
                    bed_type text not null,
                    capacity integer not null check (capacity >= 0),
                    occupied integer not null check (occupied >= 0),
                    held integer not null default 0 check (held >= 0),
                    lat double precision not null,
                    lon double precision not null,
                    version bigint not null,
                    reported_at timestamptz not null,
                    primary key (shelter_id, bed_type),
                    -- samu's holds plus the occupants never exceed the beds (a shelter may report more
                    -- occupants than beds, walk-ins; then samu holds none there).
                    constraint holds_fit_in_beds check (held = 0 or held + occupied <= capacity)
                )
                """,
                """
                create table bed_ledger (
                    entry_id bigint generated always as identity primary key,
                    shelter_id text not null,
                    bed_type text not null,
                    case_id uuid not null,
                    action text not null check (action in ('hold', 'release', 'expire', 'admit')),
                    reason text not null,
                    at timestamptz not null
                )
                """,
                "create index bed_ledger_by_shelter on bed_ledger (shelter_id, bed_type, at)",
                """
                create table follow_ups (
                    case_id uuid primary key references cases (case_id),
                    zone text not null,
                    resolution text not null,
                    created_at timestamptz not null,
                    done_at timestamptz
                )
                """,
            ]),
        Migration(
            version: 3, name: "reference data: regions, zones, labels, SAMU social projects",
            statements: [
                """
                create table ref_regions (
                    code text primary key,
                    official_number integer,
                    name_ar text not null,
                    name_fr text not null,
                    name_en text not null,
                    source text not null,
                    external boolean not null
                )
                """,
                """
                create table ref_zones (
                    code text primary key,
                    region text not null references ref_regions (code),
                    kind text not null,
                    name_ar text not null,
                    name_fr text not null,
                    name_en text not null,
                    source text not null,
                    external boolean not null
                )
                """,
                """
                create table ref_labels (
                    kind text not null,
                    code text not null,
                    parent text,
                    name_ar text not null,
                    name_fr text not null,
                    name_en text not null,
                    source text not null,
                    primary key (kind, code)
                )
                """,
                """
                create table ref_projects (
                    id text primary key,
                    region text,
                    province text,
                    place text,
                    kind text,
                    status text,
                    description_en text,
                    name_ar text,
                    source text not null
                )
                """,
            ]),
        Migration(
            version: 4, name: "dead-letter replays",
            statements: [
                """
                create table dlq_replays (
                    dlq_event_id uuid primary key,
                    target_topic text not null,
                    replayed_at timestamptz not null
                )
                """
            ]),
        Migration(
            version: 5, name: "zone leases (fencing tokens)",
            statements: [
                """
                create table zone_leases (
                    zone text primary key,
                    epoch bigint not null,
                    owner text not null,
                    taken_at timestamptz not null
                )
                """
            ]),
        Migration(
            version: 6, name: "partner feed: pseudonymised records and aggregates, views for partners",
            statements: [
                // Finished cases already projected for partners (no partner data here: only the mark).
                """
                create table partner_projection (
                    case_id uuid primary key references cases (case_id),
                    projected_at timestamptz not null
                )
                """,
                // Days already counted for the aggregates of protected groups, per zone.
                """
                create table partner_days (
                    zone text not null,
                    day date not null,
                    counted_at timestamptz not null,
                    primary key (zone, day)
                )
                """,
                // What partners received, without the case id: the pseudonym is the only link.
                """
                create table partner_records (
                    event_id uuid primary key,
                    partner text not null,
                    province_code text not null,
                    commune_code text,
                    pseudonym text not null,
                    pseudonym_epoch text not null,
                    category text not null,
                    age_band text,
                    outcome text not null,
                    shelter_type text,
                    time_bucket timestamptz not null check (time_bucket = date_trunc('hour', time_bucket)),
                    response_time_band text not null,
                    created_at timestamptz not null
                )
                """,
                "create index partner_records_by_partner on partner_records (partner, time_bucket)",
                """
                create table partner_aggregates (
                    event_id uuid primary key,
                    partner text not null,
                    province_code text not null,
                    commune_code text,
                    day date not null,
                    protected_group text not null,
                    min_cell integer not null check (min_cell >= 3),
                    total integer not null,
                    outcomes jsonb not null,
                    created_at timestamptz not null,
                    check (total >= min_cell)
                )
                """,
                // A partner's database role sees only its own rows. FORCE filters the owner too, so
                // the owner (migrations) and the worker role (`samu roles`) get explicit policies.
                "create function partner_role(partner text) returns name language sql immutable as $$ select ('samu_partner_' || replace(partner, '-', '_'))::name $$",
                "alter table partner_records enable row level security",
                "alter table partner_records force row level security",
                "create policy partner_reads_own on partner_records for select using (partner_role(partner) = current_user)",
                "create policy owner_all on partner_records for all to current_user using (true) with check (true)",
                "alter table partner_aggregates enable row level security",
                "alter table partner_aggregates force row level security",
                "create policy partner_reads_own on partner_aggregates for select using (partner_role(partner) = current_user)",
                "create policy owner_all on partner_aggregates for all to current_user using (true) with check (true)",
                """
                create view partner_outcomes with (security_invoker = true) as
                    select event_id, partner, province_code, commune_code, pseudonym, pseudonym_epoch, category,
                           age_band, outcome, shelter_type, time_bucket, response_time_band
                    from partner_records
                """,
                """
                create view partner_daily_aggregates with (security_invoker = true) as
                    select event_id, partner, province_code, commune_code, day, protected_group, min_cell, total, outcomes
                    from partner_aggregates
                """,
            ]),
        Migration(
            version: 7, name: "one-round-trip batch write (samu_write_batch), HOT updates of cases",
            statements: [
                // A case's status changes several times in its first minutes. With `status` in the
                // open-cases index's predicate every change was a non-HOT update (new entries in
                // every index of the table); a stored flag that changes once, when the case is
                // finished, lets the other changes stay on their page (HOT), with room kept there.
                "alter table cases set (fillfactor = 80)",
                """
                alter table cases add column open boolean not null
                    generated always as (status not in ('resolved', 'cancelled', 'closed')) stored
                """,
                "drop index cases_open_by_zone",
                "create index cases_open_by_zone on cases (zone, opened_at) where open",
                // A zone's rebuild finds each open case's last bed-ledger entry.
                "create index bed_ledger_by_case on bed_ledger (case_id, entry_id)",
                // Everything one batch changed, in one call: the statements of the former
                // multi-statement transaction, in the same order, inside one function, so that a
                // batch costs one round trip and one commit (the call is its own transaction).
                // Refusals have their own SQLSTATEs: SM001 the leases moved (fenced, the zones in
                // DETAIL), SM002 an event of the batch was processed before (the inbox).
                writeBatchV7,
            ]),
        Migration(
            version: 8, name: "console accounts and sessions, intake clients and idempotency keys, board notifications",
            statements: [
                // Dispatch operators and supervisors. `zones` scopes what an account may see and act
                // on (province and prefecture codes); passwords are bcrypt hashes, never the password.
                """
                create table operators (
                    operator_id text primary key check (operator_id ~ '^[a-z0-9][a-z0-9._-]{0,63}$'),
                    display_name text not null,
                    role text not null check (role in ('operator', 'supervisor')),
                    zones text[] not null,
                    password_hash text not null,
                    disabled boolean not null default false,
                    created_at timestamptz not null default now()
                )
                """,
                // Console sessions: only the SHA-256 of the cookie's token is stored.
                """
                create table console_sessions (
                    token_hash bytea primary key,
                    operator_id text not null references operators (operator_id) on delete cascade,
                    csrf_token text not null,
                    created_at timestamptz not null,
                    expires_at timestamptz not null
                )
                """,
                "create index console_sessions_by_expiry on console_sessions (expires_at)",
                // Hotline systems posting reports over HTTP: one token each (its SHA-256 only), a
                // rate, and the zones each may report for.
                """
                create table intake_clients (
                    client_id text primary key check (client_id ~ '^[a-z0-9][a-z0-9._-]{0,63}$'),
                    token_hash bytea not null unique,
                    rate_per_minute integer not null check (rate_per_minute > 0),
                    burst integer not null check (burst > 0),
                    -- The zones the client may report for; null: every zone (a national hotline).
                    zones text[],
                    disabled boolean not null default false,
                    created_at timestamptz not null default now()
                )
                """,
                // Idempotency keys: a retried POST finds its first answer here. `published_at` is
                // null while the first request is still being delivered to the broker.
                """
                create table intake_requests (
                    client_id text not null references intake_clients (client_id),
                    idempotency_key text not null,
                    request_hash bytea not null,
                    report_id uuid not null,
                    zone text not null,
                    -- Which request holds the key: set on insert and on a takeover, so that a
                    -- slow first request cannot release or complete a retry's claim.
                    claim_id uuid not null,
                    created_at timestamptz not null,
                    published_at timestamptz,
                    primary key (client_id, idempotency_key)
                )
                """,
                "create index intake_requests_by_age on intake_requests (created_at)",
                // The board's reads: recent operator commands, and cases closed with no bed.
                "create index case_timeline_commands on case_timeline (at) where status = 'operator_command'",
                "create index cases_no_bed on cases (zone, updated_at) where resolution = 'no_bed_tonight'",
                // The live board: one notification per committed statement that changed what the
                // board shows, on a channel named after the schema (listeners of other schemas
                // in the same database hear nothing). Notifications are sent at commit, and
                // identical ones in one transaction are folded into one.
                """
                create function samu_board_changed() returns trigger language plpgsql as $$
                begin
                    perform pg_notify('samu_board_' || tg_table_schema, '');
                    return null;
                end
                $$
                """,
                """
                create trigger board_cases after insert or update on cases
                    for each statement execute function samu_board_changed()
                """,
                """
                create trigger board_timeline after insert on case_timeline
                    for each statement execute function samu_board_changed()
                """,
                """
                create trigger board_units after insert or update on units
                    for each statement execute function samu_board_changed()
                """,
                """
                create trigger board_beds after insert or update on shelter_beds
                    for each statement execute function samu_board_changed()
                """,
            ]),
        Migration(
            version: 9, name: "inbox payload digests, parked dead letters",
            statements: [
                // The SHA-256 of each processed event's payload (null for events processed before
                // this migration): a second event under the same id is an honest redelivery when
                // the digests match, a producer's bug when they differ.
                "alter table processed_events add column payload_sha256 bytea",
                "drop function samu_write_batch",
                writeBatchV9,
                // Dead letters the broker refused (too large, or the topic refuses the worker):
                // kept here with an alert instead of holding their partition back.
                """
                create table parked_dead_letters (
                    dead_letter_id uuid primary key,
                    source_topic text not null,
                    source_partition integer not null,
                    source_offset bigint not null,
                    reason text not null,
                    dead_letter jsonb not null,
                    error text not null,
                    parked_at timestamptz not null default now()
                )
                """,
            ]),
        Migration(
            version: 10, name: "personal data through a logged door, partner views only, fixed search paths",
            statements: [
                // What the console shows of a report without its personal data (notes, reporter,
                // the place's description): the board and the night report read this view.
                """
                create view report_facts as
                    select report_id, zone, category, reported_at, received_at from reports
                """,
                // Every read of a case's personal data by a person: who, when, which case.
                """
                create table personal_data_reads (
                    read_id bigint generated always as identity primary key,
                    case_id uuid not null,
                    operator_id text not null,
                    read_at timestamptz not null default now()
                )
                """,
                "create index personal_data_reads_by_case on personal_data_reads (case_id, read_at)",
                // The one door to a report's personal data: for an operator of the case's zone
                // only, and each read logged. Definer rights (the console role cannot read
                // `reports` itself); null when the operator may not see the case.
                """
                create function samu_read_personal_data(p_case uuid, p_operator text) returns jsonb
                language plpgsql security definer as $$
                declare
                    found jsonb;
                begin
                    select jsonb_strip_nulls(jsonb_build_object(
                               'notes', r.payload->'notes', 'reporter', r.payload->'reporter',
                               'place', r.payload->'location'->'description', 'language', r.payload->'language',
                               'channel', r.payload->'channel'))
                    into found
                    from cases c join reports r on r.report_id = c.report_id
                    join operators o on o.operator_id = p_operator and not o.disabled
                    where c.case_id = p_case and c.zone = any(o.zones);
                    if found is null then
                        return null;
                    end if;
                    insert into personal_data_reads (case_id, operator_id) values (p_case, p_operator);
                    return found;
                end
                $$
                """,
                "revoke execute on function samu_read_personal_data(uuid, text) from public",
                // Partners read views only: their own rows (the filter is in the view, which runs
                // with its owner's rights), never `created_at` (the publication time to the
                // microsecond) nor the base tables.
                "drop view partner_outcomes",
                "drop view partner_daily_aggregates",
                // Records generalised for k-anonymity: a time bucket of 1, 6 or 24 hours, and
                // fields left out at the coarsest level.
                "alter table partner_records add column bucket_hours integer not null default 1 check (bucket_hours in (1, 6, 24))",
                "alter table partner_records alter column response_time_band drop not null",
                // The broker timestamp of a row whose publication time must not show (partner
                // records carry the start of their time bucket).
                "alter table outbox add column record_time timestamptz",
                // Rows the broker refuses for good (too large): kept, with an alert, and no longer
                // swept, so they hold nothing back.
                "alter table outbox add column parked_at timestamptz",
                """
                create view partner_outcomes as
                    select event_id, partner, province_code, commune_code, pseudonym, pseudonym_epoch, category,
                           age_band, outcome, shelter_type, time_bucket, bucket_hours, response_time_band
                    from partner_records where partner_role(partner) = current_user
                """,
                """
                create view partner_daily_aggregates as
                    select event_id, partner, province_code, commune_code, day, protected_group, min_cell, total, outcomes
                    from partner_aggregates where partner_role(partner) = current_user
                """,
                // Functions used by policies, views or with definer rights resolve names in samu's
                // schema only (pg_temp last): no role can shadow a table or operator they use.
                pinSearchPaths,
            ]),
        Migration(
            version: 11, name: "outbox commit order",
            statements: [
                // The order rows were committed in (a batch's rows in the order it built them):
                // republishing follows it, so a case's outcomes keep their order whatever the clock.
                "alter table outbox add column seq bigint generated always as identity",
                "create index outbox_unpublished_seq on outbox (seq) where published_at is null",
            ]),
        Migration(
            version: 12, name: "case statuses and bed-ledger actions checked against the code's enums",
            statements: [
                """
                alter table cases drop constraint cases_status_check,
                    add constraint cases_status_check \(oneOf(CaseStatus.self, column: "status"))
                """,
                """
                alter table bed_ledger drop constraint bed_ledger_action_check,
                    add constraint bed_ledger_action_check \(oneOf(BedLedgerAction.self, column: "action"))
                """,
            ]),
        Migration(
            version: 13, name: "the statistics office's codes, Arabic names, census and communes",
            statements: [
                // HCP's code, its Arabic spelling (name_ar) beside the form printed in the sources,
                // and the 2024 census (seeds/ via ops/data/hcp.py).
                """
                alter table ref_regions add column hcp_code text unique, add column name_ar_in_source text,
                    add column population_2024 int8 check (population_2024 >= 0),
                    add column households_2024 int8 check (households_2024 >= 0)
                """,
                """
                alter table ref_zones add column hcp_code text unique, add column name_ar_in_source text,
                    add column population_2024 int8 check (population_2024 >= 0),
                    add column households_2024 int8 check (households_2024 >= 0)
                """,
                """
                create table ref_communes (
                    hcp_code text primary key,
                    slug text not null,
                    name_fr text not null,
                    name_ar text not null,
                    kind text not null,
                    zone text not null references ref_zones (code),
                    population_2024 int8 not null check (population_2024 >= 0),
                    households_2024 int8 not null check (households_2024 >= 0)
                )
                """,
                "create index ref_communes_zone on ref_communes (zone)",
            ]),
        Migration(
            version: 14, name: "follow-ups are tasks: kind, due time, assignee, done",
            statements: [
                """
                alter table follow_ups add column kind text not null default 'follow_up'
                        \(oneOf(FollowUpTask.Kind.self, column: "kind")),
                    add column due_at timestamptz, add column assignee text, add column done_by text,
                    add column note text check (length(note) <= 2000)
                """,
                // Tasks left before this migration: re-visits for help refused or a person not
                // found, due a day after the case ended.
                """
                update follow_ups set kind = case when resolution in ('help_refused', 'person_not_found')
                    then 'revisit' else 'follow_up' end, due_at = created_at + interval '1 day'
                """,
                "alter table follow_ups alter column due_at set not null, alter column kind drop default",
                "create index follow_ups_open on follow_ups (zone, due_at) where done_at is null",
                // The console's board lists open tasks: a task taken or done changes it.
                """
                create trigger board_follow_ups after insert or update on follow_ups
                    for each statement execute function samu_board_changed()
                """,
                // A child's case opens a referral to the body that decides: its deadline for an
                // acknowledgement, then the body's decision (docs/processes.md).
                """
                create table referrals (
                    case_id uuid primary key references cases (case_id),
                    zone text not null,
                    destination text not null \(oneOf(ReferralDestination.self, column: "destination")),
                    rule text not null,
                    opened_at timestamptz not null,
                    due_at timestamptz not null,
                    status text not null default 'open' \(oneOf(ReferralStatus.self, column: "status")),
                    acknowledged_at timestamptz,
                    acknowledged_by text,
                    decided_at timestamptz,
                    decided_by text,
                    decision text \(oneOf(ReferralDecision.self, column: "decision")),
                    note text check (length(note) <= 2000),
                    check ((status = 'decided') = (decision is not null))
                )
                """,
                "create index referrals_pending on referrals (zone, due_at) where status <> 'decided'",
                """
                create trigger board_referrals after insert or update on referrals
                    for each statement execute function samu_board_changed()
                """,
                """
                alter table operators drop constraint operators_role_check,
                    add constraint operators_role_check \(oneOf(OperatorAccount.Role.self, column: "role"))
                """,
                "drop function samu_write_batch",
                writeBatchV14,
                pinSearchPaths,
            ]),
        Migration(
            version: 15, name: "shelters that fit the person: profiles, one bed per person, declines",
            statements: [
                // One ledger entry holds, releases or admits the beds of a case at a shelter: one
                // per person (a family of three holds three).
                "alter table bed_ledger add column beds int4 not null default 1 check (beds between 1 and 50)",
                // Who a shelter takes in, as its newest report says (samu.beds.v1 version 2).
                """
                create table shelter_profiles (
                    shelter_id text primary key,
                    zone text not null,
                    profile jsonb not null check (jsonb_typeof(profile) = 'object'),
                    version int8 not null,
                    updated_at timestamptz not null
                )
                """,
                // Mutual aid between dispatch areas: each side's state of an exchange, written by
                // that side's worker only (its area's lease fences it), read back on a takeover.
                """
                create table aid_exchanges (
                    request_id uuid not null,
                    side text not null \(oneOf(AidExchange.Side.self, column: "side")),
                    area text not null,
                    peer_area text not null,
                    case_id uuid not null,
                    unit_id text,
                    status text not null \(oneOf(AidExchange.Status.self, column: "status")),
                    updated_at timestamptz not null,
                    primary key (request_id, side)
                )
                """,
                "create index aid_exchanges_open on aid_exchanges (area) where status <> 'ended'",
                // The dispatch area whose worker wrote an outbox row: its lease holder publishes it
                // (outcomes are keyed by the case's zone, mutual-aid messages by their recipient).
                "alter table outbox add column area text",
                "drop function samu_write_batch",
                writeBatchV15,
                pinSearchPaths,
            ]),
        Migration(
            version: 16, name: "re-visits that come back and count refusals; late referrals escalated",
            statements: [
                // A re-visit that finds the person refusing again (or not at all) comes back the
                // next night: how many visits were made, how many times help was refused (the
                // case's own refusal included).
                """
                alter table follow_ups
                    add column visits int4 not null default 0 check (visits >= 0),
                    add column refusals int4 not null default 0 check (refusals >= 0)
                """,
                "update follow_ups set refusals = 1 where resolution = 'help_refused'",
                // When an unacknowledged referral was escalated to the zone's supervisors.
                "alter table referrals add column escalated_at timestamptz",
                "drop function samu_write_batch",
                writeBatchV16,
                pinSearchPaths,
            ]),
        Migration(
            version: 17, name: "crews' devices and shelters' accounts at the door",
            statements: [
                // A supervisor's one-time code for enrolling a unit's device (only its digest).
                """
                create table crew_enrolments (
                    code_hash bytea primary key,
                    unit_id text not null,
                    zone text not null,
                    created_by text not null,
                    created_at timestamptz not null,
                    expires_at timestamptz not null,
                    used_at timestamptz
                )
                """,
                // An enrolled device: its credential (a digest) is scoped to one unit, revocable.
                """
                create table crew_devices (
                    device_id text primary key,
                    token_hash bytea not null unique,
                    unit_id text not null,
                    zone text not null,
                    enrolled_by text not null,
                    enrolled_at timestamptz not null,
                    last_seen_at timestamptz,
                    revoked_at timestamptz,
                    revoked_by text
                )
                """,
                "create index crew_devices_by_unit on crew_devices (unit_id)",
                // The crews' actions the console accepted, by the id the device made (a resent
                // action is answered as before, never sent twice).
                """
                create table crew_actions (
                    event_id uuid primary key,
                    device_id text not null,
                    unit_id text not null,
                    action text not null,
                    case_id uuid,
                    accepted_at timestamptz not null
                )
                """,
                // Shelter accounts keep the shelters listed here (a network keeps several).
                "alter table operators add column shelters text[] not null default '{}'",
                """
                alter table operators drop constraint operators_role_check,
                    add constraint operators_role_check \(oneOf(OperatorAccount.Role.self, column: "role"))
                """,
                // What the crew assigned to a case may read of its report: the place as the
                // caller described it, the notes and the language; only while its unit has the
                // case, and each read logged under the device.
                """
                create function samu_read_crew_case(p_case uuid, p_device text) returns jsonb
                language plpgsql security definer as $$
                declare
                    found jsonb;
                begin
                    select jsonb_strip_nulls(jsonb_build_object(
                               'place', r.payload->'location'->'description', 'commune', r.payload->'location'->'commune',
                               'notes', r.payload->'notes', 'language', r.payload->'language',
                               'person', r.payload->'person', 'factors', r.payload->'factors'))
                    into found
                    from crew_devices d
                    join cases c on c.case_id = p_case and c.unit_id = d.unit_id and c.open
                    join reports r on r.report_id = c.report_id
                    where d.device_id = p_device and d.revoked_at is null;
                    if found is null then
                        return null;
                    end if;
                    insert into personal_data_reads (case_id, operator_id) values (p_case, 'device:' || p_device);
                    return found;
                end
                $$
                """,
                "revoke execute on function samu_read_crew_case(uuid, text) from public",
                pinSearchPaths,
            ]),
        Migration(
            version: 18, name: "the report as told, to the operators of its zone",
            statements: [
                // The operator's door to a report now gives it whole, as the caller told it (the
                // person, the factors, the commune, when), still one logged read at a time, and
                // never to a shelter's account.
                """
                create or replace function samu_read_personal_data(p_case uuid, p_operator text) returns jsonb
                language plpgsql security definer as $$
                declare
                    found jsonb;
                begin
                    select jsonb_strip_nulls(jsonb_build_object(
                               'notes', r.payload->'notes', 'reporter', r.payload->'reporter',
                               'place', r.payload->'location'->'description', 'language', r.payload->'language',
                               'channel', r.payload->'channel', 'commune', r.payload->'location'->'commune',
                               'person', r.payload->'person', 'factors', r.payload->'factors',
                               'reported_at', r.payload->'reported_at'))
                    into found
                    from cases c join reports r on r.report_id = c.report_id
                    join operators o on o.operator_id = p_operator and not o.disabled and o.role <> 'shelter'
                    where c.case_id = p_case and c.zone = any(o.zones);
                    if found is null then
                        return null;
                    end if;
                    insert into personal_data_reads (case_id, operator_id) values (p_case, p_operator);
                    return found;
                end
                $$
                """,
                pinSearchPaths,
            ]),
        Migration(
            version: 19, name: "law 09-08: personal data of closed cases removed after their retention",
            statements: [
                // What was done to personal data, by whom and when (a purge, an export, an erasure).
                """
                create table privacy_log (
                    entry_id bigint generated always as identity primary key,
                    action text not null,
                    cases integer not null,
                    detail jsonb not null default '{}',
                    done_by text not null,
                    done_at timestamptz not null default now()
                )
                """,
                "alter table reports add column purged_at timestamptz",
                // The timeline stays append-only, except for the purge's removal of free text
                // (the purge sets samu.purging for its own transaction only).
                """
                create or replace function case_timeline_append_only() returns trigger language plpgsql as $$
                begin
                    if tg_op = 'UPDATE' and current_setting('samu.purging', true) = 'on'
                        and new.case_id = old.case_id and new.at = old.at and new.status = old.status
                        and new.actor = old.actor then
                        return new;
                    end if;
                    raise exception 'case_timeline is append-only (% refused)', tg_op using errcode = '42501';
                end
                $$
                """,
                // Closed cases last changed before `p_before` keep what is counted (zone, category,
                // priority, times, resolution, the person's count, sex and age band) and lose what
                // identifies or describes the person: the notes, the reporter and callback number,
                // the place as described, the exact age, the position (kept to about 1 km), and the
                // free text of operators, crews and social workers about the case.
                """
                create function samu_purge_personal_data(p_before timestamptz, p_by text) returns integer
                language plpgsql as $$
                declare
                    purged integer;
                begin
                    perform set_config('samu.purging', 'on', true);
                    create temporary table purge_cases on commit drop as
                        select c.case_id, c.report_id from cases c join reports r using (report_id)
                        where not c.open and c.updated_at < p_before and r.purged_at is null;
                    update reports r set purged_at = now(),
                        payload = jsonb_strip_nulls((r.payload - 'notes' - 'reporter')
                            #- '{location,description}' #- '{location,landmark}'
                            || jsonb_build_object(
                                'location', (r.payload->'location') - 'description' - 'landmark'
                                    || jsonb_build_object(
                                        'lat', round((r.payload->'location'->>'lat')::numeric, 2),
                                        'lon', round((r.payload->'location'->>'lon')::numeric, 2)),
                                'person', (r.payload->'person') - 'age' || jsonb_build_object('age_band',
                                    case when (r.payload->'person'->>'age') is null then null
                                         when (r.payload->'person'->>'age')::int < 18 then 'minor'
                                         when (r.payload->'person'->>'age')::int < 60 then 'adult'
                                         else 'elderly' end)))
                    from purge_cases p where r.report_id = p.report_id;
                    get diagnostics purged = row_count;
                    update cases c set location_lat = round(c.location_lat::numeric, 2),
                        location_lon = round(c.location_lon::numeric, 2)
                    from purge_cases p where c.case_id = p.case_id;
                    -- Free text: notes and reasons, the crew's note and an operator's reason in a
                    -- status's wording ("closed by … as …: reason").
                    update case_timeline t set detail = ((t.detail - 'note') - 'reason')
                        || (case when t.detail ? 'detail' then jsonb_build_object('detail',
                               regexp_replace(regexp_replace(t.detail->>'detail', ' \\(crew''s note: .*\\)$', ''),
                                   '^((closed by \\S+ as \\S+)|(cancelled by \\S+)): .*$', '\\1'))
                            else '{}'::jsonb end)
                    from purge_cases p where t.case_id = p.case_id;
                    update decisions d set operator_reason = null from purge_cases p
                        where d.case_id = p.case_id and d.operator_reason is not null;
                    update follow_ups f set note = null from purge_cases p where f.case_id = p.case_id;
                    update referrals x set note = null from purge_cases p where x.case_id = p.case_id;
                    perform set_config('samu.purging', 'off', true);
                    insert into privacy_log (action, cases, detail, done_by)
                        values ('purge', purged, jsonb_build_object('closed_before', p_before), p_by);
                    return purged;
                end
                $$
                """,
                "revoke execute on function samu_purge_personal_data(timestamptz, text) from public",
                pinSearchPaths,
            ]),
        Migration(
            version: 20, name: "several calls about one person in one case; priority overrides",
            statements: [
                // A call linked to an open case (another call about the same person) is stored
                // with that case and opens none.
                "alter table reports add column linked_case_id uuid references cases (case_id)",
                "create index reports_linked_case on reports (linked_case_id) where linked_case_id is not null",
                // The console's call-taker form posts through the intake's idempotency keys under
                // this client (no token: disabled for bearer requests; the key is the report's id).
                """
                insert into intake_clients (client_id, token_hash, rate_per_minute, burst, zones, disabled)
                values ('console', sha256(convert_to(gen_random_uuid()::text || clock_timestamp()::text, 'UTF8')),
                        1, 1, '{}', true)
                on conflict (client_id) do nothing
                """,
                "drop function samu_write_batch",
                writeBatchV17,
                // What the purge keeps of a report: the counted fields, not the person's words.
                minimisedReportV20,
                // What identifies or describes the person in these cases, removed; what is counted,
                // kept (migration 19's purge, now shared with a person's erasure, with the cases'
                // linked calls too). Returns how many cases' reports were minimised.
                minimiseCasesV20,
                """
                create or replace function samu_purge_personal_data(p_before timestamptz, p_by text) returns integer
                language plpgsql as $$
                declare
                    purged integer;
                begin
                    select samu_minimise_cases(coalesce(array_agg(c.case_id), '{}')) into purged
                    from cases c join reports r using (report_id)
                    where not c.open and c.updated_at < p_before and r.purged_at is null;
                    insert into privacy_log (action, cases, detail, done_by)
                        values ('purge', purged, jsonb_build_object('closed_before', p_before), p_by);
                    return purged;
                end
                $$
                """,
                // A person the service meets again and again, under an alias it chooses (never an
                // identity document's number), and the cases linked to them.
                """
                create table persons (
                    person_id uuid primary key,
                    alias text not null check (alias ~ '^[A-Za-zÀ-ÿ]+ [0-9]{1,4}$'),
                    created_by text not null,
                    created_at timestamptz not null default now(),
                    erased_at timestamptz
                )
                """,
                """
                create table case_persons (
                    case_id uuid primary key references cases (case_id),
                    person_id uuid not null references persons (person_id),
                    linked_by text not null,
                    linked_at timestamptz not null default now()
                )
                """,
                "create unique index persons_alias on persons (alias) where erased_at is null",
                "create index case_persons_by_person on case_persons (person_id)",
                // A person's erasure (law 09-08's right to erasure): every linked case minimised,
                // the links and the alias removed, logged. Refused while one of the cases is open.
                """
                create function samu_erase_person(p_person uuid, p_by text, p_reason text) returns integer
                language plpgsql security definer as $$
                declare
                    linked uuid[];
                    erased integer;
                begin
                    select coalesce(array_agg(case_id), '{}') into linked from case_persons where person_id = p_person;
                    if exists (select 1 from cases where case_id = any(linked) and open) then
                        raise exception 'the person has an open case' using errcode = 'SM003';
                    end if;
                    erased := samu_minimise_cases(linked);
                    delete from case_persons where person_id = p_person;
                    update persons set erased_at = now(), alias = 'Effacé 0' where person_id = p_person;
                    insert into privacy_log (action, cases, detail, done_by)
                        values ('erase', cardinality(linked),
                                jsonb_build_object('person_id', p_person, 'reason', p_reason, 'reports', erased), p_by);
                    return cardinality(linked);
                end
                $$
                """,
                // A person's data on request (law 09-08's right of access): every case of theirs in
                // the supervisor's zones, with the calls as told, the timeline, the follow-up and
                // the referral. Logged.
                exportPersonV20,
                "revoke execute on function samu_minimise_cases(uuid[]) from public",
                "revoke execute on function samu_erase_person(uuid, text, text) from public",
                "revoke execute on function samu_export_person(uuid, text) from public",
                // The operator's door to a case's calls: the first as before, and every call linked
                // to it (`calls`), still one logged read at a time.
                readPersonalData(readers: "c.zone = any(o.zones)"),
                """
                create function samu_report_as_told(p jsonb) returns jsonb language sql immutable as $$
                    select jsonb_strip_nulls(jsonb_build_object(
                        'notes', p->'notes', 'reporter', p->'reporter', 'place', p->'location'->'description',
                        'language', p->'language', 'channel', p->'channel', 'commune', p->'location'->'commune',
                        'person', p->'person', 'factors', p->'factors', 'reported_at', p->'reported_at',
                        'category', p->'category'))
                $$
                """,
                pinSearchPaths,
            ]),
        Migration(
            version: 21, name: "one index for the outbox's unpublished rows",
            statements: [
                // Both queries for unpublished rows read them in commit order (`seq`), which
                // `outbox_unpublished_seq` serves; this one only cost every outbox row an index entry.
                "drop index outbox_unpublished"
            ]),
        Migration(
            version: 22, name: "a crew action claimed with its event before it is sent",
            statements: [
                // The unit event as first built: a resend, or a request racing it, publishes these
                // same bytes (the worker applies an event id once and takes the same bytes as a
                // redelivery), never a second version of the action. `sent` is false until the
                // broker took it.
                "alter table crew_actions add column event bytea",
                "alter table crew_actions add column sent boolean not null default true",
            ]),
        Migration(
            version: 23, name: "a report's id under one idempotency key",
            statements: [
                // A report id sent under a second key (with another body) was accepted, then parked
                // by the worker as a conflicting duplicate. Rows live seven days; a later duplicate
                // from before this migration gives way to the first.
                """
                delete from intake_requests later using intake_requests first
                where later.report_id = first.report_id
                  and (first.created_at, first.client_id, first.idempotency_key)
                    < (later.created_at, later.client_id, later.idempotency_key)
                """,
                "create unique index intake_requests_by_report on intake_requests (report_id)",
            ]),
        Migration(
            version: 24, name: "the shelter page's last report, until the worker stores it",
            statements: [
                // Changes from the page are absolute counts. Made on the stored counts, two changes
                // a moment apart (two people admitted together) would each start from the same
                // counts and the second would undo the first: the page's last report, and the people
                // admitted or declined in it, are the base until the worker stores a newer version.
                """
                create table shelter_page_reports (
                    shelter_id text primary key,
                    version bigint not null default 0,
                    beds jsonb not null default '{}',
                    cases uuid[] not null default '{}'
                )
                """
            ]),
        Migration(
            version: 25, name: "a child-protection body reads the personal data of the children referred to it only",
            statements: [
                // Law 09-08's minimisation: a child-protection account works on the referrals of its
                // provinces. The notes and callers of adults' cases (women fleeing violence among
                // them) are not its business; it still sees the board, without personal data.
                readPersonalData(
                    readers: """
                        c.zone = any(o.zones)
                                  and (o.role <> 'child_protection'
                                       or exists (select 1 from referrals f where f.case_id = c.case_id))
                        """),
                pinSearchPaths,
            ]),
        Migration(
            version: 26, name: "an operator's command claimed with its event before it is sent",
            statements: [
                // The console's command under the id its page made: a second click, or a retry
                // after a lost answer, sends these bytes again at most, never a second command (a
                // visit counted twice, a refusal counted twice). Kept a week, like intake keys.
                """
                create table console_commands (
                    event_id uuid primary key,
                    operator_id text not null,
                    case_id uuid not null,
                    event bytea not null,
                    sent boolean not null default false,
                    created_at timestamptz not null default now()
                )
                """,
                "create index console_commands_by_age on console_commands (created_at)",
            ]),
        Migration(
            version: 27, name: "versions beyond what the schemas accept brought back to now",
            statements: versionsBroughtBack),
        Migration(
            version: 28, name: "a shelter page's change claimed under the id its page made",
            statements: [
                // A tap whose answer was lost (a shelter's patchy Wi-Fi) is sent again by the page
                // under the same id: the claimed event is sent again at most, never a second tap
                // added to the counts. Kept a week, like the console's command ids.
                """
                create table shelter_changes (
                    event_id uuid primary key,
                    operator_id text not null,
                    shelter_id text not null,
                    version bigint not null,
                    event bytea not null,
                    sent boolean not null default false,
                    created_at timestamptz not null default now()
                )
                """,
                "create index shelter_changes_by_age on shelter_changes (created_at)",
            ]),
        Migration(
            version: 29,
            name: "the purge reads ages written as decimals, and removes the exact age and reasons kept elsewhere",
            statements: [
                // An age written `45.0` (valid: a whole number) stopped `::int`, and with it the
                // whole purge, every day, and that person's erasure.
                minimisedReportV29,
                minimiseCasesV29,
                // The purge also drops what outlived its use and carries the same words: outbox
                // rows published before the period (the broker's topics keep 30 days at most; a
                // republish after a lost log needs days, not months) and dead letters parked before
                // it (the raw events samu refused, callback numbers included).
                """
                create or replace function samu_purge_personal_data(p_before timestamptz, p_by text) returns integer
                language plpgsql as $$
                declare
                    purged integer;
                    outbox_rows integer;
                    parked integer;
                begin
                    select samu_minimise_cases(coalesce(array_agg(c.case_id), '{}')) into purged
                    from cases c join reports r using (report_id)
                    where not c.open and c.updated_at < p_before and r.purged_at is null;
                    delete from outbox where published_at < p_before;
                    get diagnostics outbox_rows = row_count;
                    delete from parked_dead_letters where parked_at < p_before;
                    get diagnostics parked = row_count;
                    insert into privacy_log (action, cases, detail, done_by)
                        values ('purge', purged, jsonb_build_object('closed_before', p_before,
                                'outbox_rows', outbox_rows, 'parked_dead_letters', parked), p_by);
                    return purged;
                end
                $$
                """,
                pinSearchPaths,
            ]),
        Migration(
            version: 30, name: "a partner's views filter its own rows before anything the partner asks",
            statements: [
                // The views run with their owner's rights and filter on the reader's role. Without a
                // barrier the planner may run a partner's own condition first, on every partner's
                // rows: a cast that fails (`pseudonym::int`) prints another partner's value, a
                // division by zero answers yes or no about it.
                "alter view partner_outcomes set (security_barrier = true)",
                "alter view partner_daily_aggregates set (security_barrier = true)",
            ]),
        Migration(
            version: 31,
            name: "a person's export leaves out who called, logs each case read, and says what it left out",
            statements: [
                // The person's right of access is to their data: the caller's name and number are a
                // third party's (someone who reported a woman fleeing violence, a neighbour). Each
                // case exported is a read of its personal data, in `personal_data_reads` and the log
                // with its id (unlinking the case afterwards must not hide the read); cases in zones
                // the supervisor does not cover are counted, not silently missing.
                exportPersonV31,
                pinSearchPaths,
            ]),
    ]

    /// The unit and shelter versions a producer set beyond 2^53 − 1 before the schemas bounded them:
    /// no later event could be newer (the schemas refuse more), so the unit or shelter would never
    /// change again. They become the present, in milliseconds, the versions samu itself writes.
    static let versionsBroughtBack = ["units", "shelter_beds", "shelter_page_reports"].map { table in
        """
        update \(table) set version = (extract(epoch from clock_timestamp()) * 1000)::bigint
        where version > 9007199254740991
        """
    }

    /// `check (column in ('a', 'b', …))` over every case of a string enum: a table's constraint
    /// generated from the type the code writes.
    static func oneOf<Value: CaseIterable & RawRepresentable>(_ type: Value.Type, column: String) -> String
    where Value.RawValue == String {
        "check (\(column) in (\(type.allCases.map { "'\($0.rawValue)'" }.joined(separator: ", "))))"
    }

    public static var latestVersion: Int { all.map(\.version).max() ?? 0 }

    /// `samu_read_personal_data`, the one door to a case's calls as told (the first, and every call
    /// linked to it), one logged read at a time, for the accounts of the case's zone that `readers`
    /// (a condition on the case `c` and the account `o`) lets in; never a shelter's.
    static func readPersonalData(readers: String) -> String {
        """
        create or replace function samu_read_personal_data(p_case uuid, p_operator text) returns jsonb
        language plpgsql security definer as $$
        declare
            found jsonb;
        begin
            select jsonb_strip_nulls(samu_report_as_told(r.payload) || jsonb_build_object('calls', (
                       select jsonb_agg(samu_report_as_told(l.payload)
                                        || jsonb_build_object('report_id', l.report_id)
                                        order by l.reported_at, l.report_id)
                       from reports l where l.linked_case_id = c.case_id)))
            into found
            from cases c join reports r on r.report_id = c.report_id
            join operators o on o.operator_id = p_operator and not o.disabled and o.role <> 'shelter'
            where c.case_id = p_case and \(readers);
            if found is null then
                return null;
            end if;
            insert into personal_data_reads (case_id, operator_id) values (p_case, p_operator);
            return found;
        end
        $$
        """
    }

    /// Every function of samu's schema resolves names in it alone, pg_temp last (migration 10, and
    /// again after a migration that recreates a function).
    static let pinSearchPaths = """
        do $$
        declare
            f record;
        begin
            for f in select p.oid::regprocedure as signature from pg_proc p
                     where p.pronamespace = current_schema()::regnamespace loop
                execute format('alter function %s set search_path = %I, pg_temp', f.signature, current_schema());
            end loop;
        end
        $$
        """

    /// `samu_write_batch` as migration 7 created it (`SQL/samu_write_batch.v7.sql`, kept verbatim:
    /// migrations never change).
    static let writeBatchV7 = sql("samu_write_batch.v7")

    /// Migration 9's `samu_write_batch` (`SQL/samu_write_batch.v9.sql`): version 7's with each
    /// processed event's payload digest (`p_digests`, hexadecimal SHA-256), stored in the inbox so
    /// that an event id reused for another payload is told from an honest redelivery.
    /// `diff SQL/samu_write_batch.v7.sql SQL/samu_write_batch.v9.sql` shows the change.
    static let writeBatchV9 = sql("samu_write_batch.v9")

    /// Migration 14's (`SQL/samu_write_batch.v14.sql`): version 9's with each follow-up's kind and
    /// due time (`f_kinds`, `f_due`) and case work (`w_*`: social-path steps, follow-ups taken and
    /// done).
    static let writeBatchV14 = sql("samu_write_batch.v14")

    /// Migration 15's (`SQL/samu_write_batch.v15.sql`): version 14's with the beds of each ledger
    /// entry (`g_beds`) and shelters' profiles (`h_rows`).
    static let writeBatchV15 = sql("samu_write_batch.v15")

    /// Migration 16's (`SQL/samu_write_batch.v16.sql`): version 15's with a follow-up's visits
    /// (`follow_up_visit`: the task comes back the next night, refusals counted) and late referrals
    /// (`referral_late`: the timeline entry and `referrals.escalated_at`).
    static let writeBatchV16 = sql("samu_write_batch.v16")

    /// Migration 20's (`SQL/samu_write_batch.v17.sql`): version 16's with calls linked to an open
    /// case (`report_linked`: the report stored with the case) and priority overrides
    /// (`priority_changed`: `cases.priority` and the stored triage).
    static let writeBatchV17 = sql("samu_write_batch.v17")

    /// `samu_export_person` as migration 20 created it (migrations never change).
    static let exportPersonV20 = """
        create function samu_export_person(p_person uuid, p_operator text) returns jsonb
        language plpgsql security definer as $$
        declare
            found jsonb;
            counted integer;
        begin
            select jsonb_build_object(
                       'person_id', p.person_id, 'alias', p.alias, 'known_since', p.created_at,
                       'exported_at', now(), 'exported_by', p_operator,
                       'cases', coalesce(jsonb_agg(jsonb_build_object(
                           'case_id', c.case_id, 'zone', c.zone, 'category', c.category,
                           'opened_at', c.opened_at, 'status', c.status, 'resolution', c.resolution,
                           'calls', (select jsonb_agg(r.payload order by r.reported_at, r.report_id) from reports r
                                     where r.report_id = c.report_id or r.linked_case_id = c.case_id),
                           'timeline', (select jsonb_agg(jsonb_build_object('at', t.at, 'status', t.status,
                                            'actor', t.actor, 'detail', t.detail) order by t.entry_id)
                                        from case_timeline t where t.case_id = c.case_id),
                           'follow_up', (select to_jsonb(f) from follow_ups f where f.case_id = c.case_id),
                           'referral', (select to_jsonb(x) from referrals x where x.case_id = c.case_id))
                           order by c.opened_at) filter (where c.case_id is not null), '[]')),
                   count(c.case_id)
            into found, counted
            from persons p
            join operators o on o.operator_id = p_operator and not o.disabled and o.role = 'supervisor'
            left join case_persons k on k.person_id = p.person_id
            left join cases c on c.case_id = k.case_id and c.zone = any(o.zones)
            where p.person_id = p_person and p.erased_at is null
            group by p.person_id, p.alias, p.created_at;
            if found is null then
                return null;
            end if;
            insert into privacy_log (action, cases, detail, done_by)
                values ('export', counted, jsonb_build_object('person_id', p_person), p_operator);
            return found;
        end
        $$
        """

    /// Migration 31's: without the callers, each case's read logged, the log naming the cases, and
    /// the person's cases outside the supervisor's zones counted.
    static let exportPersonV31 = exportPersonV20.replacingOccurrences(
        of: "create function samu_export_person", with: "create or replace function samu_export_person"
    ).replacingOccurrences(
        of: "    counted integer;\n", with: "    counted integer;\n    elsewhere integer;\n"
    ).replacingOccurrences(
        of: "jsonb_agg(r.payload order by r.reported_at, r.report_id) from reports r\n",
        with: """
            jsonb_agg(r.payload - 'reporter' order by r.reported_at, r.report_id)
                                             from reports r

            """
    ).replacingOccurrences(
        of: """
                insert into privacy_log (action, cases, detail, done_by)
                    values ('export', counted, jsonb_build_object('person_id', p_person), p_operator);

            """,
        with: """
                select count(*) into elsewhere from case_persons k join cases c on c.case_id = k.case_id
                    join operators o on o.operator_id = p_operator
                    where k.person_id = p_person and not (c.zone = any(o.zones));
                found := found || jsonb_build_object('cases_outside_your_zones', elsewhere);
                -- Each case read is a read of its personal data, logged as the case's own reads are.
                insert into personal_data_reads (case_id, operator_id)
                    select (e->>'case_id')::uuid, p_operator from jsonb_array_elements(found->'cases') e;
                insert into privacy_log (action, cases, detail, done_by)
                    values ('export', counted, jsonb_build_object('person_id', p_person,
                            'case_ids', (select coalesce(jsonb_agg(e->'case_id'), '[]'::jsonb)
                                         from jsonb_array_elements(found->'cases') e)), p_operator);

            """)

    /// `samu_minimised_report` as migration 20 created it (migrations never change).
    static let minimisedReportV20 = """
        create function samu_minimised_report(p jsonb) returns jsonb language sql immutable as $$
            select jsonb_strip_nulls((p - 'notes' - 'reporter')
                || jsonb_build_object(
                    'location', (p->'location') - 'description' - 'landmark'
                        || jsonb_build_object(
                            'lat', round((p->'location'->>'lat')::numeric, 2),
                            'lon', round((p->'location'->>'lon')::numeric, 2)),
                    'person', (p->'person') - 'age' || jsonb_build_object('age_band',
                        case when (p->'person'->>'age') is null then null
                             when (p->'person'->>'age')::int < 18 then 'minor'
                             when (p->'person'->>'age')::int < 60 then 'adult'
                             else 'elderly' end)))
        $$
        """

    /// Migration 29's: an age written as a decimal (`45.0`) read as the number it is, where `::int`
    /// refused it and stopped the whole purge.
    static let minimisedReportV29 = minimisedReportV20.replacingOccurrences(
        of: "create function", with: "create or replace function"
    ).replacingOccurrences(of: "->>'age')::int <", with: "->>'age')::numeric <")

    /// `samu_minimise_cases` as migration 20 created it (migrations never change).
    static let minimiseCasesV20 = """
        create function samu_minimise_cases(p_cases uuid[]) returns integer language plpgsql as $$
        declare
            done integer;
        begin
            perform set_config('samu.purging', 'on', true);
            update reports r set purged_at = now(), payload = samu_minimised_report(r.payload)
            from cases c where c.case_id = any(p_cases) and r.report_id = c.report_id and r.purged_at is null;
            get diagnostics done = row_count;
            update reports r set purged_at = now(), payload = samu_minimised_report(r.payload)
            where r.linked_case_id = any(p_cases) and r.purged_at is null;
            update cases c set location_lat = round(c.location_lat::numeric, 2),
                location_lon = round(c.location_lon::numeric, 2)
            where c.case_id = any(p_cases);
            -- Free text: notes and reasons, the crew's note and an operator's reason in a
            -- status's wording ("closed by … as …: reason").
            update case_timeline t set detail = ((t.detail - 'note') - 'reason')
                || (case when t.detail ? 'detail' then jsonb_build_object('detail',
                       regexp_replace(regexp_replace(t.detail->>'detail', ' \\(crew''s note: .*\\)$', ''),
                           '^((closed by \\S+ as \\S+)|(cancelled by \\S+)): .*$', '\\1'))
                    else '{}'::jsonb end)
            where t.case_id = any(p_cases);
            update decisions d set operator_reason = null,
                reason = regexp_replace(d.reason, '^((priority|bed) \\S+ → \\S+( at \\S+)?( by \\S+)?): .*$', '\\1')
            where d.case_id = any(p_cases) and (d.operator_reason is not null or d.kind = 'override');
            update follow_ups f set note = null where f.case_id = any(p_cases) and f.note is not null;
            update referrals x set note = null where x.case_id = any(p_cases) and x.note is not null;
            perform set_config('samu.purging', 'off', true);
            return done;
        end
        $$
        """

    /// Migration 29's: migration 20's, which it replaces, and what it removes besides.
    static let minimiseCasesV29 = minimiseCasesV20.replacingOccurrences(
        of: "create function samu_minimise_cases", with: "create or replace function samu_minimise_cases"
    ).replacingOccurrences(
        of: "    perform set_config('samu.purging', 'off', true);\n",
        with: """
                -- The exact age kept for the shelter's fit (the age band stays in the report),
                -- the operator's wording in the decision's record as in its columns, and the
                -- crew's actions (their notes and the positions where the person was).
                update cases c set triage = c.triage #- '{shelter_need,age}'
                where c.case_id = any(p_cases) and c.triage->'shelter_need' ? 'age';
                update decisions d set record = (d.record - 'operator_reason')
                    || jsonb_build_object('reason', regexp_replace(d.record->>'reason',
                           '^((priority|bed) \\S+ → \\S+( at \\S+)?( by \\S+)?): .*$', '\\1'))
                where d.case_id = any(p_cases) and d.record ? 'reason'
                    and (d.record ? 'operator_reason' or d.kind = 'override');
                delete from crew_actions a where a.case_id = any(p_cases);
                -- A shelter's words when it declined the person ("declined by the shelter: …").
                update bed_ledger l set reason = 'declined by the shelter'
                where l.case_id = any(p_cases) and l.reason like 'declined by the shelter: %';
                perform set_config('samu.purging', 'off', true);

            """)

    /// A SQL file of the package's `SQL/` folder.
    static func sql(_ name: String) -> String {
        guard let url = Bundle.module.url(forResource: name, withExtension: "sql", subdirectory: "SQL"),
            let text = try? String(contentsOf: url, encoding: .utf8)
        else { fatalError("SamuStore's resource SQL/\(name).sql is missing from the build") }
        return text
    }
}
