"""PDF rendering shared by every document (invoices, credit notes, receipts, attestations, certificates).

WeasyPrint reads only data: URIs (a town's logo carried in the document); any file or network URL is
refused, so rendering never touches the disk or the network. Renderings are byte-for-byte reproducible
(see PDF_FONT_TIMESTAMP in portail/core/apps.py), so a SHA-256 archived at issue matches a later download.
"""

import weasyprint


class DataOnlyFetcher(weasyprint.URLFetcher):
    def __init__(self):
        super().__init__(allowed_protocols=("data",), allow_redirects=False, timeout=1)


def render_pdf(html: str) -> bytes:
    return weasyprint.HTML(string=html, url_fetcher=DataOnlyFetcher()).write_pdf()
