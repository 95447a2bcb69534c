"""The burst benchmark's two readings (benchmarks/ledger_burst.py): the memory limit it
judges by is the ledger API pod's, as deployed, and a process's peak memory."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

from benchmarks._machine import peak_rss
from benchmarks.ledger_burst import MANIFEST, pod_memory_limit


def test_the_limit_is_the_ledger_api_containers_not_another_of_the_manifest(tmp_path):
    assert pod_memory_limit(MANIFEST) == 1 << 30  # deploy/k8s/ledger.yaml, the api's 1Gi
    other = tmp_path / "ledger.yaml"
    other.write_text('args: ["ledger", "migrate"]\n  limits:\n    memory: 256Mi\n'
                     'args: ["ledger", "api"]\n  requests:\n    memory: 512Mi\n'
                     '  limits:\n    memory: 768Mi\n')
    assert pod_memory_limit(other) == 768 << 20


def test_peak_memory_counts_a_worker_process_and_is_zero_for_a_gone_one():
    """A shell holding a Python worker that touched 200 MiB: the shell's peak is the
    worker's (an API with CAIRN_WEB_WORKERS > 1 is such a tree)."""
    worker = f"{sys.executable} -c 'x = b\"1\" * (200 << 20); import time; time.sleep(30)'"
    tree = subprocess.Popen(["sh", "-c", f"{worker}; true"], start_new_session=True)
    try:
        deadline = time.monotonic() + 20
        while peak_rss(tree.pid) < 200 << 20 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert peak_rss(tree.pid) >= 200 << 20
    finally:
        os.killpg(tree.pid, signal.SIGKILL)  # the shell and its worker
        tree.wait(10)
    assert peak_rss(tree.pid) == 0
