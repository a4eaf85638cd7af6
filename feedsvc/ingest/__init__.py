"""ingest: the article folders as they are now (walked or watched) into the store, in batches."""
