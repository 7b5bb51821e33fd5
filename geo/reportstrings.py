"""Every word the monthly report and its maps print, in Bahasa Indonesia and English.

One table per language with the same keys (a test checks they match). Definitions in the
appendix say how each figure is formed; they describe the computation, they do not perform it.
"""

from __future__ import annotations

LANGUAGES = ("id", "en")

MONTHS = {
    "id": ("Januari", "Februari", "Maret", "April", "Mei", "Juni", "Juli", "Agustus",
           "September", "Oktober", "November", "Desember"),
    "en": ("January", "February", "March", "April", "May", "June", "July", "August",
           "September", "October", "November", "December"),
}  # fmt: skip

#: Indonesian zone names; other zones print as their UTC offset.
ZONE_NAMES = {"Asia/Jakarta": "WIB", "Asia/Pontianak": "WIB", "Asia/Makassar": "WITA",
              "Asia/Jayapura": "WIT"}  # fmt: skip

_ID: dict[str, object] = {
    "title": "Laporan Bulanan Infrastruktur Jaringan",
    "subtitle": "Pemantauan jaringan, cakupan pengawasan infrastruktur dan blankspot",
    "period": "Periode",
    "made": "Dibuat",
    "by": "Dibuat oleh pantau {version} untuk Dinas Komunikasi dan Informatika",
    "no_data": "tidak ada data",
    "none": "tidak ada",
    "summary": "Ringkasan",
    "supervision": "Cakupan pengawasan infrastruktur",
    "supervision_detail": "{supervised} dari {registered} situs terdaftar diawasi",
    "office_availability": "Ketersediaan kantor pemerintah",
    "office_detail": "tertimbang waktu; {with_data} dari {offices} kantor memiliki data",
    "outages": "Gangguan",
    "outage_detail": "total waktu mati {downtime}",
    "blankspot": "Luas blankspot (rata-rata periode)",
    "blankspot_detail": "dari {target} wilayah sasaran",
    "blankspot_change": "perubahan dari bulan lalu: {change}",
    "blankspot_change_none": "bulan lalu: tidak ada data",
    "gaps_warning": "Perhatian: sebagian periode tanpa data (lihat Lampiran).",
    "no_data_period": "Tidak ada data: tidak ada situs yang teramati dalam periode ini, sehingga "
    "laporan ini tidak menyatakan angka ketersediaan maupun blankspot.",
    "to_check": "Situs yang perlu diperiksa",
    "lowest_offices": "Kantor dengan ketersediaan terendah",
    "ongoing": "Gangguan yang masih berlangsung pada data terakhir",
    "since": "sejak",
    "maps": "Peta",
    "interactive_map": "Peta interaktif (lapisan dapat dinyalakan dan dimatikan)",
    "map_blankspot_ratio": "Rasio blankspot per wilayah",
    "map_supervision_coverage": "Cakupan pengawasan infrastruktur per wilayah",
    "map_availability": "Ketersediaan situs yang diawasi per wilayah",
    "offices": "Ketersediaan per kantor",
    "districts": "Per wilayah",
    "outage_list": "Daftar gangguan",
    "no_outage": "Tidak ada gangguan dalam periode ini.",
    "appendix": "Lampiran: definisi dan sumber data",
    "col_name": "Nama",
    "col_district": "Wilayah",
    "col_kelurahan": "Kelurahan",
    "col_kecamatan": "Kecamatan",
    "col_code": "Kode",
    "col_availability": "Ketersediaan",
    "col_downtime": "Waktu mati",
    "col_outages": "Gangguan",
    "col_longest": "Gangguan terlama",
    "col_registered": "Situs terdaftar",
    "col_supervised": "Diawasi",
    "col_supervision": "Cakupan pengawasan",
    "col_target": "Wilayah sasaran",
    "col_blankspot": "Blankspot (rata-rata)",
    "col_blankspot_ratio": "Rasio blankspot (akhir periode)",
    "col_data": "Waktu berdata",
    "col_maintenance": "Dalam pemeliharaan",
    "col_no_data": "Tanpa data",
    "col_observed": "Teramati",
    "col_site": "Situs",
    "col_cause": "Penyebab",
    "col_start": "Mulai",
    "col_end": "Selesai",
    "col_duration": "Durasi",
    "cause_down": "mati",
    "cause_unreachable": "tak terjangkau (induk mati)",
    "cause_power": "listrik padam (UPS memakai baterai)",
    "open": "masih berlangsung",
    "data_period": "Periode data",
    "gaps": "Celah data",
    "no_gaps": "Tidak ada celah yang diketahui.",
    "gap_no_observation": "Sepanjang periode: tidak ada pengamatan dari situs mana pun.",
    "gap_not_yet": "Data sampai {when}; sisa periode tidak memiliki data (atau belum terjadi) "
    "dan tidak dihitung.",
    "gap_sites": "Situs dengan waktu tanpa data (tidak dihitung hidup maupun mati):",
    "trace": "Penelusuran",
    "version": "Versi pantau",
    "config_digest": "Ringkasan (SHA-256) konfigurasi",
    "inventory_digest": "Ringkasan (SHA-256) inventaris situs",
    "layer": "Lapisan batas wilayah",
    "timezone": "Zona waktu",
    "page": "Halaman",
    "of": "dari",
    "legend_sites": "Situs",
    "state_down": "mati",
    "state_up": "hidup",
    "state_unknown": "tidak diketahui",
    "legend_coverage": "jangkauan situs hidup (garis)",
    "legend_no_data": "tidak ada data",
    "north": "U",
    "bar_blankspot_ratio": "Rasio blankspot",
    "bar_supervision_coverage": "Cakupan pengawasan",
    "bar_availability": "Ketersediaan",
    "html_mean_blankspot": "Rasio blankspot rata-rata periode",
    "html_coverage_availability": "Ketersediaan jangkauan",
    "html_colour_by": "Warna wilayah menurut",
    "html_reset": "tampilan awal",
    "html_layers": "Lapisan",
    "html_drawn": "digambar (wilayah / situs / jangkauan / blankspot):",
    "layer_districts": "Wilayah",
    "layer_coverage": "Jangkauan",
    "layer_blankspots": "Area blankspot",
    "layer_sites": "Situs",
    "definitions": (
        (
            "Cakupan pengawasan infrastruktur",
            "Situs terdaftar yang teramati (memiliki hasil pemeriksaan) kapan pun dalam periode, "
            "dibagi jumlah situs terdaftar. Situs yang tidak pernah teramati tidak diawasi. "
            "Wilayah tanpa situs terdaftar: tidak ada data.",
        ),
        (
            "Ketersediaan",
            "Waktu hidup dibagi waktu teramati (hidup + mati) situs dalam periode. Waktu dalam "
            "jendela pemeliharaan tidak dihitung; waktu tanpa data tidak dihitung hidup maupun "
            "mati; tak terjangkau di belakang induk yang mati dihitung mati. Situs tanpa data "
            "tidak memiliki angka ketersediaan. Bulan berjalan: hanya sampai data terakhir.",
        ),
        (
            "Ketersediaan kantor pemerintah",
            "Waktu hidup semua kantor (jenis office) dibagi waktu teramatinya (tertimbang waktu, "
            "seperti angka wilayah).",
        ),
        (
            "Gangguan dan waktu mati",
            "Gangguan diputuskan oleh collector (mati, atau tak terjangkau karena perangkat induk "
            "mati). Waktu mati dihitung di dalam periode saja dan di luar pemeliharaan; daftar "
            "gangguan menunjukkan durasi di dalam periode dan bagiannya dalam pemeliharaan.",
        ),
        (
            "Gangguan terlama",
            "Durasi gangguan terpanjang situs di dalam periode, di luar pemeliharaan.",
        ),
        (
            "Luas blankspot",
            "Luas wilayah sasaran yang tidak terjangkau situs yang teramati hidup (radius "
            "jangkauan per jenis situs), dirata-rata terhadap waktu teramati periode, dalam km². "
            "Waktu tanpa data tidak dihitung sebagai terjangkau.",
        ),
        ("Rasio blankspot", "Luas blankspot pada akhir periode dibagi luas wilayah sasaran."),
        (
            "Waktu berdata",
            "Bagian dari waktu situs-situs wilayah di luar pemeliharaan yang memiliki data.",
        ),
        (
            "Wilayah sasaran",
            "Seluruh wilayah, atau hanya permukiman bila lapisan permukiman dikonfigurasi.",
        ),
    ),
}

