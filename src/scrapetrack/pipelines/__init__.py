"""One module per kind of job, each driven by the runner (`worker.JobRunner`) through its
primitives: start a run and save its id, follow a run page by page, write what the job owns.

A pipeline keeps nothing that matters in memory: every step it completes is on the job row,
so any worker can resume it after a crash, a graceful stop or a takeover.
"""
