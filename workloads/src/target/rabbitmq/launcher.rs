//! Starts RabbitMQ on loopback (Debian's `rabbitmq-server`) for `--target rabbitmq` ("run"
//! step): one broker `n1` with its own node name, AMQP port, Erlang distribution port and its
//! own `epmd` (so it never meets a system RabbitMQ or epmd), all state — HOME and the Erlang
//! cookie, the Mnesia and message store, logs, config and plugin files — under the run's
//! store directory. No root-wide service: both processes are faultline's children and die with
//! it (PR_SET_PDEATHSIG through [`Server`]); the broker runs as the Erlang VM itself (the start
//! script `exec`s it), so SIGKILL and SIGSTOP reach the broker, not a wrapper shell.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use amqprs::channel::QueueDeclareArguments;
use amqprs::connection::{Connection, OpenConnectionArguments};

use crate::error::ServerError;
use crate::target::server::{Server, ServerSpec};
use crate::target::{find_installed, find_program, free_port, RunError};

/// Where Debian installs the broker's start script (`/usr/sbin/rabbitmq-server` is a wrapper
/// that switches to the `rabbitmq` user; faultline runs the script itself).
pub const SERVER_SCRIPT: &str = "/usr/lib/rabbitmq/bin/rabbitmq-server";

/// A running local broker.
pub struct LocalRabbit {
    /// The broker process (`n1`), for the kill and pause faults.
    pub server: Arc<Server>,
    /// Its AMQP address on loopback.
    pub amqp: SocketAddr,
    /// faultline's own epmd (Erlang's port mapper) for this broker.
    epmd: Server,
}

/// The RabbitMQ start script, if installed.
pub fn server_script() -> Option<PathBuf> {
    let p = PathBuf::from(SERVER_SCRIPT);
    p.is_file().then_some(p)
}

fn write(path: &Path, text: &str) -> Result<(), ServerError> {
    std::fs::write(path, text).map_err(|source| ServerError::Path {
        path: path.to_path_buf(),
        source,
    })
}

impl LocalRabbit {
    /// Starts epmd and the broker under `dir/rabbitmq`; waits up to 90 s for AMQP.
    pub async fn start(dir: &Path) -> Result<LocalRabbit, RunError> {
        let script = find_installed(SERVER_SCRIPT, "rabbitmq-server")?;
        let epmd_program = find_program(
            "epmd",
            &["/usr/bin/epmd", "/usr/lib/erlang/bin/epmd"],
            "erlang-base",
        )?;
        let env = find_program("env", &["/usr/bin/env"], "coreutils")?;
        let base = dir.join("rabbitmq");
        std::fs::create_dir_all(&base).map_err(|source| ServerError::Path {
                path: base.clone(),
                source,
            })?;
        let base = base
            .canonicalize()
            .map_err(|source| ServerError::Path {
                path: base.clone(),
                source,
            })?;
        let (amqp_port, dist_port, epmd_port) = (free_port()?, free_port()?, free_port()?);

        // Files the broker would otherwise look for under /etc/rabbitmq and $HOME.
        write(&base.join("enabled_plugins"), "[].\n")?;
        write(&base.join("rabbitmq.conf"), "")?;
        let cookie = base.join(".erlang.cookie");
        if !cookie.exists() {
            write(&cookie, &format!("FAULTLINE{amqp_port}COOKIE"))?;
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&cookie, std::fs::Permissions::from_mode(0o400))
                .map_err(|source| ServerError::Path {
                path: cookie.clone(),
                source,
            })?;
        }

        let epmd = Server::start(ServerSpec {
            name: "epmd".into(),
            program: epmd_program,
            args: vec![
                "-port".into(),
                epmd_port.to_string(),
                "-address".into(),
                "127.0.0.1".into(),
            ],
            log: base.join("epmd.log"),
            user: None,
            netns: None,
        })
        .await?;

        let at = |p: &str| base.join(p).to_string_lossy().into_owned();
        let mut args: Vec<String> = vec![
            format!("HOME={}", base.display()),
            format!("ERL_EPMD_PORT={epmd_port}"),
            "ERL_EPMD_ADDRESS=127.0.0.1".into(),
            format!("RABBITMQ_NODENAME=faultline{amqp_port}@localhost"),
            "RABBITMQ_NODE_IP_ADDRESS=127.0.0.1".into(),
            format!("RABBITMQ_NODE_PORT={amqp_port}"),
            format!("RABBITMQ_DIST_PORT={dist_port}"),
            format!("RABBITMQ_MNESIA_BASE={}", at("mnesia")),
            format!("RABBITMQ_LOG_BASE={}", at("log")),
            "RABBITMQ_LOGS=-".into(),
            format!("RABBITMQ_CONFIG_FILE={}", at("rabbitmq")),
            format!("RABBITMQ_ADVANCED_CONFIG_FILE={}", at("advanced.config")),
            format!("RABBITMQ_CONF_ENV_FILE={}", at("rabbitmq-env.conf")),
            format!("RABBITMQ_ENABLED_PLUGINS_FILE={}", at("enabled_plugins")),
            format!("RABBITMQ_PID_FILE={}", at("rabbitmq.pid")),
            // Run the VM in place of the script (same pid, so signals reach the broker);
            // -noinput keeps it from reading standard input, +B i from stopping on the SIGINT
            // a terminal's Ctrl-C sends the whole process group (faultline then heals and
            // stops it itself).
            "RABBITMQ_ALLOW_INPUT=1".into(),
            "RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS=-noinput +B i -kernel inet_dist_use_interface {127,0,0,1}"
                .into(),
        ];
        args.push(script.to_string_lossy().into_owned());
        let server = match Server::start(ServerSpec {
            name: "n1".into(),
            program: env,
            args,
            log: dir.join("n1.log"),
            user: None,
            netns: None,
        })
        .await
        {
            Ok(s) => Arc::new(s),
            Err(e) => {
                epmd.stop().await;
                return Err(e.into());
            }
        };
        let local = LocalRabbit {
            server,
            amqp: SocketAddr::from(([127, 0, 0, 1], amqp_port)),
            epmd,
        };
        if let Err(e) = local.wait_ready(Duration::from_secs(90)).await {
            local.shutdown().await;
            return Err(e.into());
        }
        Ok(local)
    }

    /// Waits until the broker completes an AMQP handshake (after a start or a restart).
    pub async fn wait_ready(&self, limit: Duration) -> Result<(), ServerError> {
        let deadline = tokio::time::Instant::now() + limit;
        self.server
            .wait_until("rabbitmq", deadline, || ready(self.amqp))
            .await
    }

    /// Stops the broker, then its epmd.
    pub async fn shutdown(&self) {
        self.server.stop().await;
        self.epmd.stop().await;
    }
}

