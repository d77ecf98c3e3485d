//! A small Server-Sent Events client for the tests: reads a stream as a
//! browser's EventSource would, one event at a time.

use std::time::Duration;

use futures_util::{StreamExt as _, stream::BoxStream};

/// One event: its name (`message` when none is given), id and data.
#[derive(Debug, Clone, PartialEq)]
pub struct SseEvent {
    /// The event's name.
    pub event: String,
    /// Its `id:`, if any.
    pub id: Option<String>,
    /// Its `data:` lines, joined by newlines.
    pub data: String,
}

impl SseEvent {
    /// The data as JSON.
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.data).expect("JSON event data")
    }
}

/// An open stream.
pub struct SseStream {
    body: BoxStream<'static, reqwest::Result<Vec<u8>>>,
    buffer: String,
}

impl SseStream {
    /// Opens `url` (with `Last-Event-ID` when given); panics unless the
    /// answer is a 200 event stream.
    pub async fn open(url: &str, last_event_id: Option<&str>) -> Self {
        let mut request = crate::http_client().get(url);
        if let Some(id) = last_event_id {
            request = request.header("Last-Event-ID", id);
        }
        let response = request.send().await.expect("the stream is answered");
        assert_eq!(response.status(), 200, "{url}");
        assert_eq!(response.headers()["content-type"], "text/event-stream");
        Self {
            body: response
                .bytes_stream()
                .map(|chunk| chunk.map(Vec::from))
                .boxed(),
            buffer: String::new(),
        }
    }

    /// The next event (comments and `retry:` lines are skipped); `None`
    /// when the server closed the stream. Panics after `limit`.
    pub async fn next_within(&mut self, limit: Duration) -> Option<SseEvent> {
        tokio::time::timeout(limit, self.next())
            .await
            .unwrap_or_else(|_| panic!("no event within {limit:?}"))
    }

    /// The next event, or `None` if none comes within `limit` (the stream
    /// stays usable).
    pub async fn poll_within(&mut self, limit: Duration) -> Option<Option<SseEvent>> {
        tokio::time::timeout(limit, self.next()).await.ok()
    }

    /// Events until (and with) the first named `name`, at most `limit`.
    pub async fn until(&mut self, name: &str, limit: Duration) -> Vec<SseEvent> {
        let deadline = tokio::time::Instant::now() + limit;
        let mut events = Vec::new();
        loop {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            let event = self
                .next_within(left)
                .await
                .unwrap_or_else(|| panic!("the stream closed before '{name}': {events:?}"));
            let done = event.event == name;
            events.push(event);
            if done {
                return events;
            }
        }
    }

    async fn next(&mut self) -> Option<SseEvent> {
        loop {
            if let Some(end) = self.buffer.find("\n\n") {
                let block: String = self.buffer.drain(..end + 2).collect();
                if let Some(event) = parse(&block) {
                    return Some(event);
                }
                continue;
            }
            let chunk = self.body.next().await?.ok()?;
            self.buffer
                .push_str(std::str::from_utf8(&chunk).expect("UTF-8"));
        }
    }
}

fn parse(block: &str) -> Option<SseEvent> {
    let (mut event, mut id, mut data) = (None, None, Vec::new());
    for line in block.lines() {
        let (field, value) = line.split_once(':').unwrap_or((line, ""));
        let value = value.strip_prefix(' ').unwrap_or(value);
        match field {
            "event" => event = Some(value.to_owned()),
            "id" => id = Some(value.to_owned()),
            "data" => data.push(value),
            _ => {} // comments (empty field) and retry
        }
    }
    if event.is_none() && data.is_empty() {
        return None;
    }
    Some(SseEvent {
        event: event.unwrap_or_else(|| "message".into()),
        id,
        data: data.join("\n"),
    })
}
