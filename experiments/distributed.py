"""One measurement over several processes (hosts), with JAX's distributed runtime.

``--coordinator HOST:PORT --num-processes N --process-id I`` on ``tmt reproduce``, ``tmt experiment``
and ``tmt nstar`` call :func:`jax.distributed.initialize`; without the flags the same comes from the
environment: ``JAX_COORDINATOR_ADDRESS`` (read by JAX itself) with ``JAX_NUM_PROCESSES`` and
``JAX_PROCESS_ID``, or -- only with ``--coordinator auto`` or ``TMT_DISTRIBUTED=1`` -- a cluster JAX
detects on its own (SLURM with more than one task, Open MPI). Every process then sees every process's devices, the engine's mesh spans
them all (:mod:`experiments.devices`), and each process runs the same program on its share of the
trials; process 0 alone writes results. On CPU the processes exchange results with gloo.
"""
from __future__ import annotations

import os
from contextlib import contextmanager

from tm_transformer.errors import ToolkitError


TIMEOUT = 120  # seconds to wait for every process to join (JAX's own default, 300 s, then aborts the process)


def add_arguments(p) -> None:
    g = p.add_argument_group("several processes (jax.distributed; default: from the environment, else one)")
    g.add_argument("--coordinator", metavar="HOST:PORT",
                   help="address of process 0's coordinator service; 'auto': join the SLURM / Open MPI job's tasks")
    g.add_argument("--num-processes", type=int, metavar="N", help="how many processes take part")
    g.add_argument("--process-id", type=int, metavar="I", help="this process's index, 0 to N-1 (0 writes results)")
    g.add_argument("--join-timeout", type=int, default=TIMEOUT, metavar="SECONDS",
                   help=f"seconds to wait for every process to join before giving up (default {TIMEOUT})")


def _cluster() -> bool:
    """Whether a cluster launcher started several tasks (SLURM, Open MPI), as JAX would detect it."""
    def more_than_one(var):
        try:
            return int(os.environ.get(var, "1")) > 1
        except ValueError:
            return False
    slurm = all(v in os.environ for v in ("SLURM_JOB_ID", "SLURM_NODELIST", "SLURM_PROCID", "SLURM_LOCALID"))
    return (slurm and more_than_one("SLURM_NTASKS")) or more_than_one("OMPI_COMM_WORLD_SIZE")


def _env_int(var: str) -> int | None:
    if var not in os.environ:
        return None
    try:
        return int(os.environ[var])
    except ValueError:
        raise ToolkitError(f"{var}={os.environ[var]!r}: expected an integer") from None


def settings(coordinator=None, num_processes=None, process_id=None) -> dict | None:
    """The keywords for jax.distributed.initialize, or None for a single process; bad values raise
    :class:`ToolkitError` with one line naming the flag or environment variable.

    A cluster job (SLURM with more than one task, Open MPI) is joined only on request -- ``--coordinator
    auto`` or ``TMT_DISTRIBUTED=1`` -- since a plain ``tmt reproduce`` in the batch step of a job with
    ``--ntasks > 1`` would otherwise wait for peers that never start."""
    names = {"coordinator": "--coordinator", "num": "--num-processes", "id": "--process-id"}
    if coordinator == "auto" or (coordinator is None and num_processes is None and process_id is None
                                 and "JAX_COORDINATOR_ADDRESS" not in os.environ
                                 and os.environ.get("TMT_DISTRIBUTED") == "1"):
        where = "--coordinator auto" if coordinator == "auto" else "TMT_DISTRIBUTED=1"
        if num_processes is not None or process_id is not None:
            raise ToolkitError("--coordinator auto: the cluster gives the process count and index; drop "
                               "--num-processes and --process-id")
        if not _cluster():
            raise ToolkitError(f"{where}: no SLURM job with more than one task (SLURM_NTASKS) nor Open MPI job "
                               "(OMPI_COMM_WORLD_SIZE) found; give --coordinator HOST:PORT --num-processes N --process-id I")
        return {}  # jax.distributed.initialize() finds everything
    given = [x is not None for x in (coordinator, num_processes, process_id)]
    if any(given) and not all(given):
        raise ToolkitError("--coordinator, --num-processes and --process-id go together: give all three or none")
    if not any(given):
        if "JAX_COORDINATOR_ADDRESS" not in os.environ:
            return None
        names = {"coordinator": "JAX_COORDINATOR_ADDRESS", "num": "JAX_NUM_PROCESSES", "id": "JAX_PROCESS_ID"}
        coordinator = os.environ["JAX_COORDINATOR_ADDRESS"]
        num_processes, process_id = _env_int("JAX_NUM_PROCESSES"), _env_int("JAX_PROCESS_ID")
        if num_processes is None or process_id is None:
            raise ToolkitError("JAX_COORDINATOR_ADDRESS is set: also set JAX_NUM_PROCESSES and JAX_PROCESS_ID")
    host, sep, port = str(coordinator).rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ToolkitError(f"{names['coordinator']} {coordinator!r}: expected HOST:PORT, e.g. node01:12345")
    if num_processes is None or process_id is None:  # not reached: given all three, or read from the environment
        raise TypeError("settings(): the process count and index are unset")
    if num_processes < 1:
        raise ToolkitError(f"{names['num']} {num_processes}: expected at least 1")
    if not 0 <= process_id < num_processes:
        raise ToolkitError(f"{names['id']} {process_id}: expected 0 to {num_processes - 1}")
    return dict(coordinator_address=coordinator, num_processes=num_processes, process_id=process_id)


