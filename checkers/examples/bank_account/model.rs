//! A bank account that refuses overdrafts: a sequential model written outside faultline,
//! through the `checkers` public API only. `main.rs` checks a history file against it;
//! `checkers/tests/user_model.rs` includes this file to check the fixtures in
//! `fixtures/user-models/`.
//!
//! Operations (one account per `key`, each checked on its own; initial balance 0, or the
//! `initial` integer):
//! - `deposit n` — adds `n`. `ok`: happened. `fail`: did not. `info`: may have.
//! - `withdraw n` — takes `n` if the balance is at least `n`. `ok`: it did. `fail` with error
//!   `insufficient-funds`: refused, which is itself an observation — the balance was below
//!   `n` at that moment — and changes nothing. `fail` with any other error: did not happen.
//!   `info`: may have withdrawn (and then the balance was enough), or not.
//! - `balance` — an `ok` read returns the balance; an `info` read constrains nothing.

use checkers::history::{Operation, Outcome};
use checkers::{CompileCtx, Compiled, Model, ShapeError};
use serde_json::{json, Value};

/// One compiled account operation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AccountOp {
    /// Adds this amount.
    Deposit(i64),
    /// Takes this amount; impossible when the balance is lower.
    Withdraw(i64),
    /// A withdrawal of this amount refused for insufficient funds: the balance was lower.
    Refused(i64),
    /// A read that returned this balance.
    Balance(i64),
}

/// The model: the state is the balance of one account.
#[derive(Debug, Clone, Copy, Default)]
pub struct BankAccount;

/// The amount of a deposit or withdrawal: a positive integer.
fn amount(op: &Operation) -> Result<i64, ShapeError> {
    match op.input.as_i64() {
        Some(n) if n > 0 => Ok(n),
        _ => Err(ShapeError(format!(
            "expected the amount of a {} to be a positive integer, found {}",
            op.f.as_deref().unwrap_or("?"),
            op.input
        ))),
    }
}

impl Model for BankAccount {
    type State = i64;
    type Op = AccountOp;

    fn name(&self) -> &'static str {
        "bank-account"
    }

    fn init(
        &self,
        initial: Option<&Value>,
        _key: Option<&Value>,
        _ctx: &mut CompileCtx,
    ) -> Result<i64, ShapeError> {
        match initial {
            None => Ok(0),
            Some(v) => v.as_i64().filter(|n| *n >= 0).ok_or_else(|| {
                ShapeError(format!(
                    "expected the initial balance to be a non-negative integer, found {v}"
                ))
            }),
        }
    }

    fn compile(
        &self,
        op: &Operation,
        _ctx: &mut CompileCtx,
    ) -> Result<Compiled<AccountOp>, ShapeError> {
        let refused = op.error.as_deref().and_then(Value::as_str) == Some("insufficient-funds");
        let aop = match (op.f.as_deref(), op.outcome) {
            (Some("deposit"), Outcome::Fail) => return Ok(Compiled::Skip),
            (Some("deposit"), _) => AccountOp::Deposit(amount(op)?),
            (Some("withdraw"), Outcome::Fail) if refused => AccountOp::Refused(amount(op)?),
            (Some("withdraw"), Outcome::Fail) => return Ok(Compiled::Skip),
            (Some("withdraw"), _) => AccountOp::Withdraw(amount(op)?),
            (Some("balance"), Outcome::Ok) => {
                AccountOp::Balance(op.output.as_i64().ok_or_else(|| {
                    ShapeError(format!(
                        "expected a balance read to return an integer, found {}",
                        op.output
                    ))
                })?)
            }
            (Some("balance"), _) => return Ok(Compiled::Skip),
            (other, _) => {
                return Err(ShapeError(format!(
                    "expected deposit, withdraw or balance, found {}",
                    other.unwrap_or("an operation without :f")
                )))
            }
        };
        // One account per key: accounts never affect each other, so each is its own
        // partition (checked separately, in parallel).
        Ok(Compiled::Op {
            key: op.key.clone(),
            op: aop,
        })
    }

    fn step(&self, balance: &i64, op: &AccountOp) -> Option<i64> {
        let b = *balance;
        match *op {
            AccountOp::Deposit(n) => Some(b + n),
            AccountOp::Withdraw(n) => (b >= n).then_some(b - n),
            AccountOp::Refused(n) => (b < n).then_some(b),
            AccountOp::Balance(seen) => (b == seen).then_some(b),
        }
    }

    fn read_only(&self, op: &AccountOp) -> bool {
        matches!(op, AccountOp::Refused(_) | AccountOp::Balance(_))
    }

    fn weaken(&self, op: &AccountOp) -> Option<AccountOp> {
        // Had it timed out: a withdrawal may have happened; a refusal or a read would then
        // tell nothing.
        match op {
            AccountOp::Refused(_) | AccountOp::Balance(_) => None,
            other => Some(*other),
        }
    }

    fn show_state(&self, balance: &i64, _ctx: &CompileCtx) -> Value {
        json!({ "balance": balance })
    }
}

/// Reads, pairs and checks a history file against [`BankAccount`], with the default options
/// and budget (`initial` as the initial balance when given).
pub fn check_file(
    path: &str,
    initial: Option<i64>,
) -> Result<checkers::Report, checkers::InputError> {
    let history = checkers::history::read_history_file(path)?;
    let ops = checkers::history::pair(&history)?;
    let opts = checkers::CheckOptions {
        initial: initial.map(|n| json!(n)),
        ..Default::default()
    };
    checkers::check_operations(
        &BankAccount,
        path,
        history.format,
        &ops,
        &opts,
        &opts.budget(),
    )
}
