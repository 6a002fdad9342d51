"""The benchmark harness: kibitz beside Isso and beside the machine's ceiling.

``python -m bench`` (``make bench``, ``make bench-quick``) seeds the same comments into
every system, serves each one in turn on loopback, drives it with wrk and writes
``bench/results/<name>.json`` and ``.md``. It reports numbers against goals; it never
fails on a number, only when the harness itself cannot run.
"""
