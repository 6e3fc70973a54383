//! The RabbitMQ client of the `queue` workload ("run" step), over AMQP 0-9-1 with the amqprs
//! crate: `enqueue` publishes the value (its JSON text) to one queue through the default
//! exchange, `dequeue` takes one message with `basic.get`.
//!
//! The safe configuration (the default) is a durable queue, persistent messages (delivery
//! mode 2), publisher confirms and manual acknowledgements; [`RabbitOptions`] turns each off.
//! Outcomes, honest per `client.rs`:
//!
//! - enqueue with confirms: `ok` when the broker acks the publish, `fail` when it nacks it (the
//!   broker refused responsibility) or when nothing could be sent (no connection), `info` on a
//!   timeout or a lost connection after the publish was sent;
//! - enqueue without confirms: `ok` as soon as the publish is handed to the connection — the
//!   client never learns whether the broker has it;
//! - dequeue: `ok` with the value as soon as a message is delivered (with manual acks it is
//!   then acknowledged; if that ack is lost the broker redelivers it: a duplicate, never a
//!   loss), `fail` with error `"empty"` when the queue is empty, `info` on a timeout or a lost
//!   connection (with manual acks a message the broker sent meanwhile is requeued when the
//!   connection closes; with auto-ack it is gone).

use crate::error::ClientError;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use amqprs::callbacks::ChannelCallback;
use amqprs::channel::{
    BasicAckArguments, BasicGetArguments, BasicPublishArguments, Channel, ConfirmSelectArguments,
    QueueDeclareArguments,
};
use amqprs::connection::{Connection, OpenConnectionArguments};
use amqprs::{Ack, BasicProperties, Cancel, CloseChannel, Nack, Return};
use serde_json::{json, Value};
use tokio::sync::mpsc;

use crate::client::{Client, Op, Outcome, Unreachable};
use crate::generator::EMPTY;

/// The queue of a broker faultline starts (fresh each run, so the name can stay fixed).
pub const QUEUE: &str = "faultline";

/// The queue of a run: [`QUEUE`] on a broker faultline starts; on the user's broker (`run
/// --nodes`), which may hold an earlier run's leftovers (an interrupted run skips the final
/// drain), a run-unique name from `clock` (time since the epoch): `faultline-<seconds>-<nanos>`,
/// as the key-value targets' keys start at a run-unique base
/// ([`crate::target::Target::key_base`]).
pub fn queue_name(users_broker: bool, clock: Duration) -> String {
    if users_broker {
        format!("{QUEUE}-{}-{:09}", clock.as_secs(), clock.subsec_nanos())
    } else {
        QUEUE.to_string()
    }
}

/// Which safety mechanisms the client uses (all on by default).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RabbitOptions {
    /// A durable queue and persistent messages (survive a broker restart).
    pub durable: bool,
    /// Publisher confirms: an enqueue is ok only once the broker acks it.
    pub confirms: bool,
    /// Dequeue with `no_ack` (the broker forgets a message as soon as it sends it).
    pub auto_ack: bool,
}

impl Default for RabbitOptions {
    fn default() -> RabbitOptions {
        RabbitOptions {
            durable: true,
            confirms: true,
            auto_ack: false,
        }
    }
}

impl RabbitOptions {
    /// A short description (`durable, confirms, manual acks`).
    pub fn describe(&self) -> String {
        format!(
            "{}, {}, {}",
            if self.durable {
                "durable queue, persistent messages"
            } else {
                "transient queue and messages"
            },
            if self.confirms {
                "publisher confirms"
            } else {
                "no confirms"
            },
            if self.auto_ack {
                "auto-ack"
            } else {
                "manual acks"
            }
        )
    }
}

/// A publisher confirm (or the channel's end) as the channel callback reports it.
#[derive(Debug)]
enum Confirm {
    Ack { tag: u64, multiple: bool },
    Nack { tag: u64, multiple: bool },
    Closed,
}

/// Forwards confirms and the channel's close to the client.
struct Confirms(mpsc::UnboundedSender<Confirm>);

