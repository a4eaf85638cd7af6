"""ops: running feedsvc: the pipeline build and serve share, the export, WebSub pings, the scan
schedule and watcher, /healthz, metrics, and serve's supervisor around granian."""
