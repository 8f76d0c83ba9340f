"""A sweep as one Slurm job array (issue 16 §3: "sweeps as job arrays").

``shipyard sweep SPEC -m … --slurm-array`` (or ``slurm_array: true`` in the spec's ``sweep:``
block) prepares every pending point as an execution of its own (its record and run folder,
held: nothing runs yet), then submits ONE ``sbatch --array=0-(N-1)%K`` job, ``K`` being
``max_parallel_runs``. Task ``i`` runs point ``i``'s execution on its node, in the foreground,
by the same entry a detached supervisor drives a prepared execution with
(:func:`shipyard.supervisor.drive` of the run folder's ``plan.json``): ``python -m
shipyard.slurmarray HOME FOLDER`` (:func:`.taskside.main`), where the point's units run with
the local runner of that node (a ``runner: slurm`` unit too: it is already in its Slurm job).

The home's store is SQLite in WAL mode, which needs every process that opens it on ONE host:
over a shared file system from several hosts it corrupts. So a task runs only on the host
that submitted the sweep (recorded in ``array/host``): a task that starts on another node
ends at once without opening the store (:func:`.decisions.node_refusal`), its point failed
with why.

The array's files are under the sweep's folder ``HOME/sweeps/<sweep id>/array/``: ``tasks``
(execution id of task i on line i), ``array.sh`` (the batch script), ``job`` (the array's job
id and the SLURM_CONF it was submitted with), ``host`` (the submitting host), ``refused-<i>``
(why task i refused to run, if it did), ``task-<i>.log`` (what a task printed before its
execution's ``supervisor.log`` took over). Each point's run folder notes its task
(``slurm/jobs``: ``<array>_<i>``), so that recovery of a lost point cancels it, and so
that ``shipyard stop`` of a point still queued cancels its task
(:func:`.points.cancel_queued`). A point stays ``pending`` until its task starts.

The sweep process follows the tasks with the Slurm runner's own batched ``squeue`` poll
(:meth:`shipyard.engine.runners.slurm.SlurmRunner.follow`). A task that ends leaves its
point's execution as the execution recorded it; one that ends without the execution having
finished (cancelled while PENDING, ``TIMEOUT``, ``NODE_FAIL``, ``OUT_OF_MEMORY``…) gets it
ended with Slurm's end mapped as the runner maps a job's (:func:`.decisions.task_outcome`).
A stop of the sweep cancels the array's queued tasks with one ``scancel`` and has the running
ones stop their points (:func:`.sweepside._stop`).

The modules, each owning one thing (import from them; this package imports none):

- :mod:`.decisions`: pure (the ``--array`` range, the ``sbatch`` argv and script, what a
  task's end means, the refusals), tested with tables;
- :mod:`.jobs`: the array's folder and its Slurm job (check, submit, read back, cancel, each
  point's task for ``sweep status``);
- :mod:`.points`: what the store is told of the array's points (started, ended unstarted,
  stopped while queued), by the sweep, a task and ``shipyard stop``;
- :mod:`.sweepside`: the sweep process's loop (prepare, submit, follow, stop, record);
- :mod:`.taskside`: the task's entry (``__main__``: ``python -m shipyard.slurmarray``).
"""
