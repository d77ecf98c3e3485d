//! The status rules in SQL, for both archives: rendered from
//! [`JobStatus`], the one source of the status rank and of which statuses
//! are active or finished (the Redis write script renders its own from it).
//! Both databases read these fragments alike.

use crate::domain::JobStatus;

/// `(CASE <column> WHEN 'preparing' THEN 0 ... END)`: the status rank of
/// [`JobStatus::rank`] in SQL.
pub(super) fn rank_sql(column: &str) -> String {
    let arms: String = JobStatus::ALL
        .iter()
        .map(|status| format!(" WHEN '{}' THEN {}", status.as_str(), status.rank()))
        .collect();
    format!("(CASE {column}{arms} END)")
}

/// The statuses `keep` holds for, as an SQL list: `'completed', 'failed'`.
pub(super) fn statuses_sql(keep: fn(JobStatus) -> bool) -> String {
    let kept: Vec<JobStatus> = JobStatus::ALL
        .into_iter()
        .filter(|status| keep(*status))
        .collect();
    statuses_sql_of(&kept)
}

/// `statuses` as an SQL list: `'completed', 'failed'`.
pub(super) fn statuses_sql_of(statuses: &[JobStatus]) -> String {
    let names: Vec<String> = statuses
        .iter()
        .map(|status| format!("'{}'", status.as_str()))
        .collect();
    names.join(", ")
}
