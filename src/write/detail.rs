//! [`Detail`]: what an update says about a job besides its counts (its
//! name, stage, message and metadata), and how a job's state takes it:
//! checked whole first, then applied, so a refused update changes nothing.

use super::{error::WriteError, state::JobState};
use crate::domain::{
    JobName, Message, Metadata, merge_metadata,
    steps::{self, StageRefused},
};

/// What an update says about its job besides the counts. Every part is
/// optional; what is left out stays as it was.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Detail {
    /// A new title.
    pub name: Option<JobName>,
    /// The stage the job is in now: one of its steps, or free text when it
    /// declared none (checked with [`steps::check_step_name`]).
    pub stage: Option<String>,
    /// Steps passed over on the way to `stage`: marked `skipped`, not
    /// `done`. Without a `stage`, or for a job without steps, ignored.
    pub skipped: Vec<String>,
    /// The latest sentence (empty clears it).
    pub message: Option<Message>,
    /// Keys to merge into the job's metadata (`null` removes one).
    pub metadata: Option<Metadata>,
}

impl Detail {
    /// Whether it says anything at all.
    pub fn is_empty(&self) -> bool {
        self.name.is_none()
            && self.stage.is_none()
            && self.message.is_none()
            && self.metadata.is_none()
    }
}

impl JobState {
    /// Takes what `detail` says, or refuses all of it: a stage that is
    /// none of the job's steps or one it has passed, metadata that would
    /// grow past its limit, or a finished job.
    pub(crate) fn describe(&mut self, detail: &Detail) -> Result<(), WriteError> {
        if detail.is_empty() {
            return Ok(());
        }
        self.ensure_open()?;
        let record = &self.record;
        let mut steps_after = None;
        if let Some(stage) = &detail.stage
            && !record.steps.is_empty()
        {
            let mut steps = record.steps.clone();
            steps::enter(&mut steps, stage, &detail.skipped, super::state::now()).map_err(
                |refused| match refused {
                    StageRefused::Unknown => WriteError::UnknownStage {
                        stage: stage.clone(),
                        steps: record.steps.iter().map(|step| step.name.clone()).collect(),
                    },
                    StageRefused::Backwards { current } => WriteError::StageBackwards {
                        stage: stage.clone(),
                        current,
                    },
                },
            )?;
            steps_after = Some(steps);
        }
        let mut metadata_after = None;
        if let Some(patch) = &detail.metadata {
            let mut metadata = record.metadata.clone();
            merge_metadata(&mut metadata, patch)?;
            metadata_after = Some(metadata);
        }
        // Checked; from here on nothing can refuse.
        let record = &mut self.record;
        if let Some(name) = &detail.name {
            record.name = Some(name.clone());
        }
        if let Some(stage) = &detail.stage {
            record.stage = Some(stage.clone());
        }
        if let Some(steps) = steps_after {
            record.steps = steps;
        }
        if let Some(message) = &detail.message {
            record.message = (!message.as_str().is_empty()).then(|| message.clone());
        }
        if let Some(metadata) = metadata_after {
            record.metadata = metadata;
        }
        Ok(())
    }
}
