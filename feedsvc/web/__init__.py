"""web: the Flask app and the fast path in front of it: conditional GET, gzip, the per-worker
page cache."""
