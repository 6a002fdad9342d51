"""Moving out and keeping safe: the archive of a whole site (``archive.py``), restoring it
(``restore.py``), which tables and columns it holds and why (``rules.py``), and scheduled
backups (``schedule.py``). The format is documented in docs/backup-format.md."""
