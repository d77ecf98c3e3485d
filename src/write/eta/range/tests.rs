//! Tests of the 80 % range: on whole jobs through the estimator, and on
//! [`offsets`](super::offsets) directly where a job would take long to set up.

use std::time::Duration;

use crate::write::eta::testkit::{Job, noise, shape};
use crate::write::eta::{Estimate, Estimator};

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// Width of the range relative to the remaining time.
fn rel_width(e: &Estimate) -> f64 {
    (ms(e.range.latest) - ms(e.range.earliest)) / ms(e.remaining)
}

fn holds(e: &Estimate) -> bool {
    e.range.earliest <= e.remaining && e.remaining <= e.range.latest
}

#[test]
fn the_range_holds_the_estimate_exists_with_it_and_is_zero_when_done() {
    let mut est = Estimator::new(shape(20_000, 100, 200));
    est.observe(0, 0);
    assert_eq!(est.estimate(), None, "no estimate, no range");
    let mut rng = fastrand::Rng::with_seed(2);
    let mut t = 0.0;
    for c in 1..=200u64 {
        t += 200.0 + 800.0 * noise(&mut rng, 0.5);
        est.observe(t as u64, c * 100);
        // Heartbeats while the next chunk runs.
        est.observe(t as u64 + 500, c * 100);
        let e = est.estimate().expect("an estimate after one chunk");
        assert!(holds(&e), "chunk {c}: {e:?}");
        if c < 200 {
            assert!(e.range.earliest < e.range.latest, "chunk {c}: {e:?}");
        }
    }
    let done = est.estimate().unwrap();
    assert_eq!(done.remaining, Duration::ZERO);
    assert_eq!(done.range.earliest, Duration::ZERO);
    assert_eq!(done.range.latest, Duration::ZERO);
}

#[test]
fn the_range_is_narrow_when_steady_and_wide_after_a_change_or_gaps() {
    // 600-chunk jobs compared at the same point (chunk 300, so the
    // same share of the job is left): a steady one; one whose chunks
    // turned 2x slower six chunks ago (the change has just been
    // detected); one with a 30 s stall at random, one chunk in 50 on
    // average; one with the same stall on a clock, every 50 chunks.
    #[derive(Clone, Copy)]
    enum Stalls {
        None,
        Random,
        Clock,
    }
    let run = |seed: u64, step_at: usize, stalls: Stalls| {
        let mut rng = fastrand::Rng::with_seed(seed);
        let mut when = fastrand::Rng::with_seed(seed + 1);
        let mut job = Job::new(300_000, 500, 500);
        for i in 0..300 {
            let work = if i >= step_at { 2000.0 } else { 1000.0 };
            let stall = match stalls {
                Stalls::None => false,
                Stalls::Random => when.usize(0..50) == 0,
                Stalls::Clock => i % 50 == 49,
            };
            job.chunk(
                work * noise(&mut rng, 0.2),
                if stall { 30_000.0 } else { 0.0 },
            );
        }
        job.est.estimate().unwrap()
    };
    let steady = run(1, usize::MAX, Stalls::None);
    let changed = run(1, 294, Stalls::None);
    let random = run(1, usize::MAX, Stalls::Random);
    let clock = run(1, usize::MAX, Stalls::Clock);
    let (w0, w1) = (rel_width(&steady), rel_width(&changed));
    let (w2, w3) = (rel_width(&random), rel_width(&clock));
    // Steady: ±10 % noise on 300 chunks leaves the unseen-change
    // allowance as the main part, about 0.2 of the remaining time.
    assert!(w0 < 0.3, "steady: {w0:.3}");
    assert!(w1 > 1.5 * w0, "after a change {w1:.3} vs steady {w0:.3}");
    assert!(
        w2 > 1.5 * w0,
        "with random stalls {w2:.3} vs steady {w0:.3}"
    );
    // Stalls on a clock: their count to come is nearly sure.
    assert!(
        w3 < 0.8 * w2,
        "with stalls on a clock {w3:.3} vs at random {w2:.3}"
    );
}

#[test]
fn a_trend_not_yet_significant_widens_its_own_side() {
    let inputs = |trend_hint| super::Inputs {
        left: 50_000.0,
        total: 100_000.0,
        work_ms: 100_000.0,
        remaining_ms: 120_000.0,
        items_per_sample: 500.0,
        samples: 30.0,
        cv: 0.2,
        last_step: 0.0,
        trend_factor: 1.0,
        trend_hint,
        gap_ms: 0.0,
        gap_sd_ms: 0.0,
        swing: None,
    };
    let (below, above) = super::offsets(&inputs((1.0, 0.0)));
    assert_eq!(
        super::offsets(&inputs((0.7, 0.0))),
        (below, above),
        "no weight"
    );
    let (faster_below, faster_above) = super::offsets(&inputs((0.7, 0.5)));
    assert!(
        faster_below > 1.2 * below,
        "{faster_below:.0} vs {below:.0}"
    );
    assert_eq!(faster_above, above, "the other side stays");
    let (slower_below, slower_above) = super::offsets(&inputs((1.3, 0.5)));
    assert!(slower_above > 1.2 * above && slower_below == below);

    // A warm-up whose chunks speed up from 3x (fading over the first
    // 60 of 300 chunks) shows as a slope towards faster after 24,
    // significant or not.
    let mut rng = fastrand::Rng::with_seed(5);
    let mut job = Job::new(150_000, 500, 500);
    for i in 0..24 {
        let slow = 1.0 + 2.0 * (-(i as f64) / 60.0).exp();
        job.chunk(1000.0 * slow * noise(&mut rng, 0.2), 0.0);
    }
    let left = 150_000.0 - 24.0 * 500.0;
    let window = &job.est.window;
    let (hint, sure) = window.trend_hint(left);
    assert!(
        window.trend_factor(left) < 1.0 || (hint < 1.0 && sure > 0.0),
        "{hint:.3} {sure:.3}"
    );
}

