//! What a run shows while it goes: a progress bar (indicatif) with elapsed/limit, ok/fail/info
//! counts, the phase and the active fault when standard error is a terminal; otherwise plain
//! log lines (the run's notes as they happen, and a status line every 5 s).

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::io::IsTerminal;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::oneshot;
use workloads::runner::Progress;

/// A running display; [`Display::finish`] stops it.
pub struct Display {
    done: Option<oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<()>>,
}

impl Display {
    /// Stops the display, printing any notes not yet shown.
    pub async fn finish(mut self) {
        if let Some(done) = self.done.take() {
            let _ = done.send(());
        }
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }
}

fn status(p: &Progress) -> String {
    let fault = p
        .fault
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .clone()
        .unwrap_or_else(|| "none".into());
    let phase = *p.phase.lock().unwrap_or_else(|e| e.into_inner());
    let backing_off = match p.backing_off.load(Ordering::Relaxed) {
        0 => String::new(),
        n => {
            let last = p
                .last_unreachable
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .clone()
                .unwrap_or_else(|| "unreachable".into());
            let last: String = last.chars().take(80).collect();
            format!(" · {n} backing off ({last})")
        }
    };
    format!(
        "ok {} · fail {} · info {} · {phase} · fault: {fault}{backing_off}",
        p.ok.load(Ordering::Relaxed),
        p.fail.load(Ordering::Relaxed),
        p.info.load(Ordering::Relaxed),
    )
}

/// Starts showing `progress` for a run whose main phase lasts `limit`.
pub fn start(progress: Arc<Progress>, limit: Duration, label: String) -> Display {
    let (tx, mut rx) = oneshot::channel::<()>();
    let tty = std::io::stderr().is_terminal();
    let task = tokio::spawn(async move {
        let bar = if tty {
            let bar = ProgressBar::with_draw_target(
                Some(limit.as_millis() as u64),
                ProgressDrawTarget::stderr(),
            );
            bar.set_style(
                ProgressStyle::with_template("{prefix} [{bar:24}] {msg}")
                    .unwrap_or_else(|_| ProgressStyle::default_bar())
                    .progress_chars("=> "),
            );
            bar.set_prefix(label);
            Some(bar)
        } else {
            None
        };
        let mut shown = 0;
        let mut ticks = 0u64;
        loop {
            let finished = tokio::select! {
                _ = tokio::time::sleep(Duration::from_millis(100)) => false,
                _ = &mut rx => true,
            };
            ticks += 1;
            let notes: Vec<String> = {
                let log = progress.log.lock().unwrap_or_else(|e| e.into_inner());
                let new = log[shown.min(log.len())..].to_vec();
                shown = log.len();
                new
            };
            match &bar {
                Some(bar) => {
                    for n in notes {
                        bar.println(n);
                    }
                    let elapsed = progress.started.elapsed().min(limit);
                    bar.set_position(elapsed.as_millis() as u64);
                    bar.set_message(format!(
                        "{:.0}s/{:.0}s · {}",
                        progress.started.elapsed().as_secs_f64(),
                        limit.as_secs_f64(),
                        status(&progress)
                    ));
                }
                None => {
                    for n in notes {
                        eprintln!("{n}");
                    }
                    if ticks % 50 == 0 {
                        eprintln!(
                            "{:8.3}s {}",
                            progress.started.elapsed().as_secs_f64(),
                            status(&progress)
                        );
                    }
                }
            }
            if finished {
                if let Some(bar) = bar {
                    bar.finish_and_clear();
                }
                return;
            }
        }
    });
    Display {
        done: Some(tx),
        task: Some(task),
    }
}
