"""The feed adapters on real-format samples (tests/fixtures/ingest, built from the publishers'
documentation): what each item says, where it lands in OKI, and what is refused."""

from __future__ import annotations

import datetime as dt
import json
import subprocess
import sys
import time
import tracemalloc
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from shapely.geometry import Point, shape

from commandcenter.ingest import bmkg_quake, cap, eido, firms, petabencana
from commandcenter.ingest.check import FORMATS
from commandcenter.ingest.items import IngestError, Item
from commandcenter.ingest.regions import Regions, polygon
from tests.conftest import ROOT

FIX = ROOT / "tests" / "fixtures" / "ingest"
#: The boundaries the product ships (resources/geo, MIT; see its README).
GEO = ROOT / "resources" / "geo"
DISTRICTS = GEO / "oki-kecamatan.geojson"
VILLAGES = GEO / "oki-desa.geojson"
#: OKI's bounding box (domain.md): Palembang lies inside it and outside the regency.
BBOX = (-4.267, -2.391, 104.632, 106.221)


@pytest.fixture(scope="module")
def regions() -> Regions:
    return Regions.load(DISTRICTS, VILLAGES)


def _district_shapes() -> dict[str, object]:
    doc = json.loads(DISTRICTS.read_text())
    return {f["properties"]["nama"]: shape(f["geometry"]) for f in doc["features"]}


# --- BMKG earthquakes ---------------------------------------------------------------------


@pytest.mark.parametrize("name", ["autogempa", "gempaterkini", "gempadirasakan"])
def test_quake_json_and_xml_say_the_same(name: str, regions: Regions) -> None:
    from_json = bmkg_quake.parse((FIX / f"{name}.json").read_bytes(), regions)
    from_xml = bmkg_quake.parse((FIX / f"{name}.xml").read_bytes(), regions)
    assert from_json == from_xml
    assert len(from_json) == (1 if name == "autogempa" else 15)


def test_autogempa_fields(regions: Regions) -> None:
    (q,) = bmkg_quake.parse((FIX / "autogempa.json").read_bytes(), regions)
    raw = json.loads((FIX / "autogempa.json").read_text())["Infogempa"]["gempa"]
    lat, lon = (float(x) for x in raw["Coordinates"].split(","))
    assert (q.lat, q.lon) == (lat, lon)
    assert q.time == dt.datetime.fromisoformat(raw["DateTime"])
    assert q.magnitude == float(raw["Magnitude"])
    assert q.detail["depth_km"] == float(raw["Kedalaman"].split()[0])
    assert q.detail["dirasakan"] == raw["Dirasakan"] and q.detail["shakemap"] == raw["Shakemap"]
    # Districts touched = those whose outline meets the felt circle, checked without the index.
    radius_deg = bmkg_quake.felt_radius_km(q.magnitude) / 110.57
    shapes = _district_shapes()
    near = {n for n, g in shapes.items() if g.distance(Point(lon, lat)) < radius_deg * 0.97}
    far = {n for n, g in shapes.items() if g.distance(Point(lon, lat)) > radius_deg * 1.3}
    assert near <= set(q.kecamatan) and not (far & set(q.kecamatan)) and near


def test_a_quake_whose_fields_contradict_each_other_is_refused() -> None:
    raw = json.loads((FIX / "autogempa.json").read_text())
    lying = json.loads(json.dumps(raw))
    lying["Infogempa"]["gempa"]["Lintang"] = "3.35 LS"  # Coordinates say 4.35 LS
    with pytest.raises(IngestError, match="Lintang"):
        bmkg_quake.parse(json.dumps(lying).encode())
    lying = json.loads(json.dumps(raw))
    lying["Infogempa"]["gempa"]["Jam"] = "09:12:44 WITA"  # DateTime is 09:12:44 WIB
    with pytest.raises(IngestError, match="Jam"):
        bmkg_quake.parse(json.dumps(lying).encode())
    lying = json.loads(json.dumps(raw))
    lying["Infogempa"]["gempa"]["Magnitude"] = 6.1  # BMKG sends strings
    with pytest.raises(IngestError, match="Magnitude"):
        bmkg_quake.parse(json.dumps(lying).encode())
    lying = json.loads(json.dumps(raw))
    lying["Infogempa"]["gempa"]["DateTime"] = "9999-12-31T23:59:59+14:00"
    with pytest.raises(IngestError, match="DateTime"):
        bmkg_quake.parse(json.dumps(lying).encode())


