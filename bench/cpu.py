#!/usr/bin/env python3
"""CPU time per request, split between a server, PostgreSQL and the load generator.

Runs the release `bench` harness against one target and reads /proc before and after:
the server's user and system time, every postgres process's time, the harness's own time
(from its rusage) and the whole machine's idle time, each divided by the requests answered.
On a machine whose cores the three share, throughput follows the sum, so this shows which
part a change moved. Linux only; run as a user who can read the processes' /proc entries.

    bench/cpu.py api=http://127.0.0.1:8000 PID [MODE [CONCURRENCY [SECONDS]]]

e.g. two builds of the service started side by side on ports 8000 and 8001, measured in turn:

    for i in 1 2 3; do
        bench/cpu.py a=http://127.0.0.1:8000 "$(pgrep -f build-a)" get 32 10
        bench/cpu.py b=http://127.0.0.1:8001 "$(pgrep -f build-b)" get 32 10
    done
"""

import json
import os
import resource
import subprocess
import sys
import tempfile

TICK = os.sysconf("SC_CLK_TCK")
BENCH = os.path.join(
    os.environ.get("CARGO_TARGET_DIR", os.path.join(os.path.dirname(__file__), "..", "target")),
    "release",
    "bench",
)


def times(pids):
    """(user, system) seconds of the processes (all their threads)."""
    user = system = 0
    for pid in pids:
        try:
            with open(f"/proc/{pid}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:
            continue  # exited meanwhile
        user += int(fields[11])
        system += int(fields[12])
    return user / TICK, system / TICK


def postgres():
    pids = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open(f"/proc/{pid}/comm") as f:
                if f.read().startswith("postgres"):
                    pids.append(pid)
        except OSError:
            pass
    return pids


def machine():
    """(busy, idle) seconds of all cores."""
    with open("/proc/stat") as f:
        ticks = list(map(int, f.readline().split()[1:]))
    idle = ticks[3] + ticks[4]
    return (sum(ticks) - idle) / TICK, idle / TICK


def main():
    if len(sys.argv) < 3:
        sys.exit(__doc__)
    target, pid = sys.argv[1], sys.argv[2]
    mode, conc, secs = (sys.argv[3:] + ["get", "32", "10"][len(sys.argv) - 3 :])[:3]
    name = target.split("=", 1)[0]
    # Connections a pool opens during the run are new processes: take postgres's list after
    # a warm-up, so both ends of the interval see the same ones.
    with tempfile.TemporaryDirectory() as out:
        run = [BENCH, mode, "-t", target, "-c", conc, "-q", "--out", out]
        subprocess.run(run + ["-d", "2"], check=True, stdout=subprocess.DEVNULL)
        pg = postgres()
        server0, pg0, machine0 = times([pid]), times(pg), machine()
        harness0 = resource.getrusage(resource.RUSAGE_CHILDREN)
        subprocess.run(run + ["-d", secs], check=True, stdout=subprocess.DEVNULL)
        harness1 = resource.getrusage(resource.RUSAGE_CHILDREN)
        server1, pg1, machine1 = times([pid]), times(pg), machine()
        with open(os.path.join(out, "results.json")) as f:
            row = json.load(f)["results"][0]
    n = row["requests"]
    us = lambda seconds: seconds / n * 1e6  # noqa: E731
    server_user = us(server1[0] - server0[0])
    server_sys = us(server1[1] - server0[1])
    pg_total = us(sum(pg1) - sum(pg0))
    harness = us(
        harness1.ru_utime + harness1.ru_stime - harness0.ru_utime - harness0.ru_stime
    )
    busy = us(machine1[0] - machine0[0])
    other = busy - server_user - server_sys - pg_total - harness
    print(
        f"{name} {mode} c{conc}: {row['req_per_s']:.0f} req/s; CPU µs per request: "
        f"server {server_user + server_sys:.1f} (user {server_user:.1f}, system {server_sys:.1f}), "
        f"postgres {pg_total:.1f}, load generator {harness:.1f}, other {other:.1f}, "
        f"idle {us(machine1[1] - machine0[1]):.1f}"
    )


if __name__ == "__main__":
    main()
