#!/usr/bin/env python3
# Redis memory of one job's log and history: `python3 bench/log_memory.py [message bytes]`
# (redis-cli on PATH, REDIS at its default address; keys under `measure:`, removed after).
# Fills one job's log hash (1,000 lines of a 100-byte message) and a full
# history list (720 samples) exactly as the log and write scripts store
# them, then prints MEMORY USAGE of each key.
import subprocess, sys
msg_len = int(sys.argv[1]) if len(sys.argv) > 1 else 100
cmds = []
log, hist = "measure:log:job-1", "measure:history:job-1"
cmds.append(f"DEL {log} {hist}")
total = 0
for seq in range(1, 1001):
    line = '{"seq":%d,"at":"2026-12-07T00:00:00.123456789Z","level":"info","message":"%s"}' % (seq, "x" * msg_len)
    total += len(line)
    cmds.append(f"HSET {log} {seq} '{line}'")
cmds.append(f"HSET {log} first 1 last 1000 bytes {total}")
cmds.append(f"RPUSH {hist} 10000")
for n in range(720):
    cmds.append(f"RPUSH {hist} {1796000000000 + n * 10000}:{n * 137}:{n * 3}")
subprocess.run(["redis-cli"], input="\n".join(cmds).encode(), stdout=subprocess.DEVNULL, check=True)
for key in (log, hist):
    out = subprocess.run(["redis-cli", "MEMORY", "USAGE", key, "SAMPLES", "0"], capture_output=True).stdout.decode().strip()
    print(key, out)
print("log lines' JSON bytes", total)
subprocess.run(["redis-cli", "DEL", log, hist], stdout=subprocess.DEVNULL)
