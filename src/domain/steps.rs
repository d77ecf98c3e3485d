//! A job's planned stages ("transcribing" -> "summarizing" -> "indexing"),
//! and how reports move through them.
//!
//! A job declares its steps once; a report names the stage it is in.
//! Moving to a later step ends the earlier ones (`done`, or `skipped`
//! where the report says so), completing the job ends the running step
//! and any left (`done`), failing it marks the running step `failed`.
//! Steps never move back. Their start and end times feed estimates of
//! later runs of the same kind.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::detail::DetailError;

/// The most steps a job may declare.
pub const MAX_STEPS: usize = 50;
/// The longest step name (or free-text stage), in characters.
pub const MAX_STEP_NAME: usize = 100;

/// Where a step stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StepState {
    /// Not reached yet.
    Pending,
    /// The job is in it.
    Running,
    /// Finished.
    Done,
    /// The job failed in it.
    Failed,
    /// Passed over.
    Skipped,
}

/// One planned stage of a job, as the record holds it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Step {
    /// Its name, as declared.
    pub name: String,
    /// Where it stands.
    pub state: StepState,
    /// When the job entered it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub started_at: Option<DateTime<Utc>>,
    /// When it ended (done or failed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ended_at: Option<DateTime<Utc>>,
}

/// Checks a stage or step name: 1 to [`MAX_STEP_NAME`] characters of one
/// line. `field` names it in the error.
pub fn check_step_name(field: &'static str, name: &str) -> Result<(), DetailError> {
    let len = name.chars().count();
    if len == 0 || len > MAX_STEP_NAME {
        return Err(DetailError::new(
            field,
            format!("1 to {MAX_STEP_NAME} characters, got {len}"),
        ));
    }
    if name.chars().any(char::is_control) {
        return Err(DetailError::new(field, "must not hold control characters"));
    }
    Ok(())
}

/// The declared plan: at most [`MAX_STEPS`] distinct names, all pending.
pub fn plan(names: &[String]) -> Result<Vec<Step>, DetailError> {
    if names.len() > MAX_STEPS {
        return Err(DetailError::new(
            "steps",
            format!("at most {MAX_STEPS} steps, got {}", names.len()),
        ));
    }
    let mut steps: Vec<Step> = Vec::with_capacity(names.len());
    for name in names {
        check_step_name("steps", name)?;
        if steps.iter().any(|step| &step.name == name) {
            return Err(DetailError::new(
                "steps",
                format!("{name:?} is named twice"),
            ));
        }
        steps.push(Step {
            name: name.clone(),
            state: StepState::Pending,
            started_at: None,
            ended_at: None,
        });
    }
    Ok(steps)
}

/// Why a stage cannot be entered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StageRefused {
    /// The job declared steps and this is none of them.
    Unknown,
    /// The job is already past it.
    Backwards {
        /// The step the job is in (or last ended).
        current: String,
    },
}

/// Moves `steps` into the step `stage` at `now`: earlier steps not yet
/// ended become `done`, or `skipped` when `skipped` names them; `stage`
/// becomes `running`. Entering the step already running changes nothing.
pub fn enter(
    steps: &mut [Step],
    stage: &str,
    skipped: &[String],
    now: DateTime<Utc>,
) -> Result<(), StageRefused> {
    let target = steps
        .iter()
        .position(|step| step.name == stage)
        .ok_or(StageRefused::Unknown)?;
    if let Some(furthest) = steps
        .iter()
        .rposition(|step| step.state != StepState::Pending)
        && furthest > target
    {
        return Err(StageRefused::Backwards {
            current: steps[furthest].name.clone(),
        });
    }
    if steps[target].state != StepState::Pending && steps[target].state != StepState::Running {
        return Err(StageRefused::Backwards {
            current: steps[target].name.clone(),
        });
    }
    for step in &mut steps[..target] {
        match step.state {
            StepState::Pending if skipped.contains(&step.name) => {
                step.state = StepState::Skipped;
            }
            StepState::Pending | StepState::Running => {
                step.state = StepState::Done;
                step.started_at.get_or_insert(now);
                step.ended_at = Some(now);
            }
            StepState::Done | StepState::Failed | StepState::Skipped => {}
        }
    }
    let step = &mut steps[target];
    if step.state == StepState::Pending {
        step.state = StepState::Running;
        step.started_at = Some(now);
    }
    Ok(())
}

/// The job completed: the running step and any still pending are `done`.
pub fn complete(steps: &mut [Step], now: DateTime<Utc>) {
    for step in steps {
        if matches!(step.state, StepState::Pending | StepState::Running) {
            step.started_at.get_or_insert(now);
            step.state = StepState::Done;
            step.ended_at = Some(now);
        }
    }
}

/// The job failed: the running step `failed`; the rest stay as they are.
pub fn fail(steps: &mut [Step], now: DateTime<Utc>) {
    for step in steps {
        if step.state == StepState::Running {
            step.state = StepState::Failed;
            step.ended_at = Some(now);
        }
    }
}

/// The job was cancelled: the running step is `skipped` (it did not end);
/// the rest stay as they are.
pub fn stop(steps: &mut [Step]) {
    for step in steps {
        if step.state == StepState::Running {
            step.state = StepState::Skipped;
        }
    }
}

/// How far through its steps a job is, in percent (rounded down): ended
/// steps (done, skipped, failed) count whole, the running one half.
/// `None` without steps.
pub fn percentage(steps: &[Step]) -> Option<u8> {
    if steps.is_empty() {
        return None;
    }
    let halves: usize = steps
        .iter()
        .map(|step| match step.state {
            StepState::Pending => 0,
            StepState::Running => 1,
            StepState::Done | StepState::Failed | StepState::Skipped => 2,
        })
        .sum();
    let pct = halves * 100 / (steps.len() * 2);
    Some(u8::try_from(pct.min(100)).unwrap_or(100))
}

