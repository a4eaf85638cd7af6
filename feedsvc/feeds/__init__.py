"""feeds: which feeds exist (the category tree, tags, channels), what each one selects, its
archive pages and signatures, the URL filters a request applies, and each feed's cache rhythm."""
