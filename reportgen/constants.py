"""Small shared vocabularies, kept free of heavy imports (the CLI reads them at start-up)."""

from typing import Literal

Level = Literal["LOW", "MEDIUM", "HIGH", "CRITICAL"]
LEVELS: tuple[Level, ...] = ("LOW", "MEDIUM", "HIGH", "CRITICAL")
FORMATS = ("md", "html", "pdf")
PDF_VARIANTS = ("pdf/a-3b", "pdf/a-3u", "pdf/a-2b", "pdf/ua-1")
