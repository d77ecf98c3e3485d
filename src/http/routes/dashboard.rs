//! The dashboard: `GET /`, `GET /jobs/{jobId}` and `GET /webhooks` (one page, which shows
//! the view its address names) and `GET /assets/{name}`.
//!
//! Plain HTML, CSS and JavaScript modules from `web/`, compiled into the
//! binary: no build step, and nothing fetched from anywhere but this
//! server, so it works air-gapped. The page reads the same `/api/v1`
//! endpoints as any client, with the same token, so it needs no access
//! rule of its own, and is not counted by the API's rate limit.

use std::sync::LazyLock;

use actix_web::{
    HttpRequest, HttpResponse,
    http::{
        StatusCode,
        header::{self, EntityTag},
    },
    web,
};

use crate::http::{ApiError, respond::matches_none_match};

/// What the page may load and where it may connect: this server only, and
/// no inline script or style, so an injected string cannot run.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; script-src 'self'; \
    style-src 'self'; connect-src 'self'; img-src 'self' data:; base-uri 'none'; \
    form-action 'none'; frame-ancestors 'none'";

/// One embedded file, with its validator.
struct Asset {
    name: &'static str,
    content_type: &'static str,
    body: &'static str,
    etag: EntityTag,
}

macro_rules! asset {
    ($name:literal, $type:literal) => {
        ($name, $type, include_str!(concat!("../../../web/", $name)))
    };
}

/// Every file of `web/`. The ETag is a hash of the content, so a new
/// release's files replace the old ones at the next revalidation.
static ASSETS: LazyLock<Vec<Asset>> = LazyLock::new(|| {
    [
        asset!("index.html", "text/html; charset=utf-8"),
        asset!("app.css", "text/css; charset=utf-8"),
        asset!("app.js", "text/javascript; charset=utf-8"),
        asset!("live.js", "text/javascript; charset=utf-8"),
        asset!("format.js", "text/javascript; charset=utf-8"),
        asset!("overview.js", "text/javascript; charset=utf-8"),
        asset!("rows.js", "text/javascript; charset=utf-8"),
        asset!("job.js", "text/javascript; charset=utf-8"),
        asset!("detail.js", "text/javascript; charset=utf-8"),
        asset!("chart.js", "text/javascript; charset=utf-8"),
        asset!("logs.js", "text/javascript; charset=utf-8"),
        asset!("control.js", "text/javascript; charset=utf-8"),
        asset!("webhooks.js", "text/javascript; charset=utf-8"),
    ]
    .into_iter()
    .map(|(name, content_type, body)| Asset {
        name,
        content_type,
        body,
        etag: EntityTag::new_strong(format!(
            "{:016x}",
            xxhash_rust::xxh3::xxh3_64(body.as_bytes())
        )),
    })
    .collect()
});

/// The bytes the dashboard's page and assets weigh in all, uncompressed.
pub fn page_weight() -> usize {
    ASSETS.iter().map(|asset| asset.body.len()).sum()
}

fn serve(request: &HttpRequest, asset: &Asset) -> HttpResponse {
    let mut response = HttpResponse::Ok();
    response
        .insert_header((header::ETAG, asset.etag.to_string()))
        // Revalidate every time: a 304 costs nothing, and an upgrade is
        // seen at once.
        .insert_header((header::CACHE_CONTROL, "no-cache"))
        .insert_header((header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
        .insert_header((header::REFERRER_POLICY, "no-referrer"));
    if asset.name == "index.html" {
        response
            .insert_header((header::CONTENT_SECURITY_POLICY, CONTENT_SECURITY_POLICY))
            .insert_header((header::X_FRAME_OPTIONS, "DENY"));
    }
    if matches_none_match(request, &asset.etag) {
        return response.status(StatusCode::NOT_MODIFIED).finish();
    }
    response
        .insert_header((header::CONTENT_TYPE, asset.content_type))
        .body(asset.body)
}

fn find(name: &str) -> Option<&'static Asset> {
    ASSETS.iter().find(|asset| asset.name == name)
}

/// The page, for `/`, `/jobs/{jobId}` and `/webhooks` alike.
pub async fn page(request: HttpRequest) -> HttpResponse {
    match find("index.html") {
        Some(asset) => serve(&request, asset),
        None => ApiError::NotFound("no dashboard in this build".into()).error_response_owned(),
    }
}

/// A script or style sheet of the page.
pub async fn asset(request: HttpRequest, name: web::Path<String>) -> HttpResponse {
    match find(name.as_str()).filter(|asset| asset.name != "index.html") {
        Some(asset) => serve(&request, asset),
        None => {
            ApiError::NotFound(format!("no dashboard asset named '{name}'")).error_response_owned()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_module_the_page_imports_is_embedded() {
        for asset in ASSETS.iter().filter(|a| a.name.ends_with(".js")) {
            for line in asset.body.lines().filter(|l| l.starts_with("import ")) {
                let file = line
                    .rsplit("\"./")
                    .next()
                    .and_then(|rest| rest.split('"').next())
                    .unwrap_or_default();
                assert!(find(file).is_some(), "{} imports {file}", asset.name);
            }
        }
    }

    /// Three pages (the overview, a job's, the webhooks') and their
    /// controls in 72 KB, about 21 KB gzipped: a budget of 96 KB keeps
    /// the whole dashboard a fraction of one of a framework's bundles.
    #[test]
    fn the_page_stays_small() {
        assert!(page_weight() < 96 * 1024, "{} bytes", page_weight());
    }
}
