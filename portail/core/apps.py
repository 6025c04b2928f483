import os

from django.apps import AppConfig

# Reproducible PDFs: WeasyPrint subsets fonts with fontTools, which stamps each subset with the current
# time unless SOURCE_DATE_EPOCH is set. Without it two renderings of the same invoice or attestation a
# second apart differ, and the SHA-256 archived at issue would not match a later download.
PDF_FONT_TIMESTAMP = "1704067200"  # 2024-01-01T00:00:00Z, any fixed instant will do


class CoreConfig(AppConfig):
    name = "portail.core"
    label = "core"
    verbose_name = "Noyau"

    def ready(self):
        from . import checks  # noqa: F401  (registers the deploy checks)

        os.environ.setdefault("SOURCE_DATE_EPOCH", PDF_FONT_TIMESTAMP)
