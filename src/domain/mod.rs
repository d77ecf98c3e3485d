//! Domain types shared by the write path and the read path. Each one can
//! only hold valid values: raw input is parsed into them once, at the edge.

mod children;
mod control;
mod detail;
mod filter;
mod finished;
mod history;
mod id;
mod log;
mod progress;
pub mod rfc3339;
mod schedule;
mod source;
mod status;
pub mod steps;
mod tail;
mod webhook;

pub use children::{ChildEntry, ChildrenSummary, FailurePolicy, MAX_DEPTH, Rollup};
pub use control::{AttemptSummary, CancelRequest, MAX_ATTEMPTS_KEPT, MAX_CANCEL_REASON};
pub use detail::{
    DetailError, JobKind, JobName, MAX_KIND, MAX_MESSAGE, MAX_METADATA_BYTES, MAX_NAME,
    MAX_RESULT_URL, Message, Metadata, ResultUrl, check_metadata, merge_metadata,
};
pub use filter::{JobFilter, MAX_SEARCH, Search};
pub use finished::{BadCursor, Finished, FinishedCursor, FinishedPage, FinishedQuery};
pub use history::{
    ARCHIVED_SAMPLES, HISTORY_SAMPLES, HISTORY_SPACING_MS, History, Sample, downsample, thin,
};
pub use id::{IdError, JobId, MAX_ID_LEN, ScheduleId};
pub use log::{
    ARCHIVED_LINES, KEPT_BYTES, KEPT_LINES, LogBatch, LogCap, LogLevel, LogLine, LogLineError,
    LogPage, MAX_LINE_BYTES, MAX_LINES_PER_CALL, MAX_LOG_PAGE, NewLogLine, numbered,
};
pub use progress::{EndRange, ProgressRecord, StallPolicy, StoredRecord, percentage};
pub use schedule::{Schedule, ScheduleProgress};
pub use source::Source;
pub use status::{JobStatus, UnknownStatus};
pub use steps::{Step, StepState};
pub use tail::JobTail;
pub use webhook::{EventSet, EventType, UnknownEvent, WantedEvents};
