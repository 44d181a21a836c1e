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
    ]

    public static var latestVersion: Int { all.map(\.version).max() ?? 0 }
}
