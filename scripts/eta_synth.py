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
  swing_square  the load flips between two rates 1.5-3x apart every 1-5
                minutes (a neighbour's batch job coming and going)
  prep_silent   a preparing phase of 0.3-1.5x the work's duration before
                the first progress, then fast work
  prep_slow     the first 2-8 % of the items are 10-30x slower (loading,
                warming caches), then fast work
  bursts        bursts of 3-30 fast chunks separated by rate-limit waits
                that fill up a quota window of 10-120 s

With --families DIR it writes, instead, repeated runs of the same kind of
job for scoring an estimator that learns from earlier runs
(`evaluate_history.py`): DIR/<kind>/run_01.csv, run_02.csv, ... Each kind
is run 8-10 times with day-to-day variation (the job's size +-25 %, its
speed +-10 % log-normal, its phases +-20 %); one run after the second is
clearly unlike the rest (2-3x slower or faster, or without its usual
phase). Kinds:
  steady        one rate, 10-30 % chunk noise
  warmup        the first 10-25 % of the items run 2-3x slower, fading
  prep          a silent preparing phase (10-40 % of the run) first
  two_phase     the items after 30-60 % are 2-3x heavier
  bursts        rate-limited bursts, as above
  swing         the load flips between two rates every few minutes

usage: eta_synth.py [--seed N] [--out DIR] [--families DIR]
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
    ap.add_argument("--families", help="write repeated-run families here instead")
    a = ap.parse_args()
    rng = random.Random(a.seed)
    if a.families:
        families(rng, a.families)
        return
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

    # Drawn after the families above, so those stay what they were for a seed.
    n, c, d, b = job(400, 800)
    write(out("swing_square"), n * c, c, d, square_swing(rng, n, d, b))

    n, c, d, b = job()
    cv = rng.uniform(0.1, 0.3)
    works = [b * normal_noise(rng, cv) for _ in range(n)]
    extras = [0.0] * n
    extras[0] = rng.uniform(0.3, 1.5) * (sum(works) + d * (n - 1))
    write(out("prep_silent"), n * c, c, d, works, extras)

    n, c, d, b = job()
    cv, prep, f = rng.uniform(0.1, 0.3), rng.uniform(0.02, 0.08), rng.uniform(10, 30)
    write(out("prep_slow"), n * c, c, d,
          [b * (f if i < prep * n else 1.0) * normal_noise(rng, cv) for i in range(n)])

    n, c, d, b = job(300, 800)
    write(out("bursts"), n * c, c, d, *bursts(rng, n, b))


def square_swing(rng, n, delay, base, ratio=None, period_ms=None):
    """Chunk work times of a load flipping between two rates every
    half-period (in wall time), with 5-20 % noise."""
    ratio = ratio or rng.uniform(1.5, 3.0)
    period_ms = period_ms or rng.uniform(60_000, 300_000)
    cv = rng.uniform(0.05, 0.2)
    t, offset, works = 0.0, rng.uniform(0, period_ms), []
    for _ in range(n):
        slow = ((t + offset) % period_ms) < period_ms / 2
        w = base * (ratio if slow else 1.0) * normal_noise(rng, cv)
        works.append(w)
        t += w + delay
    return works


def bursts(rng, n, base, per_burst=None, window_ms=None):
    """Work times and waits of rate-limited bursts: `per_burst` chunks as
    fast as they go, then a wait until the quota window is over."""
    per_burst = per_burst or rng.randint(3, 30)
    window_ms = window_ms or max(rng.uniform(10_000, 120_000), 3 * per_burst * base)
    cv = rng.uniform(0.1, 0.3)
    works, extras, burst_ms = [], [], 0.0
    for i in range(n):
        w = base * normal_noise(rng, cv)
        works.append(w)
        burst_ms += w
        if i % per_burst == per_burst - 1:
            extras.append(max(0.0, window_ms - burst_ms) * normal_noise(rng, 0.03))
            burst_ms = 0.0
        else:
            extras.append(0.0)
    return works, extras


def families(rng, root):
    """Repeated runs of six kinds of job (see the module docs)."""
    for kind in ("steady", "warmup", "prep", "two_phase", "bursts", "swing"):
        folder = os.path.join(root, kind)
        os.makedirs(folder, exist_ok=True)
        runs = rng.randint(8, 10)
        unlike = rng.randint(2, runs - 1)  # 0-based: never the first two
        chunk = rng.choice([100, 250, 500])
        delay = rng.choice([0, 200, 500, 1000])
        chunks = rng.randint(150, 400)
        base = rng.uniform(300, 2000)
        cv = rng.uniform(0.1, 0.3)
        at = rng.uniform(0.3, 0.6)          # two_phase: where items get heavier
        heavy = rng.uniform(2.0, 3.0)
        warm, warm_len = rng.uniform(2.0, 3.0), rng.uniform(0.1, 0.25)
        prep_share = rng.uniform(0.1, 0.4)
        per_burst, window_ms = rng.randint(3, 20), rng.uniform(15_000, 60_000)
        ratio, period_ms = rng.uniform(1.5, 2.5), rng.uniform(60_000, 240_000)
        for r in range(runs):
            n = max(20, round(chunks * rng.uniform(0.75, 1.25)))
            b = base * math.exp(rng.gauss(0.0, 0.1))
            jitter = lambda: rng.uniform(0.8, 1.2)
            odd = r == unlike
            if odd:
                b *= rng.choice([rng.uniform(2.0, 3.0), 1 / rng.uniform(2.0, 3.0)])
            extras = None
            if kind == "steady":
                works = [b * normal_noise(rng, cv) for _ in range(n)]
            elif kind == "warmup":
                w0, lw = warm * jitter(), warm_len * jitter() * n
                works = [b * (1 + (w0 - 1) * max(0.0, 1 - i / lw)) * normal_noise(rng, cv)
                         for i in range(n)]
            elif kind == "prep":
                works = [b * normal_noise(rng, cv) for _ in range(n)]
                extras = [0.0] * n
                share = prep_share * jitter()
                extras[0] = share / (1 - share) * (sum(works) + delay * (n - 1))
            elif kind == "two_phase":
                a = at * jitter()
                works = [b * (heavy if i >= a * n else 1.0) * normal_noise(rng, cv)
                         for i in range(n)]
            elif kind == "bursts":
                works, extras = bursts(rng, n, b, per_burst, window_ms * jitter())
            else:
                works = square_swing(rng, n, delay, b, ratio, period_ms * jitter())
            write(os.path.join(folder, f"run_{r + 1:02d}.csv"), n * chunk, chunk, delay,
                  works, extras)


if __name__ == "__main__":
    main()