#[test]
fn early_on_the_range_allows_for_a_slowdown_not_yet_seen() {
    // A steady job (±10 % noise, 600 chunks of 1 s, no pause) might
    // still turn 2-3x slower for its second half; nothing shows it
    // yet. At 8 % done that would put the end about 1.7x the
    // remaining time away: the upper end reaches that far (1.2x
    // without the early allowance). By half way the allowance has
    // faded: the upper end stays within 1.35x.
    let mut rng = fastrand::Rng::with_seed(8);
    let mut job = Job::new(300_000, 500, 0);
    let above = |job: &Job| {
        let e = job.est.estimate().unwrap();
        ms(e.range.latest) / ms(e.remaining)
    };
    for _ in 0..48 {
        job.chunk(1000.0 * noise(&mut rng, 0.1), 0.0);
    }
    let early = above(&job);
    assert!(early > 1.8, "at 8 %: latest {early:.2}x the remaining time");
    for _ in 48..300 {
        job.chunk(1000.0 * noise(&mut rng, 0.1), 0.0);
    }
    let half = above(&job);
    assert!(half < 1.35, "at half way: latest {half:.2}x");
}

#[test]
fn a_load_swinging_between_levels_widens_the_range_on_both_sides() {
    // Chunk work swings ±50 % around 1000 ms with a period of 150 of
    // 600 chunks (±10 % noise): the estimate follows each swing for a
    // while, and the rest of the job may run mostly fast or mostly
    // slow. After the first period the range holds the true end 57 %
    // of the time (38 % without the swing's allowance, missing on
    // both sides).
    let mut rng = fastrand::Rng::with_seed(11);
    let work: Vec<f64> = (0..600)
        .map(|i| {
            let phase = 2.0 * std::f64::consts::PI * i as f64 / 150.0;
            1000.0 * (1.0 + 0.5 * phase.sin()) * noise(&mut rng, 0.1)
        })
        .collect();
    let mut job = Job::new(300_000, 500, 200);
    let (mut held, mut rows) = (0, 0);
    for (i, &w) in work.iter().enumerate() {
        job.chunk(w, 0.0);
        if (150..570).contains(&i) {
            let truth: f64 = work[i + 1..].iter().map(|w| w + 200.0).sum();
            let e = job.est.estimate().unwrap();
            rows += 1;
            if ms(e.range.earliest) <= truth && truth <= ms(e.range.latest) {
                held += 1;
            }
        }
    }
    assert!(job.est.window.swing().is_some(), "the swings were seen");
    let coverage = held as f64 / rows as f64;
    assert!(coverage >= 0.5, "coverage {coverage:.2}");
}

#[test]
fn a_steady_job_has_no_swing_allowance() {
    let mut rng = fastrand::Rng::with_seed(12);
    let mut job = Job::new(300_000, 500, 200);
    for _ in 0..400 {
        job.chunk(1000.0 * noise(&mut rng, 0.3), 0.0);
    }
    assert_eq!(job.est.window.swing(), None);
}

#[test]
fn the_range_ends_do_not_flap() {
    // On a noisy steady job the ends move between updates by about as
    // little as the reported end: median change under 1 % of the
    // remaining time.
    let mut rng = fastrand::Rng::with_seed(21);
    let mut job = Job::new(200_000, 500, 500);
    let (mut lo, mut hi) = (Vec::new(), Vec::new());
    let mut prev: Option<(f64, f64)> = None;
    for _ in 0..380 {
        job.chunk(1500.0 * noise(&mut rng, 0.5), 0.0);
        let e = job.est.estimate().unwrap();
        let rem = ms(e.remaining);
        let ends = (job.t + ms(e.range.earliest), job.t + ms(e.range.latest));
        if let Some((a, b)) = prev {
            lo.push((ends.0 - a).abs() / rem);
            hi.push((ends.1 - b).abs() / rem);
        }
        prev = Some(ends);
    }
    for (name, mut v) in [("earliest", lo), ("latest", hi)] {
        v.sort_by(f64::total_cmp);
        let median = v[v.len() / 2];
        assert!(median < 0.01, "{name}: median move {median:.4}");
    }
}
