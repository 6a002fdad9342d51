"""One parser per source format: each turns a binary file into a stream of records."""
