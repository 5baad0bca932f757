"""The dask cluster a blockwise prediction runs on: an existing scheduler, or a LocalCluster sized from the machine."""

from __future__ import annotations

import os
from contextlib import contextmanager
from typing import Iterator


def local_cluster_size(workers: int | None = None) -> tuple[int, int]:
    """``(workers, threads per worker)`` for a LocalCluster: one worker per GPU, else one per 4 cores (``workers`` overrides)."""
    import torch

    cores = os.cpu_count() or 1
    gpus = torch.cuda.device_count()
    if workers is None:
        workers = gpus if gpus else max(1, cores // 4)
    return workers, max(1, cores // workers)


def _set_torch_threads(threads: int) -> None:
    import torch

    torch.set_num_threads(threads)


@contextmanager
def dask_client(scheduler: str | None = None, workers: int | None = None) -> Iterator[object]:
    """A ``distributed.Client``: of the scheduler at ``scheduler`` (a Slurm or Kubernetes cluster, say), or of a new LocalCluster.

    A LocalCluster gets :func:`local_cluster_size` workers (processes, so each loads the
    model once and runs torch on its own threads) and is closed at the end of the block.
    """
    from distributed import Client, LocalCluster

    if scheduler is not None:
        client = Client(scheduler)
        try:
            yield client
        finally:
            client.close()
        return
    count, threads = local_cluster_size(workers)
    # ":0": any free port for the scheduler's web server, so that two runs on one machine do not clash.
    with LocalCluster(n_workers=count, threads_per_worker=1, processes=True, dashboard_address=":0") as cluster:
        with Client(cluster) as client:
            client.run(_set_torch_threads, threads)
            yield client
