"""Where units run: the :class:`~shipyard.engine.runners.base.Runner` protocol and its
backends (``local`` today; ``ssh``, ``slurm`` and ``cluster`` later)."""
