//! Packet faults (`--nemesis packet`, shaped by `--packet`): delay with jitter, loss and
//! duplication on the traffic to and from a set of nodes.
//!
//! Part of the "run" step. This module only says *what* a packet fault does; each target does
//! it with what it has (docs/nemesis.md): the demo store in faultline's own link proxies (a
//! userspace TCP relay: delay with jitter, loss as the retransmission stall it causes in TCP),
//! the Maelstrom router per message (delay, loss, duplication), SSH hosts with iptables
//! `statistic` (loss only: this project drives no netem). A target that cannot do what the
//! spec asks refuses it before the run ([`crate::RunError::FaultUnsupported`]).

use std::time::Duration;

use checkers::Rng;
use serde_json::{json, Value};

/// What a packet fault does to every message (or relayed chunk) it touches.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PacketSpec {
    /// Added delay (the mean).
    pub delay: Duration,
    /// Jitter: the delay varies uniformly by up to this much either way.
    pub jitter: Duration,
    /// Probability (0..1) that a packet is lost.
    pub loss: f64,
    /// Probability (0..1) that a packet is delivered twice.
    pub duplicate: f64,
}

/// What `--nemesis packet` does without `--packet`.
pub const DEFAULT_PACKET: &str = "delay=50ms,jitter=25ms,loss=0.05";

impl Default for PacketSpec {
    fn default() -> Self {
        PacketSpec::parse(DEFAULT_PACKET).unwrap_or(PacketSpec {
            delay: Duration::ZERO,
            jitter: Duration::ZERO,
            loss: 0.0,
            duplicate: 0.0,
        })
    }
}

/// The parts of a packet fault, for refusals.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PacketKind {
    /// Added delay and jitter.
    Delay,
    /// Lost packets.
    Loss,
    /// Duplicated packets.
    Duplicate,
}

impl PacketKind {
    /// `delay`, `loss`, `duplicate`.
    pub fn name(self) -> &'static str {
        match self {
            PacketKind::Delay => "delay",
            PacketKind::Loss => "loss",
            PacketKind::Duplicate => "duplicate",
        }
    }
}

/// Why a `--packet` spec could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PacketSpecError {
    /// Not `key=value`, or an unknown key.
    #[error(
        "{0:?} is not a packet setting; expected a comma-separated list of delay=MS, \
         jitter=MS, loss=P, duplicate=P (e.g. delay=100ms,jitter=50ms,loss=0.1)"
    )]
    Setting(String),
    /// A bad number.
    #[error("{key}={value}: expected {expected}")]
    Value {
        /// The key.
        key: &'static str,
        /// The text.
        value: String,
        /// What was expected.
        expected: &'static str,
    },
    /// Nothing at all would happen.
    #[error("the packet fault does nothing (every setting is 0)")]
    Nothing,
}

