#!/usr/bin/env python3
"""Write synthetic job-progress traces for scoring the ETA estimator.

Each trace is one CSV file in the format the scorer and `eta_replay` read: a
header `total,N,chunk,C,delay_ms,D`, then `t_ms,processed` rows, one per
chunk (the job reports at the end of every chunk and sleeps D ms before every
chunk but the first); the last row is the moment the job ended.

The traces are held-out data: the shared traces are one draw of each kind of
job, these are others, so a change to the estimator that only fits the
shared draw shows up as a loss here. Every family draws its parameters
(job size, base chunk time, noise, where and how big a change is) from the
seeded generator, so two seeds give two different sets.

Families (one file each, several for the noise levels and swing periods):
  steady_*      one rate, noise from 5 % to 50 % (normal, clipped)
  heavy_tail    one rate, log-normal noise with rare 5-20x chunks
  step_slow     the rate drops by 1.6-3x somewhere between 30 % and 60 %
  step_fast     a slow warm-up phase, then 2-3x faster from 15-35 %
  ramp          chunk time grows linearly by 40-100 % across the middle
  warmup        chunk time decays exponentially from 2-3x to 1x
  restart_gap   one interruption of 100-400 chunk times
  stalls        an interruption of 10-60 chunk times every 30-80 chunks
  swing_P*      chunk time swings sinusoidally +-25-50 % around a steady
                mean, period P chunks (short, medium, long)
  slow_tail     the last 10-25 % of the chunks are retried, 2-3x slower
  small_*       20-40 chunks, noisy

usage: eta_synth.py [--seed N] [--out DIR]
"""
import argparse
import math
import os
import random


def write(path, total, chunk, delay, works, extras=None):
    """Lay out chunks with the given work times (ms) and extra delays."""
    extras = extras or [0.0] * len(works)
    t, done, rows = 0.0, 0, [(0, 0)]
    for i, (w, x) in enumerate(zip(works, extras)):
        if i > 0:
            t += delay
        t += max(w, 1.0) + x
        done = min(done + chunk, total)
        rows.append((round(t), done))
    with open(path, "w") as f:
        f.write(f"total,{total},chunk,{chunk},delay_ms,{delay}\n")
        f.writelines(f"{a},{b}\n" for a, b in rows)


def normal_noise(rng, cv):
    """Multiplicative noise with coefficient of variation `cv`, kept > 0.1."""
    return max(0.1, rng.gauss(1.0, cv))


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--out", default="synth")
    a = ap.parse_args()
    rng = random.Random(a.seed)
    os.makedirs(a.out, exist_ok=True)
    out = lambda name: os.path.join(a.out, name + ".csv")

    def job(min_chunks=200, max_chunks=600):
        n = rng.randint(min_chunks, max_chunks)
        chunk = rng.choice([100, 250, 500, 1000])
        delay = rng.choice([0, 200, 500, 1000, 2000])
        base = rng.uniform(300, 3000)
        return n, chunk, delay, base

    for cv in (0.05, 0.2, 0.5):
        n, c, d, b = job()
        write(out(f"steady_{int(cv * 100):02d}"), n * c, c, d,
              [b * normal_noise(rng, cv) for _ in range(n)])

    n, c, d, b = job()
    sigma = rng.uniform(0.3, 0.6)
    works = [b * math.exp(rng.gauss(-sigma * sigma / 2, sigma)) for _ in range(n)]
    for _ in range(rng.randint(2, 6)):
        works[rng.randrange(n)] *= rng.uniform(5, 20)
    write(out("heavy_tail"), n * c, c, d, works)

    n, c, d, b = job()
    at, f, cv = rng.uniform(0.3, 0.6), rng.uniform(1.6, 3.0), rng.uniform(0.1, 0.3)
    write(out("step_slow"), n * c, c, d,
          [b * (f if i >= at * n else 1.0) * normal_noise(rng, cv) for i in range(n)])

    n, c, d, b = job()
    at, f, cv = rng.uniform(0.15, 0.35), rng.uniform(2.0, 3.0), rng.uniform(0.1, 0.3)
    write(out("step_fast"), n * c, c, d,
          [b * (1.0 if i >= at * n else f) * normal_noise(rng, cv) for i in range(n)])

    n, c, d, b = job()
    grow, cv = rng.uniform(0.4, 1.0), rng.uniform(0.1, 0.3)
    lo, hi = rng.uniform(0.1, 0.3), rng.uniform(0.6, 0.9)
    ramp = lambda i: 1.0 + grow * min(1.0, max(0.0, (i / n - lo) / (hi - lo)))
    write(out("ramp"), n * c, c, d, [b * ramp(i) * normal_noise(rng, cv) for i in range(n)])

    n, c, d, b = job()
    start, tau, cv = rng.uniform(2.0, 3.0), rng.uniform(0.05, 0.2) * n, rng.uniform(0.1, 0.3)
    write(out("warmup"), n * c, c, d,
          [b * (1 + (start - 1) * math.exp(-i / tau)) * normal_noise(rng, cv) for i in range(n)])

    n, c, d, b = job()
    cv = rng.uniform(0.1, 0.3)
    extras = [0.0] * n
    extras[int(rng.uniform(0.3, 0.7) * n)] = rng.uniform(100, 400) * b
    write(out("restart_gap"), n * c, c, d, [b * normal_noise(rng, cv) for _ in range(n)], extras)

    n, c, d, b = job(400, 800)
    every, cv = rng.randint(30, 80), rng.uniform(0.1, 0.3)
    phase = rng.randrange(every)
    extras = [rng.uniform(10, 60) * b if i % every == phase else 0.0 for i in range(n)]
    write(out("stalls"), n * c, c, d, [b * normal_noise(rng, cv) for _ in range(n)], extras)

    for name, lo_p, hi_p in (("swing_short", 12, 30), ("swing_mid", 40, 90), ("swing_long", 100, 200)):
        n, c, d, b = job(400, 800)
        period, amp, cv = rng.uniform(lo_p, hi_p), rng.uniform(0.25, 0.5), rng.uniform(0.05, 0.2)
        phase = rng.uniform(0, 2 * math.pi)
        write(out(name), n * c, c, d,
              [b * (1 + amp * math.sin(2 * math.pi * i / period + phase)) * normal_noise(rng, cv)
               for i in range(n)])

    n, c, d, b = job()
    tail, f, cv = rng.uniform(0.1, 0.25), rng.uniform(2.0, 3.0), rng.uniform(0.1, 0.3)
    write(out("slow_tail"), n * c, c, d,
          [b * (f if i >= (1 - tail) * n else 1.0) * normal_noise(rng, cv) for i in range(n)])

    for k in range(2):
        n, c, d, b = job(20, 40)
        cv = rng.uniform(0.3, 0.5)
        write(out(f"small_{k}"), n * c, c, d, [b * normal_noise(rng, cv) for _ in range(n)])


if __name__ == "__main__":
    main()
