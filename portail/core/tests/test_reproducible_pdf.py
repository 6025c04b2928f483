"""Rendering the same HTML twice, seconds apart, gives the same PDF bytes (archived SHA-256 stay true)."""

import time

import time_machine
import weasyprint


def test_the_same_document_renders_to_the_same_bytes_at_different_times():
    html = "<html><body><h1>Facture n° FENF2026000001</h1><p>Montant : 12,50 €</p></body></html>"
    first = weasyprint.HTML(string=html).write_pdf()
    with time_machine.travel(time.time() + 3600):
        later = weasyprint.HTML(string=html).write_pdf()
    assert first == later