# --- CAP and the RSS index ----------------------------------------------------------------


def test_cap_alert_touching_oki(regions: Regions) -> None:
    (a,) = cap.parse_alert_list((FIX / "CSS20261204003_alert.xml").read_bytes(), regions)
    assert a.id == "CSS20261204003" and a.severity == "Severe"
    assert a.detail["urgency"] == "Immediate" and a.detail["certainty"] == "Likely"
    assert a.text == "Hujan Lebat disertai Petir di Sumatera Selatan"  # the Indonesian info
    assert a.detail["headline_en"].startswith("Heavy Rain")
    assert a.expires == dt.datetime(2026, 12, 4, 19, 0, tzinfo=dt.UTC)
    assert len(a.area) == 3 and all(r[0] == r[-1] for r in a.area)
    # Brute force over every district and polygon, without the STRtree.
    shapes = _district_shapes()
    expected = sorted({n for n, g in shapes.items() for ring in a.area if g.intersects(polygon(ring))})
    assert a.kecamatan == expected and {"Kayu Agung", "Jejawi"} <= set(expected)


def test_cap_polygon_inside_the_bounding_box_but_outside_oki_touches_nothing(regions: Regions) -> None:
    (a,) = cap.parse_alert_list((FIX / "CSS20261204004_alert.xml").read_bytes(), regions)
    south, north, west, east = BBOX
    assert all(south <= lat <= north and west <= lon <= east for lat, lon in a.area[0])
    assert a.kecamatan == [] and a.desa == []


def test_rss_index_items_are_the_cap_identifiers() -> None:
    items = cap.parse_rss((FIX / "rss-nowcast-id.xml").read_bytes())
    assert [i.id for i in items] == ["CSS20261204004", "CSS20261204003", "CJB20261204011"]
    for i in items:
        assert i.detail["link"].endswith(f"/{i.id}_alert.xml")
    assert items[1].time == dt.datetime(2026, 12, 4, 16, 5, tzinfo=dt.UTC)


@pytest.mark.parametrize(
    ("change", "field"),
    [
        (("<severity>Severe</severity>", "<severity>Catastrophic</severity>"), "severity"),
        (("-3.33,104.84</polygon>", "-3.33,104.85</polygon>"), "polygon"),
        (("<expires>2026-12-05T02:00", "<expires>2026-12-04T20:00"), "expires"),
        (("<sent>2026-12-04T23:05:00+07:00</sent>", "<sent>2026-12-04T23:05:00</sent>"), "sent"),
        (("<identifier>CSS20261204003</identifier>", ""), "identifier"),
    ],
)
def test_bad_cap_is_refused_naming_the_field(change: tuple[str, str], field: str) -> None:
    data = (FIX / "CSS20261204003_alert.xml").read_text()
    assert change[0] in data
    with pytest.raises(IngestError) as info:
        cap.parse_alert(data.replace(change[0], change[1], 1).encode())
    assert field in info.value.where


BILLION_LAUGHS = b"""<?xml version="1.0"?>
<!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
<!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
<!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
<!ENTITY lol5 "&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;">
<!ENTITY lol6 "&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;">
<!ENTITY lol7 "&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;">
<!ENTITY lol8 "&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;">
<!ENTITY lol9 "&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;">]>
<alert xmlns="urn:oasis:names:tc:emergency:cap:1.2"><identifier>&lol9;</identifier></alert>"""
EXTERNAL = b"""<?xml version="1.0"?>
<!DOCTYPE alert [<!ENTITY secret SYSTEM "file:///etc/passwd">]>
<alert xmlns="urn:oasis:names:tc:emergency:cap:1.2"><identifier>&secret;</identifier></alert>"""


@pytest.mark.parametrize("doc", [BILLION_LAUGHS, EXTERNAL], ids=["entity-expansion", "external-entity"])
def test_hostile_xml_is_refused_quickly_and_without_memory_growth(doc: bytes) -> None:
    tracemalloc.start()
    start = time.perf_counter()
    for parse in (cap.parse_alert, cap.parse_rss, bmkg_quake.parse):
        with pytest.raises(IngestError, match="DTDs and entities"):
            parse(doc)
    elapsed = time.perf_counter() - start
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert peak < 2_000_000, f"parsing hostile XML peaked at {peak} bytes"
    assert elapsed < 5.0


