"""parse: an article file's bytes to an Article. Pure: no I/O, no database, no web stack (each
parse worker imports it)."""
