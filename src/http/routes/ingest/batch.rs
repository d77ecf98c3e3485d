//! `POST /api/v1/progress`: many jobs' counts in one request, each item
//! read, applied and answered on its own. Its bodies live here, beside the
//! handler, the only code that reads them; each item's fields are checked
//! as a single report's are (`bodies.rs`).

use actix_web::{
    HttpRequest, HttpResponse,
    http::{StatusCode, header},
    web,
};
use serde::{Deserialize, Serialize};

use super::{MAX_BATCH, bodies::ProgressBody, count};
use crate::{
    domain::{JobId, Metadata, ProgressRecord},
    http::{
        ApiError, AppState,
        body::{self, MAX_BATCH_BODY, present},
    },
    read::envelope::serialize,
    write::ingest::{Accepted, Report},
};

/// Many jobs' counts in one request; each item gets its own result, and a
/// bad item does not stop the others.
#[tracing::instrument(name = "report_batch", level = "debug", skip_all)]
pub async fn batch(
    request: HttpRequest,
    payload: web::Payload,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let batch: BatchBody = body::json(&request, payload, MAX_BATCH_BODY).await?;
    if batch.updates.len() > MAX_BATCH {
        return Err(ApiError::BadRequest(format!(
            "invalid body: updates: at most {MAX_BATCH} items, got {}",
            batch.updates.len()
        )));
    }
    let mut results: Vec<Option<ItemResult>> = Vec::with_capacity(batch.updates.len());
    let mut reports = Vec::new();
    for (index, item) in batch.updates.iter().enumerate() {
        let parsed = serde_json::from_str::<BatchItem>(item.get())
            .or_else(|_| refused_item(index, item.get()))
            .and_then(|item| item.parse(&format!("updates[{index}].")));
        match parsed {
            Ok(report) => {
                reports.push((index, report));
                results.push(None);
            }
            Err(err) => results.push(Some(item_result(None, Err(err)))),
        }
    }
    let (indexes, reports): (Vec<usize>, Vec<(JobId, Report)>) = reports.into_iter().unzip();
    let ids: Vec<JobId> = reports.iter().map(|(id, _)| id.clone()).collect();
    let outcomes = state.ingest.report_many(reports).await;
    for outcome in &outcomes {
        count(&state, outcome);
    }
    for ((index, id), outcome) in indexes.into_iter().zip(ids).zip(outcomes) {
        results[index] = Some(item_result(Some(id), outcome.map_err(ApiError::from)));
    }
    let results: Vec<ItemResult> = results.into_iter().flatten().collect();
    Ok(HttpResponse::Ok()
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .content_type(header::ContentType::json())
        .body(serialize(StatusCode::OK, "OK", Some(&results))))
}

/// An item plain serde refused, read again the way it always was: as a
/// map of values (so a key given twice counts once, its last value), then
/// with its path tracked, so its 400 names the field at fault (as
/// `body::json` does with a whole body). Only refused items take this way.
fn refused_item(index: usize, json: &str) -> Result<BatchItem, ApiError> {
    let refused = |at: String, why: String| {
        ApiError::BadRequest(format!("invalid item: updates[{index}].{at}: {why}"))
    };
    let item: serde_json::Value =
        serde_json::from_str(json).map_err(|err| refused(String::new(), err.to_string()))?;
    BatchItem::deserialize(&item).or_else(|_| {
        serde_path_to_error::deserialize::<_, BatchItem>(&item)
            .map_err(|err| refused(err.path().to_string(), err.inner().to_string()))
    })
}

fn item_result(job_id: Option<JobId>, outcome: Result<Accepted, ApiError>) -> ItemResult {
    match outcome {
        Ok(accepted) => ItemResult {
            job_id,
            status_code: StatusCode::OK.as_u16(),
            message: "OK".into(),
            data: Some(ItemData::Record(accepted.record)),
        },
        Err(err) => ItemResult {
            job_id,
            status_code: actix_web::ResponseError::status_code(&err).as_u16(),
            message: err.to_string(),
            data: err.conflict().map(ItemData::Conflict),
        },
    }
}

/// One item of a batch: a job and its counts (serde cannot refuse unknown
/// fields through `flatten`, so the fields are repeated here).
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct BatchItem {
    job_id: JobId,
    success_count: u64,
    failure_count: u64,
    #[serde(default, deserialize_with = "present")]
    current_chunk: Option<u64>,
    #[serde(default, deserialize_with = "present")]
    total: Option<u64>,
    #[serde(default, deserialize_with = "present")]
    name: Option<String>,
    #[serde(default, deserialize_with = "present")]
    stage: Option<String>,
    #[serde(default, deserialize_with = "present")]
    skipped: Option<Vec<String>>,
    #[serde(default, deserialize_with = "present")]
    message: Option<String>,
    #[serde(default, deserialize_with = "present")]
    metadata: Option<Metadata>,
    #[serde(default, deserialize_with = "present")]
    attempt: Option<u32>,
}

impl BatchItem {
    /// The item as a job and its report; `at` names it in errors.
    fn parse(self, at: &str) -> Result<(JobId, Report), ApiError> {
        let report = ProgressBody {
            success_count: self.success_count,
            failure_count: self.failure_count,
            current_chunk: self.current_chunk,
            total: self.total,
            name: self.name,
            stage: self.stage,
            skipped: self.skipped,
            message: self.message,
            metadata: self.metadata,
            attempt: self.attempt,
        }
        .parse(at)?;
        Ok((self.job_id, report))
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct BatchBody {
    /// Objects: anything else refuses the whole batch (400); an object
    /// that is not a valid item gets its own 400 result.
    updates: Vec<ItemJson>,
}

/// One item of a batch as sent: a JSON object, kept as its text until it
/// is read as a [`BatchItem`]. Reading every item
/// into a map of values first, to read the map again, was a tenth of a
/// batch's CPU on the embedded stores.
#[derive(Debug)]
struct ItemJson(Box<serde_json::value::RawValue>);

impl ItemJson {
    /// The item's JSON text.
    fn get(&self) -> &str {
        self.0.get()
    }
}

impl<'de> Deserialize<'de> for ItemJson {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let raw = Box::<serde_json::value::RawValue>::deserialize(deserializer)?;
        // Whitespace never leads a raw value: it starts with its own token.
        if !raw.get().starts_with('{') {
            return Err(serde::de::Error::invalid_type(
                serde::de::Unexpected::Other("a value that is not a JSON object"),
                &"a map",
            ));
        }
        Ok(Self(raw))
    }
}

/// One item's result in a batch: an envelope with the item's job.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct ItemResult {
    /// The item's job, when it names a valid one.
    job_id: Option<JobId>,
    status_code: u16,
    message: String,
    data: Option<ItemData>,
}

/// An item result's `data`: the record as stored, or why a 409. Lives
/// only until the batch's answer is serialized; boxing the record would
/// cost an allocation per item for nothing.
#[derive(Debug, Serialize)]
#[serde(untagged)]
#[allow(clippy::large_enum_variant)]
enum ItemData {
    Record(ProgressRecord),
    Conflict(crate::http::Conflict),
}
