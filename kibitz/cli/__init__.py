"""The ``kibitz`` command. Each module adds the commands of one concern to ``main``."""

from kibitz.cli import admin, content, core, funding, mail, porting, readers
from kibitz.cli.base import main

__all__ = ["admin", "content", "core", "funding", "mail", "main", "porting", "readers"]
