"""What :class:`shipyard.local.LocalOperations` is made of: one small module per policy.

``local.py`` only wires these together (the composition root); each module here owns one
decision, kept pure where it can be, with its effects in a thin function beside it:

- ``clock``      — the Clock protocol (wall time, monotonic time) and the system's clock
- ``kept``       — which steps of an earlier run are kept (resume, ``--resume-from``, restore)
- ``resuming``   — when an execution may be resumed, and reopening it
- ``cleaning``   — what a clean level removes, which executions are eligible, trash and undo
- ``reconcile``  — an active execution whose process is gone becomes ``lost``
- ``controlling``— requests to a running execution over its control socket, and waiting on them
- ``supervising``— handing an execution to a detached supervisor process
- ``plans``      — building plans through the cache, and preparing an execution's folder
- ``logs``       — reading and following units' logs (the files themselves: ``shipyard.logfiles``)

Nothing is imported here: ``shipyard status`` loads only what it uses.
"""
