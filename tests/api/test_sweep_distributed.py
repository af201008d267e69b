"""``dynlearn.sweep`` over two processes of JAX's multi-process runtime (``jax.distributed``).

Two processes on localhost (CPU, one device each) join one coordinator; the same
``dynlearn.sweep`` call shards the members over the two processes' devices, each process
computes its shard, and the result is gathered on every process. Both processes must hold the
single-process result (1e-12, float64) — which also shows that each member was computed once
and put back in its place.
"""

import os
import socket
import subprocess
import sys
import textwrap
from pathlib import Path

import jax
import numpy as np
from test_sweep import XS, assert_trees_close, member, stacked_loop

HERE = Path(__file__).resolve().parent

WORKER = textwrap.dedent(
    """
    import sys
    import jax, numpy as np
    jax.config.update("jax_enable_x64", True)
    port, process_id, out = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    jax.distributed.initialize(
        coordinator_address=f"127.0.0.1:{port}", num_processes=2, process_id=process_id
    )
    import dynlearn
    from test_sweep import member, XS
    assert jax.process_count() == 2 and len(jax.devices()) == 2 and len(jax.local_devices()) == 1
    result = dynlearn.sweep(member, XS)
    leaves = jax.tree.leaves(result)
    np.savez(out, *[np.asarray(leaf) for leaf in leaves])
    jax.distributed.shutdown()
    print("OK", process_id)
    """
)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_two_processes_gather_the_single_process_result(tmp_path):
    env = dict(
        os.environ,
        PYTHONPATH=os.pathsep.join(
            [str(HERE.parents[1]), str(HERE), os.environ.get("PYTHONPATH", "")]
        ),
        JAX_PLATFORMS="cpu",
    )
    env.pop("XLA_FLAGS", None)
    port = free_port()
    outs = [tmp_path / f"process{i}.npz" for i in range(2)]
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", WORKER, str(port), str(i), str(outs[i])],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for i in range(2)
    ]
    logs = []
    try:
        for proc in procs:
            stdout, stderr = proc.communicate(timeout=300)
            logs.append((proc.returncode, stdout, stderr[-3000:]))
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
    assert all(rc == 0 for rc, _, _ in logs), logs

    expected = jax.tree.leaves(stacked_loop(jax.jit(member), XS))
    for out in outs:
        with np.load(out) as data:
            gathered = [data[f"arr_{i}"] for i in range(len(data.files))]
        assert_trees_close(gathered, [np.asarray(e) for e in expected])
