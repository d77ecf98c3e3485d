//! [`JobSpec`]: what a worker declares about a job when it starts it.
//!
//! Its own file because it is a plain builder, apart from the writer and
//! the handle that act on it: the writer only reads it once, in
//! `ProgressWriter::open`, to build the first record and the ETA's shape.

use std::time::Duration;

use crate::domain::{DetailError, FailurePolicy, JobId, JobKind, JobName, ScheduleId, Step, steps};

/// What a worker knows about a job when it starts it.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct JobSpec {
    /// How many targets the job has; `None` for a job that only says which
    /// of its [`steps`](Self::steps) it is in.
    pub total: Option<u64>,
    /// How many chunks it is sent in, if chunked.
    pub total_chunks: Option<u64>,
    /// Targets per chunk, if chunked (helps the ETA).
    pub chunk_size: Option<u64>,
    /// The pause between chunks, if any (helps the ETA).
    pub pause: Option<Duration>,
    /// The scheduled send this job carries out.
    pub schedule_id: Option<ScheduleId>,
    /// A human title, shown instead of the id where there is room.
    pub name: Option<JobName>,
    /// The job's type, for filters and estimates from earlier runs.
    pub kind: Option<JobKind>,
    /// The planned stages, all pending (see [`JobSpec::with_steps`]).
    pub steps: Vec<Step>,
    /// Which run of the job this is (see [`JobSpec::attempt`]).
    pub attempt: Option<u32>,
    /// The job this one is a part of (see [`JobSpec::parent`]).
    pub parent: Option<JobId>,
    /// How many children the job will have.
    pub expected_children: Option<u64>,
    /// The job ends by itself once its expected children all ended (see
    /// [`JobSpec::complete_with_children`]).
    pub complete_with_children: bool,
    /// Whether a failed child fails such a job (`None`: it does).
    pub failure_policy: Option<FailurePolicy>,
}

impl JobSpec {
    /// A job of `total` targets, not chunked.
    pub fn new(total: u64) -> Self {
        Self {
            total: Some(total),
            ..Self::default()
        }
    }

    /// A job without a total: its steps say how far it is (see
    /// [`with_steps`](Self::with_steps)).
    pub fn staged() -> Self {
        Self::default()
    }

    /// Titles the job.
    pub fn named(mut self, name: JobName) -> Self {
        self.name = Some(name);
        self
    }

    /// Gives the job its type.
    pub fn kind(mut self, kind: JobKind) -> Self {
        self.kind = Some(kind);
        self
    }

    /// Plans the job's stages, in order (at most 50 distinct names of at
    /// most 100 characters); [`JobHandle::stage`](super::JobHandle::stage)
    /// moves through them.
    pub fn with_steps<S: AsRef<str>>(mut self, names: &[S]) -> Result<Self, DetailError> {
        let names: Vec<String> = names.iter().map(|name| name.as_ref().to_owned()).collect();
        self.steps = steps::plan(&names)?;
        Ok(self)
    }

    /// Sent in chunks of `size` with `pause` between them; also sets
    /// `total_chunks`.
    pub fn chunked(mut self, size: u64, pause: Duration) -> Self {
        let size = size.max(1);
        self.chunk_size = Some(size);
        self.total_chunks = self.total.map(|total| total.div_ceil(size));
        self.pause = Some(pause);
        self
    }

    /// Runs the job again as attempt `attempt` (the first is 1): the
    /// stores take a later attempt over whatever the earlier one left, and
    /// keep a summary of it in `attempts`.
    pub fn attempt(mut self, attempt: u32) -> Self {
        self.attempt = Some(attempt.max(1));
        self
    }

    /// Makes the job a part of `parent`: the parent's record counts it in
    /// its `children`, and cancelling the parent asks this job to stop.
    /// The writer takes the parent as given; the HTTP API checks that it
    /// exists and that jobs nest at most two deep
    /// ([`MAX_DEPTH`](crate::domain::MAX_DEPTH)).
    pub fn parent(mut self, parent: JobId) -> Self {
        self.parent = Some(parent);
        self
    }

    /// Declares that the job will have `expected` children, and ends it
    /// once that many were declared and all ended: completed, or failed if
    /// any failed, unless `policy` is [`FailurePolicy::Continue`]. The job
    /// is ended by the API instance that stores its last child's end
    /// (children written over HTTP).
    pub fn complete_with_children(mut self, expected: u64, policy: FailurePolicy) -> Self {
        self.expected_children = Some(expected);
        self.complete_with_children = true;
        self.failure_policy = Some(policy);
        self
    }

    /// Carries out the scheduled send `id`.
    pub fn schedule(mut self, id: ScheduleId) -> Self {
        self.schedule_id = Some(id);
        self
    }
}