/// The time left for a job with steps and no total, from the steps it has
/// ended: each step left is taken to last as long as the ended ones did on
/// average (the running one less the time it has run, never below zero),
/// and the 80 % range as if every step left took as long as the quickest
/// (earliest) or the slowest (latest) of them. `None` until a step has
/// ended with both times, or once none is left.
pub fn remaining(steps: &[Step], now: DateTime<Utc>) -> Option<StepsRemaining> {
    let ended: Vec<f64> = steps
        .iter()
        .filter(|step| step.state == StepState::Done)
        .filter_map(|step| {
            Some(
                (step.ended_at? - step.started_at?)
                    .num_milliseconds()
                    .max(0) as f64,
            )
        })
        .collect();
    if ended.is_empty() {
        return None;
    }
    let mean = ended.iter().sum::<f64>() / ended.len() as f64;
    let min = ended.iter().copied().fold(f64::INFINITY, f64::min);
    let max = ended.iter().copied().fold(0.0, f64::max);
    let pending = steps
        .iter()
        .filter(|step| step.state == StepState::Pending)
        .count() as f64;
    let running: Vec<f64> = steps
        .iter()
        .filter(|step| step.state == StepState::Running)
        .map(|step| {
            step.started_at
                .map_or(0.0, |at| (now - at).num_milliseconds().max(0) as f64)
        })
        .collect();
    if pending == 0.0 && running.is_empty() {
        return None;
    }
    let left = |per_step: f64| {
        let ms = pending * per_step
            + running
                .iter()
                .map(|ran| (per_step - ran).max(0.0))
                .sum::<f64>();
        std::time::Duration::from_millis(ms as u64)
    };
    Some(StepsRemaining {
        remaining: left(mean),
        earliest: left(min),
        latest: left(max),
    })
}

/// What [`remaining`] gives: the time left and its range.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StepsRemaining {
    /// The likeliest time left.
    pub remaining: std::time::Duration,
    /// Sooner than this is unlikely.
    pub earliest: std::time::Duration,
    /// Later than this is unlikely.
    pub latest: std::time::Duration,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn steps(names: &[&str]) -> Vec<Step> {
        plan(&names.iter().map(|n| (*n).to_owned()).collect::<Vec<_>>()).unwrap()
    }

    fn states(steps: &[Step]) -> Vec<StepState> {
        steps.iter().map(|step| step.state).collect()
    }

    #[test]
    fn a_later_step_ends_the_earlier_ones_unless_they_are_skipped() {
        use StepState::*;
        let mut plan = steps(&["fetch", "transcribe", "summarize", "index"]);
        let now = Utc::now();
        enter(&mut plan, "fetch", &[], now).unwrap();
        assert_eq!(states(&plan), [Running, Pending, Pending, Pending]);
        assert_eq!(percentage(&plan), Some(12));
        enter(&mut plan, "summarize", &["transcribe".into()], now).unwrap();
        assert_eq!(states(&plan), [Done, Skipped, Running, Pending]);
        assert!(plan[0].ended_at.is_some() && plan[1].ended_at.is_none());
        assert_eq!(percentage(&plan), Some(62));
        enter(&mut plan, "summarize", &[], now).unwrap();
        assert_eq!(
            enter(&mut plan, "fetch", &[], now),
            Err(StageRefused::Backwards {
                current: "summarize".into()
            })
        );
        assert_eq!(
            enter(&mut plan, "nope", &[], now),
            Err(StageRefused::Unknown)
        );
        fail(&mut plan, now);
        assert_eq!(states(&plan), [Done, Skipped, Failed, Pending]);
    }

    #[test]
    fn completing_ends_every_step_not_skipped() {
        use StepState::*;
        let mut plan = steps(&["a", "b", "c"]);
        let now = Utc::now();
        enter(&mut plan, "b", &["a".into()], now).unwrap();
        complete(&mut plan, now);
        assert_eq!(states(&plan), [Skipped, Done, Done]);
        assert_eq!(percentage(&plan), Some(100));
    }

    #[test]
    fn the_time_left_follows_the_ended_steps() {
        let mut plan = steps(&["a", "b", "c", "d"]);
        let t0 = Utc::now();
        let at = |s: i64| t0 + chrono::Duration::seconds(s);
        enter(&mut plan, "a", &[], at(0)).unwrap();
        assert_eq!(remaining(&plan, at(5)), None, "no step ended yet");
        enter(&mut plan, "b", &[], at(10)).unwrap();
        enter(&mut plan, "c", &[], at(40)).unwrap();
        // a took 10 s, b 30 s: 20 s a step on average; c has run 5 s.
        let left = remaining(&plan, at(45)).unwrap();
        assert_eq!(left.remaining, std::time::Duration::from_secs(15 + 20));
        assert_eq!(left.earliest, std::time::Duration::from_secs(5 + 10));
        assert_eq!(left.latest, std::time::Duration::from_secs(25 + 30));
    }

    #[test]
    fn a_plan_has_distinct_bounded_names() {
        assert_eq!(plan(&["a".into(), "a".into()]).unwrap_err().field, "steps");
        assert!(plan(&[]).unwrap().is_empty());
        let many: Vec<String> = (0..=MAX_STEPS).map(|i| i.to_string()).collect();
        assert!(plan(&many).is_err());
        assert!(plan(&["".into()]).is_err());
        assert!(plan(&["é".repeat(MAX_STEP_NAME + 1)]).is_err());
    }
}