def test_an_oversized_document_is_refused_before_parsing(monkeypatch: pytest.MonkeyPatch) -> None:
    from commandcenter.ingest import items

    monkeypatch.setattr(items, "MAX_DOCUMENT_BYTES", 1000)
    big = (FIX / "CSS20261204003_alert.xml").read_bytes()
    with pytest.raises(IngestError, match="bytes, more than"):
        cap.parse_alert(big)


# --- FIRMS ----------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["firms_viirs_snpp.csv", "firms_modis.csv"])
def test_firms_hotspots_are_placed_and_clustered(name: str, regions: Regions) -> None:
    items = firms.parse((FIX / name).read_bytes(), regions)
    rows = (FIX / name).read_text().splitlines()[1:]
    assert len(items) == len(rows)
    shapes = _district_shapes()
    for item in items:
        inside = [n for n, g in shapes.items() if g.contains(Point(item.lon, item.lat))]
        assert item.kecamatan == inside
    deling = [i for i in items if i.desa == ["Deling"]]
    assert deling and {i.detail["cluster"] for i in deling} == {deling[0].detail["cluster"]}
    assert all("Desa Deling, Kecamatan Pangkalan Lampam" in i.text for i in deling)


def _brute_clusters(points: list[tuple[float, float]], km: float) -> list[frozenset[int]]:
    import math

    n = len(points)
    adj = {i: set() for i in range(n)}
    mean_lat = sum(p[0] for p in points) / n
    for i in range(n):
        for j in range(i + 1, n):
            dy = (points[i][0] - points[j][0]) * 110.57
            dx = (points[i][1] - points[j][1]) * 110.57 * math.cos(math.radians(mean_lat))
            if dx * dx + dy * dy <= km * km:
                adj[i].add(j)
                adj[j].add(i)
    seen: set[int] = set()
    groups = []
    for i in range(n):
        if i in seen:
            continue
        stack, group = [i], set()
        while stack:
            k = stack.pop()
            if k in group:
                continue
            group.add(k)
            stack.extend(adj[k] - group)
        seen |= group
        groups.append(frozenset(group))
    return groups


@settings(max_examples=60)
@given(st.lists(st.tuples(st.floats(-3.3, -3.2), st.floats(105.0, 105.1)), min_size=1, max_size=40))
def test_clusters_equal_a_brute_force_single_linkage(points: list[tuple[float, float]]) -> None:
    ids = firms.cluster_ids([p[0] for p in points], [p[1] for p in points])
    got: dict[int, set[int]] = {}
    for i, c in enumerate(ids):
        got.setdefault(c, set()).add(i)
    assert sorted(map(sorted, got.values())) == sorted(map(sorted, _brute_clusters(points, firms.CLUSTER_KM)))


# --- PetaBencana and EIDO -------------------------------------------------------------------


def test_petabencana_reports(regions: Regions) -> None:
    items = petabencana.parse((FIX / "petabencana-reports.json").read_bytes(), regions)
    assert [i.id for i in items] == ["381204", "381207", "381211"]
    assert items[0].kecamatan == ["Kayu Agung"] and items[0].detail["flood_depth_cm"] == 60
    assert items[1].kecamatan == ["Jejawi"]
    # Public text is kept as text, markup and all; the wall never renders it as HTML.
    assert items[1].detail["text"].endswith("<b>tolong</b>")
    assert items[2].kecamatan == []  # Palembang
    assert "image_url" not in items[1].detail  # empty, not a link


def test_eido_incident_with_references_resolved(regions: Regions) -> None:
    (inc,) = eido.parse((FIX / "eido-karhutla-deling.json").read_bytes(), regions)
    assert inc.kind == "incident" and inc.kecamatan == ["Pangkalan Lampam"]
    assert inc.time == dt.datetime(2026, 9, 13, 23, 21, tzinfo=dt.UTC)  # the call's start
    assert [d["agency"] for d in inc.detail["dispatches"]] == ["bpbd.okikab.example", "damkar.okikab.example"]
    assert inc.detail["dispatches"][0]["resources"][0]["name"] == "BPBD OKI Pompa 1"
    names = {a["id"]: a["name"] for a in inc.detail["agencies"]}
    assert names["bpbd.okikab.example"] == "BPBD Kabupaten Ogan Komering Ilir"


