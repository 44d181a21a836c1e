create function samu_write_batch(
    l_zones text[], l_epochs int8[],
    p_ids uuid[], p_topics text[], p_partitions int4[], p_offsets int8[], p_digests text[],
    r_ids uuid[], r_zones text[], r_categories text[], r_reported timestamptz[], r_payloads text[],
    r_topics text[], r_partitions int4[], r_offsets int8[],
    c_ids uuid[], c_priorities text[], c_bed_types text[], c_triage text[], c_lats float8[],
    c_lons float8[], c_statuses text[], c_units text[], c_resolutions text[],
    d_ids uuid[], d_cases uuid[], d_zones text[], d_kinds text[], d_priorities text[], d_units text[],
    d_shelters text[], d_bed_types text[], d_rules text[], d_reasons text[], d_operators text[],
    d_operator_reasons text[], d_records text[], d_at timestamptz[],
    a_ended uuid[],
    a_cases uuid[], a_units text[], a_decisions uuid[], a_active bool[], a_at timestamptz[],
    s_cases uuid[], s_statuses text[], s_units text[], s_resolutions text[],
    t_cases uuid[], t_at timestamptz[], t_statuses text[], t_actors text[], t_details text[],
    g_shelters text[], g_bed_types text[], g_cases uuid[], g_actions text[], g_reasons text[],
    g_at timestamptz[], g_beds int4[],
    f_cases uuid[], f_zones text[], f_resolutions text[], f_at timestamptz[], f_kinds text[], f_due timestamptz[],
    -- Case work and referrals as JSON arrays (a function takes at most 100 arguments).
    w_rows jsonb, x_rows jsonb, h_rows jsonb, m_rows jsonb,
    u_ids text[], u_zones text[], u_statuses text[], u_skills text[], u_lats float8[], u_lons float8[],
    u_versions int8[], u_cases text[], u_at timestamptz[],
    b_shelters text[], b_zones text[], b_bed_types text[], b_capacities int4[], b_occupied int4[],
    b_held int4[], b_lats float8[], b_lons float8[], b_versions int8[], b_at timestamptz[],
    o_ids uuid[], o_topics text[], o_keys text[], o_payloads text[], o_at timestamptz[], o_areas text[],
    published uuid[], now_at timestamptz
) returns setof uuid language plpgsql
-- Every statement here finds its rows by primary key. The function's plans are
-- cached per connection; planned while a table is young (or not yet analysed), a
-- sequential scan looks cheap and then stays as the table grows (seen: 2 ms per
-- batch to update 10 cases among 3,000).
set enable_seqscan = off
as $$
declare
    fenced text[];
    n bigint;
    w record;
