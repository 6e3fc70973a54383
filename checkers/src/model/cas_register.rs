//! `cas-register`: a register with compare-and-set (Knossos's `cas-register`, Porcupine's etcd
//! model).
//!
//! `cas [old, new]` takes effect only when the state equals `old`. A `cas` recorded as `fail`
//! took no effect and is left out — except in Jepsen text logs, where Porcupine reads
//! `:fail :cas` as a completed compare that saw a different value (see `docs/models.md`).

use super::register::register_model;

/// The compare-and-set register model.
#[derive(Debug, Clone, Copy, Default)]
pub struct CasRegister;

register_model!(CasRegister, "cas-register", true);