#[async_trait::async_trait]
impl ChannelCallback for Confirms {
    async fn close(
        &mut self,
        _channel: &Channel,
        _close: CloseChannel,
    ) -> Result<(), amqprs::error::Error> {
        let _ = self.0.send(Confirm::Closed);
        Ok(())
    }
    async fn cancel(
        &mut self,
        _channel: &Channel,
        _cancel: Cancel,
    ) -> Result<(), amqprs::error::Error> {
        Ok(())
    }
    async fn flow(
        &mut self,
        _channel: &Channel,
        active: bool,
    ) -> Result<bool, amqprs::error::Error> {
        Ok(active)
    }
    async fn publish_ack(&mut self, _channel: &Channel, ack: Ack) {
        let _ = self.0.send(Confirm::Ack {
            tag: ack.delivery_tag(),
            multiple: ack.mutiple(),
        });
    }
    async fn publish_nack(&mut self, _channel: &Channel, nack: Nack) {
        let _ = self.0.send(Confirm::Nack {
            tag: nack.delivery_tag(),
            multiple: nack.multiple(),
        });
    }
    async fn publish_return(&mut self, _: &Channel, _: Return, _: BasicProperties, _: Vec<u8>) {}
}

/// One open connection with its channel.
struct Session {
    connection: Connection,
    channel: Channel,
    confirms: mpsc::UnboundedReceiver<Confirm>,
    /// The delivery tag of the last publish (confirm mode numbers publishes from 1).
    published: u64,
}

/// A RabbitMQ client bound to one broker address (faultline's proxy in front of it, when
/// faultline started the broker).
pub struct RabbitMq {
    addr: SocketAddr,
    options: RabbitOptions,
    /// The run's queue ([`queue_name`]).
    queue: Arc<str>,
    timeout: Duration,
    session: Option<Session>,
    /// Why the last invocation could not reach the broker, if it could not.
    unreachable: Option<Unreachable>,
}

impl RabbitMq {
    /// A client of `queue` on the broker at `addr` (user guest), with a per-operation
    /// `timeout`.
    pub fn new(
        addr: SocketAddr,
        options: RabbitOptions,
        queue: Arc<str>,
        timeout: Duration,
    ) -> RabbitMq {
        RabbitMq {
            addr,
            options,
            queue,
            timeout,
            session: None,
            unreachable: None,
        }
    }

    async fn connect(
        addr: SocketAddr,
        options: RabbitOptions,
        queue: Arc<str>,
    ) -> Result<Session, ClientError> {
        let args =
            OpenConnectionArguments::new(&addr.ip().to_string(), addr.port(), "guest", "guest");
        let connection = Connection::open(&args)
            .await
            .map_err(|e| ClientError::Connect(format!("connect {addr}: {e}")))?;
        let channel = connection
            .open_channel(None)
            .await
            .map_err(|e| ClientError::Setup(format!("open a channel: {e}")))?;
        let (tx, confirms) = mpsc::unbounded_channel();
        channel
            .register_callback(Confirms(tx))
            .await
            .map_err(|e| ClientError::Setup(format!("register the channel callback: {e}")))?;
        if options.confirms {
            channel
                .confirm_select(ConfirmSelectArguments::default())
                .await
                .map_err(|e| ClientError::Setup(format!("confirm.select: {e}")))?;
        }
        let declare = QueueDeclareArguments::new(&queue)
            .durable(options.durable)
            .finish();
        channel
            .queue_declare(declare)
            .await
            .map_err(|e| ClientError::Setup(format!("declare the queue: {e}")))?;
        Ok(Session {
            connection,
            channel,
            confirms,
            published: 0,
        })
    }

    async fn enqueue(&mut self, value: &Value) -> Outcome {
        let (t, confirms, durable) = (self.timeout, self.options.confirms, self.options.durable);
        let Some(s) = self.session.as_mut() else {
            return Outcome::Fail(json!("not connected"));
        };
        let mut props = BasicProperties::default();
        props.with_delivery_mode(if durable { 2 } else { 1 });
        let publish = s.channel.basic_publish(
            props,
            value.to_string().into_bytes(),
            BasicPublishArguments::new("", &self.queue),
        );
        match tokio::time::timeout(t, publish).await {
            // The connection's writer is gone: nothing was sent.
            Ok(Err(e)) => return Outcome::Fail(json!(format!("publish: {e}"))),
            Err(_) => {
                // The publish may still go out, and take the next delivery tag the broker
                // numbers: this channel's count of publishes can no longer be trusted to pair
                // confirms with publishes, so the session is replaced.
                self.close().await;
                return Outcome::Info(json!("publish timed out"));
            }
            Ok(Ok(())) => {}
        }
        if !confirms {
            return Outcome::Ok(value.clone());
        }
        s.published += 1;
        let tag = s.published;
        let wait = async {
            loop {
                match s.confirms.recv().await {
                    Some(Confirm::Ack { tag: t, multiple }) if t == tag || multiple && t > tag => {
                        return Outcome::Ok(value.clone())
                    }
                    Some(Confirm::Nack { tag: t, multiple }) if t == tag || multiple && t > tag => {
                        return Outcome::Fail(json!("nack"))
                    }
                    Some(Confirm::Closed) | None => {
                        return Outcome::Info(json!("channel closed before the confirm"))
                    }
                    Some(_) => {}
                }
            }
        };
        tokio::time::timeout(t, wait)
            .await
            .unwrap_or_else(|_| Outcome::Info(json!("confirm timed out")))
    }

