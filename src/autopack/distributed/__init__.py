"""Runs on many machines: a procrastinate job queue in the deployment's PostgreSQL.

``queue.py`` is the adapter to procrastinate (the App, deferring a run, its schema);
``tasks.py`` the job a worker executes; ``worker.py`` the `autopack worker` process
(registration, heartbeat, recovery of stalled jobs, graceful shutdown).
"""
