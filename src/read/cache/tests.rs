use super::*;

async fn not_found() -> Rendered {
    Rendered::error(StatusCode::NOT_FOUND, "unknown")
}

async fn panics() -> Rendered {
    panic!("a bug in a load")
}

// Paused: printing the panic's backtrace can take longer than the answer's
// one-second period on a loaded machine, and the second read would miss.
#[tokio::test(start_paused = true)]
async fn a_job_load_that_panics_answers_500_to_every_waiter() {
    let cache = ResponseCache::new(Duration::from_secs(1), 1_000);
    let id = JobId::parse("job-panics").unwrap();
    let first = cache.get_or_load_job(id.clone(), "-", panics).await;
    assert_eq!(first.response.status, StatusCode::INTERNAL_SERVER_ERROR);
    assert!(!first.from_cache);
    let again = cache.get_or_load_job(id, "-", not_found).await;
    assert_eq!(again.response.status, StatusCode::INTERNAL_SERVER_ERROR);
    assert!(again.from_cache);
}

#[tokio::test(start_paused = true)]
async fn an_answer_is_kept_for_its_period_and_swept_out_after_it() {
    let cache = ResponseCache::new(Duration::from_secs(1), 1_000);
    let map = cache.jobs.clone().unwrap();
    for n in 0..10 {
        let id = JobId::parse(format!("job-{n}")).unwrap();
        let served = cache.get_or_load_job(id, "-", not_found).await;
        assert!(!served.from_cache);
    }
    assert!(cache.hit("job-3").await.is_some());
    assert_eq!(map.entries.len(), 10);

    tokio::time::advance(Duration::from_millis(1_001)).await;
    assert!(cache.hit("job-3").await.is_none(), "expired");
    // The next miss sweeps out what expired, on a blocking thread.
    let id = JobId::parse("job-new").unwrap();
    cache.get_or_load_job(id, "-", not_found).await;
    while map.entries.len() != 1 {
        tokio::task::yield_now().await;
    }
    assert!(cache.hit("job-new").await.is_some());
}