    async fn dequeue(&mut self) -> Outcome {
        let (t, auto_ack) = (self.timeout, self.options.auto_ack);
        let Some(s) = self.session.as_mut() else {
            return Outcome::Fail(json!("not connected"));
        };
        let channel = s.channel.clone();
        let queue = self.queue.clone();
        let get = async move {
            channel
                .basic_get(BasicGetArguments::new(&queue).no_ack(auto_ack).finish())
                .await
        };
        match bounded(t, get).await {
            Some(Ok(None)) => Outcome::Fail(json!(EMPTY)),
            Some(Ok(Some((get_ok, _, body)))) => {
                let value = match serde_json::from_slice::<Value>(&body) {
                    Ok(v) => v,
                    Err(_) => json!(String::from_utf8_lossy(&body)),
                };
                if !auto_ack {
                    // A lost ack only means a redelivery later; the value was dequeued.
                    let ack = BasicAckArguments::new(get_ok.delivery_tag(), false);
                    let _ = tokio::time::timeout(t, s.channel.basic_ack(ack)).await;
                }
                Outcome::Ok(value)
            }
            Some(Err(e)) => Outcome::Info(json!(format!("basic.get: {e}"))),
            None => Outcome::Info(json!("basic.get timed out")),
        }
    }
}

/// Runs `fut` on its own task and waits at most `t` for it; `None` on a timeout. amqprs
/// panics in its channel task when the answer to a request arrives after the request was
/// cancelled, so a timed-out request is left to finish on its own instead of being dropped.
async fn bounded<T: Send + 'static>(
    t: Duration,
    fut: impl std::future::Future<Output = T> + Send + 'static,
) -> Option<T> {
    let handle = tokio::spawn(fut);
    tokio::time::timeout(t, handle)
        .await
        .ok()
        .and_then(Result::ok)
}

impl Client for RabbitMq {
    async fn open(&mut self, _node: usize) -> Result<(), ClientError> {
        self.close().await;
        let connect = RabbitMq::connect(self.addr, self.options, self.queue.clone());
        let session = bounded(self.timeout.max(Duration::from_secs(2)), connect)
            .await
            .ok_or_else(|| ClientError::Connect(format!("connect {}: timed out", self.addr)))??;
        self.session = Some(session);
        Ok(())
    }

    async fn invoke(&mut self, op: &Op) -> Outcome {
        self.unreachable = None;
        if self.session.is_none() {
            if let Err(e) = self.open(0).await {
                // Nothing was sent; a broker that is down refuses at once, so the worker
                // backs off (the runner's back-off, as for every client).
                self.unreachable = Some(Unreachable::CannotOpen);
                return Outcome::Fail(json!(e.to_string()));
            }
        }
        let outcome = match op.f {
            "enqueue" => self.enqueue(&op.value).await,
            "dequeue" => self.dequeue().await,
            other => Outcome::Fail(json!(format!(
                "the rabbitmq client has no operation {other:?}"
            ))),
        };
        // A dead connection or channel is replaced on the next operation.
        if let Some(s) = &self.session {
            if !s.channel.is_open() || !s.connection.is_open() {
                self.session = None;
                if !matches!(outcome, Outcome::Ok(_)) {
                    self.unreachable = Some(Unreachable::Reset);
                }
            }
        }
        outcome
    }

    async fn close(&mut self) {
        if let Some(s) = self.session.take() {
            // Closing waits for the broker's answer, which behind a blackholed link comes only
            // after healing: it finishes on its own task (the broker requeues the messages
            // this connection held unacknowledged once the close reaches it).
            tokio::spawn(async move {
                let _ = s.channel.close().await;
                let _ = s.connection.close().await;
            });
        }
    }

    fn node_name(&self) -> String {
        "n1".into()
    }

    fn unreachable(&self) -> Option<Unreachable> {
        self.unreachable
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_users_broker_gets_a_run_unique_queue() {
        let clock = Duration::new(1_785_000_000, 42);
        assert_eq!(queue_name(false, clock), "faultline");
        assert_eq!(queue_name(true, clock), "faultline-1785000000-000000042");
        assert_ne!(
            queue_name(true, clock),
            queue_name(true, clock + Duration::from_nanos(1))
        );
    }
}
