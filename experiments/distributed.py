"""One measurement over several processes (hosts), with JAX's distributed runtime.

``--coordinator HOST:PORT --num-processes N --process-id I`` on ``tmt reproduce``, ``tmt experiment``
and ``tmt nstar`` call :func:`jax.distributed.initialize`; without the flags the same comes from the
environment: ``JAX_COORDINATOR_ADDRESS`` (read by JAX itself) with ``JAX_NUM_PROCESSES`` and
``JAX_PROCESS_ID``, or -- with none of these -- a cluster JAX detects on its own (SLURM with more
than one task, Open MPI). Every process then sees every process's devices, the engine's mesh spans
them all (:mod:`experiments.devices`), and each process runs the same program on its share of the
trials; process 0 alone writes results. On CPU the processes exchange results with gloo.
"""
from __future__ import annotations

import os

from tm_transformer.errors import ToolkitError


def add_arguments(p) -> None:
    g = p.add_argument_group("several processes (jax.distributed; default: from the environment, else one)")
    g.add_argument("--coordinator", metavar="HOST:PORT", help="address of process 0's coordinator service")
    g.add_argument("--num-processes", type=int, metavar="N", help="how many processes take part")
    g.add_argument("--process-id", type=int, metavar="I", help="this process's index, 0 to N-1 (0 writes results)")


def _cluster() -> bool:
    """Whether a cluster launcher started several tasks (SLURM, Open MPI), as JAX would detect it."""
    def more_than_one(var):
        try:
            return int(os.environ.get(var, "1")) > 1
        except ValueError:
            return False
    slurm = all(v in os.environ for v in ("SLURM_JOB_ID", "SLURM_NODELIST", "SLURM_PROCID", "SLURM_LOCALID"))
    return (slurm and more_than_one("SLURM_NTASKS")) or more_than_one("OMPI_COMM_WORLD_SIZE")


def settings(coordinator=None, num_processes=None, process_id=None) -> dict | None:
    """The keywords for jax.distributed.initialize, or None for a single process; bad values raise
    :class:`ToolkitError` with one line."""
    given = [x is not None for x in (coordinator, num_processes, process_id)]
    if any(given) and not all(given):
        raise ToolkitError("--coordinator, --num-processes and --process-id go together: give all three or none")
    if not any(given):
        env = os.environ
        if "JAX_COORDINATOR_ADDRESS" in env:
            coordinator = env["JAX_COORDINATOR_ADDRESS"]
            try:
                num_processes = int(env["JAX_NUM_PROCESSES"]) if "JAX_NUM_PROCESSES" in env else None
                process_id = int(env["JAX_PROCESS_ID"]) if "JAX_PROCESS_ID" in env else None
            except ValueError:
                raise ToolkitError("JAX_NUM_PROCESSES and JAX_PROCESS_ID: expected integers") from None
            if num_processes is None and not _cluster():
                raise ToolkitError("JAX_COORDINATOR_ADDRESS is set: also set JAX_NUM_PROCESSES and JAX_PROCESS_ID")
        elif _cluster():
            return {}  # jax.distributed.initialize() finds everything
        else:
            return None
    host, sep, port = str(coordinator).rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ToolkitError(f"--coordinator {coordinator!r}: expected HOST:PORT, e.g. node01:12345")
    if num_processes is not None and num_processes < 1:
        raise ToolkitError(f"--num-processes {num_processes}: expected at least 1")
    if process_id is not None and num_processes is not None and not 0 <= process_id < num_processes:
        raise ToolkitError(f"--process-id {process_id}: expected 0 to {num_processes - 1}")
    return {k: v for k, v in dict(coordinator_address=coordinator, num_processes=num_processes,
                                  process_id=process_id).items() if v is not None}


def start(args) -> None:
    """Join the distributed run the command line (or the environment) describes, if any."""
    kw = settings(getattr(args, "coordinator", None), getattr(args, "num_processes", None),
                  getattr(args, "process_id", None))
    if kw is None:
        return
    import jax

    jax.config.update("jax_cpu_collectives_implementation", "gloo")  # CPU processes exchange results with gloo
    try:
        jax.distributed.initialize(**kw)
    except (RuntimeError, ValueError) as exc:
        raise ToolkitError(f"jax.distributed.initialize: {str(exc).splitlines()[0] if str(exc) else exc}") from None


def writer() -> bool:
    """Whether this process writes results (process 0, or the only one)."""
    import jax

    return jax.process_index() == 0


def same_everywhere(text: str) -> bool:
    """Whether every process holds the same ``text`` (True with one process)."""
    import hashlib

    import jax
    import numpy as np

    if jax.process_count() == 1:
        return True
    from jax.experimental import multihost_utils

    word = np.frombuffer(hashlib.sha256(text.encode()).digest()[:4], dtype=np.uint32)
    got = np.asarray(multihost_utils.process_allgather(word))
    return bool((got == got.reshape(-1)[0]).all())
