"""The node manager (issue 14 §2, docs/suites.md "Running node managers"): one process per
machine that takes a suite from the coordinator, runs its hooks, and serves its tasks to
managed workers over a local socket."""
