//! `ls --tree`: the active jobs in tree order, each child under its
//! parent, and how deep each sits (its indent in the table).

use std::collections::{HashMap, HashSet};

use crate::domain::{JobId, MAX_DEPTH, ProgressRecord};

/// `records` in tree order: each job followed by its children (and
/// theirs), depth first, in the list's order; a child whose parent is not
/// among them stands at the top.
pub fn tree(records: Vec<ProgressRecord>) -> Vec<ProgressRecord> {
    let listed: HashSet<JobId> = records.iter().map(|record| record.job_id.clone()).collect();
    let mut children: HashMap<JobId, Vec<ProgressRecord>> = HashMap::new();
    let mut roots = Vec::new();
    for record in records {
        match &record.parent_job_id {
            Some(parent) if listed.contains(parent) && *parent != record.job_id => {
                children.entry(parent.clone()).or_default().push(record);
            }
            _ => roots.push(record),
        }
    }
    let mut ordered = Vec::with_capacity(listed.len());
    // Depth first, without recursion: a stack of jobs still to place.
    let mut stack: Vec<ProgressRecord> = roots.into_iter().rev().collect();
    while let Some(record) = stack.pop() {
        if let Some(kids) = children.remove(&record.job_id) {
            stack.extend(kids.into_iter().rev());
        }
        ordered.push(record);
    }
    // A cycle (hand-written records) leaves jobs unplaced: list them last.
    ordered.extend(children.into_values().flatten());
    ordered
}

/// How deep `record` sits under the listed jobs (0: at the top), given
/// each listed job's parent.
pub(super) fn depth(record: &ProgressRecord, parents: &HashMap<&JobId, Option<&JobId>>) -> usize {
    let mut depth = 0;
    let mut above = record.parent_job_id.as_ref();
    while let Some(parent) = above {
        let Some(next) = parents.get(parent) else {
            break;
        };
        depth += 1;
        if depth > MAX_DEPTH as usize {
            break;
        }
        above = *next;
    }
    depth
}

#[cfg(test)]
mod tests {
    use chrono::Utc;

    use super::*;
    use crate::{cli::ls::table, domain::JobStatus};

    #[test]
    fn a_tree_puts_each_child_under_its_parent() {
        let now = Utc::now();
        let job = |id: &str, parent: Option<&str>| {
            let mut record =
                ProgressRecord::new(JobId::parse(id).unwrap(), JobStatus::InProgress, Some(10));
            record.parent_job_id = parent.map(|p| JobId::parse(p).unwrap());
            record
        };
        // As the active list gives them: by start, children anywhere.
        let listed = vec![
            job("child-b", Some("top")),
            job("top", None),
            job("orphan", Some("gone")),
            job("grandchild", Some("child-a")),
            job("child-a", Some("top")),
            job("other", None),
        ];
        let ordered: Vec<String> = tree(listed)
            .iter()
            .map(|record| record.job_id.to_string())
            .collect();
        assert_eq!(
            ordered,
            ["top", "child-b", "child-a", "grandchild", "orphan", "other"]
        );
        let text = table(
            &tree(vec![
                job("top", None),
                job("kid", Some("top")),
                job("grandkid", Some("kid")),
            ]),
            now,
            false,
            None,
        );
        let jobs: Vec<&str> = text
            .lines()
            .skip(1)
            .map(|line| line.split("  in_progress").next().unwrap().trim_end())
            .collect();
        assert_eq!(jobs, ["top", "  kid", "    grandkid"], "{text}");
    }
}
