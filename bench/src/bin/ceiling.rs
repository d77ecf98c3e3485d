//! The framework's ceiling for scenario 1: a minimal actix-web server that
//! answers `GET /api/v1/jobs/{id}/progress` with fixed bytes from memory
//! (the body the real API served for the same job), with the same
//! actix-web 4 and the same worker count as the real server.
//!
//! `ceiling LISTEN_ADDR BODY_FILE WORKERS`

use actix_web::{App, HttpResponse, HttpServer, http::header::ContentType, web};

#[actix_web::main]
async fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let usage = "usage: ceiling LISTEN_ADDR BODY_FILE WORKERS";
    let addr = args.next().ok_or_else(|| anyhow::anyhow!(usage))?;
    let body_file = args.next().ok_or_else(|| anyhow::anyhow!(usage))?;
    let workers: usize = args.next().ok_or_else(|| anyhow::anyhow!(usage))?.parse()?;
    let body = web::Bytes::from(std::fs::read(&body_file)?);
    HttpServer::new(move || {
        let body = body.clone();
        App::new().route(
            "/api/v1/jobs/{job_id}/progress",
            web::get().to(move || {
                let body = body.clone();
                async move {
                    HttpResponse::Ok()
                        .content_type(ContentType::json())
                        .body(body)
                }
            }),
        )
    })
    .workers(workers)
    .bind(&addr)?
    .run()
    .await?;
    Ok(())
}
