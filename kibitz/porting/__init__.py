"""Moving in: imports from other comment systems.

Each source format has a parser in ``sources/`` that streams the file into plain records
(``records.py``); ``staging.py`` spools them to a temporary SQLite file so that memory stays
bounded however large the export; ``importer.py`` then writes one kibitz thread at a time, in
one transaction each, through the same rendering and sanitising as new comments.
"""