/// Whether the broker at `addr` accepts an AMQP connection.
pub async fn ready(addr: SocketAddr) -> bool {
    // On its own task: amqprs's tasks may panic when a request they answer was cancelled.
    let probe = tokio::spawn(async move {
        let args =
            OpenConnectionArguments::new(&addr.ip().to_string(), addr.port(), "guest", "guest");
        match Connection::open(&args).await {
            Ok(c) => {
                let _ = c.close().await;
                true
            }
            Err(_) => false,
        }
    });
    matches!(
        tokio::time::timeout(Duration::from_secs(3), probe).await,
        Ok(Ok(true))
    )
}

/// Why [`ready_messages`] has no count.
#[derive(Debug, thiserror::Error)]
pub enum CountError {
    /// The connection, the channel or the declare failed (e.g. the queue does not exist).
    #[error("{0}")]
    Amqp(#[from] amqprs::error::Error),
    /// The broker answered that it has no queue by that name (404 NOT_FOUND): it holds no
    /// message of it.
    #[error("the broker has no queue by that name")]
    NoQueue,
    /// The broker did not answer within 3 s.
    #[error("no answer within 3 s")]
    TimedOut,
    /// The task asking ended without an answer.
    #[error("the query ended without an answer")]
    Lost,
}

/// The number of ready messages (not counting those delivered and not yet acknowledged) the
/// broker at `addr` reports in `queue`, asked on a connection of its own (a passive
/// `queue.declare`, which changes nothing; at most 3 s). The error says why there is no count,
/// e.g. the broker's answer that the queue does not exist.
pub async fn ready_messages(addr: SocketAddr, queue: &str) -> Result<u32, CountError> {
    let queue = queue.to_string();
    // On its own task, as in [`ready`].
    let ask = tokio::spawn(async move {
        let args =
            OpenConnectionArguments::new(&addr.ip().to_string(), addr.port(), "guest", "guest");
        let c = Connection::open(&args).await?;
        let (closed_tx, mut closed) = tokio::sync::mpsc::unbounded_channel();
        let answer = async {
            let channel = c.open_channel(None).await?;
            channel.register_callback(CloseCode(closed_tx)).await?;
            let declare = QueueDeclareArguments::new(&queue).passive(true).finish();
            match channel.queue_declare(declare).await {
                Ok(answer) => Ok(answer),
                // A passive declare of a queue the broker does not know closes the channel with
                // 404; the code comes through the callback, the error only says "closed".
                Err(e) => match tokio::time::timeout(Duration::from_millis(500), closed.recv())
                    .await
                {
                    Ok(Some(404)) => Err(CountError::NoQueue),
                    _ => Err(CountError::Amqp(e)),
                },
            }
        }
        .await;
        let _ = c.close().await;
        answer?.map(|(_, messages, _)| messages).ok_or(CountError::Lost)
    });
    match tokio::time::timeout(Duration::from_secs(3), ask).await {
        Ok(Ok(r)) => r,
        Ok(Err(_)) => Err(CountError::Lost),
        Err(_) => Err(CountError::TimedOut),
    }
}

/// Passes on the reply code with which the broker closes a channel.
struct CloseCode(tokio::sync::mpsc::UnboundedSender<u16>);

#[async_trait::async_trait]
impl amqprs::callbacks::ChannelCallback for CloseCode {
    async fn close(
        &mut self,
        _channel: &amqprs::channel::Channel,
        close: amqprs::CloseChannel,
    ) -> Result<(), amqprs::error::Error> {
        let _ = self.0.send(close.reply_code());
        Ok(())
    }
    async fn cancel(
        &mut self,
        _channel: &amqprs::channel::Channel,
        _cancel: amqprs::Cancel,
    ) -> Result<(), amqprs::error::Error> {
        Ok(())
    }
    async fn flow(
        &mut self,
        _channel: &amqprs::channel::Channel,
        active: bool,
    ) -> Result<bool, amqprs::error::Error> {
        Ok(active)
    }
    async fn publish_ack(&mut self, _channel: &amqprs::channel::Channel, _ack: amqprs::Ack) {}
    async fn publish_nack(&mut self, _channel: &amqprs::channel::Channel, _nack: amqprs::Nack) {}
    async fn publish_return(
        &mut self,
        _channel: &amqprs::channel::Channel,
        _ret: amqprs::Return,
        _props: amqprs::BasicProperties,
        _body: Vec<u8>,
    ) {
    }
}
