"""Live updates: the event log, the per-process hub that fans events out to streams, and
the limits on open streams. The HTTP side is kibitz/web/live.py."""
