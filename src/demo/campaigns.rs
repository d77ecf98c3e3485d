//! The simulated campaigns of the demo: four shapes a dashboard must tell
//! apart, each run through the [`ProgressWriter`] exactly as a worker's
//! code would, again and again with a fresh job id.

use std::time::Duration;

use crate::{
    domain::JobId,
    write::{JobSpec, ProgressWriter},
};

/// How a campaign behaves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shape {
    /// The same work per chunk from start to end: the ETA holds.
    Steady,
    /// Each chunk takes longer than the one before (a provider throttling):
    /// the ETA moves out, and its range says how unsure it is.
    SlowingDown,
    /// Stops with an error part-way.
    FailsPartWay,
    /// Its worker hangs part-way: no update, no heartbeat; the job turns
    /// stalled.
    Stalls,
}

/// One campaign's script.
#[derive(Debug, Clone, Copy)]
pub struct Campaign {
    /// The job id's stem (`<name>-<run>`).
    pub name: &'static str,
    /// Its shape.
    pub shape: Shape,
    /// Targets in all.
    pub total: u64,
    /// Targets per chunk.
    pub chunk: u64,
    /// Time one chunk takes, at first.
    pub work: Duration,
    /// The pause between chunks.
    pub pause: Duration,
    /// Share of targets that fail, in thousandths.
    pub failures_per_mille: u64,
}

/// The demo's four campaigns: each runs one to three minutes, so every
/// shape is seen on the dashboard within a few minutes of opening it.
pub const CAMPAIGNS: [Campaign; 4] = [
    Campaign {
        name: "newsletter-steady",
        shape: Shape::Steady,
        total: 60_000,
        chunk: 500,
        work: Duration::from_millis(400),
        pause: Duration::from_millis(600),
        failures_per_mille: 8,
    },
    Campaign {
        name: "import-slowing-down",
        shape: Shape::SlowingDown,
        total: 40_000,
        chunk: 500,
        work: Duration::from_millis(300),
        pause: Duration::from_millis(300),
        failures_per_mille: 2,
    },
    Campaign {
        name: "push-fails-part-way",
        shape: Shape::FailsPartWay,
        total: 50_000,
        chunk: 1_000,
        work: Duration::from_millis(700),
        pause: Duration::from_millis(800),
        failures_per_mille: 30,
    },
    Campaign {
        name: "ai-pipeline-stalls",
        shape: Shape::Stalls,
        total: 8_000,
        chunk: 100,
        work: Duration::from_millis(500),
        pause: Duration::from_millis(500),
        failures_per_mille: 0,
    },
];

/// How long a finished campaign rests before it runs again.
const REST: Duration = Duration::from_secs(15);

/// How far a failing or stalling campaign gets, in percent.
const BREAKS_AT_PERCENT: u64 = 40;

impl Campaign {
    /// Runs the campaign for ever: run, rest, run again with the next id;
    /// a stalling one runs once (one stalled job shows the badge; more
    /// would pile up in the active list until their TTL).
    pub async fn repeat(self, writer: ProgressWriter) {
        for run in 1.. {
            if let Err(err) = self.run_once(&writer, run).await {
                tracing::warn!(campaign = self.name, error = %err, "demo campaign stopped");
            }
            if self.shape == Shape::Stalls {
                return;
            }
            tokio::time::sleep(REST).await;
        }
    }

    /// One run, as a worker would report it.
    async fn run_once(&self, writer: &ProgressWriter, run: u64) -> anyhow::Result<()> {
        let id = JobId::parse(format!("{}-{run}", self.name))?;
        let spec = JobSpec::new(self.total).chunked(self.chunk, self.pause);
        let job = writer.start(id, spec);
        let chunks = self.total.div_ceil(self.chunk);
        let breaks_at = chunks * BREAKS_AT_PERCENT / 100;
        for chunk in 0..chunks {
            if chunk == breaks_at {
                match self.shape {
                    Shape::FailsPartWay => {
                        job.fail("the push provider rejected the API key (HTTP 401)")
                            .await?;
                        return Ok(());
                    }
                    // The handle is dropped unfinished: the worker hung.
                    Shape::Stalls => return Ok(()),
                    Shape::Steady | Shape::SlowingDown => {}
                }
            }
            tokio::time::sleep(self.work_of(chunk, chunks)).await;
            let size = self.chunk.min(self.total - chunk * self.chunk);
            let failed = size * self.failures_per_mille / 1000;
            job.record(size - failed, failed)?;
            job.set_chunk(chunk + 1)?;
            tokio::time::sleep(self.pause).await;
        }
        job.complete().await?;
        Ok(())
    }

    /// The time chunk `chunk` of `chunks` takes: a slowing campaign ends
    /// five times slower than it began.
    fn work_of(&self, chunk: u64, chunks: u64) -> Duration {
        match self.shape {
            Shape::SlowingDown => {
                let progress = chunk as f64 / chunks.max(1) as f64;
                self.work.mul_f64(1.0 + 4.0 * progress)
            }
            _ => self.work,
        }
    }
}
