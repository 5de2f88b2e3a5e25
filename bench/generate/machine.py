#!/usr/bin/env python3
"""What machine a benchmark ran on, and whether anything else ran beside a cell of it.

    machine.py describe                 the CPU (model, family, the vector features that pick kernels),
                                        cores and hypervisor, as Markdown lines
    machine.py cell LOG NAME [--pid P] -- COMMAND...
                                        waits (up to 60 s) until the machine is quiet, runs COMMAND (its
                                        output passed through, its exit status returned), and appends one
                                        JSON line to LOG: the load average before and after, and the CPU
                                        that other processes took while it ran (in cores), that is every
                                        busy jiffy of /proc/stat less COMMAND's own (and process P's, a
                                        server that COMMAND measures)

The load average is recorded as asked, but it is a poor judge on a small VM: it trails by a minute, so
it counts the previous cell's own load, and here it idles between 1 and 2 with nothing running. A cell
is judged by the CPU others took during it; the report refuses a round where that passed QUIET_CORES.
"""
import json
import os
import resource
import subprocess
import sys
import time

QUIET_CORES = 0.15
FEATURES = ["avx2", "fma", "f16c", "avx512f", "avx512bw", "avx512vl", "avx512_vnni", "avx_vnni", "amx_int8", "asimd", "sve"]


def describe():
    info, flags = {}, set()
    with open("/proc/cpuinfo") as cpuinfo:
        for line in cpuinfo:
            key, _, value = line.partition(":")
            key, value = key.strip(), value.strip()
            if key in ("model name", "cpu family", "model", "vendor_id", "stepping") and key not in info:
                info[key] = value
            if key in ("flags", "Features") and not flags:
                flags = set(value.split())
    hypervisor = "yes" if "hypervisor" in flags else "no"
    present = [f for f in FEATURES if f in flags]
    absent = [f for f in FEATURES if f not in flags and f not in ("asimd", "sve", "amx_int8")]
    print(f"- CPU: {info.get('model name', 'unknown')} ({info.get('vendor_id', '?')}, family {info.get('cpu family', '?')}, "
          f"model {info.get('model', '?')}, stepping {info.get('stepping', '?')}); {os.cpu_count()} cores; under a hypervisor: {hypervisor}.")
    print(f"- Vector features: {', '.join(present) or 'none of ' + ', '.join(FEATURES)}; without: {', '.join(absent) or 'none'}.")
    print(f"- Every flag: {' '.join(sorted(flags))}")


def busy_jiffies():
    with open("/proc/stat") as stat:
        values = [int(v) for v in stat.readline().split()[1:]]
    # user, nice, system, irq, softirq (idle, iowait and steal are not work done here).
    return values[0] + values[1] + values[2] + values[5] + values[6]


def process_jiffies(pid):
    try:
        with open(f"/proc/{pid}/stat") as stat:
            fields = stat.read().rsplit(")", 1)[1].split()
        return int(fields[11]) + int(fields[12])  # utime, stime
    except (OSError, IndexError, ValueError):
        return 0


def loadavg():
    with open("/proc/loadavg") as f:
        return " ".join(f.read().split()[:3])


def others_over(seconds):
    tick = os.sysconf("SC_CLK_TCK")
    before, own = busy_jiffies(), resource.getrusage(resource.RUSAGE_SELF)
    time.sleep(seconds)
    after, own_after = busy_jiffies(), resource.getrusage(resource.RUSAGE_SELF)
    mine = (own_after.ru_utime + own_after.ru_stime) - (own.ru_utime + own.ru_stime)
    return max(0.0, (after - before) / tick - mine) / seconds


def cell(log, name, pid, command):
    tick = os.sysconf("SC_CLK_TCK")
    waited, quiet_before = 0.0, others_over(1.0)
    while quiet_before > QUIET_CORES and waited < 60:
        waited += 1.0
        quiet_before = others_over(1.0)
    load_before = loadavg()
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    busy, server, start = busy_jiffies(), process_jiffies(pid) if pid else 0, time.perf_counter()
    status = subprocess.call(command)
    wall = time.perf_counter() - start
    children_after = resource.getrusage(resource.RUSAGE_CHILDREN)
    own = (children_after.ru_utime + children_after.ru_stime) - (children.ru_utime + children.ru_stime)
    served = ((process_jiffies(pid) - server) / tick) if pid else 0.0
    others = max(0.0, (busy_jiffies() - busy) / tick - own - served) / max(wall, 1e-3)
    with open(log, "a") as out:
        out.write(json.dumps({"cell": name, "seconds": round(wall, 2), "load_before": load_before, "load_after": loadavg(),
                              "others_before": round(quiet_before, 3), "others_cores": round(others, 3), "waited_s": waited,
                              "quiet": quiet_before <= QUIET_CORES and others <= QUIET_CORES}) + "\n")
    return status


def main():
    which, args = sys.argv[1], sys.argv[2:]
    if which == "describe":
        describe()
    elif which == "cell":
        log, name, rest = args[0], args[1], args[2:]
        pid = None
        if rest[:1] == ["--pid"]:
            pid, rest = int(rest[1]), rest[2:]
        if rest[:1] == ["--"]:
            rest = rest[1:]
        sys.exit(cell(log, name, pid, rest))
    else:
        sys.exit(f"unknown command {which}")


if __name__ == "__main__":
    main()