def test_eido_dangling_reference_is_refused_naming_it() -> None:
    doc = json.loads((FIX / "eido-karhutla-deling.json").read_text())
    doc["dispatchComponent"][1]["emergencyResourceReference"] = [{"$ref": "res-missing"}]
    with pytest.raises(IngestError, match="res-missing"):
        eido.parse(json.dumps(doc).encode())
    doc = json.loads((FIX / "eido-karhutla-deling.json").read_text())
    doc["incidentComponent"]["locationReference"] = [{"$ref": "bpbd.okikab.example"}]
    with pytest.raises(IngestError, match="not a locationComponent"):
        eido.parse(json.dumps(doc).encode())


# --- every parser against garbage -------------------------------------------------------------

SAMPLES = {
    "bmkg-quake": ["autogempa.json", "autogempa.xml", "gempaterkini.json"],
    "bmkg-rss": ["rss-nowcast-id.xml"],
    "cap": ["CSS20261204003_alert.xml"],
    "firms": ["firms_viirs_snpp.csv"],
    "petabencana": ["petabencana-reports.json"],
    "eido": ["eido-karhutla-deling.json"],
}


def _only_items_or_ingest_error(fmt: str, data: bytes, regions: Regions) -> None:
    try:
        items = FORMATS[fmt](data, regions)
    except IngestError:
        return
    assert all(isinstance(i, Item) for i in items)


@settings(max_examples=40)
@given(data=st.binary(max_size=400), fmt=st.sampled_from(sorted(SAMPLES)))
def test_random_bytes_never_crash_a_parser(data: bytes, fmt: str, regions: Regions) -> None:
    _only_items_or_ingest_error(fmt, data, regions)


@settings(max_examples=80)
@given(
    fmt=st.sampled_from(sorted(SAMPLES)), pick=st.integers(0, 2), cut=st.floats(0, 1),
    flips=st.lists(st.tuples(st.floats(0, 1), st.integers(0, 255)), max_size=4),
)  # fmt: skip
def test_truncated_and_mutated_samples_never_crash_a_parser(
    fmt: str, pick: int, cut: float, flips: list[tuple[float, int]], regions: Regions
) -> None:
    files = SAMPLES[fmt]
    data = bytearray((FIX / files[pick % len(files)]).read_bytes())
    for where, byte in flips:
        data[int(where * (len(data) - 1))] = byte
    data = data[: max(1, int(cut * len(data)))] if cut < 0.98 else data
    _only_items_or_ingest_error(fmt, bytes(data), regions)


# --- the command --------------------------------------------------------------------------


def _check(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "commandcenter.cli", "ingest", "check", "--districts", str(DISTRICTS),
         "--villages", str(VILLAGES), *args],
        capture_output=True, text=True, timeout=60, check=False, cwd=ROOT,
    )  # fmt: skip


def test_ingest_check_prints_one_json_line_per_item() -> None:
    out = _check("--format", "cap", str(FIX / "CSS20261204003_alert.xml"))
    assert out.returncode == 0, out.stderr
    (line,) = out.stdout.splitlines()
    item = json.loads(line)
    for key in ("source", "kind", "id", "time", "area", "kecamatan", "severity", "text"):
        assert key in item
    assert item["kecamatan"] and item["source"] == "bmkg-cap"
    out = _check("--format", "firms", str(FIX / "firms_modis.csv"))
    assert out.returncode == 0 and len(out.stdout.splitlines()) == 12


def test_ingest_check_bad_input_exits_2_with_one_line(tmp_path: Path) -> None:
    bad = tmp_path / "gempa.json"
    quake = {"DateTime": "2026-12-04T02:12:44", "Coordinates": "-4.35,104.05"}
    bad.write_text(json.dumps({"Infogempa": {"gempa": quake}}))
    out = _check("--format", "bmkg-quake", str(bad))
    assert out.returncode == 2 and out.stdout == ""
    (line,) = out.stderr.splitlines()
    assert line.startswith("gempa.json: gempa[0] DateTime:") and "offset" in line
    out = _check("--format", "cap", str(tmp_path / "missing.xml"))
    assert out.returncode == 2 and "cannot read" in out.stderr