begin
    if cardinality(l_zones) > 0 then
        -- Share-lock the leases: a takeover (which updates them) waits for this commit.
        perform 1 from zone_leases where zone = any(l_zones) for share;
        select array_agg(t.z order by t.z) into fenced
        from unnest(l_zones, l_epochs) as t(z, e) left join zone_leases zl on zl.zone = t.z
        where zl.epoch is distinct from t.e;
        if fenced is not null then
            raise exception 'zones taken over by another worker' using errcode = 'SM001',
                detail = array_to_string(fenced, ',');
        end if;
    end if;
    if cardinality(p_ids) > 0 then
        insert into processed_events (event_id, topic, partition, "offset", processed_at, payload_sha256)
        select i, t, pa, o, now_at, decode(nullif(d, ''), 'hex')
        from unnest(p_ids, p_topics, p_partitions, p_offsets, p_digests) as x(i, t, pa, o, d)
        on conflict (event_id) do nothing;
        get diagnostics n = row_count;
        if n <> cardinality(p_ids) then
            raise exception 'an event of the batch was processed before' using errcode = 'SM002';
        end if;
    end if;
    if cardinality(r_ids) > 0 then
        insert into reports (report_id, zone, category, reported_at, received_at, payload, source_topic,
                             source_partition, source_offset)
        select i, z, c, r, now_at, p::jsonb, t, pa, o
        from unnest(r_ids, r_zones, r_categories, r_reported, r_payloads, r_topics, r_partitions, r_offsets)
            as x(i, z, c, r, p, t, pa, o)
        on conflict (report_id) do nothing;
        -- New cases are written once, in their state at the end of the batch.
        insert into cases (case_id, report_id, zone, category, status, opened_at, updated_at, priority,
                           bed_type, triage, location_lat, location_lon, unit_id, resolution)
        select c, r, z, k, st, now_at, now_at, p, b, t::jsonb, la, lo, nullif(u, ''), nullif(re, '')
        from unnest(c_ids, r_ids, r_zones, r_categories, c_priorities, c_bed_types, c_triage, c_lats, c_lons,
                    c_statuses, c_units, c_resolutions)
            as x(c, r, z, k, p, b, t, la, lo, st, u, re)
        on conflict (case_id) do nothing;
    end if;
    if cardinality(d_ids) > 0 then
        insert into decisions (decision_id, case_id, zone, kind, priority, unit_id, shelter_id, bed_type,
                               rules_version, reason, operator_id, operator_reason, record, decided_at)
        select i, c, z, k, p, nullif(u, ''), nullif(s, ''), b, r, re, nullif(o, ''), nullif(orr, ''),
            rec::jsonb, at
        from unnest(d_ids, d_cases, d_zones, d_kinds, d_priorities, d_units, d_shelters, d_bed_types,
                    d_rules, d_reasons, d_operators, d_operator_reasons, d_records, d_at)
            as t(i, c, z, k, p, u, s, b, r, re, o, orr, rec, at)
        on conflict (decision_id) do nothing;
    end if;
    if cardinality(a_ended) > 0 then
        -- Ended when the batch decided (its assignments start then too), not when it is written:
        -- a unit freed and given a new case in one batch has back-to-back intervals.
        update assignments set active = false,
            ended_at = least(now_at, coalesce((select min(x) from unnest(a_at) as x), now_at))
        where active and case_id = any(a_ended);
    end if;
    if cardinality(a_cases) > 0 then
        insert into assignments (case_id, unit_id, decision_id, active, started_at, ended_at)
        select c, u, d, a, at, case when a then null else at end
        from unnest(a_cases, a_units, a_decisions, a_active, a_at) as t(c, u, d, a, at)
        on conflict (case_id, decision_id) do nothing;
    end if;
    if cardinality(s_cases) > 0 then
        update cases c set status = t.status, unit_id = nullif(t.unit_id, ''),
            resolution = coalesce(nullif(t.resolution, ''), c.resolution), updated_at = now_at
        from unnest(s_cases, s_statuses, s_units, s_resolutions) as t(case_id, status, unit_id, resolution)
        where c.case_id = t.case_id;
    end if;
    if cardinality(t_cases) > 0 then
        insert into case_timeline (case_id, at, status, actor, detail)
        select c, at, s, a, d::jsonb from unnest(t_cases, t_at, t_statuses, t_actors, t_details)
            as x(c, at, s, a, d);
    end if;
    if cardinality(g_shelters) > 0 then
        insert into bed_ledger (shelter_id, bed_type, case_id, action, reason, at, beds)
        select * from unnest(g_shelters, g_bed_types, g_cases, g_actions, g_reasons, g_at, g_beds);
    end if;
    if cardinality(f_cases) > 0 then
        -- A case that ended with help refused counts the person's first refusal.
        insert into follow_ups (case_id, zone, resolution, created_at, kind, due_at, refusals)
        select c, z, r, at, k, due, (r = 'help_refused')::int4
        from unnest(f_cases, f_zones, f_resolutions, f_at, f_kinds, f_due) as t(c, z, r, at, k, due)
        on conflict (case_id) do nothing;
    end if;
    -- Shelters' profiles (who they take in): the newest report's.
    if jsonb_array_length(h_rows) > 0 then
        insert into shelter_profiles (shelter_id, zone, profile, version, updated_at)
        select s, z, p, v, now_at from jsonb_to_recordset(h_rows) as x(s text, z text, p jsonb, v int8)
        on conflict (shelter_id) do update set zone = excluded.zone, profile = excluded.profile,
            version = excluded.version, updated_at = excluded.updated_at
        where shelter_profiles.version < excluded.version;
    end if;
    -- Mutual aid: this side's state of each exchange it moved (its last state in the batch).
    if jsonb_array_length(m_rows) > 0 then
        insert into aid_exchanges (request_id, side, area, peer_area, case_id, unit_id, status, updated_at)
        select r, s, a, p, c, u, st, now_at
        from jsonb_to_recordset(m_rows) as x(r uuid, s text, a text, p text, c uuid, u text, st text)
        on conflict (request_id, side) do update set status = excluded.status,
            unit_id = coalesce(excluded.unit_id, aid_exchanges.unit_id), updated_at = excluded.updated_at;
    end if;
    -- Child-protection referrals, opened with their case (a redelivered report changes nothing).
    if jsonb_array_length(x_rows) > 0 then
        insert into referrals (case_id, zone, destination, rule, opened_at, due_at)
        select c, z, dest, rule, opened, due
        from jsonb_to_recordset(x_rows) as x(c uuid, z text, dest text, rule text, opened timestamptz, due timestamptz)
        on conflict (case_id) do nothing;
    end if;
    -- Case work: a social-path step, a follow-up taken, done or visited again, a referral
    -- acknowledged, decided or escalated late, a linked call, a priority or bed override (or a refused
    -- command's record), for cases the
    -- database has and that have what the step needs (an open follow-up, a referral not yet
    -- decided, or open and not yet escalated): otherwise nothing is written and nothing held back.
    if jsonb_array_length(w_rows) > 0 then
        -- Another call about an open case: its report is stored with that case (it opens none);
        -- a redelivered call changes nothing.
        insert into reports (report_id, zone, category, reported_at, received_at, payload, source_topic,
                             source_partition, source_offset, linked_case_id)
        select (x.d->>'report_id')::uuid, x.d->'report'->>'zone', x.d->>'category',
            (x.d->'report'->>'reported_at')::timestamptz, now_at, x.d->'report'->'payload',
            x.d->'report'->>'topic', (x.d->'report'->>'partition')::int4, (x.d->'report'->>'offset')::int8, x.c
        from jsonb_to_recordset(w_rows) as x(c uuid, k text, o text, d jsonb, at timestamptz, n int)
        where x.k = 'report_linked' and exists (select 1 from cases where case_id = x.c)
        order by x.n
        on conflict (report_id) do nothing;
        -- An override of the case's priority (an operator's, or a more urgent call's): the column
        -- the board sorts by, and the stored triage a takeover restores.
        update cases c set priority = x.d->>'to', triage = jsonb_set(c.triage, '{priority}', x.d->'to'),
            updated_at = now_at
        from (select distinct on (y.c) y.c, y.d
              from jsonb_to_recordset(w_rows) as y(c uuid, k text, o text, d jsonb, at timestamptz, n int)
              where y.k = 'priority_changed' order by y.c, y.n desc) as x
        where c.case_id = x.c;
        -- An operator's choice of bed type: the column and the stored triage.
        update cases c set bed_type = x.d->>'to', triage = jsonb_set(c.triage, '{bed_type}', x.d->'to'),
            updated_at = now_at
        from (select distinct on (y.c) y.c, y.d
              from jsonb_to_recordset(w_rows) as y(c uuid, k text, o text, d jsonb, at timestamptz, n int)
              where y.k = 'bed_chosen' order by y.c, y.n desc) as x
        where c.case_id = x.c;
        insert into case_timeline (case_id, at, status, actor, detail)
        select x.c, x.at, x.k,
            case when x.k in ('referral_late', 'report_linked', 'priority_changed', 'bed_chosen') then x.o
                 else 'operator:' || x.o end,
            x.d - 'report'
        from jsonb_to_recordset(w_rows) as x(c uuid, k text, o text, d jsonb, at timestamptz, n int)
        where exists (select 1 from cases where case_id = x.c)
          and (x.k in ('social_step', 'operator_command', 'report_linked', 'priority_changed', 'bed_chosen')
               or (x.k = 'referral_acknowledged'
                   and exists (select 1 from referrals r where r.case_id = x.c and r.status = 'open'))
               or (x.k = 'referral_decided'
                   and exists (select 1 from referrals r where r.case_id = x.c and r.status <> 'decided'))
               or (x.k = 'referral_late'
                   and exists (select 1 from referrals r
                               where r.case_id = x.c and r.status = 'open' and r.escalated_at is null)))
        order by x.n;
        -- A follow-up's work one command at a time, in the commands' order (a visit that comes
        -- back, then the task done, may share a batch); each recorded in the timeline if it
        -- applied to a task still open.
        for w in select * from jsonb_to_recordset(w_rows) as x(c uuid, k text, o text, d jsonb, at timestamptz, n int)
                 where x.k in ('follow_up_taken', 'follow_up_done', 'follow_up_visit') order by x.n loop
            if w.k = 'follow_up_taken' then
                update follow_ups f set assignee = w.o where f.case_id = w.c and f.done_at is null;
            elsif w.k = 'follow_up_done' then
                update follow_ups f set done_at = w.at, done_by = w.o, note = left(w.d->>'note', 2000),
                    assignee = coalesce(f.assignee, w.o)
                where f.case_id = w.c and f.done_at is null;
            else
                -- A visit that found the person refusing again, or not at all: the task comes
                -- back the next night, for whoever takes it then.
                update follow_ups f set kind = 'revisit', due_at = (w.d->>'next_due')::timestamptz,
                    assignee = null, visits = f.visits + 1,
                    refusals = f.refusals + (w.d->>'visit_outcome' = 'help_refused')::int4,
                    note = left(w.d->>'note', 2000)
                where f.case_id = w.c and f.done_at is null;
            end if;
            if found then
                insert into case_timeline (case_id, at, status, actor, detail)
                values (w.c, w.at, w.k, 'operator:' || w.o, w.d);
            end if;
        end loop;
        update referrals r set status = 'acknowledged', acknowledged_at = x.at, acknowledged_by = x.o
        from jsonb_to_recordset(w_rows) as x(c uuid, k text, o text, d jsonb, at timestamptz, n int)
        where x.k = 'referral_acknowledged' and r.case_id = x.c and r.status = 'open';
        update referrals r set status = 'decided', decided_at = x.at, decided_by = x.o,
            decision = x.d->>'decision', note = left(x.d->>'note', 2000),
            acknowledged_at = coalesce(r.acknowledged_at, x.at), acknowledged_by = coalesce(r.acknowledged_by, x.o)
        from jsonb_to_recordset(w_rows) as x(c uuid, k text, o text, d jsonb, at timestamptz, n int)
        where x.k = 'referral_decided' and r.case_id = x.c and r.status <> 'decided';
        update referrals r set escalated_at = x.at
        from jsonb_to_recordset(w_rows) as x(c uuid, k text, o text, d jsonb, at timestamptz, n int)
        where x.k = 'referral_late' and r.case_id = x.c and r.status = 'open' and r.escalated_at is null;
    end if;
    if cardinality(u_ids) > 0 then
        insert into units (unit_id, zone, status, skills, lat, lon, version, case_id, reported_at)
        select i, z, s, string_to_array(k, ','), la, lo, v, nullif(c, '')::uuid, at
        from unnest(u_ids, u_zones, u_statuses, u_skills, u_lats, u_lons, u_versions, u_cases, u_at)
            as t(i, z, s, k, la, lo, v, c, at)
        on conflict (unit_id) do update set zone = excluded.zone, status = excluded.status,
            skills = excluded.skills, lat = excluded.lat, lon = excluded.lon, version = excluded.version,
            case_id = excluded.case_id, reported_at = excluded.reported_at;
    end if;
    if cardinality(b_shelters) > 0 then
        insert into shelter_beds (shelter_id, zone, bed_type, capacity, occupied, held, lat, lon, version,
                                  reported_at)
        select * from unnest(b_shelters, b_zones, b_bed_types, b_capacities, b_occupied, b_held, b_lats,
                             b_lons, b_versions, b_at)
        on conflict (shelter_id, bed_type) do update set zone = excluded.zone,
            capacity = excluded.capacity, occupied = excluded.occupied, held = excluded.held,
            lat = excluded.lat, lon = excluded.lon, version = excluded.version,
            reported_at = excluded.reported_at;
    end if;
    -- Rows the relay delivered since the last batch: marked in this same commit.
    if cardinality(published) > 0 then
        update outbox set published_at = now_at, attempts = attempts + 1
        where outbox_id = any(published);
    end if;
    if cardinality(o_ids) > 0 then
        return query
            insert into outbox (outbox_id, topic, key, payload, created_at, area)
            select i, t, nullif(k, ''), p, c, nullif(a, '') from unnest(o_ids, o_topics, o_keys, o_payloads, o_at, o_areas)
                as x(i, t, k, p, c, a)
            on conflict (outbox_id) do nothing
            returning outbox_id;
    end if;
end
$$