impl PacketSpec {
    /// Parses `delay=100ms,jitter=50ms,loss=0.1,duplicate=0.05` (unnamed settings are 0;
    /// times take `ms` or `s`, bare numbers are milliseconds).
    pub fn parse(text: &str) -> Result<PacketSpec, PacketSpecError> {
        let mut spec = PacketSpec {
            delay: Duration::ZERO,
            jitter: Duration::ZERO,
            loss: 0.0,
            duplicate: 0.0,
        };
        for part in text.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let (key, value) = part
                .split_once('=')
                .ok_or_else(|| PacketSpecError::Setting(part.to_string()))?;
            let (key, value) = (key.trim(), value.trim());
            match key {
                "delay" => spec.delay = time("delay", value)?,
                "jitter" => spec.jitter = time("jitter", value)?,
                "loss" => spec.loss = probability("loss", value)?,
                "duplicate" => spec.duplicate = probability("duplicate", value)?,
                _ => return Err(PacketSpecError::Setting(part.to_string())),
            }
        }
        if spec.kinds().is_empty() {
            return Err(PacketSpecError::Nothing);
        }
        Ok(spec)
    }

    /// The parts this spec asks for.
    pub fn kinds(&self) -> Vec<PacketKind> {
        let mut out = Vec::new();
        if !self.delay.is_zero() || !self.jitter.is_zero() {
            out.push(PacketKind::Delay);
        }
        if self.loss > 0.0 {
            out.push(PacketKind::Loss);
        }
        if self.duplicate > 0.0 {
            out.push(PacketKind::Duplicate);
        }
        out
    }

    /// One packet's delay: the mean plus a uniform jitter in `[-jitter, +jitter]` (at least 0).
    pub fn sample_delay(&self, rng: &mut Rng) -> Duration {
        if self.jitter.is_zero() {
            return self.delay;
        }
        let j = self.jitter.as_secs_f64();
        let offset = (unit(rng) * 2.0 - 1.0) * j;
        Duration::from_secs_f64((self.delay.as_secs_f64() + offset).max(0.0))
    }

    /// Whether a packet is lost this time.
    pub fn lost(&self, rng: &mut Rng) -> bool {
        self.loss > 0.0 && unit(rng) < self.loss
    }

    /// Whether a packet is duplicated this time.
    pub fn duplicated(&self, rng: &mut Rng) -> bool {
        self.duplicate > 0.0 && unit(rng) < self.duplicate
    }

    /// The history value's settings: `{"delay-ms": 50, "jitter-ms": 25, "loss": 0.05,
    /// "duplicate": 0}`.
    pub fn value(&self) -> Value {
        json!({
            "delay-ms": self.delay.as_millis() as u64,
            "jitter-ms": self.jitter.as_millis() as u64,
            "loss": self.loss,
            "duplicate": self.duplicate,
        })
    }

    /// `delay 50±25 ms, loss 5%`, for progress lines.
    pub fn describe(&self) -> String {
        let mut parts = Vec::new();
        if !self.delay.is_zero() || !self.jitter.is_zero() {
            parts.push(format!(
                "delay {}±{} ms",
                self.delay.as_millis(),
                self.jitter.as_millis()
            ));
        }
        if self.loss > 0.0 {
            parts.push(format!("loss {}%", self.loss * 100.0));
        }
        if self.duplicate > 0.0 {
            parts.push(format!("duplicate {}%", self.duplicate * 100.0));
        }
        parts.join(", ")
    }
}

/// A uniform number in `[0, 1)`.
pub fn unit(rng: &mut Rng) -> f64 {
    (rng.next_u64() >> 11) as f64 / (1u64 << 53) as f64
}

fn time(key: &'static str, value: &str) -> Result<Duration, PacketSpecError> {
    let bad = || PacketSpecError::Value {
        key,
        value: value.to_string(),
        expected: "a time such as 100ms, 0.5s or 100 (milliseconds), at most 60 s",
    };
    let (number, scale) = if let Some(v) = value.strip_suffix("ms") {
        (v, 1e-3)
    } else if let Some(v) = value.strip_suffix('s') {
        (v, 1.0)
    } else {
        (value, 1e-3)
    };
    let n: f64 = number.trim().parse().map_err(|_| bad())?;
    let secs = n * scale;
    if !secs.is_finite() || !(0.0..=60.0).contains(&secs) {
        return Err(bad());
    }
    Ok(Duration::from_secs_f64(secs))
}

fn probability(key: &'static str, value: &str) -> Result<f64, PacketSpecError> {
    let bad = || PacketSpecError::Value {
        key,
        value: value.to_string(),
        expected: "a probability between 0 and 1 (below 1)",
    };
    let p: f64 = value.parse().map_err(|_| bad())?;
    if !(0.0..1.0).contains(&p) {
        return Err(bad());
    }
    Ok(p)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn packet_specs_parse_and_refuse_nonsense() {
        let s = PacketSpec::parse("delay=100ms,jitter=0.05s,loss=0.1").unwrap();
        assert_eq!(s.delay, Duration::from_millis(100));
        assert_eq!(s.jitter, Duration::from_millis(50));
        assert_eq!(s.kinds(), vec![PacketKind::Delay, PacketKind::Loss]);
        assert!(PacketSpec::parse("loss=1.5").is_err());
        assert!(PacketSpec::parse("reorder=0.1").is_err());
        assert_eq!(PacketSpec::parse("loss=0"), Err(PacketSpecError::Nothing));
        let d = PacketSpec::default();
        let mut rng = Rng::new(1);
        for _ in 0..100 {
            let x = d.sample_delay(&mut rng);
            assert!(x >= Duration::from_millis(25) && x <= Duration::from_millis(75));
        }
    }
}
