"""The ``kibitz`` command. Each module adds the commands of one concern to ``main``."""

from kibitz.cli import content, core, mail, porting
from kibitz.cli.base import main

__all__ = ["content", "core", "mail", "main", "porting"]
