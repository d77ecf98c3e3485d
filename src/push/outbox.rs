//! [`events`]: a stream's code run inside its response body, and the
//! [`Outbox`] through which it hands the body each event.
//!
//! The code of a stream (`stream::job`, `page::jobs`) is not a task of its
//! own behind a channel: the body polls it, on the connection's task, as
//! the connection asks for more to write. An idle stream so holds no task
//! and no channel (about 1 KB less each, BENCHMARKS.md scenario 8), its
//! wake-ups wake the connection directly, and it ends when the connection
//! drops the body, the moment the client goes.
//!
//! The outbox holds one event: the code behind waits until the body took
//! it, so a slow client holds back only its own stream, which then sends
//! the latest state (the hub's watch keeps only the latest change).

use std::{
    cell::Cell,
    future::Future,
    pin::Pin,
    rc::Rc,
    task::{Context, Poll},
};

use actix_web_lab::sse::Event;
use futures_util::Stream;

/// Where a stream's code puts its next event: one at a time, taken by the
/// body before it polls that code again. Single-threaded (`Rc`): the body
/// and the code it runs live on one connection's task.
#[derive(Clone, Default)]
pub struct Outbox(Rc<Cell<Option<Event>>>);

impl std::fmt::Debug for Outbox {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Outbox").finish_non_exhaustive()
    }
}

impl Outbox {
    /// Hands `event` to the body, once it took the one before. Always
    /// `true`: when the client goes, the body is dropped, and with it the
    /// code awaiting this, so nothing is left to be told.
    pub async fn send(&self, event: Event) -> bool {
        let mut event = Some(event);
        std::future::poll_fn(|_| {
            // The body polls the code again only once it took the event
            // waiting here, so no waker is needed.
            if let Some(waiting) = self.0.take() {
                self.0.set(Some(waiting));
                return Poll::Pending;
            }
            self.0.set(event.take());
            Poll::Ready(true)
        })
        .await
    }
}

/// The events `produce(outbox)` sends, as a body's stream: it runs as the
/// stream is polled and the stream ends when it returns. `holding` (the
/// stream's slot under the caps) lives as long as the stream.
pub fn events<T, F>(
    holding: T,
    produce: impl FnOnce(Outbox) -> F,
) -> impl Stream<Item = Event> + 'static
where
    T: 'static,
    F: Future<Output = ()> + 'static,
{
    let outbox = Outbox::default();
    let mut running: Option<Pin<Box<F>>> = Some(Box::pin(produce(outbox.clone())));
    futures_util::stream::poll_fn(move |cx: &mut Context<'_>| {
        let _held = &holding;
        if let Some(event) = outbox.0.take() {
            return Poll::Ready(Some(event));
        }
        let Some(code) = running.as_mut() else {
            return Poll::Ready(None);
        };
        if code.as_mut().poll(cx).is_ready() {
            // Its watches and buffers go now, not with the connection.
            running = None;
        }
        match outbox.0.take() {
            Some(event) => Poll::Ready(Some(event)),
            None if running.is_none() => Poll::Ready(None),
            None => Poll::Pending,
        }
    })
}

#[cfg(test)]
mod tests {
    use futures_util::StreamExt as _;

    use super::*;

    fn comment(text: &'static str) -> Event {
        Event::Comment(text.into())
    }

    fn text(event: &Event) -> String {
        match event {
            Event::Comment(text) => text.to_string(),
            _ => String::new(),
        }
    }

    #[tokio::test]
    async fn every_event_comes_out_in_order_and_the_stream_ends_with_the_code() {
        let stream = events((), |out| async move {
            for text in ["a", "b", "c"] {
                assert!(out.send(comment(text)).await);
            }
        });
        let got: Vec<String> = stream.map(|event| text(&event)).collect().await;
        assert_eq!(got, ["a", "b", "c"]);
    }

    #[tokio::test]
    async fn the_code_waits_on_what_it_awaits_and_the_holding_lives_with_the_stream() {
        let (tx, mut rx) = tokio::sync::mpsc::channel::<&'static str>(1);
        let holding = Rc::new(());
        let mut stream = Box::pin(events(Rc::clone(&holding), |out| async move {
            while let Some(text) = rx.recv().await {
                out.send(comment(text)).await;
            }
        }));
        tx.send("x").await.unwrap();
        assert_eq!(stream.next().await.map(|e| text(&e)).as_deref(), Some("x"));
        assert_eq!(Rc::strong_count(&holding), 2);
        drop(stream);
        assert_eq!(Rc::strong_count(&holding), 1);
    }
}
