//! Reading the nodes' `GET /health` answers: who is leader, who hears whom.
//!
//! Used by [`super::Cluster`] to wait for a started cluster, to check that the nodes talk again
//! after healing, and by the nemesis to aim at the current leader.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::Duration;

use serde_json::Value;

/// Why a node gave no `/health` answer.
#[derive(Debug, Clone, thiserror::Error)]
pub enum HealthError {
    /// The request timed out.
    #[error("timed out")]
    Timeout,
    /// Nothing listens.
    #[error("refused the connection")]
    Refused,
    /// The body is not JSON.
    #[error("answered something that is not JSON")]
    NotJson,
    /// A status other than success.
    #[error("answered {0}")]
    Status(reqwest::StatusCode),
    /// Any other failure of the request.
    #[error("{0}")]
    Request(std::sync::Arc<reqwest::Error>),
    /// The asking task ended without an answer.
    #[error("no answer")]
    NoAnswer,
    /// No node has this id.
    #[error("no node n{0}")]
    NoSuchNode(usize),
}

/// A peer counts as heard if it sent something within this many milliseconds.
pub(crate) const HEARD_WITHIN_MS: u64 = 500;

/// `GET http://addr/health` with a timeout; the JSON body, or why there is none.
pub(crate) async fn get(
    client: &reqwest::Client,
    addr: SocketAddr,
    timeout: Duration,
) -> Result<Value, HealthError> {
    let response = client
        .get(format!("http://{addr}/health"))
        .timeout(timeout)
        .send()
        .await
        .map_err(describe)?;
    let status = response.status();
    if !status.is_success() {
        return Err(HealthError::Status(status));
    }
    response.json().await.map_err(describe)
}

/// A short reason for a failed request.
fn describe(error: reqwest::Error) -> HealthError {
    if error.is_timeout() {
        HealthError::Timeout
    } else if error.is_connect() {
        HealthError::Refused
    } else if error.is_decode() {
        HealthError::NotJson
    } else {
        HealthError::Request(std::sync::Arc::new(error))
    }
}

/// The leader most nodes name in their `leader` field (ties: lowest id), if any names one.
pub(crate) fn leader(answers: &[Result<Value, HealthError>]) -> Option<usize> {
    let mut votes: BTreeMap<usize, usize> = BTreeMap::new();
    for answer in answers.iter().flatten() {
        if let Some(id) = answer.get("leader").and_then(Value::as_u64) {
            *votes.entry(id as usize).or_default() += 1;
        }
    }
    let best = votes.values().copied().max()?;
    votes
        .into_iter()
        .find(|&(_, n)| n == best)
        .map(|(id, _)| id)
}

/// Who cannot hear whom: one line per problem, empty if every node (ids `1..=answers.len()`)
/// answered and heard every other node within [`HEARD_WITHIN_MS`].
pub(crate) fn deafness(answers: &[Result<Value, HealthError>]) -> Vec<String> {
    let mut problems = Vec::new();
    for (k, answer) in answers.iter().enumerate() {
        let me = k + 1;
        let health = match answer {
            Ok(health) => health,
            Err(why) => {
                problems.push(format!("n{me} /health {why}"));
                continue;
            }
        };
        for other in (1..=answers.len()).filter(|&o| o != me) {
            let heard = health
                .get("peers")
                .and_then(|p| p.get(other.to_string()))
                .and_then(|p| p.get("last_heard_ms"));
            match heard.and_then(Value::as_u64) {
                Some(ms) if ms < HEARD_WITHIN_MS => {}
                Some(ms) => problems.push(format!("n{me} last heard n{other} {ms} ms ago")),
                None if heard.is_some() => problems.push(format!("n{me} never heard n{other}")),
                None => problems.push(format!("n{me} reports nothing about n{other}")),
            }
        }
    }
    problems
}