def _reach(address: str, timeout: float) -> None:
    """Wait until the coordinator at HOST:PORT accepts a TCP connection, or raise one line (JAX itself would
    block without heeding Ctrl-C and then abort the process)."""
    import socket
    import time

    host, _, port = address.rpartition(":")
    deadline = time.monotonic() + timeout
    while True:
        try:
            socket.create_connection((host.strip("[]"), int(port)), timeout=min(5.0, timeout)).close()
            return
        except OSError as exc:
            if time.monotonic() >= deadline:
                raise ToolkitError(f"coordinator {address}: not reachable within {timeout:g} s ({exc.strerror or exc}); "
                                   "is process 0 running? (--join-timeout SECONDS)") from None
            time.sleep(0.5)


def start(args) -> None:
    """Join the distributed run the command line (or the environment) describes, if any. A run of one
    process gives a CPU one host device per core (:func:`~experiments.devices.use_every_core`); processes of
    a distributed run keep the devices XLA_FLAGS gives them (several may share a machine)."""
    from .devices import use_every_core

    kw = settings(getattr(args, "coordinator", None), getattr(args, "num_processes", None),
                  getattr(args, "process_id", None))
    if kw is None:
        use_every_core()
        return
    timeout = getattr(args, "join_timeout", None) or TIMEOUT
    if timeout < 1:
        raise ToolkitError(f"--join-timeout {timeout}: expected at least 1 second")
    import sys

    import jax

    if kw:
        print(f"waiting for {kw['num_processes']} processes at {kw['coordinator_address']} (up to {timeout} s; "
              "Ctrl-C does not interrupt the wait)", file=sys.stderr, flush=True)
        if kw["process_id"] != 0:
            _reach(kw["coordinator_address"], timeout)
    else:
        print(f"waiting for the cluster job's processes (up to {timeout} s)", file=sys.stderr, flush=True)
    jax.config.update("jax_cpu_collectives_implementation", "gloo")  # CPU processes exchange results with gloo
    try:
        jax.distributed.initialize(**kw, initialization_timeout=timeout)
    except (RuntimeError, ValueError) as exc:
        raise ToolkitError(f"jax.distributed.initialize: {str(exc).splitlines()[0] if str(exc) else exc}") from None


@contextmanager
def collective_errors():
    """Turn a failed exchange between processes (another process stopped, e.g. on a refused --out) into one
    line instead of a runtime traceback."""
    import jax

    try:
        yield
    except jax.errors.JaxRuntimeError as exc:
        if jax.process_count() == 1:
            raise
        raise ToolkitError(f"process {jax.process_index()}: an exchange with the other processes failed "
                           f"(another process stopped? see its error): {str(exc).splitlines()[0][:200]}") from None


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
    with collective_errors():
        got = np.asarray(multihost_utils.process_allgather(word))
    return bool((got == got.reshape(-1)[0]).all())
