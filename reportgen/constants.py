"""Small shared vocabularies, kept free of heavy imports (the CLI reads them at start-up)."""

from typing import Literal

Level = Literal["LOW", "MEDIUM", "HIGH", "CRITICAL"]
LEVELS: tuple[Level, ...] = ("LOW", "MEDIUM", "HIGH", "CRITICAL")
FORMATS = ("md", "html", "pdf")
PDF_VARIANTS = ("pdf/a-3b", "pdf/a-3u", "pdf/a-2b", "pdf/ua-1")
#: The longest line the report prints in a code block: 7.5 pt monospace on A4 holds ~110.
#: Longer commands are broken between arguments (quoting.wrap_command); longer files are
#: named, not printed.
CODE_WIDTH = 96
