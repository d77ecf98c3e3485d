//! Domain types shared by the write path and the read path. Each one can
//! only hold valid values: raw input is parsed into them once, at the edge.

mod detail;
mod filter;
mod finished;
mod id;
mod progress;
mod schedule;
mod source;
mod status;
pub mod steps;

pub use detail::{
    DetailError, JobKind, JobName, MAX_KIND, MAX_MESSAGE, MAX_METADATA_BYTES, MAX_NAME,
    MAX_RESULT_URL, Message, Metadata, ResultUrl, check_metadata, merge_metadata,
};
pub use filter::{JobFilter, MAX_SEARCH, Search};
pub use finished::{BadCursor, Finished, FinishedCursor, FinishedPage, FinishedQuery};
pub use id::{IdError, JobId, MAX_ID_LEN, ScheduleId};
pub use progress::{EndRange, ProgressRecord, StallPolicy, StoredRecord, percentage};
pub use schedule::{Schedule, ScheduleProgress};
pub use source::Source;
pub use status::{JobStatus, UnknownStatus};
pub use steps::{Step, StepState};