_EN: dict[str, object] = {
    "title": "Monthly Network Infrastructure Report",
    "subtitle": "Network monitoring, infrastructure supervision coverage and blankspots",
    "period": "Period",
    "made": "Made",
    "by": "Made by pantau {version} for the Communication and Informatics Office",
    "no_data": "no data",
    "none": "none",
    "summary": "Summary",
    "supervision": "Infrastructure supervision coverage",
    "supervision_detail": "{supervised} of {registered} registered sites supervised",
    "office_availability": "Availability of government offices",
    "office_detail": "time-weighted; {with_data} of {offices} offices have data",
    "outages": "Outages",
    "outage_detail": "total downtime {downtime}",
    "blankspot": "Blankspot area (period mean)",
    "blankspot_detail": "of {target} target area",
    "blankspot_change": "change from last month: {change}",
    "blankspot_change_none": "last month: no data",
    "gaps_warning": "Note: part of the period has no data (see the Appendix).",
    "no_data_period": "No data: no site was observed in this period, so this report states no "
    "availability or blankspot figure.",
    "to_check": "Sites to check",
    "lowest_offices": "Offices with the lowest availability",
    "ongoing": "Outages still open at the last data",
    "since": "since",
    "maps": "Maps",
    "interactive_map": "Interactive map (layers can be switched on and off)",
    "map_blankspot_ratio": "Blankspot ratio per district",
    "map_supervision_coverage": "Infrastructure supervision coverage per district",
    "map_availability": "Availability of supervised sites per district",
    "offices": "Availability per office",
    "districts": "Per district",
    "outage_list": "Outages",
    "no_outage": "No outage in this period.",
    "appendix": "Appendix: definitions and data sources",
    "col_name": "Name",
    "col_district": "District",
    "col_kelurahan": "Kelurahan",
    "col_kecamatan": "Kecamatan",
    "col_code": "Code",
    "col_availability": "Availability",
    "col_downtime": "Downtime",
    "col_outages": "Outages",
    "col_longest": "Longest outage",
    "col_registered": "Registered sites",
    "col_supervised": "Supervised",
    "col_supervision": "Supervision coverage",
    "col_target": "Target area",
    "col_blankspot": "Blankspot (mean)",
    "col_blankspot_ratio": "Blankspot ratio (period end)",
    "col_data": "Time with data",
    "col_maintenance": "In maintenance",
    "col_no_data": "Without data",
    "col_observed": "Observed",
    "col_site": "Site",
    "col_cause": "Cause",
    "col_start": "Start",
    "col_end": "End",
    "col_duration": "Duration",
    "cause_down": "down",
    "cause_unreachable": "unreachable (parent down)",
    "cause_power": "power cut (UPS on battery)",
    "open": "ongoing",
    "data_period": "Data period",
    "gaps": "Data gaps",
    "no_gaps": "No known gap.",
    "gap_no_observation": "The whole period: no observation from any site.",
    "gap_not_yet": "Data up to {when}; the rest of the period has no data (or has not happened "
    "yet) and is not counted.",
    "gap_sites": "Sites with time without data (counted neither up nor down):",
    "trace": "Traceability",
    "version": "pantau version",
    "config_digest": "Configuration digest (SHA-256)",
    "inventory_digest": "Site inventory digest (SHA-256)",
    "layer": "District boundary layer",
    "timezone": "Time zone",
    "page": "Page",
    "of": "of",
    "legend_sites": "Sites",
    "state_down": "down",
    "state_up": "up",
    "state_unknown": "unknown",
    "legend_coverage": "reach of sites up (outline)",
    "legend_no_data": "no data",
    "north": "N",
    "bar_blankspot_ratio": "Blankspot ratio",
    "bar_supervision_coverage": "Supervision coverage",
    "bar_availability": "Availability",
    "html_mean_blankspot": "Blankspot ratio, period mean",
    "html_coverage_availability": "Coverage availability",
    "html_colour_by": "Colour districts by",
    "html_reset": "reset view",
    "html_layers": "Layers",
    "html_drawn": "drawn (districts / sites / coverage / blankspots):",
    "layer_districts": "Districts",
    "layer_coverage": "Coverage",
    "layer_blankspots": "Blankspot areas",
    "layer_sites": "Sites",
    "definitions": (
        (
            "Infrastructure supervision coverage",
            "Registered sites observed (with a probe result) at any time in the period, divided "
            "by the registered sites. A site never observed is not supervised. A district with "
            "no registered site: no data.",
        ),
        (
            "Availability",
            "Up time over observed time (up + down) of the site in the period. Time in a "
            "maintenance window is not counted; time without data counts neither up nor down; "
            "unreachable behind a down parent counts as down. A site without data has no "
            "availability figure. A month in progress: only up to the last data.",
        ),
        (
            "Availability of government offices",
            "Up time of all offices (kind office) over their observed time (time-weighted, as a "
            "district's figure).",
        ),
        (
            "Outages and downtime",
            "Outages are decided by the collector (down, or unreachable behind a down parent). "
            "Downtime counts inside the period only and outside maintenance; the outage list "
            "shows each outage's duration inside the period and its part in maintenance.",
        ),
        ("Longest outage", "The site's longest outage inside the period, outside maintenance."),
        (
            "Blankspot area",
            "Target area not reached by any site observed up (coverage radius per site kind), "
            "averaged over the observed time of the period, in km². Time without data does not "
            "count as covered.",
        ),
        ("Blankspot ratio", "Blankspot area at the end of the period over the target area."),
        (
            "Time with data",
            "The share of the district's site-time outside maintenance that had data.",
        ),
        ("Target area", "The whole district, or only settlements when a settlement layer is set."),
    ),
}

STRINGS: dict[str, dict[str, object]] = {"id": _ID, "en": _EN}


def text(lang: str, key: str, **values: object) -> str:
    """The string ``key`` in ``lang``, with ``values`` filled in."""
    value = STRINGS[lang][key]
    if not isinstance(value, str):
        raise TypeError(f"{key!r} is not a text string")
    return value.format(**values) if values else value
