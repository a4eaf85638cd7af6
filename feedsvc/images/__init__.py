"""images: feedsvc's own image proxy: one guarded upstream fetch, and the disk cache in front of it."""
