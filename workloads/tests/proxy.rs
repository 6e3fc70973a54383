//! Link proxies against plain echo servers: bytes flow, a blocked pair blackholes both
//! directions without closing anything, healing delivers what waited, other pairs are unaffected.

use std::net::SocketAddr;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use workloads::nemesis::PacketSpec;
use workloads::net::proxy::{LinkNet, ProxyError};

/// How long "no answer" is waited for.
const SILENCE: Duration = Duration::from_millis(500);
/// Upper bound for an answer that should come.
const ANSWER: Duration = Duration::from_secs(5);

/// An echo server on 127.0.0.1; returns its address.
async fn echo_server() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((mut conn, _)) = listener.accept().await {
            tokio::spawn(async move {
                let mut buf = [0u8; 1024];
                while let Ok(n) = conn.read(&mut buf).await {
                    if n == 0 || conn.write_all(&buf[..n]).await.is_err() {
                        break;
                    }
                }
            });
        }
    });
    addr
}

/// A link net of `n` nodes whose every node is an echo server.
async fn echo_net(n: usize) -> LinkNet {
    let net = LinkNet::bind(n).await.unwrap();
    for node in 1..=n {
        net.set_upstream(node, echo_server().await).unwrap();
    }
    net
}

/// Sends `msg` and reads back exactly as many bytes, within `ANSWER`.
async fn round_trip(conn: &mut TcpStream, msg: &[u8]) {
    conn.write_all(msg).await.unwrap();
    expect_answer(conn, msg).await;
}

/// Reads exactly `msg.len()` bytes within `ANSWER` and checks they equal `msg`.
async fn expect_answer(conn: &mut TcpStream, msg: &[u8]) {
    let mut got = vec![0u8; msg.len()];
    tokio::time::timeout(ANSWER, conn.read_exact(&mut got))
        .await
        .expect("answer in time")
        .expect("connection open");
    assert_eq!(got, msg);
}

/// Asserts nothing arrives within `SILENCE` (and the connection is not closed either).
async fn expect_silence(conn: &mut TcpStream) {
    let mut buf = [0u8; 64];
    match tokio::time::timeout(SILENCE, conn.read(&mut buf)).await {
        Err(_) => {}
        Ok(Ok(0)) => panic!("connection closed during a block"),
        Ok(Ok(n)) => panic!("{n} bytes arrived through a blocked link"),
        Ok(Err(e)) => panic!("connection failed during a block: {e}"),
    }
}

async fn connect(net: &LinkNet, from: usize, to: usize) -> TcpStream {
    TcpStream::connect(net.addr(from, to).unwrap())
        .await
        .unwrap()
}

#[tokio::test]
async fn bytes_flow_through_every_link() {
    let net = echo_net(3).await;
    for from in 1..=3 {
        for to in 1..=3 {
            assert_eq!(net.addr(from, to).is_some(), from != to);
            if from != to {
                let mut conn = connect(&net, from, to).await;
                round_trip(&mut conn, format!("{from}->{to}").as_bytes()).await;
            }
        }
    }
    assert!(net.blocked().is_empty());
}

#[tokio::test]
async fn blocked_pair_holds_bytes_on_open_connections_until_healed() {
    let net = echo_net(3).await;
    let mut one_two = connect(&net, 1, 2).await;
    let mut two_one = connect(&net, 2, 1).await;
    round_trip(&mut one_two, b"before").await;
    round_trip(&mut two_one, b"before").await;

    net.block(&[(2, 1)]).unwrap();
    assert_eq!(net.blocked(), vec![(1, 2)]);
    one_two.write_all(b"during-a").await.unwrap();
    two_one.write_all(b"during-b").await.unwrap();
    expect_silence(&mut one_two).await;
    expect_silence(&mut two_one).await;

    net.heal();
    assert!(net.blocked().is_empty());
    expect_answer(&mut one_two, b"during-a").await;
    expect_answer(&mut two_one, b"during-b").await;
    round_trip(&mut one_two, b"after").await;
}

#[tokio::test]
async fn new_connection_during_block_hangs_then_works_after_heal() {
    let net = echo_net(3).await;
    net.block(&[(1, 2)]).unwrap();
    let mut conn = connect(&net, 2, 1).await;
    conn.write_all(b"hello").await.unwrap();
    expect_silence(&mut conn).await;
    net.heal();
    expect_answer(&mut conn, b"hello").await;
}

