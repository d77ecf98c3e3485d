//! Tests of the public API as a whole: when there is an estimate, what
//! a finished job reports, waiting without progress, and input that must
//! be ignored. The mechanisms are tested in their own files.

use super::testkit::{noise, shape};
use super::*;

#[test]
fn no_estimate_before_progress() {
    let mut est = Estimator::new(shape(1000, 100, 50));
    assert_eq!(est.estimate(), None);
    est.observe(0, 0);
    assert_eq!(est.estimate(), None);
    est.observe(500, 0); // time passes, nothing done yet
    assert_eq!(est.estimate(), None);
    est.observe(1000, 100);
    let e = est.estimate().expect("one interval is enough");
    // 100 items in 1000 ms of work; 9 chunks + 9 pauses left.
    assert!(
        (e.remaining.as_secs_f64() - 9.0 * 1.05).abs() < 1e-6,
        "{e:?}"
    );
    assert!(e.rate_per_second > 0.0);
}

#[test]
fn remaining_is_positive_until_done_even_when_stalled() {
    let mut rng = fastrand::Rng::with_seed(9);
    let mut est = Estimator::new(shape(5_000, 100, 300));
    let mut t = 0u64;
    for c in 1..=50u64 {
        t += 300 + (700.0 * noise(&mut rng, 0.5)) as u64;
        est.observe(t, c * 100);
        let e = est.estimate().unwrap();
        if c < 50 {
            assert!(e.remaining > Duration::ZERO, "chunk {c}: {e:?}");
        } else {
            assert_eq!(e.remaining, Duration::ZERO);
        }
    }
    // Heartbeats without progress during a stall: the remaining time
    // counts down at most by the expected in-flight interval, then
    // holds, so the predicted end moves later with the clock.
    let mut est = Estimator::new(shape(5_000, 100, 300));
    for c in 1..=10u64 {
        est.observe(c * 1300, c * 100);
    }
    let before = est.estimate().unwrap().remaining;
    let mut last_end = 0.0;
    for k in 1..=20u64 {
        let now = 13_000 + k * 1000;
        est.observe(now, 1000);
        let rem = est.estimate().unwrap().remaining;
        assert!(rem > Duration::ZERO && rem <= before);
        let end = now as f64 + rem.as_secs_f64() * 1000.0;
        assert!(end >= last_end - 1e-6, "end moved earlier during a stall");
        last_end = end;
    }
    // Held at "remaining after the in-flight chunk": one chunk (about
    // 1.03 s of work + 0.3 s pause) less than before the stall.
    let held = est.estimate().unwrap().remaining.as_secs_f64();
    let drop = before.as_secs_f64() - held;
    assert!((1.2..1.45).contains(&drop), "{drop}");
}

#[test]
fn duplicate_and_backwards_observations_are_ignored() {
    let mut a = Estimator::new(shape(10_000, 100, 100));
    let mut b = a.clone();
    for c in 1..=20u64 {
        let t = c * 1100;
        a.observe(t, c * 100);
        b.observe(t, c * 100);
        b.observe(t, c * 100); // duplicate
        b.observe(t / 2, c * 100 + 50); // time went backwards
        b.observe(t, c * 50); // count went backwards
        assert_eq!(a.estimate(), b.estimate(), "chunk {c}");
    }
    // Extreme values must not panic.
    b.observe(u64::MAX, u64::MAX - 1);
    b.observe(u64::MAX, u64::MAX);
    b.observe(0, 0);
    assert_eq!(b.estimate().unwrap().remaining, Duration::ZERO);
    let mut c = Estimator::new(shape(u64::MAX, 1, 1));
    c.observe(0, 5); // progress in zero time
    assert_eq!(c.estimate(), None, "no work time measured yet");
    c.observe(1, 6);
    c.observe(u64::MAX, 7);
    assert!(c.estimate().is_some());
}

#[test]
fn total_zero_and_done_jobs() {
    let mut est = Estimator::new(shape(0, 100, 100));
    assert_eq!(est.estimate().unwrap().remaining, Duration::ZERO);
    est.observe(10, 0);
    assert_eq!(est.estimate().unwrap().remaining, Duration::ZERO);

    let mut est = Estimator::new(shape(1000, 100, 0));
    for c in 1..=5u64 {
        est.observe(c * 1000, c * 100);
    }
    assert!(est.estimate().unwrap().remaining > Duration::from_secs(4));
    est.observe(10_000, 1000);
    let e = est.estimate().unwrap();
    assert_eq!(e.remaining, Duration::ZERO);
    assert!(e.rate_per_second > 0.0, "keeps the last measured rate");
    // The worker finds more items: estimating resumes at the same rate.
    est.set_total(2500);
    let rem = est.estimate().unwrap().remaining.as_secs_f64();
    assert!((rem - 15.0).abs() < 1e-6, "{rem}");
    est.set_total(900); // revised below what is done
    assert_eq!(est.estimate().unwrap().remaining, Duration::ZERO);
    est.observe(11_000, 1200); // count beyond the total
    assert_eq!(est.estimate().unwrap().remaining, Duration::ZERO);
}
