"""render: bytes for people and readers: feed entries, whole feeds and OPML, HTML pages from the
templates beside this package, and the one rendering path the server and the export share."""