#[tokio::test]
async fn partition_of_one_pair_leaves_other_pairs_alone() {
    let net = echo_net(3).await;
    net.block(&[(1, 2)]).unwrap();
    for (from, to) in [(1, 3), (3, 1), (2, 3), (3, 2)] {
        let mut conn = connect(&net, from, to).await;
        round_trip(&mut conn, b"unaffected").await;
    }
    let mut blocked = connect(&net, 1, 2).await;
    blocked.write_all(b"x").await.unwrap();
    expect_silence(&mut blocked).await;
}

#[tokio::test]
async fn connection_before_upstream_is_known_waits_for_it() {
    let net = LinkNet::bind(2).await.unwrap();
    let mut conn = connect(&net, 1, 2).await;
    conn.write_all(b"early").await.unwrap();
    expect_silence(&mut conn).await;
    net.set_upstream(2, echo_server().await).unwrap();
    expect_answer(&mut conn, b"early").await;
}

#[tokio::test]
async fn block_rejects_bad_pairs_without_blocking_anything() {
    let net = echo_net(3).await;
    assert_eq!(
        net.block(&[(1, 2), (2, 2)]),
        Err(ProxyError::NoSuchPair(2, 2, 3))
    );
    assert_eq!(net.block(&[(0, 1)]), Err(ProxyError::NoSuchPair(0, 1, 3)));
    assert_eq!(net.block(&[(1, 4)]), Err(ProxyError::NoSuchPair(1, 4, 3)));
    assert!(net.blocked().is_empty());
    assert_eq!(
        net.set_upstream(4, "127.0.0.1:1".parse().unwrap()),
        Err(ProxyError::NoSuchNode(4, 3))
    );
}

#[tokio::test]
async fn blocks_accumulate_until_heal() {
    let net = echo_net(4).await;
    net.block(&[(1, 2)]).unwrap();
    net.block(&[(4, 3), (1, 2)]).unwrap();
    assert_eq!(net.blocked(), vec![(1, 2), (3, 4)]);
    net.heal();
    assert!(net.blocked().is_empty());
}

#[tokio::test]
async fn dropping_the_net_stops_every_proxy() {
    let net = echo_net(2).await;
    let addr = net.addr(1, 2).unwrap();
    let mut conn = connect(&net, 1, 2).await;
    round_trip(&mut conn, b"alive").await;
    drop(net);
    let mut buf = [0u8; 8];
    let closed = tokio::time::timeout(ANSWER, conn.read(&mut buf)).await;
    assert!(
        matches!(closed, Ok(Ok(0)) | Ok(Err(_))),
        "relayed connection should close"
    );
    let mut refused = false;
    for _ in 0..50 {
        if TcpStream::connect(addr).await.is_err() {
            refused = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(refused, "listener should close");
}

#[tokio::test]
async fn connection_to_a_dead_upstream_is_closed() {
    let net = LinkNet::bind(2).await.unwrap();
    let dead = TcpListener::bind("127.0.0.1:0").await.unwrap();
    net.set_upstream(2, dead.local_addr().unwrap()).unwrap();
    drop(dead);
    let mut conn = connect(&net, 1, 2).await;
    let mut buf = [0u8; 8];
    let closed = tokio::time::timeout(ANSWER, conn.read(&mut buf)).await;
    assert!(
        matches!(closed, Ok(Ok(0)) | Ok(Err(_))),
        "client side should close like a refused connection"
    );
}

/// Guards the heal of a packet fault: chunks it holds in a retransmission stall (up to 12.6 s
/// under heavy loss) are released at the heal, so a healed fault does not outlive its heal
/// (seen in CI: a demo node still deaf 10 s after the heal of a 60% loss).
#[tokio::test]
async fn healing_packet_loss_releases_stalled_bytes_at_once() {
    let net = echo_net(2).await;
    let mut conn = connect(&net, 1, 2).await;
    round_trip(&mut conn, b"before").await;
    let spec = PacketSpec {
        loss: 1.0,
        ..PacketSpec::default()
    };
    net.set_packet(&[1, 2], spec);
    conn.write_all(b"stalled").await.unwrap();
    expect_silence(&mut conn).await;
    let healed = std::time::Instant::now();
    net.heal_packets();
    expect_answer(&mut conn, b"stalled").await;
    assert!(
        healed.elapsed() < Duration::from_secs(2),
        "bytes held {:?} after the heal",
        healed.elapsed()
    );
    round_trip(&mut conn, b"after").await;
}
