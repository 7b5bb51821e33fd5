"""The report's HTML as a print-ready A4 PDF, through WeasyPrint (the only file this module writes).

WeasyPrint lays out HTML and CSS for paged media (``@page`` sizes, margin boxes with page
counters, page breaks, repeated table headers), so the PDF is the same document as
``report.html`` under its print rules instead of a second layout kept in step by hand. It is
BSD-licensed, maintained by CourtBouillon, and needs only Pango from the system (no browser, no
network: the document carries its images inline and names only installed fonts).
"""

from __future__ import annotations

from pathlib import Path


def write_pdf(document: str, path: Path) -> Path:
    """Lay out ``document`` (HTML text) on A4 pages and write it to ``path``."""
    from weasyprint import HTML
    from weasyprint.urls import URLFetcher

    # Only data: URLs resolve: the PDF never reaches the network or a stray file.
    fetcher = URLFetcher(allowed_protocols={"data"}, fail_on_errors=True)
    HTML(string=document, url_fetcher=fetcher).write_pdf(path)
    return path
