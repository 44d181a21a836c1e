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
            ])
    ]

    public static var latestVersion: Int { all.map(\.version).max() ?? 0 }
}
