//! Tests of `auth.rs`, kept apart so the module reads in one sitting.

use super::*;
use crate::domain::JobId;

fn token(scope: Scope) -> Presented {
    Presented::Known(Token {
        scope,
        name: "t".into(),
    })
}

fn with(header: Presented, query: Presented) -> Credentials {
    Credentials { header, query }
}

#[test]
fn open_reads_ignore_credentials_and_writes_always_need_a_write_token() {
    let open = Access::default();
    let none = with(Presented::Nothing, Presented::Nothing);
    assert_eq!(
        open.authorize(&none, &[Scope::Read], false, None),
        Ok(Granted::Open)
    );
    let unknown = with(Presented::Unknown, Presented::Nothing);
    assert_eq!(
        open.authorize(&unknown, &[Scope::Read], false, None),
        Ok(Granted::Open)
    );

    assert_eq!(
        open.authorize(&none, &[Scope::Write], false, None),
        Err(Refusal::Missing)
    );
    assert_eq!(
        open.authorize(&unknown, &[Scope::Write], false, None),
        Err(Refusal::Invalid)
    );
    let read = with(token(Scope::Read), Presented::Nothing);
    assert_eq!(
        open.authorize(&read, &[Scope::Write], false, None),
        Err(Refusal::InsufficientScope(&[Scope::Write]))
    );
    let write = with(token(Scope::Write), Presented::Nothing);
    assert!(matches!(
        open.authorize(&write, &[Scope::Write], false, None),
        Ok(Granted::Token(_))
    ));
}

#[test]
fn required_reads_take_a_query_token_only_where_the_route_allows_it() {
    let closed = Access::new(Tokens::default(), true);
    let in_query = with(Presented::Nothing, token(Scope::Read));
    assert_eq!(
        closed.authorize(&in_query, &[Scope::Read], false, None),
        Err(Refusal::Missing)
    );
    assert!(matches!(
        closed.authorize(&in_query, &[Scope::Read], true, None),
        Ok(Granted::Token(_))
    ));
    // The header, when there is one, is what counts.
    let both = with(Presented::Unknown, token(Scope::Read));
    assert_eq!(
        closed.authorize(&both, &[Scope::Read], true, None),
        Err(Refusal::Invalid)
    );
    let write = with(token(Scope::Write), Presented::Nothing);
    assert!(matches!(
        closed.authorize(&write, &[Scope::Read], false, None),
        Ok(Granted::Token(_))
    ));
}

fn grant(job: &str) -> Presented {
    Presented::Job(JobGrant {
        job: JobId::parse(job).unwrap(),
        expires_at: u64::MAX,
    })
}

#[test]
fn a_job_token_reads_its_job_in_either_mode_and_nothing_else_where_a_token_counts() {
    for required in [false, true] {
        let access = Access::new(Tokens::default(), required);
        let mine = with(grant("j"), Presented::Nothing);
        assert!(matches!(
            access.authorize(&mine, &[Scope::Read], false, Some(OneJob::of("j"))),
            Ok(Granted::Job(_))
        ));
        assert_eq!(
            access.authorize(&mine, &[Scope::Read], false, Some(OneJob::of("k"))),
            Err(Refusal::JobOnly)
        );
        let bad = with(Presented::BadJob, Presented::Nothing);
        assert_eq!(
            access.authorize(&bad, &[Scope::Read], false, Some(OneJob::of("j"))),
            Err(Refusal::Invalid)
        );
        assert_eq!(
            access.authorize(&mine, &[Scope::Write], false, None),
            Err(Refusal::InsufficientScope(&[Scope::Write]))
        );
        // A list: served as to anyone while reads are open.
        let list = access.authorize(&mine, &[Scope::Read], false, None);
        if required {
            assert_eq!(list, Err(Refusal::JobOnly));
        } else {
            assert_eq!(list, Ok(Granted::Open));
        }
    }
    // On a stream, in the query.
    let closed = Access::new(Tokens::default(), true);
    let in_query = with(Presented::Nothing, grant("j"));
    assert!(matches!(
        closed.authorize(&in_query, &[Scope::Read], true, Some(OneJob::of("j"))),
        Ok(Granted::Job(_))
    ));
}

#[test]
fn write_or_control_takes_either_and_names_both_when_refusing() {
    const BOTH: &[Scope] = &[Scope::Write, Scope::Control];
    let open = Access::default();
    for scope in [Scope::Write, Scope::Control] {
        let ok = with(token(scope), Presented::Nothing);
        assert!(matches!(
            open.authorize(&ok, BOTH, false, None),
            Ok(Granted::Token(_))
        ));
    }
    let read = with(token(Scope::Read), Presented::Nothing);
    assert_eq!(
        open.authorize(&read, BOTH, false, None),
        Err(Refusal::InsufficientScope(BOTH))
    );
}
