//! The network faultline controls between nodes: TCP link proxies ([`proxy`]) for the demo
//! store, PostgreSQL replication and RabbitMQ clients, and network namespaces ([`netns`]) for
//! etcd members; the partition nemesis cuts both.

pub mod netns;
pub mod proxy;
